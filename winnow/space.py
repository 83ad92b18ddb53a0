"""How much disk a stage of a run writes: the "space needed" of the full-disk message.

When a stage stops on a full disk (ENOSPC/EDQUOT), ``winnow.run.run_stage`` raises
``winnow.io.DiskFull`` naming the stage's folder and this estimate, and the CLI prints one line
with the folder, the space free there and the space the stage needs (``disk_full_message``).
The estimates are cheap (no file is read) and say what they are based on:

* a stage redone over an earlier manifest: the bytes that manifest records (exact);
* pool: the size of the pool's source files (an upper bound: a pool holds at most its sources);
* curate: the pool shards it reads, times the recipe's segments (each GlobalStep writes a copy
  under ``_work/``; an upper bound, since filters only drop);
* tokenize: ``tokens.npy`` exactly (sequences x (seq_len + 1) x 2 or 4 bytes);
* train: 16 bytes a parameter (fp32 weights in the model folder and in the checkpoint, and Adam's
  two moments);
* eval: 1 MiB a task (results, per-task samples and contamination reports).
"""

from __future__ import annotations

import glob
from pathlib import Path

from winnow.manifest import read_manifest
from winnow.paths import data_root

TRAIN_BYTES_PER_PARAM = 16
EVAL_BYTES_PER_TASK = 1 << 20


def fmt_bytes(n: int | float) -> str:
    """``1536`` -> ``1.5 KiB``: sizes as the message shows them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _sizes(paths) -> int:
    total = 0
    for p in paths:
        try:
            total += Path(p).stat().st_size
        except OSError:
            pass
    return total


def manifest_bytes(folder: Path) -> int | None:
    """The bytes an existing manifest of ``folder`` records (None without one, or without sizes)."""
    try:
        m = read_manifest(folder)
    except Exception:  # an unreadable manifest is no basis for an estimate
        return None
    if m is None:
        return None
    sizes = [f.get("bytes") for f in m.files.values() if isinstance(f, dict)]
    return sum(s for s in sizes if isinstance(s, int)) or None


def stage_need(run, stage: str, folder: Path) -> tuple[int | None, str]:
    """(bytes, what the estimate is based on) that ``stage`` of ``run`` writes into ``folder``."""
    if (n := manifest_bytes(folder)) is not None:
        return n, "what its earlier manifest records"
    try:
        if stage == "pool":
            sources = run.cfg["pool"].get("sources")
            if isinstance(sources, str):
                return _sizes(glob.glob(str(data_root() / sources))), "at most the size of the pool's source files"
            return None, "the pool's sources are remote"
        if stage == "curate":
            from winnow.run import pool_inputs   # a cycle at import time otherwise

            segments = max(1, len(run.submission.recipe.segments()))
            return (_sizes(pool_inputs(run)) * segments,
                    f"at most the pool shards it reads, once per recipe segment ({segments})")
        if stage == "tokenize":
            vocab = int(run.scale["model"]["vocab_size"])
            item = 2 if vocab <= 1 << 16 else 4
            seqs, seq_len = int(run.plan["sequences"]), int(run.scale["model"]["seq_len"])
            return seqs * (seq_len + 1) * item, f"tokens.npy: {seqs:,} sequences of {seq_len + 1} tokens, {item} bytes each"
        if stage == "train":
            params = int(run.plan["params"]["total"])
            return params * TRAIN_BYTES_PER_PARAM, (f"{TRAIN_BYTES_PER_PARAM} bytes a parameter for {params:,} "
                                                    "parameters: weights, checkpoint and optimizer state")
        if stage == "eval":
            n = len(run.suite.get("tasks") or []) or 1
            return n * EVAL_BYTES_PER_TASK, f"about 1 MiB a task for {n} tasks"
    except Exception as e:   # an estimate must never hide the full disk itself
        return None, f"no estimate ({type(e).__name__})"
    return None, "no estimate"
