"""Leaderboard rows: one JSON file per (submission, scale, seed) result, written only by submit.

A row (schema 1, DESIGN.md Contracts) is made from a finished, verified run folder and cites
every manifest id of its chain, so ``winnow leaderboard check`` can recompute its numbers. Rows
live in ``leaderboard/rows/<scale>/<track>/<slug>__seed<k>__<key8>.json``. Submit refuses
unofficial runs (any scale or suite override) and incomplete or tampered chains.
"""

from __future__ import annotations

from pathlib import Path

from winnow.io import read_json, sha256_file, write_json
from winnow.manifest import code_version, hash_obj, read_manifest
from winnow.paths import leaderboard_dir

ROW_SCHEMA = 1


class RowError(ValueError):
    pass


def rows_root() -> Path:
    return leaderboard_dir() / "rows"


def row_hash(row: dict) -> str:
    return hash_obj({k: v for k, v in row.items() if k != "row_hash"})


def primary_metric(scale: dict) -> str:
    return scale.get("leaderboard", {}).get("primary", "prob_mean_v1")


def heldout_summary(results: dict) -> dict:
    """The held-out figures a row carries: the model's and the unigram reference's bits per byte."""
    h = results.get("heldout") or {}
    return {"bits_per_byte": (h.get("model") or {}).get("bits_per_byte"),
            "unigram_bits_per_byte": (h.get("unigram") or {}).get("bits_per_byte"),
            "tokens": (h.get("model") or {}).get("tokens")}


def make_row(run_dir: Path) -> dict:
    from winnow.leaderboard.verify import run_pool_dir, verify_run
    from winnow.run import chain

    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json")
    if not info["official"]:
        raise RowError(f"{run_dir}: unofficial run ({'; '.join(info['unofficial'])}); "
                       "the leaderboard takes only runs of the committed scale and suite")
    folders = {"pool": run_pool_dir(run_dir), **chain(run_dir)}
    missing = [s for s in ("pool", "curate", "tokenize", "train", "eval")
               if s not in folders or read_manifest(folders[s]) is None]
    if missing:
        raise RowError(f"{run_dir}: stages not finished: {', '.join(missing)}; run `winnow run` first")
    problems = verify_run(run_dir)
    if problems:
        raise RowError(f"{run_dir}: verification failed:\n  " + "\n  ".join(problems))
    m = {s: read_manifest(f) for s, f in folders.items()}
    res = read_json(folders["eval"] / "results.json")
    cfg = info["config"]
    tok_stats = m["tokenize"].stats
    train_stats = m["train"].stats
    curate_stats = m["curate"].stats
    row = {
        "schema": ROW_SCHEMA,
        "submission": info["submission"],
        "fingerprint": info["fingerprint"],
        "track": info["track"],
        "scale": info["scale"],
        "scale_version": info["scale_version"],
        "seed": info["seed"],
        "suite": info["suite"],
        "suite_version": info["suite_version"],
        "run_id": info["run_id"],
        "manifests": {"pool": m["pool"].content_id, "curated": m["curate"].content_id,
                      "tokenized": m["tokenize"].content_id, "train": m["train"].content_id,
                      "eval": m["eval"].content_id},
        "results_sha256": sha256_file(folders["eval"] / "results.json"),
        "primary_metric": primary_metric(cfg["scale"]),
        "tasks": res["tasks"],
        "aggregates": res["aggregates"],
        "heldout": heldout_summary(res),
        "training": {"tokens": tok_stats["tokens"] - tok_stats["n_sequences"],  # predicted tokens
                     "sequences": tok_stats["n_sequences"], "passes": tok_stats["passes"],
                     "steps": train_stats.get("steps"),
                     "curated_docs": tok_stats["curated_docs"], "docs_used": tok_stats["docs_used"]},
        # per-step seconds are summed over workers' shards: CPU seconds of the recipe's steps
        "curation_cost": {"cpu_seconds": round(sum(s.get("seconds", 0.0) for s in curate_stats["steps"]), 2)},
        "contamination": {"measured": False},
        "flags": {"plugin_code": bool(info.get("allow_code") and info.get("plugins")),
                  "targeted": False, "external_data": info["track"] == "mixing"},
        "code": code_version(),
    }
    row["row_hash"] = row_hash(row)
    return row


def row_path(row: dict) -> Path:
    slug = row["submission"].replace("/", "-")
    key8 = row["run_id"].rsplit("__", 1)[-1]
    return rows_root() / row["scale"] / row["track"] / f"{slug}__seed{row['seed']}__{key8}.json"


def submit(run_dir: Path) -> Path:
    row = make_row(run_dir)
    path = row_path(row)
    write_json(path, row)  # atomic: concurrent submits never leave a partial row
    return path


def load_rows(root: Path | None = None) -> list[dict]:
    root = root or rows_root()
    rows = []
    for p in sorted(root.rglob("*.json")):
        r = read_json(p)
        r["_path"] = str(p)
        rows.append(r)
    return rows
