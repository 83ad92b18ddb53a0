"""Curation throughput: winnow's heuristic filters and MinHash dedup vs datatrove's, side by side.

    python bench/bench_curate.py                      # 20,000 pool documents, 2 passes per side
    python bench/bench_curate.py --docs N --seed S --repeats R --parts filters,minhash,extract

Input: ``--docs`` documents drawn with ``random.Random(--seed)`` from every embedded pool file
(``<data root>/pool/*.jsonl.zst``, files in name order), the same documents for both sides.

Parts (each side in this one process, runs alternating winnow, datatrove, winnow, datatrove, ...;
each side keeps its fastest pass; times are CPU seconds of this process, ``time.process_time``,
so what else runs on the machine matters less; throughput is documents per CPU-second, "per
core"):

``filters``: winnow's document steps through the local engine's own batch loop
(``ShardRunner._apply``, batches of 1000, setup and model loading outside the timing) for

* ``refinedweb``: ``baselines/refinedweb/recipe.yaml`` as shipped (URL filters, fastText
  language ID, Gopher quality and repetition, RefinedWeb line modifiers);
* ``gopher+c4``: the subset of winnow's steps that does what datatrove's three filters do, with
  datatrove's defaults where they differ from DCLM's (C4: >= 3 words per line, >= 5 sentences);

vs datatrove's ``GopherRepetitionFilter() -> GopherQualityFilter() -> C4QualityFilter()``
(defaults, English) chained through their ``run`` generators on in-memory ``Document`` objects.
Printed: docs/CPU-s, the ratio datatrove time / winnow time, keep rates, how far the kept sets
of ``gopher+c4`` and datatrove agree, and each side's top drop reasons.

``minhash``: winnow's ``minhash_dedup`` GlobalStep (ngram 5, 14 bands x 8 rows, one worker)
vs datatrove's four MinHash stages (``MinhashDedupSignature``, ``-Buckets`` (14 tasks),
``-Cluster``, ``-Filter`` between a ``JsonlReader`` and a ``JsonlWriter``) with the same
``MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)``, each stage a
``LocalPipelineExecutor`` with ``workers=1`` (in-process). Both read the same ``.jsonl.zst``
shard and write their kept documents; fresh folders every pass.

``extract``: ``bench_extract.bench_extract`` (bench/bench_extract.py): resiliparse main-content extraction with
DCLM's settings, pages per CPU-second (and trafilatura's, when installed).

datatrove is a bench-only dependency: ``pip install -e '.[bench]'`` (datatrove; spaCy, which
datatrove 0.10 uses to split English words and sentences; orjson, its JSONL reader and writer).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH = 1000  # the local engine's default batch size

# The winnow steps that do what datatrove's GopherQualityFilter, GopherRepetitionFilter and
# C4QualityFilter do (DCLM's Gopher thresholds are datatrove's defaults too; the C4 block uses
# datatrove's C4 defaults: >= 3 words per line and >= 5 sentences).
GOPHER_C4_RECIPE = """\
name: gopher_c4_bench
track: filtering
steps:
  - step: page_length_filter
    length_type: word
    min_length: 50
    max_length: 100000
    ignore_punctuation: true
  - step: word_length_filter
    min_length: 3
    max_length: 10
  - step: symbol_ratio_filter
    max_symbol_to_word_ratio: 0.1
  - step: bullet_count_filter
    max_bullet_start_ratio: 0.9
  - step: ellipsis_count_filter
    max_ellipsis_end_ratio: 0.3
  - step: alphabetic_word_ratio_filter
    max_ratio: 0.2
  - step: stop_word_filter
    count_unique: false
    min_stop_word: 2
  - step: massive_web_repetition_filters
  - step: word_length_modifier
    max_length: 1000
    model: split
  - step: citation_removal_modifier
  - step: punctuation_line_modifier
    remove_ellipses: true
  - step: line_length_modifier
    min_length: 3
  - step: substring_filter
    banlist: [lorem ipsum]
    reason: lorem_ipsum
  - step: substring_line_modifier
    banlist: [javascript]
  - step: substring_filter
    banlist: ['{']
    reason: curly_brace
  - step: substring_line_modifier
    banlist: [terms of use, privacy policy, cookie policy, uses cookies, use of cookies,
              use cookies]
  - step: page_length_filter
    length_type: sentence
    min_length: 5
"""


def need_datatrove() -> None:
    try:
        import datatrove  # noqa: F401
        import orjson  # noqa: F401
        import spacy  # noqa: F401
    except ImportError as e:
        sys.exit(f"bench_curate.py compares winnow with datatrove, which is not installed here "
                 f"({e}).\nInstall the bench extra:  pip install -e '.[bench]' "
                 f"-c constraints.txt   (datatrove; spaCy, its English word splitter; orjson, "
                 "its JSONL reader)")


# --------------------------------------------------------------------------- input

def pool_docs(n: int, seed: int, pool_dir: Path | None = None) -> list[dict]:
    """``n`` documents (id, text, url, source) drawn with ``random.Random(seed)`` from every
    embedded pool file, in the drawn order."""
    from winnow.docs import read_docs

    if pool_dir is None:
        from winnow.paths import data_root

        pool_dir = data_root() / "pool"
    files = sorted(glob.glob(str(Path(pool_dir) / "*.jsonl.zst")))
    if not files:
        sys.exit(f"no pool files under {pool_dir}")
    docs = [{"id": d["id"], "text": d["text"], "url": d.get("url"), "source": d.get("source")}
            for f in files for d in read_docs(f)]
    if n > len(docs):
        sys.exit(f"--docs {n} but the pool holds {len(docs)} documents")
    return [docs[i] for i in random.Random(seed).sample(range(len(docs)), n)]


def fresh(docs: list[dict]) -> list[dict]:
    """Deep copies with new ``str`` objects (winnow's split cache is keyed by object identity:
    no pass may find the previous pass's splits)."""
    return json.loads(json.dumps(docs))


def per_s(n: int, s: float) -> str:
    return f"{n / s:>9.1f}" if s > 0 else "      inf"


# --------------------------------------------------------------------------- filters

class WinnowFilters:
    """A recipe's document steps, built once (setup included), run the way the engine runs them."""

    def __init__(self, recipe_path: Path):
        from winnow.curate.base import StepContext
        from winnow.curate.engine import ShardRunner
        from winnow.curate.recipe import load_recipe

        self.recipe = load_recipe(recipe_path)
        if any(s.kind != "docs" for s in self.recipe.steps):
            raise SystemExit(f"{recipe_path}: the filter bench takes document steps only")
        self.runner = ShardRunner(self.recipe.job(self.recipe.steps, StepContext()))

    def run(self, docs: list[dict]) -> tuple[float, set[str], Counter]:
        from winnow.curate.base import Counters, DropSampler
        from winnow.curate.engine import normalize_input
        from winnow.curate.common import text as textlib

        r = self.runner
        textlib.clear_cache()
        counters = [Counters() for _ in r.steps]
        sampler = DropSampler(0)
        kept: list[dict] = []
        t0 = time.process_time()
        for b in range(0, len(docs), BATCH):
            batch = [normalize_input(d, "bench") for d in docs[b:b + BATCH]]
            for i, step in enumerate(r.steps):
                if not batch:
                    break
                batch = r._apply(i, step, batch, counters[i], sampler, "bench")
            kept.extend(batch)
        t = time.process_time() - t0
        reasons = Counter()
        for spec, c in zip(r.specs, counters):
            for reason, k in c.dropped.items():
                reasons[f"{spec.name}:{reason}"] += k
        return t, {d["id"] for d in kept}, reasons


class DatatroveFilters:
    """datatrove's GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter (defaults)."""

    def __init__(self):
        from datatrove.pipeline.filters import (C4QualityFilter, GopherQualityFilter,
                                                GopherRepetitionFilter)

        self.filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter()]

    def run(self, docs: list[dict]) -> tuple[float, set[str], Counter]:
        from datatrove.data import Document

        from datatrove.utils.stats import Stats

        items = [Document(text=d["text"], id=d["id"], metadata={"url": d["url"]}) for d in docs]
        for f in self.filters:
            f.stats = Stats(str(f))  # this pass's drop counts only
        t0 = time.process_time()
        it = iter(items)
        for f in self.filters:
            it = f.run(it, 0, 1)
        kept = list(it)
        t = time.process_time() - t0
        reasons = Counter()
        for f in self.filters:
            for key, v in f.stats.stats.items():
                if key.startswith("dropped_") and int(v.total):
                    reasons[f"{type(f).__name__}:{key[8:]}"] += int(v.total)
        return t, {d.id for d in kept}, reasons


def bench_filters(docs: list[dict], repeats: int) -> dict:
    print(f"== filters: {len(docs)} pool documents, {repeats} pass(es) per side, "
          "CPU time, best pass ==")
    sides = {
        "winnow refinedweb": WinnowFilters(REPO / "baselines" / "refinedweb" / "recipe.yaml"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "recipe.yaml"
        p.write_text(GOPHER_C4_RECIPE)
        sides["winnow gopher+c4"] = WinnowFilters(p)
    sides["datatrove gopher+c4"] = DatatroveFilters()
    warm = docs[:50]
    for s in sides.values():  # first calls load models / spaCy's vocabulary: not timed
        s.run(fresh(warm))
    best: dict[str, float] = {}
    kept: dict[str, set[str]] = {}
    reasons: dict[str, Counter] = {}
    for rep in range(repeats):
        for name, s in sides.items():  # winnow, winnow, datatrove, winnow, winnow, datatrove ...
            t, k, r = s.run(fresh(docs))
            best[name] = min(best.get(name, float("inf")), t)
            kept[name], reasons[name] = k, r
            print(f"  pass {rep + 1} {name:<22} {t:8.2f} CPU-s")
    n = len(docs)
    dt = best["datatrove gopher+c4"]
    print(f"  {'side':<22} {'docs/CPU-s':>10} {'keep rate':>10} {'datatrove/winnow':>17}")
    for name in sides:
        ratio = f"{dt / best[name]:>16.2f}x" if not name.startswith("datatrove") else ""
        print(f"  {name:<22} {per_s(n, best[name]):>10} {len(kept[name]) / n:>10.1%} {ratio}")
    a, b = kept["winnow gopher+c4"], kept["datatrove gopher+c4"]
    print(f"  kept sets, winnow gopher+c4 vs datatrove: both kept {len(a & b)}, winnow only "
          f"{len(a - b)}, datatrove only {len(b - a)}, both dropped {n - len(a | b)} "
          f"(agreement {(n - len(a ^ b)) / n:.1%})")
    for name in sides:
        top = ", ".join(f"{k} {v}" for k, v in reasons[name].most_common(5))
        print(f"  top drops, {name}: {top}")
    return {"docs": n, "cpu_s": best, "kept": {k: len(v) for k, v in kept.items()},
            "ratio_refinedweb": dt / best["winnow refinedweb"],
            "ratio_gopher_c4": dt / best["winnow gopher+c4"]}


# --------------------------------------------------------------------------- minhash

NGRAM, BANDS, ROWS, SEED = 5, 14, 8, 1


def read_ids(folder: Path) -> set[str]:
    from winnow.docs import read_docs

    return {d["id"] for f in sorted(folder.glob("*.jsonl*")) for d in read_docs(f)}


def winnow_minhash(shard: Path, work: Path) -> tuple[float, set[str], dict]:
    from winnow.curate.base import StepContext
    from winnow.curate.steps.minhash import MinHashDedup

    step = MinHashDedup(ngram=NGRAM, bands=BANDS, rows=ROWS, seed=SEED)
    step.step_name = "minhash_dedup"
    out = work / "out"
    t0 = time.process_time()
    step.setup()
    step.run([shard], out, StepContext(seed=SEED, workers=1, work_dir=work))
    t = time.process_time() - t0
    return t, read_ids(out), {"minhash_dedup": t}


def patch_datatrove_xxhash() -> None:
    """datatrove hashes ``str`` shingles with xxhash, which accepted ``str`` (hashing its UTF-8)
    before xxhash 4; winnow pins xxhash 4, which wants bytes. Same hash values, UTF-8 encoded
    here instead of inside xxhash."""
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    if getattr(dt_xxhash, "_winnow_bench", False):
        return
    h32, h64 = xxhash.xxh32_intdigest, xxhash.xxh64_intdigest

    def xxhash32(data):
        return h32(data.encode("utf-8") if isinstance(data, str) else data)

    def xxhash64(data):
        return h64(data.encode("utf-8") if isinstance(data, str) else data)

    dt_xxhash.xxhash32, dt_xxhash.xxhash64, dt_xxhash._winnow_bench = xxhash32, xxhash64, True


def datatrove_minhash(shard: Path, work: Path) -> tuple[float, set[str], dict]:
    import logging

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
                                                  MinhashDedupCluster, MinhashDedupFilter,
                                                  MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    logging.getLogger().setLevel(logging.WARNING)
    patch_datatrove_xxhash()
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, seed=SEED)
    src = str(shard.parent)

    def reader():
        return JsonlReader(src, glob_pattern=shard.name)

    stages = {
        "signature": ([reader(), MinhashDedupSignature(str(work / "sigs"), config=cfg)], 1),
        "buckets": ([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"),
                                         config=cfg)], BANDS),
        "cluster": ([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"),
                                         config=cfg)], 1),
        "filter": ([reader(), MinhashDedupFilter(str(work / "remove")),
                    JsonlWriter(str(work / "out"), compression=None)], 1),
    }
    times = {}
    for name, (pipeline, tasks) in stages.items():
        ex = LocalPipelineExecutor(pipeline, tasks=tasks, workers=1,
                                   logging_dir=str(work / "logs" / name))
        t0 = time.process_time()
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            ex.run()  # its per-task loguru sinks bind sys.stderr when they are added: silenced
        times[name] = time.process_time() - t0
    return sum(times.values()), read_ids(work / "out"), times


def bench_minhash(docs: list[dict], repeats: int) -> dict:
    from winnow.docs import write_docs

    print(f"\n== minhash: {len(docs)} pool documents, ngram {NGRAM}, {BANDS} bands x {ROWS} rows, "
          f"{repeats} pass(es) per side, CPU time, best pass ==")
    best: dict[str, float] = {}
    stages: dict[str, dict] = {}
    kept: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "input" / "bench_00000.jsonl.zst"
        shard.parent.mkdir()
        write_docs(shard, docs)
        warm = Path(tmp) / "warm" / "warm_00000.jsonl.zst"
        warm.parent.mkdir()
        write_docs(warm, docs[:50])
        sides = {"winnow": winnow_minhash, "datatrove": datatrove_minhash}
        for name, fn in sides.items():  # imports, spaCy, datasketch permutations: not timed
            fn(warm, Path(tmp) / f"warm_{name}")
        for rep in range(repeats):
            for name, fn in sides.items():
                t, k, st = fn(shard, Path(tmp) / f"{name}_{rep}")
                if t < best.get(name, float("inf")):
                    best[name], stages[name] = t, st
                kept[name] = k
                print(f"  pass {rep + 1} {name:<10} {t:8.2f} CPU-s  ("
                      + ", ".join(f"{s} {v:.2f}" for s, v in st.items()) + ")")
    n = len(docs)
    ratio = best["datatrove"] / best["winnow"]
    print(f"  {'side':<10} {'docs/CPU-s':>10} {'removed':>8} {'datatrove/winnow':>17}")
    for name in sides:
        r = f"{ratio:>16.2f}x" if name == "winnow" else ""
        print(f"  {name:<10} {per_s(n, best[name]):>10} {n - len(kept[name]):>8} {r}")
    a = {d["id"] for d in docs} - kept["winnow"]
    b = {d["id"] for d in docs} - kept["datatrove"]
    print(f"  removed sets: both {len(a & b)}, winnow only {len(a - b)}, datatrove only "
          f"{len(b - a)}")
    return {"docs": n, "cpu_s": best, "stages": stages, "ratio": ratio,
            "removed": {k: n - len(v) for k, v in kept.items()}}


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000, help="pool documents (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="selection seed (default 0)")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per side (best kept)")
    ap.add_argument("--parts", default="filters,minhash,extract",
                    help="comma-separated: filters, minhash, extract")
    ap.add_argument("--extract-limit", type=int, default=300, help="raw HTML pages (extract)")
    ap.add_argument("--pool-dir", type=Path, default=None,
                    help="folder of *.jsonl.zst pool files (default <data root>/pool)")
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    unknown = set(parts) - {"filters", "minhash", "extract"}
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}")
    version = "not needed"
    if {"filters", "minhash"} & set(parts):
        need_datatrove()
        from importlib.metadata import version as dist_version

        version = dist_version("datatrove")
    print(f"bench_curate: datatrove {version}, {os.cpu_count()} CPUs visible; "
          "ratios are datatrove CPU time / winnow CPU time")
    res: dict = {}
    if {"filters", "minhash"} & set(parts):
        docs = pool_docs(a.docs, a.seed, a.pool_dir)
        chars = sum(len(d["text"]) for d in docs)
        print(f"input: {len(docs)} documents drawn with seed {a.seed} from the pool files, "
              f"{chars / 1e6:.1f} M characters")
        if "filters" in parts:
            res["filters"] = bench_filters(docs, a.repeats)
        if "minhash" in parts:
            res["minhash"] = bench_minhash(docs, a.repeats)
    if "extract" in parts:
        from bench_extract import bench_extract  # bench/ is on sys.path when run as a script

        print("\n== extract ==")
        res["extract"] = bench_extract(limit=a.extract_limit, repeats=a.repeats)
    print("\nsummary (datatrove CPU time / winnow CPU time; goal >= 3x filters, >= 1x minhash):")
    if "filters" in res:
        print(f"  filters  refinedweb recipe {res['filters']['ratio_refinedweb']:.2f}x, "
              f"gopher+c4 subset {res['filters']['ratio_gopher_c4']:.2f}x")
    if "minhash" in res:
        print(f"  minhash  {res['minhash']['ratio']:.2f}x")
    if "extract" in res:
        print(f"  extract  resiliparse {res['extract']['resiliparse_pages_per_cpu_s']} "
              "pages/CPU-s")
    return res


if __name__ == "__main__":
    main()
