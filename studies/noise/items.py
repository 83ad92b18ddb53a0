"""How the signal of gold-continuation bpb grows with the number of items scored per task.

Reads the per-item samples every evaluation writes (``eval/<suite>/samples/<task>.jsonl``: the
gold continuation's log-probability and byte count per item) of the runs exported by
``export.py``, and recomputes the byte-pooled gold bpb of each run on random subsets of m items
per task, the SAME subset for every run (as a suite's seeded subsample is), for several m. For
each m it reports the mean over ``--draws`` subsets of the SNR, seed-to-seed Kendall tau and
separated pairs (``winnow.leaderboard.signal.signal``), so the curve shows whether scoring more
rows per task would lower the seed noise or whether the noise is in the models themselves.

    python studies/noise/items.py studies/noise/rows/<config> [--sizes 25,50,100,200] [--draws 20]

Tasks: those whose gold continuations average at least ``MIN_GOLD_BYTES`` bytes (the metric's
tasks); ``--tasks`` names others.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from winnow.leaderboard.signal import MIN_GOLD_BYTES, signal
from winnow.paths import winnow_home


def load_items(run_dir: Path, suite: str) -> dict[str, dict[int, tuple[float, int]]]:
    """{task: {doc_id: (gold nats, gold bytes)}} of one run's evaluation."""
    out = {}
    for f in sorted((run_dir / "eval" / suite / "samples").glob("*.jsonl")):
        items = {}
        for line in f.read_text(encoding="utf-8").splitlines():
            s = json.loads(line)
            if s.get("gold_logprob") is not None and s.get("gold_bytes"):
                items[int(s["doc_id"])] = (-float(s["gold_logprob"]), int(s["gold_bytes"]))
        if items:
            out[f.stem] = items
    return out


def pooled_bpb(items: dict[str, dict[int, tuple[float, int]]], subset: dict[str, list[int]]) -> float:
    nats = sum(items[t][d][0] for t, ids in subset.items() for d in ids)
    nbytes = sum(items[t][d][1] for t, ids in subset.items() for d in ids)
    return nats / math.log(2) / nbytes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", type=Path, help="a folder of exported study rows (one protocol)")
    ap.add_argument("--sizes", default="25,50,100,200")
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--tasks", help="comma-separated tasks (default: the gold-text tasks)")
    args = ap.parse_args(argv)
    rows = [json.loads(p.read_text()) for p in sorted(args.rows.glob("*.json"))]
    runs = {}
    for r in rows:
        run_dir = winnow_home() / "runs" / r["run_id"]
        weights = "__last" if "weights=last" in r.get("study_config", "") else ""
        items = load_items(run_dir, r["suite"] + weights)
        if not items:  # a committed row whose run folder is not on this machine
            print(f"skip {r['run_id']}: no per-item samples under {run_dir}")
            continue
        runs[(r["submission"], int(r["seed"]))] = items
    if len(runs) < 2:
        raise SystemExit(f"{args.rows}: fewer than two runs with per-item samples here")
    common = set.intersection(*(set(v) for v in runs.values()))
    if args.tasks:
        tasks = args.tasks.split(",")
    else:
        some = next(iter(runs.values()))
        tasks = sorted(t for t in common
                       if sum(b for _, b in some[t].values()) / len(some[t]) >= MIN_GOLD_BYTES)
    ids = {t: sorted(set.intersection(*(set(v[t]) for v in runs.values()))) for t in tasks}
    rng = np.random.default_rng(0)
    print(f"{args.rows.name}: {len(runs)} runs, {len(tasks)} tasks ({', '.join(tasks)})")
    print(f"{'items/task':>10} {'SNR':>7} {'seed sd':>9} {'tau':>6} {'separated':>10}")
    for m in [int(x) for x in args.sizes.split(",")]:
        snrs, sds, taus, seps = [], [], [], []
        for _ in range(args.draws if m < max(len(v) for v in ids.values()) else 1):
            subset = {t: list(rng.choice(v, size=min(m, len(v)), replace=False)) for t, v in ids.items()}
            values: dict = defaultdict(dict)
            for (sub, seed), items in runs.items():
                values[sub][seed] = pooled_bpb(items, subset)
            s = signal(dict(values), "gold_bpb_bytes", lower_better=True)
            if s.snr is not None:
                snrs.append(s.snr)
                sds.append(s.seed_sd)
                taus.append(s.tau)
                seps.append(s.separated / max(s.pairs, 1))
        print(f"{m:>10} {np.mean(snrs):>7.2f} {np.mean(sds):>9.4f} {np.mean(taus):>6.2f} {np.mean(seps):>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
