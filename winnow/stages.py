"""The stage table: each stage of a run, its folder, the kind its manifest records and its parent.

::

    stage     folder            manifest kind   parent
    pool      pools/<pool>@v<n> pool            -
    curate    curated/          curated         pool
    tokenize  tokenized/        tokenized       curate
    train     train/            train           tokenize
    eval      eval/<suite>/     eval            train

A stage has one name, the verb that builds it (``winnow curate``), and code refers to stages by
that name only. Its manifest *kind* is the name the artifact has carried since the first runs:
it is what a manifest's ``kind`` and ``parents`` record and what a leaderboard row's
``manifests`` is keyed by, so it stays as it is (renaming it would change every content id and
row). ``winnow.run`` builds the stages in this order; ``winnow.leaderboard.evidence`` and
``winnow.leaderboard.verify`` walk the same table to collect and check a run folder.

The pool lives outside the run folder, in ``$WINNOW_HOME/pools/`` (``pool_folder``), shared by
every run on the same pool; the other folders are relative to the run folder (``eval``'s names
the suite).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from winnow.io import read_json
from winnow.manifest import read_manifest
from winnow.pool.build import pool_dir


@dataclass(frozen=True)
class Stage:
    name: str            # the verb and the key of ``run_stages``' result
    kind: str            # its manifest's kind: the key in ``parents`` and in a row's ``manifests``
    parent: str | None   # the stage it is built from
    folder: str          # under the run folder ("{suite}" is the suite's name); the pool's is pool_folder

    def path(self, run_dir: Path, suite: str | None = None) -> Path:
        """The stage's folder in ``run_dir`` (``suite`` is needed for eval's only)."""
        if "{suite}" in self.folder and suite is None:
            raise ValueError(f"the {self.name} stage's folder names the suite; pass it")
        return Path(run_dir) / self.folder.format(suite=suite)


POOL = Stage("pool", "pool", None, "")
CURATE = Stage("curate", "curated", "pool", "curated")
TOKENIZE = Stage("tokenize", "tokenized", "curate", "tokenized")
TRAIN = Stage("train", "train", "tokenize", "train")
EVAL = Stage("eval", "eval", "train", "eval/{suite}")
STAGES = (POOL, CURATE, TOKENIZE, TRAIN, EVAL)
BY_NAME = {s.name: s for s in STAGES}
NAMES = tuple(s.name for s in STAGES)
DATA_STAGES = ("pool", "curate", "tokenize")  # built once by rank 0 under torchrun, before training


def parent_kind(stage: Stage) -> str | None:
    """The manifest kind of the stage's parent (the key under which its manifest names it)."""
    return BY_NAME[stage.parent].kind if stage.parent else None


def pool_folder(pool_cfg: dict) -> Path:
    """The folder of a run config's ``pool:`` (name and version) under ``$WINNOW_HOME/pools``."""
    return pool_dir(pool_cfg["name"], pool_cfg["version"])


def run_folders(run_dir: Path) -> dict[str, Path]:
    """Stage name -> folder for the run folder ``run_dir``, in stage order, from its ``run.json``:
    the pool's always, every other stage's when its folder exists."""
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json")
    folders = {POOL.name: pool_folder(info["config"]["pool"])}
    for s in STAGES[1:]:
        if (p := s.path(run_dir, info["suite"])).exists():
            folders[s.name] = p
    return folders


def run_state(run_dir: Path) -> str:
    """``winnow ls runs``' state of a run folder, from its manifests (written last, so a present one
    is a finished stage): ``finished`` when the eval manifest is there; else ``stopped after S``
    for the last stage S with a manifest, or, when the next stage's folder exists,
    ``T unfinished: running or stopped (last finished: S)`` (nothing cheap tells the two apart);
    ``no stage finished`` when none has one. Reads run.json and at most four small manifests,
    never a content file."""
    run_dir = Path(run_dir)
    try:
        suite = read_json(run_dir / "run.json")["suite"]
    except FileNotFoundError:
        return "no run.json (not a run folder)"
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable run.json"
    stages = STAGES[1:]
    done = None
    for stage in reversed(stages):
        try:
            m = read_manifest(stage.path(run_dir, suite))
        except (OSError, ValueError, TypeError):   # a damaged manifest does not count as finished
            continue
        if m is not None and m.kind == stage.kind:
            done = stage
            break
    if done is EVAL:
        return "finished"
    nxt = stages[stages.index(done) + 1 if done else 0]
    if nxt.path(run_dir, suite).exists():
        return f"{nxt.name} unfinished: running or stopped" + (f" (last finished: {done.name})" if done else "")
    return f"stopped after {done.name}" if done else "no stage finished"
