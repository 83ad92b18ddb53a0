"""Verification: a run folder's manifest chain, and every leaderboard row against its evidence.

``verify_run`` recomputes the sha256 of every file listed in each stage manifest of a run (and of
its pool), and checks that each stage names its parent's content id, so a changed byte anywhere
is reported with the file's path. ``check_rows`` recomputes each row's aggregates from its own
per-task values, its numbers from the run's ``results.json`` when the run folder is on this
machine, its manifest ids against the artifacts, and the row hash.
"""

from __future__ import annotations

import json
from pathlib import Path

from winnow.io import read_json
from winnow.manifest import read_manifest, verify_folder

# Row manifest keys (artifact kinds) by run stage name.
ROW_KEYS = {"curate": "curated", "tokenize": "tokenized"}
PARENT_OF = {"curate": ("pool", None), "tokenize": ("curated", "curate"), "train": ("tokenized", "tokenize"),
             "eval": ("train", "train")}


def run_pool_dir(run_dir: Path) -> Path | None:
    from winnow.pool.build import pool_dir

    info = read_json(run_dir / "run.json")
    pool = info["config"]["pool"]
    return pool_dir(pool["name"], pool["version"])


def verify_run(run_dir: Path) -> list[str]:
    from winnow.run import chain

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        return [f"{run_dir}: not a run folder (no run.json)"]
    problems: list[str] = []
    pool = run_pool_dir(run_dir)
    folders = {"pool": pool, **chain(run_dir)}
    manifests = {}
    for stage, folder in folders.items():
        problems += verify_folder(folder)
        manifests[stage] = read_manifest(folder)
    for stage, (parent_key, parent_stage) in PARENT_OF.items():
        m = manifests.get(stage)
        parent = manifests.get(parent_stage or "pool")
        if m is None or parent is None:
            continue
        if m.parents.get(parent_key) != parent.content_id:
            problems.append(f"{folders[stage]}: names parent {parent_key} {str(m.parents.get(parent_key))[:8]} "
                            f"but {folders[parent_stage or 'pool']} has content id {parent.short}")
    return problems


def check_row(path: Path) -> list[str]:
    from winnow.eval.scoring import aggregate
    from winnow.leaderboard.rows import ROW_SCHEMA, row_hash
    from winnow.paths import winnow_home

    try:
        row = read_json(path)
    except (OSError, json.JSONDecodeError) as e:
        return [f"{path}: unreadable row ({e})"]
    probs = []
    if row.get("schema") != ROW_SCHEMA:
        probs.append(f"{path}: schema {row.get('schema')!r}, expected {ROW_SCHEMA}")
    if row_hash(row) != row.get("row_hash"):
        probs.append(f"{path}: row_hash does not match the row's content (the row was edited)")
    recomputed = aggregate(row["tasks"])
    for name, value in row["aggregates"].items():
        if name in recomputed and not _close(recomputed[name], value):
            probs.append(f"{path}: aggregate {name} = {value} but its per-task values give {recomputed[name]}")
    run_dir = winnow_home() / "runs" / row["run_id"]
    if run_dir.exists():
        probs += _check_against_run(path, row, run_dir)
    return probs


def _close(a, b, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= tol


def _check_against_run(path: Path, row: dict, run_dir: Path) -> list[str]:
    from winnow.run import chain

    probs = []
    by_stage = {"pool": run_pool_dir(run_dir), **chain(run_dir)}
    folders = {ROW_KEYS.get(stage, stage): f for stage, f in by_stage.items()}
    for stage, want in row["manifests"].items():
        folder = folders.get(stage)
        m = read_manifest(folder) if folder else None
        if m is None:
            probs.append(f"{path}: cites {stage} {want[:8]} but {run_dir} has no finished {stage} stage")
            continue
        if m.content_id != want:
            probs.append(f"{path}: cites {stage} {want[:8]} but the artifact's content id is {m.short}")
        probs += [f"{path}: {p}" for p in verify_folder(folder)]
    results = folders.get("eval")
    if results is not None and (results / "results.json").exists():
        res = read_json(results / "results.json")
        for task, vals in row["tasks"].items():
            src = res["tasks"].get(task)
            if src is None:
                probs.append(f"{path}: task {task} is not in {results / 'results.json'}")
                continue
            for k, v in vals.items():
                if isinstance(v, (int, float)) and not _close(src.get(k), v):
                    probs.append(f"{path}: {task}.{k} = {v} but the run's results say {src.get(k)}")
        from winnow.leaderboard.rows import heldout_summary

        src_h = heldout_summary(res)
        for k, v in row.get("heldout", {}).items():
            if isinstance(v, (int, float)) and not _close(src_h.get(k), v):
                probs.append(f"{path}: heldout.{k} = {v} but the run's results say {src_h.get(k)}")
    return probs


def check_rows(rows_dir: Path | None = None) -> tuple[list[str], int]:
    from winnow.leaderboard.rows import rows_root

    root = rows_dir or rows_root()
    paths = sorted(root.rglob("*.json"))
    problems = []
    for p in paths:
        problems += check_row(p)
    return problems, len(paths)
