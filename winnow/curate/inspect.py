"""`winnow inspect`: what a run's curation kept and dropped, and why.

Reads the curated folder of a run: the per-step table from ``stats.json`` and the numbers each
step reported beside its counts (``info``: paragraphs removed, a classifier's cutoff; a step that
edits text rather than dropping documents shows only there), a sample of kept
documents from the final shards, and the dropped-document samples that the engine keeps per
step and reason (``_work/seg_*/dropped/*.jsonl.zst``), filtered by ``--step`` and ``--reason``.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from pathlib import Path

from winnow.curate.pipeline import format_stats
from winnow.docs import read_docs
from winnow.io import read_json
from winnow.stages import CURATE
from winnow.registry import suggest


class InspectError(ValueError):
    """The run or the ``--step`` asked for does not exist; the message says what does."""


def _preview(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def dropped_samples(curated: Path):
    for f in sorted(curated.glob("_work/seg_*/dropped/*")):
        yield from read_docs(f)


def _number(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.4g}"


def step_notes(steps: list[dict], step: str | None = None, index: int | None = None) -> list[str]:
    """One line per step that reported ``info`` numbers (paragraphs removed, a score cutoff, FLOPs):
    what the document counts of the table do not show. ``step``/``index`` narrow it to one step."""
    lines = []
    for s in steps:
        if not s.get("info") or (step is not None and s["step"] != step) or (index is not None and s["index"] != index):
            continue
        lines.append(f"  {s['index']} {s['step']}: " + ", ".join(f"{k} {_number(v)}" for k, v in sorted(s["info"].items())))
    return lines


def inspect_run(run_dir: Path, step: str | None = None, reason: str | None = None, limit: int = 5) -> str:
    curated = CURATE.path(run_dir)
    if not (curated / "stats.json").exists():
        raise InspectError(f"{curated}: no stats.json; run `winnow curate` for this run first")
    stats = read_json(curated / "stats.json")
    names = [s["step"] for s in stats["steps"]]
    index = None
    if step is not None and str(step).isdigit():  # ``--step 15``: the 15th step of the recipe
        index = int(step)
        if not 1 <= index <= len(names):
            raise InspectError(f"--step {step}: the recipe has steps 1..{len(names)}")
        step = names[index - 1]
    if step is not None and step not in names:
        known = list(dict.fromkeys(names))
        raise InspectError(f"step {step!r} is not in this run's recipe: {suggest(step, known)}")
    out = [format_stats(stats), ""]
    notes = step_notes(stats["steps"], step, index)
    if notes:
        out += ["what the steps reported (stats.json info; a step that edits text keeps its documents, "
                "so the table shows 100%):", *notes, ""]
    drops = [d for d in dropped_samples(curated)
             if (step is None or d.get("step") == step)
             and (index is None or d.get("step_index") in (None, index))
             and (reason is None or d.get("reason") == reason)]
    reasons = Counter((d.get("step"), d.get("reason")) for d in drops)
    title = "dropped" + (f" by {step}" if step else "") + (f" for {reason}" if reason else "")
    out.append(f"{title}: {sum(reasons.values())} sampled documents "
               f"({', '.join(f'{s}/{r}: {n}' for (s, r), n in reasons.most_common()) or 'none'})")
    for d in drops[:limit]:
        out.append(f"  - [{d.get('step')}/{d.get('reason')}] {d['id']} ({d.get('source')}): {_preview(d['text'])}")
    if reason is None:  # kept: what survived the whole recipe (so also ``step``)
        kept = [d for f in sorted((curated / "shards").glob("*")) for d in islice(read_docs(f), limit)][:limit]
        out.append(f"kept by the whole recipe (first {len(kept)} of {stats['totals']['docs_out']}):")
        for d in kept:
            out.append(f"  - {d['id']} ({d.get('source')}): {_preview(d['text'])}")
    return "\n".join(out)
