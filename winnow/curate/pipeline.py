"""``curate()``: run a compiled recipe over input shards and write the curated shards and stats.

Layout of ``out_dir``::

    shards/<name>               the curated shards, same names as the input shards
    stats.json                  per-step counters, totals, per-source table (see ``curate``)
    _work/seg_<k>_<kind>/       one folder per segment (kept for resume and ``winnow inspect``)
        key.json                the segment's input key; a different key wipes the folder
        <name>, <name>.counters.json, <name>.done, dropped/<name>   (document segments)
        <name>..., counters.json, step.done, dropped/<name>          (a GlobalStep)
        _partial/                   a resumable GlobalStep's own partial work (kept on retry)

Notable choices:

* The plan always starts and ends with a document segment: when a recipe starts (or ends) with
  a GlobalStep, or has no steps, an empty document segment is added there. The engine is then
  the only code that turns pool documents into step documents (fields reduced, ``meta.pool_id``
  set) and the last pass re-checks every output document; it also yields the per-source table
  (``in`` from the first pass, ``out`` from the last) at the cost of one extra read/write pass.
* Each segment's key chains the previous key, the canonical steps (with versions and the sha256
  of referenced files), the plugins' sha256, and the run values the recipe depends on
  (``Recipe.run_inputs``: the seed only if some step is seed-dependent, the token-estimation
  numbers only if some step is budget-dependent); the first key also covers the input shards
  (path, size, mtime). A rerun resumes finished shards and GlobalSteps whose key is unchanged,
  and editing step ``k`` reuses segments before it. So a run of another seed (or scale) resumes
  the partial work of a seed-independent (budget-independent) recipe, as the shared curated
  folder needs (``winnow.curate.store``).
* A step that leaves no document stops the run with ``EmptyCorpusError`` naming it, rather than
  passing an empty corpus to tokenization.
* Final shards are hard links to the last segment's files (a copy where links are impossible);
  both are written by rename, never in place, so the two never diverge.
* ``shards/`` is the content; ``stats.json`` also holds timings (``seconds``), so it differs
  between identical runs: a manifest's content id should hash ``shards/`` only and carry the
  stats in its (unhashed) ``stats`` field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from winnow.curate.base import ENGINES, Counters, SourceTable, StepContext, StepError, StepSpec, cpu_clock
from winnow.curate.common import partial
from winnow.curate.external import external_shards
from winnow.curate.heartbeat import heartbeat
from winnow.curate.plugins import resolve_step
from winnow.curate.recipe import Recipe, RecipeError, Segment, load_recipe
from winnow.io import atomic_path, read_json, sha256_file, write_json
from winnow.manifest import hash_obj

log = logging.getLogger(__name__)

PIPELINE_FORMAT = 1  # bump when the work layout or the engine's document handling changes
STATS_SCHEMA = 1


class EmptyCorpusError(RecipeError):
    """A step (or the input) left no document to curate."""


def plan_segments(recipe: Recipe) -> list[Segment]:
    """``recipe.segments()`` with empty document segments added at the start and end if needed."""
    segs = recipe.segments()
    if not segs or segs[0].kind != "docs":
        segs.insert(0, Segment(0, "docs", []))
    if segs[-1].kind != "docs":
        segs.append(Segment(0, "docs", []))
    return [Segment(k, s.kind, s.steps) for k, s in enumerate(segs)]


def resolve_engine(engine: Any, workers: int) -> Any:
    """An engine instance from an instance, a registered name (``"local"``), or None (local)."""
    if engine is None:
        engine = "local"
    if isinstance(engine, str):
        return ENGINES.get(engine)(workers=workers)
    return engine


def _prepare(seg_dir: Path, key: str) -> None:
    """Keep ``seg_dir`` if it was made for ``key``; otherwise start it afresh."""
    key_file = seg_dir / "key.json"
    if key_file.exists():
        try:
            if read_json(key_file).get("key") == key:
                return
        except (OSError, ValueError):
            pass
    if seg_dir.exists():
        shutil.rmtree(seg_dir)
    seg_dir.mkdir(parents=True)
    write_json(key_file, {"key": key})


def _inputs_key(shards: list[Path]) -> list:
    out = []
    for p in shards:
        st = p.stat()
        out.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _top_reasons(dropped: dict[str, int], n: int = 3) -> str:
    items = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{r}: {c:,}" for r, c in items[:n])
    if len(items) > n:
        text += f", +{len(items) - n} more"
    return text


def _check_not_empty(spec: StepSpec, c: Counters) -> None:
    if c.docs_in > 0 and c.docs_out == 0:
        why = f" ({_top_reasons(c.dropped)})" if c.dropped else ""
        raise EmptyCorpusError(
            f"{spec.label} dropped every document: {c.docs_in:,} in, 0 out{why}; loosen its "
            "parameters (the per-shard counters and a sample of dropped documents are under "
            "_work/ in the output folder)")


def _run_global(recipe: Recipe, spec: StepSpec, inputs: list[Path], seg_dir: Path,
                ctx: StepContext, say) -> tuple[list[Path], Counters, bool]:
    marker, cfile = seg_dir / "step.done", seg_dir / "counters.json"
    if marker.exists() and cfile.exists():
        d = read_json(cfile)
        outs = [seg_dir / o if not Path(o).is_absolute() else Path(o) for o in d["outputs"]]
        if all(p.exists() for p in outs):
            say(f"{seg_dir.name}: {spec.label} already done, skipping it (resume)")
            return outs, Counters.from_dict(d), True
    # A half-finished attempt: start the step over, unless the step resumes its own partial
    # work (``resumable = True``; the folder's key already pins inputs, params and seed).
    if not getattr(resolve_step(spec.name, recipe.local_steps), "resumable", False):
        for child in seg_dir.iterdir():
            if child.name != "key.json":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    step_ctx = dataclasses.replace(ctx, work_dir=seg_dir / "tmp")
    step_ctx.work_dir.mkdir(parents=True, exist_ok=True)
    before = partial.ledger(seg_dir)      # units earlier attempts finished (resumable steps)
    t0, c0 = time.perf_counter(), cpu_clock()
    step = None
    try:   # a status line (or log lines) every second while run() works: never silent for long
        with heartbeat(spec.label, lambda: getattr(step, "counters", None), getattr(ctx.engine, "progress", None)):
            step = recipe.build(spec, step_ctx)
            outs = step.run(list(inputs), seg_dir, step_ctx)
    except (RecipeError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise StepError(f"{spec.label} failed: {type(e).__name__}: {e}") from e
    seconds, cpu_seconds = time.perf_counter() - t0, cpu_clock() - c0
    if not isinstance(outs, (list, tuple)) or not all(Path(p).is_file() for p in outs):
        raise StepError(f"{spec.label}: run() must return the list of output shard paths it "
                        f"wrote, got {outs!r}")
    outs = [Path(p) for p in outs]
    c = getattr(step, "counters", None) or Counters()
    if not c.seconds:
        c.seconds = seconds
    if not c.cpu_seconds:
        c.cpu_seconds = cpu_seconds
    prior_cpu, prior_wall = partial.carried(before)   # a resumed step's earlier attempts' share
    c.seconds += prior_wall
    c.cpu_seconds = None if prior_cpu is None or c.cpu_seconds is None else c.cpu_seconds + prior_cpu
    rel = [str(p.relative_to(seg_dir)) if p.is_relative_to(seg_dir) else str(p) for p in outs]
    write_json(cfile, {"index": spec.index, "step": spec.name, **c.to_dict(), "outputs": rel})
    marker.write_bytes(b"")
    with contextlib.suppress(OSError):
        step_ctx.work_dir.rmdir()  # only if the step left its scratch folder empty
    return outs, c, False


def _announce(seg: Segment, n_segments: int, shards: list[Path], engine: Any) -> None:
    """One log line as each segment starts, so curation is never silent for long: what runs,
    over how many shards, and (document segments) with how many worker processes."""
    where = f"segment {seg.index + 1} of {n_segments}, over {len(shards)} shards"
    if seg.kind == "global":
        log.info("curate: %s (%s) starts, %s", seg.steps[0].label, seg.dirname, where)
        return
    steps = (", ".join(s.label for s in seg.steps) if seg.steps
             else "no step: reads and checks the documents")
    workers = getattr(engine, "workers", None) if getattr(engine, "name", "") == "local" else None
    log.info("curate: %s: %s; %s%s", seg.dirname, steps, where,
             f", {min(workers, len(shards))} worker processes" if workers and workers > 1
             and len(shards) > 1 else "")


def _place(shards: list[Path], final: Path) -> None:
    final.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in shards}
    for p in shards:
        with atomic_path(final / p.name) as tmp:
            try:
                os.link(p, tmp)
            except OSError:
                shutil.copyfile(p, tmp)
    for old in final.iterdir():
        if old.is_file() and old.name not in names:
            old.unlink()


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


def curate(recipe: Recipe | str | Path, input_shards: list[Path], out_dir: Path,
           ctx: StepContext, engine: Any = None) -> dict:
    """Run ``recipe`` over ``input_shards`` into ``out_dir``; write and return ``stats.json``.

    ``engine`` is an engine instance, a registered engine name, or None (``LocalEngine`` with
    ``ctx.workers``). Raises ``RecipeError`` (``EmptyCorpusError`` when a step drops every
    document) or ``StepError``.

    stats.json::

        {"schema": 1,
         "recipe": {"name", "track", "fingerprint"},
         "engine": {"name", "workers"},
         "seed": int | null,  # null: no step depends on it (Recipe.dependence)
         "dependence": {"seed_dependent", "budget_dependent", "seeded_steps", "budget_steps"},
         "steps": [{"index", "step", "kind", "version", "in", "out", "dropped": {reason: n},
                    "seconds", "cpu_seconds", ["info": {...}]}, ...],  # recipe order, 1-based index
         "totals": {"docs_in", "docs_out", "bytes_in", "bytes_out", "keep_rate",
                    "byte_keep_rate", "est_tokens_out", "shards", "seconds"},
         "sources": {source: {"docs_in", "docs_out", "bytes_in", "bytes_out", "keep_rate",
                              "byte_keep_rate"}},
         "segments": [{"dir", "kind", "steps": [index, ...], "resumed_shards" | "resumed",
                       "seconds"}],
         "shards": [name, ...]}

    Bytes are UTF-8 bytes of ``text``; ``est_tokens_out`` is ``bytes_out / bytes_per_token``
    (null when the context has none).
    """
    t_start = time.perf_counter()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    shards = [Path(p) for p in input_shards]
    if not shards:
        raise EmptyCorpusError("curate() got no input shards")
    if recipe.external:  # mixing track: external documents join the pool's before the first step
        shards += external_shards(recipe.external, Path(out_dir) / "_work" / "external")
    missing = [str(p) for p in shards if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"input shard(s) not found: {', '.join(missing[:5])}")
    names = [p.name for p in shards]
    if len(set(names)) != len(names):
        raise StepError("input shards must have distinct file names (the output keeps them)")

    out_dir = Path(out_dir)
    engine = resolve_engine(engine, ctx.workers)
    ctx = dataclasses.replace(ctx, track=recipe.track, engine=engine)
    say = getattr(engine, "say", None) or (lambda msg: print(msg, file=sys.stderr))
    work = out_dir / "_work"
    work.mkdir(parents=True, exist_ok=True)
    plugins = [sha256_file(p) for p in recipe.plugins]
    key = hash_obj({"format": PIPELINE_FORMAT, "inputs": _inputs_key(shards)})
    run_inputs = recipe.run_inputs(ctx.seed, ctx.train_tokens, ctx.bytes_per_token)

    rows: dict[int, dict] = {}
    segments_info: list[dict] = []
    source_in: SourceTable | None = None
    source_out = SourceTable()
    current = shards
    blame: StepSpec | None = None  # the step that produced ``current``
    pending: dict | None = None  # a GlobalStep row whose ``out`` the next segment tells
    flow: int | None = None  # documents after the latest step (None: a step did not count)
    plan = plan_segments(recipe)
    for seg in plan:
        key = hash_obj({"prev": key, "kind": seg.kind, "steps": [s.canonical for s in seg.steps],
                        "plugins": plugins, **run_inputs})
        seg_dir = work / seg.dirname
        _prepare(seg_dir, key)
        t0 = time.perf_counter()
        _announce(seg, len(plan), current, engine)
        if seg.kind == "docs":
            res = engine.run_segment(recipe.job(seg.steps, ctx), current, seg_dir)
            seg_in = sum(r["docs_in"] for r in res.sources.rows.values())
            if pending is not None:
                pending["out"] = seg_in
                pending = None
            if seg_in == 0:
                if blame is None:
                    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                    raise EmptyCorpusError(f"the input shards hold no documents ({shown})")
                raise EmptyCorpusError(f"{blame.label} dropped every document (its output is "
                                       "empty); loosen its parameters")
            if source_in is None:
                source_in = res.sources
            for spec, c in zip(seg.steps, res.counters):
                _check_not_empty(spec, c)
                rows[spec.index] = {"index": spec.index, "step": spec.name, "kind": spec.kind,
                                    "version": spec.version, **c.to_dict()}
                blame = spec
            source_out = res.sources
            flow = sum(r["docs_out"] for r in res.sources.rows.values())
            current = res.shards
            segments_info.append({"dir": seg.dirname, "kind": "docs",
                                  "steps": [s.index for s in seg.steps],
                                  "resumed_shards": res.skipped,
                                  "seconds": round(time.perf_counter() - t0, 3)})
            log.info("curate: %s done in %.1f s: %s documents in, %s out", seg.dirname,
                     time.perf_counter() - t0, f"{seg_in:,}", f"{flow:,}")
        else:
            spec = seg.steps[0]
            outs, c, resumed = _run_global(recipe, spec, current, seg_dir, ctx, say)
            row = {"index": spec.index, "step": spec.name, "kind": spec.kind,
                   "version": spec.version, **c.to_dict()}
            if c.docs_in == 0 and c.docs_out == 0 and not c.dropped:  # step did not count
                row["in"] = flow
                row["out"] = flow = None
                pending = row
            else:
                _check_not_empty(spec, c)
                flow = c.docs_out
            rows[spec.index] = row
            blame = spec
            current = outs
            segments_info.append({"dir": seg.dirname, "kind": "global", "steps": [spec.index],
                                  "resumed": resumed,
                                  "seconds": round(time.perf_counter() - t0, 3)})
            log.info("curate: %s done in %.1f s%s", spec.label, time.perf_counter() - t0,
                     f": {c.docs_in:,} documents in, {c.docs_out:,} out" if c.docs_in else "")

    _place(current, out_dir / "shards")

    sources: dict[str, dict] = {}
    assert source_in is not None
    for src in sorted(set(source_in.rows) | set(source_out.rows)):
        a = source_in.rows.get(src, {})
        b = source_out.rows.get(src, {})
        row = {"docs_in": a.get("docs_in", 0), "docs_out": b.get("docs_out", 0),
               "bytes_in": a.get("bytes_in", 0), "bytes_out": b.get("bytes_out", 0)}
        row["keep_rate"] = _rate(row["docs_out"], row["docs_in"])
        row["byte_keep_rate"] = _rate(row["bytes_out"], row["bytes_in"])
        sources[src] = row
    tot = {k: sum(r[k] for r in sources.values())
           for k in ("docs_in", "docs_out", "bytes_in", "bytes_out")}
    bpt = ctx.bytes_per_token
    totals = {**tot, "keep_rate": _rate(tot["docs_out"], tot["docs_in"]),
              "byte_keep_rate": _rate(tot["bytes_out"], tot["bytes_in"]),
              "est_tokens_out": round(tot["bytes_out"] / bpt) if bpt else None,
              "shards": len(current), "seconds": round(time.perf_counter() - t_start, 3)}
    stats = {
        "schema": STATS_SCHEMA,
        "recipe": {"name": recipe.name, "track": recipe.track,
                   "fingerprint": recipe.fingerprint()},
        "engine": {"name": getattr(engine, "name", type(engine).__name__),
                   "workers": getattr(engine, "workers", None)},
        "seed": ctx.seed if recipe.seed_dependent else None,
        "dependence": recipe.dependence(),
        "steps": [rows[i] for i in sorted(rows)],
        "totals": totals,
        "sources": sources,
        "segments": segments_info,
        "shards": [p.name for p in current],
    }
    write_json(out_dir / "stats.json", stats)
    return stats


# --------------------------------------------------------------------------- rendering

def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def format_stats(stats: dict) -> str:
    """A per-step table (in, out, kept, top drop reasons, seconds) and a per-source table."""
    r = stats.get("recipe", {})
    lines = [f"recipe {r.get('name')} ({r.get('track')}), fingerprint "
             f"{str(r.get('fingerprint', ''))[:12]}", ""]
    step_rows = []
    for s in stats["steps"]:
        out = s.get("out")
        kept = _rate(out, s["in"]) if isinstance(out, int) else None
        step_rows.append([str(s["index"]), s["step"], f"{s['in']:,}",
                          f"{out:,}" if isinstance(out, int) else "?", _pct(kept),
                          _top_reasons(s.get("dropped") or {}) or "-", f"{s['seconds']:.2f}"])
    t = stats["totals"]
    step_rows.append(["", "total", f"{t['docs_in']:,}", f"{t['docs_out']:,}", _pct(t["keep_rate"]),
                      "", f"{t['seconds']:.2f}"])
    lines += _table(["#", "step", "in", "out", "kept", "top drop reasons", "sec"], step_rows,
                    {0, 2, 3, 4, 6})
    lines.append("")
    src_rows = []
    for name, s in stats["sources"].items():
        src_rows.append([name, f"{s['docs_in']:,}", f"{s['docs_out']:,}", _pct(s["keep_rate"]),
                         _human_bytes(s["bytes_in"]), _human_bytes(s["bytes_out"]),
                         _pct(s["byte_keep_rate"])])
    src_rows.append(["total", f"{t['docs_in']:,}", f"{t['docs_out']:,}", _pct(t["keep_rate"]),
                     _human_bytes(t["bytes_in"]), _human_bytes(t["bytes_out"]),
                     _pct(t["byte_keep_rate"])])
    lines += _table(["source", "docs in", "docs out", "keep", "bytes in", "bytes out", "byte keep"],
                    src_rows, {1, 2, 3, 4, 5, 6})
    if t.get("est_tokens_out") is not None:
        lines += ["", f"~{t['est_tokens_out']:,} tokens out (estimated from bytes), "
                      f"{t['shards']} shards"]
    return "\n".join(lines)
