"""The curated store: each curation is computed once and kept in ``$WINNOW_HOME/curated/<key>/``.

The curate stage's input key (``winnow.run.curate_key``) names the store folder. It involves the
seed only when some step of the recipe is seed-dependent, and the scale's token budget (with its
tokenizer's bytes per token) only when some step is budget-dependent (``Recipe.dependence``,
from each step's ``seed_dependent``/``budget_dependent``). So every seed of a seed-independent
recipe, and every scale on the same pool shards of a budget-independent one, shares one folder;
a run's ``curated/`` is a relative symlink to it.

Notable choices:

* A symlink, not a pointer file: every reader of ``<run>/curated`` (tokenize, ``winnow verify``,
  the evidence bundles, ``winnow inspect``, the descent check) works unchanged, and the
  manifest's content id is the same function of the same files, so a shared folder gives the
  same content id, hence the same tokenized and trained results. Relative, so a whole
  ``$WINNOW_HOME`` can be moved.
* The store folder is the curation's working folder (per-shard completion markers and the
  partial work of resumable GlobalSteps under ``_work/``, ``winnow.curate.pipeline``), manifest
  written last: a curation killed mid-way is resumed by the next run of the key, whichever seed
  (scale) it has.
* One writer at a time: ``claim`` holds an exclusive ``flock`` on ``.<key>.lock`` beside the
  folder for the whole curation. A second run of the same key waits (and says so), then finds
  the manifest and reuses the folder. The kernel releases the lock of a killed process.
* The manifest says how the folder is shared (config ``seed_dependent``, ``budget_dependent``,
  ``seeded_steps``, ``budget_steps``: the steps that force the seed or the budget into the key;
  ``shared``; ``made_by``: the run that curated it), and a run that reuses it logs
  ``curate: reusing curated output <key8> made by run <id> (<why>)``.
* A run folder from before the store has a real ``curated/`` directory. Finished under the key
  of its time, it stays where it is (``winnow.run.curated_manifest``), so the evidence of rows
  made from it does not change; an unfinished or stale one is moved into the store when the
  store has no folder for the key yet (its segments whose keys still match are resumed), else
  removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterator

from winnow.io import file_lock
from winnow.manifest import MANIFEST
from winnow.paths import winnow_home

log = logging.getLogger(__name__)

STORE = "curated"  # under $WINNOW_HOME


def store_dir(key: str) -> Path:
    """The store folder of a curate key."""
    return winnow_home() / STORE / key


@contextlib.contextmanager
def claim(key: str, say: Callable[[str], None] = log.info) -> Iterator[Path]:
    """Hold the store folder of ``key`` for the block (the folder is not created here)."""
    folder = store_dir(key)
    with file_lock(folder.parent / f".{key}.lock",
                   on_wait=lambda: say(f"curate: another run is curating {key[:8]} ({folder}); "
                                       "waiting for it to finish")):
        yield folder


def own_folder(link: Path) -> bool:
    """``link`` (a run's ``curated/``) is a real directory, from before the store."""
    return link.is_dir() and not link.is_symlink()


def attach(link: Path, folder: Path) -> None:
    """Make ``link`` a relative symlink to ``folder`` (created if missing), replacing an older
    link. A real directory at ``link`` (an unfinished per-run curation from before the store)
    becomes ``folder`` when the store has none yet, else it is removed. Call under ``claim``."""
    if own_folder(link):
        (link / MANIFEST).unlink(missing_ok=True)  # stale or absent: curated anew, written last
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(link, folder)
            except OSError:  # another filesystem: start afresh
                shutil.rmtree(link)
        else:
            shutil.rmtree(link)
    folder.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(folder, link.parent)
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(target, tmp, target_is_directory=True)
    os.replace(tmp, link)


def sharing(config: dict) -> str:
    """Why a store folder serves other runs, from its manifest config (for the reuse log line)."""
    seeded, budgeted = config.get("seed_dependent", True), config.get("budget_dependent", True)
    if not seeded and not budgeted:
        return "seed- and budget-independent recipe: shared by every seed and scale on these pool shards"
    if not seeded:
        return "seed-independent recipe: shared by every seed at this budget"
    if not budgeted:
        return "budget-independent recipe: shared by every scale on these pool shards, same seed"
    return "same recipe, pool shards, seed and budget"
