"""The local engine: runs one document segment (a run of Mappers/Filters) over shards.

One shard is one unit of work. For each shard the engine reads the documents, pushes them in
batches through every step of the segment, and writes, in this order:

1. ``<seg_dir>/<shard name>``: the output documents (atomic write; same name as the input);
2. ``<seg_dir>/dropped/<shard name>``: the first ``drop_samples`` dropped documents per step and
   reason, as the step saw them, plus ``step``, ``step_index`` and ``reason`` (for inspection);
3. ``<seg_dir>/<shard name>.counters.json``: per-step counters and the per-source table;
4. ``<seg_dir>/<shard name>.done``: an empty completion marker, last.

A rerun skips every shard whose marker and output exist (resume) and says how many it skipped;
the segment's totals are always merged from the per-shard counter files, so a resumed run reports
the same numbers as an uninterrupted one.

Contracts the engine enforces (submissions/README.md, "Your own steps": the rules every step
follows), so that steps cannot break them:

* steps see a fresh copy of each document holding only ``id, text, url, source, meta``; any
  other input field is dropped before the first step;
* ``id`` and ``meta.pool_id`` belong to the engine: a single output keeps its parent's id, split
  outputs become ``<parent id>#<k>``, and every output carries its pool document's
  ``meta.pool_id``; a step returning another top-level field is an error (use ``meta``).

Parallelism: ``workers > 1`` uses a ``ProcessPoolExecutor`` with the *spawn* start method
(the same behaviour on Linux, macOS and Windows; no fork-inherited state); each worker rebuilds
the steps from the picklable ``SegmentJob`` (importing plugin files by path again) and calls
``setup()`` once; a worker that dies (e.g. out of memory) fails the run instead of hanging it.
``workers == 1`` runs in-process. A shard's output depends only on the shard,
so the bytes are identical for any number of workers. Progress is a tqdm bar over shards.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from winnow.curate.base import ENGINES  # noqa: F401  (re-exported: engines are looked up here too)
from winnow.curate.base import (Counters, DropSampler, Mapper, SegmentJob, SegmentResult,
                                SourceTable, StepError, StepSpec)
from winnow.curate.plugins import build_step, load_plugins
from winnow.docs import STEP_FIELDS, DocumentError, check_doc, read_docs, write_docs
from winnow.io import read_json, write_json

log = logging.getLogger(__name__)

_ALLOWED = frozenset(STEP_FIELDS)


def done_marker(seg_dir: Path, name: str) -> Path:
    return seg_dir / f"{name}.done"


def counters_file(seg_dir: Path, name: str) -> Path:
    return seg_dir / f"{name}.counters.json"


def dropped_file(seg_dir: Path, name: str) -> Path:
    return seg_dir / "dropped" / name


def shard_done(seg_dir: Path, name: str) -> bool:
    return (done_marker(seg_dir, name).exists() and (seg_dir / name).exists()
            and counters_file(seg_dir, name).exists())


def normalize_input(raw: Any, where: str) -> dict:
    """A segment's input document reduced to the step fields, with ``meta.pool_id`` set."""
    check_doc(raw, where)
    meta = raw.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta.setdefault("pool_id", raw["id"])
    return {"id": raw["id"], "text": raw["text"], "url": raw.get("url"),
            "source": raw.get("source"), "meta": meta}


def step_view(doc: dict) -> dict:
    """The copy a step receives (top-level and ``meta`` copied; the engine's doc is untouched)."""
    return {"id": doc["id"], "text": doc["text"], "url": doc["url"], "source": doc["source"],
            "meta": dict(doc["meta"])}


def _batches(it, n: int):
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


class ShardRunner:
    """Builds a segment's steps once (``setup()`` included) and processes shards with them."""

    def __init__(self, job: SegmentJob, batch_size: int = 1000, drop_samples: int = 20):
        local = load_plugins(job.plugins) if job.plugins else {}
        self.specs: list[StepSpec] = list(job.steps)
        self.steps = [build_step(spec, local, job.ctx) for spec in self.specs]
        self.batched = [getattr(type(s), "map_batch", Mapper.map_batch) is not Mapper.map_batch
                        for s in self.steps]
        self.batch_size = max(1, batch_size)
        self.drop_samples = drop_samples

    def process(self, src: Path, seg_dir: Path) -> dict:
        """Run every step over one shard and write output, sample, counters, then the marker."""
        src, seg_dir = Path(src), Path(seg_dir)
        name = src.name
        done_marker(seg_dir, name).unlink(missing_ok=True)
        counters = [Counters() for _ in self.steps]
        sources = SourceTable()
        sampler = DropSampler(self.drop_samples)
        t0 = time.perf_counter()

        def outputs():
            line = 0
            for batch in _batches(read_docs(src), self.batch_size):
                docs = []
                for raw in batch:
                    line += 1
                    docs.append(normalize_input(raw, f"{src}: document {line}"))
                for d in docs:
                    sources.add(d, "in")
                for i, step in enumerate(self.steps):
                    if not docs:
                        break
                    docs = self._apply(i, step, docs, counters[i], sampler, name)
                for d in docs:
                    sources.add(d, "out")
                    yield d

        written = write_docs(seg_dir / name, outputs())
        sampler.write(dropped_file(seg_dir, name))
        docs_in = sum(r["docs_in"] for r in sources.rows.values())
        write_json(counters_file(seg_dir, name), {
            "shard": name,
            "docs_in": docs_in,
            "docs_out": written["docs"],
            "seconds": round(time.perf_counter() - t0, 6),
            "steps": [{"index": spec.index, "step": spec.name, **c.to_dict()}
                      for spec, c in zip(self.specs, counters)],
            "sources": sources.to_dict(),
        })
        done_marker(seg_dir, name).write_bytes(b"")
        return {"shard": name, "docs_in": docs_in, "docs_out": written["docs"]}

    def _apply(self, i: int, step: Any, docs: list[dict], c: Counters, sampler: DropSampler,
               shard: str) -> list[dict]:
        spec = self.specs[i]
        t0, c0 = time.perf_counter(), time.process_time()
        views = [step_view(d) for d in docs]
        if self.batched[i]:
            try:
                results = step.map_batch(views)
            except Exception as e:
                raise StepError(f"{spec.label} failed on a batch of {shard}: "
                                f"{type(e).__name__}: {e}") from e
            if not isinstance(results, list) or len(results) != len(docs):
                got = (f"{len(results)} results" if isinstance(results, list)
                       else type(results).__name__)
                raise StepError(f"{spec.label}: map_batch must return one list per input "
                                f"document ({len(docs)}), got {got}")
        else:
            results = []
            for view in views:
                doc_id = view["id"]
                try:
                    results.append(step(view))
                except Exception as e:
                    raise StepError(f"{spec.label} failed on document {doc_id!r} in {shard}: "
                                    f"{type(e).__name__}: {e}") from e
        out: list[dict] = []
        default_reason = getattr(step, "drop_reason", None) or spec.name
        for parent, view, res in zip(docs, views, results):
            if not isinstance(res, list):
                raise StepError(f"{spec.label} returned {type(res).__name__} for document "
                                f"{parent['id']!r}; a step returns a list of documents ([] drops)")
            if not res:
                reason = getattr(res, "reason", None) or default_reason
                c.drop(reason)
                sampler.add(spec.index, spec.name, reason, step_view(parent))
            elif len(res) == 1:
                out.append(self._child(spec, res[0], parent, None))
            else:
                out.extend(self._child(spec, child, parent, k) for k, child in enumerate(res))
        c.docs_in += len(docs)
        c.docs_out += len(out)
        c.seconds += time.perf_counter() - t0
        if c.cpu_seconds is not None:
            c.cpu_seconds += time.process_time() - c0
        return out

    @staticmethod
    def _child(spec: StepSpec, child: Any, parent: dict, k: int | None) -> dict:
        if not isinstance(child, dict):
            raise StepError(f"{spec.label} returned a {type(child).__name__} for document "
                            f"{parent['id']!r}; documents are dicts")
        extra = set(child) - _ALLOWED
        if extra:
            raise StepError(f"{spec.label} returned document {parent['id']!r} with field(s) "
                            f"{', '.join(sorted(map(str, extra)))}; documents carry only "
                            "id, text, url, source and meta: put extra values under meta")
        text = child.get("text", parent["text"])
        if not isinstance(text, str):
            raise StepError(f"{spec.label} returned document {parent['id']!r} whose text is "
                            f"{type(text).__name__}, not str")
        meta = child.get("meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta["pool_id"] = parent["meta"]["pool_id"]
        return {"id": parent["id"] if k is None else f"{parent['id']}#{k}",
                "text": text,
                "url": child.get("url", parent["url"]),
                "source": child.get("source", parent["source"]),
                "meta": meta}


# Per-process state of a pool worker: set by the initializer (a plain assignment that cannot
# fail); the runner is built lazily in the first task, so a failing setup() comes back to the
# parent as that task's exception, with the step's own message.
_WORKER: dict[str, Any] = {}


def _init_worker(job: SegmentJob, opts: dict) -> None:
    _die_with_parent()
    _WORKER["job"] = job
    _WORKER["opts"] = opts


def _die_with_parent() -> None:
    """On Linux, have the kernel send this worker SIGTERM when its parent dies: a curate killed
    by a signal must not leave workers finishing (and writing) shards behind it. Elsewhere, and
    if libc cannot be reached, workers still stop at the next task the dead parent never sends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _work(args: tuple[str, str]) -> dict:
    runner = _WORKER.get("runner")
    if runner is None:
        runner = _WORKER["runner"] = ShardRunner(_WORKER["job"], **_WORKER["opts"])
    src, seg_dir = args
    return runner.process(Path(src), Path(seg_dir))


def pending_shards(seg_dir: Path, input_shards: list, say) -> tuple[Path, list[Path], list[Path], int]:
    """A segment's shards and those still to run (no ``.done`` marker in ``seg_dir``): the
    common start of every engine's ``run_segment``. Input names must be distinct (outputs keep
    them); resumed shards are announced through ``say``."""
    seg_dir.mkdir(parents=True, exist_ok=True)
    shards = [Path(p) for p in input_shards]
    names = [p.name for p in shards]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise StepError(f"input shards must have distinct file names (outputs keep them); "
                        f"repeated: {', '.join(dup[:5])}")
    todo = [p for p in shards if not shard_done(seg_dir, p.name)]
    skipped = len(shards) - len(todo)
    if skipped:
        say(f"{seg_dir.name}: {skipped} of {len(shards)} shards already done, "
            f"skipping them (resume); {len(todo)} to run")
    return seg_dir, shards, todo, skipped


def merge_counters(job: SegmentJob, seg_dir: Path, names: list[str]) -> tuple[list[Counters],
                                                                             SourceTable]:
    """The segment's per-step counters and per-source table, summed over its shards' files
    (every engine merges this way, so a resumed run reports the same numbers)."""
    counters = [Counters() for _ in job.steps]
    sources = SourceTable()
    for name in names:
        try:
            d = read_json(counters_file(seg_dir, name))
        except (OSError, ValueError) as e:
            raise DocumentError(f"{counters_file(seg_dir, name)}: unreadable counters ({e}); "
                                f"delete {done_marker(seg_dir, name)} to recompute the shard")
        for c, row in zip(counters, d["steps"]):
            c.merge(Counters.from_dict(row))
        sources.merge(SourceTable.from_dict(d["sources"]))
    return counters, sources


class LocalEngine:
    """Runs document segments on this machine with ``workers`` processes (1 = in-process;
    None = one per CPU core)."""

    name = "local"

    def __init__(self, workers: int | None = 1, *, batch_size: int = 1000,
                 drop_samples: int = 20, progress: bool | None = None):
        self.workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
        self.batch_size = batch_size
        self.drop_samples = drop_samples
        self.progress = progress  # None: tqdm decides (shown on a terminal)

    def say(self, msg: str) -> None:
        """Tell the user something (stderr, above the progress bar) and log it."""
        log.info(msg)
        if self.progress is not False:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr)

    def run_segment(self, job: SegmentJob, input_shards: list[Path],
                    seg_dir: Path) -> SegmentResult:
        """Process every shard not already done into ``seg_dir``; merge and return the counters."""
        from tqdm import tqdm

        seg_dir, shards, todo, skipped = pending_shards(Path(seg_dir), input_shards, self.say)
        names = [p.name for p in shards]
        t0 = time.perf_counter()
        opts = {"batch_size": self.batch_size, "drop_samples": self.drop_samples}
        bar = tqdm(total=len(shards), initial=skipped, unit="shard", desc=seg_dir.name,
                   disable=False if self.progress else (None if self.progress is None else True),
                   file=sys.stderr, dynamic_ncols=True)
        docs_seen = 0

        def tick(summary: dict) -> None:
            nonlocal docs_seen
            docs_seen += summary["docs_in"]
            rate = docs_seen / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate:,.0f} docs/s", refresh=False)
            bar.update(1)

        try:
            if todo and (self.workers == 1 or len(todo) == 1):
                runner = ShardRunner(job, **opts)
                for p in todo:
                    tick(runner.process(p, seg_dir))
            elif todo:
                n = min(self.workers, len(todo))
                with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"),
                                         initializer=_init_worker, initargs=(job, opts)) as pool:
                    futures = [pool.submit(_work, (str(p), str(seg_dir))) for p in todo]
                    try:
                        for fut in as_completed(futures):
                            tick(fut.result())
                    except BrokenProcessPool as e:
                        raise StepError(
                            f"{seg_dir.name}: a worker process died ({e}). Likely causes: out of "
                            "memory (use fewer workers), or a main script that cannot be "
                            "re-imported by the spawn start method (put its code under "
                            "`if __name__ == '__main__':`, and do not run it from stdin)") from e
                    except BaseException:
                        for fut in futures:
                            fut.cancel()
                        raise
        finally:
            bar.close()

        counters, sources = merge_counters(job, seg_dir, names)
        return SegmentResult(counters=counters, sources=sources,
                             shards=[seg_dir / n for n in names], skipped=skipped,
                             seconds=time.perf_counter() - t0)
