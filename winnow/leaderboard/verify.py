"""Verification: a run folder's manifest chain, and every leaderboard row against its evidence.

``verify_run`` recomputes the sha256 of every file listed in each stage manifest of a run (and of
its pool), and checks that each stage names its parent's content id (the stage table,
``winnow.stages``), so a changed byte anywhere is reported with the file's path.

``check_row`` never trusts a row's own ``row_hash`` alone. It recomputes the row's aggregates from
its per-task values, then every number of the row from its evidence (``winnow.leaderboard
.evidence``): the run folder when it is on this machine (``$WINNOW_HOME/runs`` or a ``--runs``
folder; every artifact file is re-hashed), else the bundle stored beside the row (checked to be
chained to the manifest ids the row cites). A row with neither is reported as "artifacts not on
this machine and no bundle": it is never passed silently. The row's identity is bound to its
evidence and its place (``winnow.leaderboard.identity``): run.json must agree with the manifests
and the run id, the row must sit in its own scale/track folder, a trained model counts once and
a submission name has one recipe fingerprint (baselines: this repository's).
"""

from __future__ import annotations

import json
from pathlib import Path

from winnow.eval.scoring import aggregate
from winnow.io import read_json, sha256_bytes
from winnow.leaderboard.evidence import (EvidenceError, bundle_path, chain_problems, collect, comparable,
                                         read_bundle)
from winnow.leaderboard.identity import baseline_problems, board_problems, evidence_problems, place_problems
from winnow.leaderboard.rows import READABLE_SCHEMAS, created_problem, row_files, row_hash, row_numbers
from winnow.manifest import ManifestError, read_manifest, verify_folder
from winnow.paths import winnow_home
from winnow.stages import STAGES, parent_kind, run_folders


def verify_run(run_dir: Path) -> list[str]:
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        return [f"{run_dir}: not a run folder (no run.json)"]
    problems: list[str] = []
    folders = run_folders(run_dir)
    manifests = {}
    for stage, folder in folders.items():
        problems += verify_folder(folder)
        try:
            manifests[stage] = read_manifest(folder)
        except ManifestError:   # verify_folder has named it
            manifests[stage] = None
    by_kind = {s.kind: manifests[s.name].to_dict() for s in STAGES if manifests.get(s.name) is not None}
    problems += [f"{run_dir}: {p}" for p in evidence_problems({"run": read_json(run_dir / "run.json"),
                                                                "manifests": by_kind})]
    for stage in STAGES:
        m, parent = manifests.get(stage.name), manifests.get(stage.parent)
        if m is not None and m.kind != stage.kind:   # an edited kind would pass the file hashes
            problems.append(f"{folders[stage.name]}: its manifest says kind {m.kind!r}, but the {stage.name} "
                            f"stage's folder holds kind {stage.kind!r} (the manifest was edited or moved)")
        if m is None or parent is None:
            continue
        key = parent_kind(stage)
        if m.parents.get(key) != parent.content_id:
            problems.append(f"{folders[stage.name]}: names parent {key} {str(m.parents.get(key))[:8]} "
                            f"but {folders[stage.parent]} has content id {parent.short}")
    return problems


def _close(a, b, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


def compare(got, want, where: str, strict: bool) -> list[str]:
    """Differences between a row's value and the one recomputed from evidence, by dotted path.
    ``strict``: dict keys must match exactly (schema 2 and later); else only the row's keys are compared."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        keys = set(got) | set(want) if strict else set(got)
        for k in sorted(keys, key=str):
            sub = f"{where}.{k}" if where else str(k)
            if k not in want:
                out.append(f"{sub} is in the row but not in its evidence")
            elif k not in got:
                out.append(f"{sub} is missing from the row")
            else:
                out += compare(got[k], want[k], sub, strict)
        return out
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) and not isinstance(want, bool):
        return [] if _close(got, want) else [f"{where} = {got} but the evidence gives {want}"]
    if got != want:
        return [f"{where} = {json.dumps(got)[:80]} but the evidence gives {json.dumps(want)[:80]}"]
    return []


# Fields of a row that its evidence does not determine.
NOT_FROM_EVIDENCE = {"schema", "row_hash", "code", "descent", "bundle", "created"}


def find_run(run_id: str, runs_dirs: list[Path] | None = None) -> Path | None:
    for base in [winnow_home() / "runs", *(runs_dirs or [])]:
        d = Path(base) / run_id
        if (d / "run.json").exists():
            return d
    return None


def read_row(path: Path) -> tuple[dict | None, str | None]:
    """(row, None), or (None, the problem) for a file under rows/ that is not a readable row."""
    try:
        row = read_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path}: unreadable row ({e})"
    if not isinstance(row, dict) or "schema" not in row:
        what = f"a JSON {type(row).__name__}" if not isinstance(row, dict) else "an object without a schema field"
        return None, (f"{path}: not a leaderboard row ({what}); rows/ holds only rows written by `winnow "
                      "submit` and their bundles: move other files out of it")
    return row, None


def check_row(path: Path, runs_dirs: list[Path] | None = None) -> list[str]:
    """Every problem with one row file, each starting with the row's path."""
    path = Path(path)
    row, unreadable = read_row(path)
    if row is None:
        return [unreadable]
    probs: list[str] = []
    schema = row.get("schema")
    if schema not in READABLE_SCHEMAS:
        return [f"{path}: schema {schema!r}; this winnow reads schemas {READABLE_SCHEMAS}"]
    probs += place_problems(path, row)
    if row_hash(row) != row.get("row_hash"):
        probs.append(f"{path}: row_hash does not match the row's content (the row was edited)")
    if why := created_problem(row):
        probs.append(f"{path}: {why}")
    recomputed = aggregate(row.get("tasks") or {})
    for name, value in (row.get("aggregates") or {}).items():
        if name in recomputed and not _close(value, recomputed[name]):
            probs.append(f"{path}: aggregate {name} = {value} but its per-task values give {recomputed[name]}")
    run_dir = find_run(row.get("run_id", ""), runs_dirs)
    bpath = bundle_path(path)
    evidence = source = unfinished = None
    if run_dir is not None:
        try:
            evidence, source = collect(run_dir), f"run folder {run_dir}"
        except EvidenceError as e:   # a run folder started again and not finished (or cleaned):
            unfinished = e           # the row's bundle is its evidence, when it has one
        if evidence is not None:
            probs += [f"{path}: {p}" for p in verify_run(run_dir)]
    if bpath.exists():
        try:
            bundled, sha = read_bundle(bpath)
        except EvidenceError as e:
            return probs + [f"{path}: {e}"]
        want_sha = (row.get("bundle") or {}).get("sha256")
        if schema >= 2 and want_sha != sha:
            probs.append(f"{path}: bundle {bpath.name} has sha256 {sha[:12]} but the row records "
                         f"{str(want_sha)[:12]} (the bundle or the row was edited)")
        if evidence is not None:
            if comparable(bundled) != comparable(evidence):
                probs.append(f"{path}: bundle {bpath.name} differs from the evidence in {run_dir}")
        else:
            evidence, source = bundled, f"bundle {bpath.name}"
    elif schema >= 2:
        probs.append(f"{path}: its bundle {bpath.name} is missing")
    if evidence is None and unfinished is not None:
        probs.append(f"{path}: {unfinished}")
    if evidence is None:
        if run_dir is None:
            probs.append(f"{path}: artifacts not on this machine and no bundle: run {row.get('run_id')} "
                         f"is in no runs folder (looked in $WINNOW_HOME/runs and --runs) and {bpath.name} "
                         "does not exist, so its numbers cannot be checked")
        return probs
    probs += [f"{path}: {source}: {p}" for p in chain_problems(evidence, row.get("manifests") or {})]
    probs += [f"{path}: {source}: {p}" for p in evidence_problems(evidence)]
    try:
        want = row_numbers(evidence, schema)
    except (KeyError, TypeError, ValueError) as e:
        return probs + [f"{path}: {source}: incomplete evidence ({type(e).__name__}: {e})"]
    if schema < 2:   # schema 1 ranked by a default since replaced; compare what it recorded
        want.pop("primary_metric", None)
    mine = {k: v for k, v in row.items() if k not in NOT_FROM_EVIDENCE and not k.startswith("_")}
    if schema < 2:
        mine.pop("primary_metric", None)
        want = {k: v for k, v in want.items() if k in mine}
    probs += [f"{path}: {d} ({source})" for d in compare(mine, want, "", strict=schema >= 2)]
    return probs


def sealed_problems(rows_dir: Path | None = None) -> list[str]:
    """The cheap half of ``check_rows``, what ``winnow leaderboard build`` asks before it publishes:
    every row readable, in the folder its scale, track and seed name, its row_hash and its bundle's
    sha256 as recorded, aggregates that its per-task values give, and no two rows from one trained
    model or one name with two recipes (``board_problems``). No run folder or evidence is read."""
    problems, rows = [], []
    for path in row_files(rows_dir):
        row, unreadable = read_row(path)
        if row is None:
            problems.append(unreadable)
            continue
        rows.append((path, row))
        problems += place_problems(path, row)
        if row_hash(row) != row.get("row_hash"):
            problems.append(f"{path}: row_hash does not match the row's content (the row was edited)")
        recomputed = aggregate(row.get("tasks") or {})
        problems += [f"{path}: aggregate {k} = {v} but its per-task values give {recomputed[k]}"
                     for k, v in (row.get("aggregates") or {}).items() if k in recomputed and not _close(v, recomputed[k])]
        want_sha, bpath = (row.get("bundle") or {}).get("sha256"), bundle_path(path)
        if (row.get("schema") or 0) >= 2 and want_sha is not None and \
                (not bpath.is_file() or sha256_bytes(bpath.read_bytes()) != want_sha):
            problems.append(f"{path}: its bundle {bpath.name} is {'missing' if not bpath.is_file() else 'not the one it records'}")
    return problems + board_problems(rows)


def check_rows(rows_dir: Path | None = None, runs_dirs: list[Path] | None = None) -> tuple[list[str], int]:
    paths = row_files(rows_dir)
    problems = []
    rows, fingerprints = [], {}
    for p in paths:
        problems += check_row(p, runs_dirs)
        row, _ = read_row(p)
        if row is not None:
            rows.append((p, row))
            problems += baseline_problems(p, row, fingerprints)
    return problems + board_problems(rows), len(paths)

