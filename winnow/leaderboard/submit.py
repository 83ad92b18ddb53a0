"""Submitting a run: the checks a row must pass, then the row and its evidence bundle, written under a lock.

``submit(run_dir)`` makes the row (``make_row``: every number from ``winnow.leaderboard.rows
.row_numbers`` over the run's evidence) and writes it (``write_row``). ``make_row`` refuses, each
with the reason: unofficial runs (run.json, and the scale/suite configs the manifests record
compared with the committed YAML and its version), broken hash chains (``winnow.leaderboard.verify
.verify_run``), a token budget trained that is not the scale plan's (``winnow.train.plan``), and
filtering- and order-track runs whose documents add text to their pool parents
(``winnow.leaderboard.descent``), baseline runs not made from this repository's ``baselines/``,
and a submission name whose rows on the board record another recipe fingerprint
(``winnow.leaderboard.identity``).

Rows and bundles are written under an exclusive lock over the rows folder (``board_lock``) with
atomic renames, the bundle first and then the row citing its sha256, so concurrent submits never
corrupt or lose a row. ``write_missing_bundles`` adds the bundle of an older row whose run folder
is on this machine. Only this module writes under ``leaderboard/rows/``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from winnow.config import ConfigError, group_file
from winnow.io import file_lock, read_json, write_json
from winnow.leaderboard.boards import board_for
from winnow.leaderboard.descent import check_descent
from winnow.leaderboard.evidence import EvidenceError, bundle_bytes, bundle_path, chain_problems, collect, write_bundle
from winnow.leaderboard.identity import baseline_folder_problems, model_conflicts, name_conflicts
from winnow.leaderboard.rows import ROW_SCHEMA, RowError, created_now, row_files, row_hash, row_numbers, rows_root
from winnow.leaderboard.verify import check_row, find_run, read_row, verify_run
from winnow.manifest import code_version
from winnow.pool.build import pool_shards
from winnow.stages import CURATE, EVAL, TOKENIZE, TRAIN
from winnow.train.plan import derive

TOKEN_TOL = 0          # tokens trained must equal the derived budget exactly
DESCENT_TRACKS = ("filtering", "order")  # tracks whose documents must all descend from the pool


def official_problems(evidence: dict) -> list[str]:
    """The run's scale and suite, as recorded in run.json and in the manifests, are the committed
    ones (same YAML, same version); the run trained the scale's derived token budget."""
    run, ms = evidence["run"], evidence["manifests"]
    probs = []
    if not run.get("official") or run.get("unofficial"):
        probs.append(f"unofficial run ({'; '.join(run.get('unofficial') or ['run.json says so'])}); "
                     "the leaderboard takes only runs of the committed scale and suite: rerun without "
                     "scale.* / suite.* overrides")
    scale, suite = run["config"]["scale"], run["config"]["suite"]
    try:
        committed = group_file("scale", scale["name"])
        committed_suite = group_file("suite", suite["name"])
    except ConfigError as e:
        return probs + [str(e)]
    if committed != scale:
        diff = sorted(k for k in set(committed) | set(scale) if committed.get(k) != scale.get(k))
        probs.append(f"unofficial scale: the run's {scale['name']} config differs from conf/scale/"
                     f"{scale['name']}.yaml in {', '.join(diff)}")
    if committed.get("version") != run.get("scale_version"):
        probs.append(f"scale {scale['name']} is version {committed.get('version')} in conf/ but the run "
                     f"recorded version {run.get('scale_version')}: rerun at the current version")
    if committed_suite != suite or committed_suite.get("version") != run.get("suite_version"):
        probs.append(f"unofficial suite: the run's suite {suite['name']} v{run.get('suite_version')} is not "
                     f"conf/suite/{suite['name']}.yaml (v{committed_suite.get('version')})")
    if suite["name"] != committed.get("suite"):
        probs.append(f"scale {scale['name']} is evaluated with suite {committed.get('suite')!r}, not {suite['name']!r}")
    tr, tk, ev = ms[TRAIN.kind], ms[TOKENIZE.kind], ms[EVAL.kind]
    if tr["config"].get("model") != committed.get("model") or tr["config"].get("train") != committed.get("train"):
        probs.append(f"the train manifest's model/train config is not conf/scale/{scale['name']}.yaml's")
    if tk["config"].get("tokenizer") != committed.get("tokenizer") or \
            tk["config"].get("seq_len") != committed["model"]["seq_len"]:
        probs.append(f"the tokenized manifest's tokenizer/seq_len is not conf/scale/{scale['name']}.yaml's")
    if ev["config"].get("suite") != committed_suite:
        probs.append(f"the eval manifest's suite config is not conf/suite/{suite['name']}.yaml")
    d = derive(committed["model"], committed["train"])
    trained = tr["stats"].get("tokens")
    if trained is None or abs(int(trained) - int(d["tokens"])) > TOKEN_TOL or tr["stats"].get("stopped_early"):
        probs.append(f"trained {trained} tokens but scale {scale['name']} v{committed.get('version')} derives a "
                     f"budget of {d['tokens']} ({d['steps']} steps); finish or rerun training")
    if tk["config"].get("n_sequences") != d["sequences"]:
        probs.append(f"tokenized {tk['config'].get('n_sequences')} sequences but the scale needs {d['sequences']}")
    return probs


def descent_of(run_dir: Path, evidence: dict):
    run = evidence["run"]
    pool_cfg = run["config"]["pool"]
    shards = pool_shards(pool_cfg if "n_shards" in pool_cfg else group_file("pool", pool_cfg["name"]),
                         run["config"]["scale"]["pool"].get("shards"))
    return check_descent(sorted((CURATE.path(run_dir) / "shards").glob("*.jsonl.zst")), shards)


def make_row(run_dir: Path) -> tuple[dict, dict]:
    """(row, evidence) of a finished run folder, or RowError listing every reason to refuse it."""
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    if info and (not info.get("official") or info.get("unofficial")):
        raise RowError(f"{run_dir}: refused: unofficial run ({'; '.join(info.get('unofficial') or [])}); "
                       "the leaderboard takes only runs of the committed scale and suite: rerun "
                       "without scale.* / suite.* overrides")
    try:
        ev = collect(run_dir)
    except EvidenceError as e:
        raise RowError(f"{run_dir}: refused: {e}") from None
    problems = official_problems(ev)
    problems += baseline_folder_problems(ev["run"])
    problems += verify_run(run_dir)
    problems += chain_problems(ev, {k: m["content_id"] for k, m in ev["manifests"].items()})
    descent = None
    # the order track reorders pool documents: the filtering track's rule holds for it too
    if not problems and ev["run"]["track"] in DESCENT_TRACKS:
        descent = descent_of(run_dir, ev)
        if not descent.ok:
            problems.append(f"{ev['run']['track']} track: {descent.failed} of {descent.docs} curated documents are not "
                            f"their pool parent with text removed ({descent.rule}); first ones:\n    "
                            + "\n    ".join(descent.problems))
    if problems:
        raise RowError(f"{run_dir}: refused:\n  - " + "\n  - ".join(problems))
    # the code that submitted the row, and the commit each stage's manifest recorded when written
    stages = {k: (m.get("code") or {}).get("commit") for k, m in sorted(ev["manifests"].items())}
    row = {"schema": ROW_SCHEMA, **row_numbers(ev), "created": created_now(),
           "descent": descent.summary() if descent else None, "code": {**code_version(), "stages": stages}}
    return row, ev


def row_path(row: dict) -> Path:
    """Where the row goes: its scale's board (``winnow.leaderboard.boards``: a test scale's rows
    stay in ``$WINNOW_HOME/leaderboard``), ``rows/<scale>/<track>/<slug>__seed<k>__<key8>.json``."""
    slug = row["submission"].replace("/", "-")
    key8 = row["run_id"].rsplit("__", 1)[-1]
    rows = board_for(row["scale"]) / "rows"
    return rows / row["scale"] / row["track"] / f"{slug}__seed{row['seed']}__{key8}.json"


@contextlib.contextmanager
def board_lock(rows: Path | None = None):
    """An exclusive lock over a rows folder (default: the board's; flock: released if the
    process dies)."""
    with file_lock((rows or rows_root()) / ".submit.lock"):
        yield


# Fields a resubmission of the same run may change without changing what the row says: when and
# by which code it was written, and what hashes over those (verify.NOT_FROM_EVIDENCE's non-numbers).
RESUBMIT_NEUTRAL = {"created", "code", "row_hash", "bundle"}


def unchanged(existing: dict | None, row: dict) -> bool:
    """Whether ``existing`` (the row already at the new row's path) says everything ``row`` says:
    same schema and every field but ``RESUBMIT_NEUTRAL`` equal."""
    if existing is None:
        return False
    strip = lambda r: {k: v for k, v in r.items() if k not in RESUBMIT_NEUTRAL}   # noqa: E731
    return strip(existing) == strip(json.loads(json.dumps(row)))


def write_row(row: dict, evidence: dict) -> Path:
    """Bundle first, then the row citing its hash; both by atomic rename, under the board lock.
    Submitting a run whose row and bundle are already there and unchanged keeps them (the row's
    date stays the one committed) and says so."""
    path = row_path(row)
    rows = path.parents[2]   # <board>/rows
    with board_lock(rows):
        old = read_row(path)[0] if path.exists() else None
        if unchanged(old, row) and bundle_path(path).is_file() and bundle_path(path).read_bytes() == bundle_bytes(evidence):
            print(f"already on the board, unchanged since {old.get('created') or 'before rows had dates'}: "
                  f"{path} (kept as it is)")
            return path
        existing = [(p, r) for p in row_files(rows) if p != path and (r := read_row(p)[0]) is not None]
        if conflicts := name_conflicts(row, existing) + model_conflicts(row, existing):
            raise RowError(f"refused: {conflicts[0]}" + (f" (and {len(conflicts) - 1} more rows)" if len(conflicts) > 1 else ""))
        row["bundle"] = {"file": bundle_path(path).name, "sha256": write_bundle(bundle_path(path), evidence)}
        row["row_hash"] = row_hash(row)
        write_json(path, row)
    return path


def submit(run_dir: Path) -> Path:
    row, ev = make_row(run_dir)
    return write_row(row, ev)


def write_missing_bundles(rows_dir: Path | None = None, runs_dirs: list[Path] | None = None) -> list[str]:
    """For each row without a bundle whose run folder is on this machine and checks clean against
    it, store the bundle beside the row (the row itself is not changed). One status line a row."""
    out = []
    for p in row_files(rows_dir):
        b = bundle_path(p)
        if b.exists():
            out.append(f"{p}: has a bundle")
            continue
        row = read_json(p)
        run_dir = find_run(row.get("run_id", ""), runs_dirs)
        if run_dir is None:
            out.append(f"{p}: artifacts not on this machine and no bundle (run {row.get('run_id')} not found)")
            continue
        probs = check_row(p, runs_dirs)
        if probs:
            out.append(f"{p}: not bundled, it fails against {run_dir}: " + "; ".join(probs))
            continue
        with board_lock(rows_dir):
            write_bundle(b, collect(run_dir))
        out.append(f"{p}: wrote {b.name} from {run_dir}")
    return out
