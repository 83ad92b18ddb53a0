"""MinHash-LSH near-duplicate removal: keep the first document of each cluster of near copies.

Registered as ``minhash_dedup``. Drop reason: ``near_duplicate``.

How a document is hashed (the same way for every document, so signatures are comparable):

1. text lower-cased, split into words with the Unicode ``\\w+`` pattern (punctuation and
   whitespace are ignored, so re-flowed or re-punctuated copies still match);
2. shingles are the word ``ngram``-grams (default 5, as DCLM's minhash-rs and datatrove); a
   document with fewer words than ``ngram`` is one shingle of all its words; a document with no
   word at all has no signature and is never a near duplicate (``exact_dedup`` handles those);
3. each word is hashed with seeded xxh3-64, a shingle's hash is an order-sensitive polynomial of
   its words' hashes, avalanched (MurmurHash3 finalizer) and folded to 32 bits;
4. the signature is ``datasketch.MinHash`` (scheme ``affine32``, ``num_perm`` permutations drawn
   from the seed), stored as ``num_perm`` uint32 values.

LSH: the first ``bands * rows`` signature values are cut into ``bands`` bands of ``rows``
values; two documents are candidates when any band is identical. A pair with Jaccard
similarity ``s`` becomes a candidate with probability ``1 - (1 - s**rows)**bands`` (the
S-curve), whose midpoint is about ``(1/bands)**(1/rows)``. Defaults ``bands=14, rows=8``
(``num_perm=112``) are DCLM's minhash-rs and datatrove's: the S-curve midpoint is s = 0.72;
s = 0.5 is caught 5% of the time, 0.7 56%, 0.8 92%, 0.9 99.96%. With 5-word shingles, a copy
with 1% of its words edited has s ≈ 0.9 and is removed; 10% edits give s ≈ 0.4 (kept). Instead
of bands/rows, ``threshold: t`` lets ``datasketch.MinHashLSH`` pick the (bands, rows) that
minimise false positives plus false negatives around ``t`` for ``num_perm`` (default 112).

Clusters: candidate pairs are joined transitively (union-find over every band collision, as
DCLM's minhash-rs and datatrove do, without verifying the Jaccard of each pair), and in each
cluster the first document in input order — shard order as given (the pool's), then line order —
is kept; all others are dropped. The result never depends on the number of workers. Band
buckets are hand-written (numpy sorts, one band at a time from memory-mapped signatures)
rather than ``MinHashLSH``'s in-memory index: union-find needs only each bucket's first
document, and the buckets are rebuilt from saved signatures after a crash.

Stages, each resumable (``winnow.curate.common.partial``; files under ``<out_dir>/_partial/``):

1. ``sig/<shard>.npy``: the signatures of each shard (shards in parallel over ``ctx.workers``
   processes, spawn start method, like the local engine);
2. ``clusters.npy`` / ``clusters.json``: for each document the position of the document it is a
   duplicate of (itself when kept);
3. the output shards ``<out_dir>/<shard>`` (same names as the input; a shard may end up empty),
   ``dropped/<shard>`` (a sample of dropped documents with ``meta.duplicate_of``, the id of the
   kept document of their cluster) and per-shard counters.

A rerun after a crash (even ``kill -9``) redoes only unfinished units and writes the same bytes.
Measured (``tests/curate/test_dedup_near.py``, defaults, copies with a fraction of their words
edited): 0-1% edits removed 100%, 2% 95%, 5% 42%, 10% 4%, 20% 0%; no distinct document removed.
Counters: ``in``/``out``/``dropped`` plus ``info``: ``clusters`` (clusters of two or more),
``removal_rate``, ``bytes_in``, ``bytes_removed``, ``byte_removal_rate``, ``docs_no_words``,
and the settings (``ngram``, ``bands``, ``rows``, ``num_perm``, ``s_curve_threshold``).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common.hashing import MASK64 as _MASK64, fmix64
from winnow.curate.common.partial import (open_partial, PartialDir, load_array, load_json, merge_shard_stats,
                                         save_array, save_json)
from winnow.docs import read_docs, write_docs

log = logging.getLogger(__name__)

DEFAULT_NGRAM = 5
DEFAULT_BANDS = 14
DEFAULT_ROWS = 8
DEFAULT_NUM_PERM = DEFAULT_BANDS * DEFAULT_ROWS
REASON = "near_duplicate"

_WORD = re.compile(r"\w+")
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial keeps every word's low bits
_S32 = np.uint64(32)


def s_curve(s: float, bands: int, rows: int) -> float:
    """Probability that two documents of Jaccard similarity ``s`` share at least one band."""
    return 1.0 - (1.0 - s ** rows) ** bands


def s_curve_threshold(bands: int, rows: int) -> float:
    """The usual approximation of the S-curve's midpoint, ``(1/bands)**(1/rows)``."""
    return (1.0 / bands) ** (1.0 / rows)


@functools.lru_cache(maxsize=64)
def bands_rows_for(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) that ``datasketch.MinHashLSH`` picks for ``threshold`` and ``num_perm``."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


def _identity(x):
    return x


class ShingleHasher:
    """Text -> MinHash signature (uint32[num_perm]) for one (ngram, num_perm, seed) setting."""

    def __init__(self, ngram: int, num_perm: int, seed: int):
        from datasketch import MinHash
        from xxhash import xxh3_64_intdigest

        self.ngram = ngram
        self.num_perm = num_perm
        self.word_seed = int(seed) & _MASK64
        self._xxh = xxh3_64_intdigest
        self._cache: dict[str, int] = {}
        # datasketch draws its permutations with numpy's RandomState, which takes 32-bit seeds
        self._template = MinHash(num_perm=num_perm, seed=int(seed) % (1 << 32),
                                 hashfunc=_identity, scheme="affine32")

    def _word_hash(self, word: str) -> int:
        h = self._cache[word] = self._xxh(word.encode("utf-8"), self.word_seed)
        return h

    def shingles(self, text: str) -> np.ndarray:
        """Sorted unique 32-bit shingle hashes of ``text`` (empty when it has no word)."""
        words = _WORD.findall(text.lower())
        if not words:
            return np.empty(0, dtype=np.uint32)
        cache = self._cache
        if len(cache) > 1_000_000:  # words are Zipf-distributed: a bounded cache hits mostly
            cache.clear()
        miss = self._word_hash
        h = np.array([cache[w] if w in cache else miss(w) for w in words], dtype=np.uint64)
        n = min(self.ngram, len(h))
        m = len(h) - n + 1
        acc = h[:m].copy()
        for j in range(1, n):
            acc = acc * _POLY + h[j:j + m]
        acc = fmix64(acc ^ np.uint64(n))
        return np.unique((acc ^ (acc >> _S32)).astype(np.uint32))

    def signature(self, text: str) -> np.ndarray | None:
        """The MinHash signature of ``text``, or None when it has no word."""
        sh = self.shingles(text)
        if not len(sh):
            return None
        m = self._template.copy()
        m.update_batch(sh.tolist())
        return np.asarray(m.hashvalues, dtype=np.uint32)


def _signature_shard(args: tuple) -> dict:
    """Stage 1 for one shard (runs in a worker process): signatures and ids, saved atomically."""
    (ngram, num_perm, seed), shard, sig_path, ids_path = args
    hasher = ShingleHasher(ngram, num_perm, seed)
    ids: list[str] = []
    no_words: list[int] = []
    rows: list[np.ndarray] = []
    empty = np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    for i, doc in enumerate(read_docs(shard)):
        ids.append(doc["id"])
        sig = hasher.signature(doc["text"])
        if sig is None:
            no_words.append(i)
            sig = empty
        rows.append(sig)
    sigs = np.stack(rows) if rows else np.empty((0, num_perm), dtype=np.uint32)
    save_array(Path(sig_path), sigs)
    save_json(Path(ids_path), {"ids": ids, "no_words": no_words})
    return {"shard": str(shard), "docs": len(ids)}


def cluster_roots(band_columns, n: int, bands: int, excluded: np.ndarray) -> np.ndarray:
    """For each of ``n`` documents, the position of the first document of its cluster.

    ``band_columns(b)`` returns the ``[n, rows]`` uint32 values of band ``b``; documents whose
    position is in ``excluded`` join no cluster. Union-find over band collisions (each document
    linked to the first document of its bucket), components by scipy, root = lowest position.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    valid = np.ones(n, dtype=bool)
    valid[excluded] = False
    idx = np.flatnonzero(valid)
    src, dst = [], []
    for b in range(bands):
        cols = np.ascontiguousarray(band_columns(b)[idx])
        if not len(cols):
            break
        keys = cols.view(np.dtype((np.void, cols.dtype.itemsize * cols.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_pos = idx[first[inverse.ravel()]]
        linked = first_pos != idx
        src.append(idx[linked])
        dst.append(first_pos[linked])
    roots = np.arange(n, dtype=np.int64)
    if not src or not sum(len(s) for s in src):
        return roots
    s = np.concatenate(src)
    d = np.concatenate(dst)
    graph = coo_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return first[inverse.ravel()].astype(np.int64)


class MinHashDedup(GlobalStep):
    """Drop near-duplicates found by MinHash-LSH; keep the first document of each cluster.

    Parameters:

    * ``ngram``: the shingle size, in words
    * ``bands``: LSH bands (with ``rows``; default 14)
    * ``rows``: signature values per LSH band (with ``bands``; default 8)
    * ``num_perm``: MinHash permutations (null: ``bands * rows``, or 112 with ``threshold``)
    * ``threshold``: instead of ``bands`` and ``rows``, the Jaccard similarity around which
      datasketch picks them
    * ``seed``: a fixed seed of the hash functions (null: the run seed)
    """

    version = 1
    resumable = True
    seed_dependent = True     # the hash functions, and so the LSH candidates, unless `seed:`
    budget_dependent = False

    def __init__(self, ngram: int = DEFAULT_NGRAM, bands: int | None = None,
                 rows: int | None = None, num_perm: int | None = None,
                 threshold: float | None = None, seed: int | None = None):
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
            raise ParamError("ngram", f"must be an integer >= 1 (words per shingle), got {ngram!r}")
        for name, v in (("bands", bands), ("rows", rows), ("num_perm", num_perm)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ParamError(name, f"must be an integer >= 1, got {v!r}")
        if threshold is not None:
            if bands is not None or rows is not None:
                raise ParamError("threshold", "give either `threshold` (bands and rows are then "
                                              "chosen for it) or `bands`/`rows`, not both")
            if not 0.0 < float(threshold) < 1.0:
                raise ParamError("threshold", f"must be between 0 and 1 (a Jaccard similarity), "
                                              f"got {threshold!r}")
            perms = num_perm or DEFAULT_NUM_PERM
            if perms < 2:
                raise ParamError("num_perm", f"must be >= 2 with `threshold`, got {perms}")
            bands, rows = bands_rows_for(float(threshold), perms)
        bands = bands or DEFAULT_BANDS
        rows = rows or DEFAULT_ROWS
        if num_perm is None:
            num_perm = bands * rows
        if num_perm < bands * rows:
            raise ParamError("num_perm", f"must be at least bands * rows = {bands} * {rows} = "
                                         f"{bands * rows}, got {num_perm}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")
        self.ngram, self.bands, self.rows, self.num_perm = ngram, bands, rows, num_perm
        self.threshold = threshold
        self.seed = seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed

    # ------------------------------------------------------------------ helpers

    def effective_seed(self, ctx: StepContext | None) -> int:
        return int(self.seed if self.seed is not None else (ctx.seed if ctx else 0))

    def settings(self) -> dict:
        return {"ngram": self.ngram, "bands": self.bands, "rows": self.rows,
                "num_perm": self.num_perm}

    def _say(self, ctx: StepContext, msg: str) -> None:
        say = getattr(getattr(ctx, "engine", None), "say", None)
        (say or log.info)(msg)

    # ------------------------------------------------------------------ run

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seed = self.effective_seed(ctx)
        shards, out_dir, part = open_partial("minhash_dedup", self.version, self.settings(), input_shards,
                                             out_dir, seed=seed)
        names = [p.name for p in shards]
        outputs = [out_dir / n for n in names]

        def out_done(name: str) -> bool:
            return part.done("out", name) and (out_dir / name).exists()

        if not all(out_done(n) for n in names):
            if part.resumed:
                self._say(ctx, f"minhash_dedup: resuming from partial work in {part.root}")
            self._signatures(shards, part, seed, ctx)
            if not (part.done("clusters") and part.root.joinpath("clusters.npy").exists()):
                self._cluster(shards, part)
            self._write_outputs(shards, out_dir, part, out_done)
            part.remove("sig")  # the bulk of the partial state; outputs are all done
            part.remove("clusters.npy")
        return self._finish(names, part, outputs)

    def _signatures(self, shards: list[Path], part: PartialDir, seed: int,
                    ctx: StepContext) -> None:
        todo = [p for p in shards if not part.done("sig", p.name)]
        if not todo:
            return
        params = (self.ngram, self.num_perm, seed)
        jobs = [(params, str(p), str(part.path("sig", p.name + ".npy")),
                 str(part.path("sig", p.name + ".ids.json"))) for p in todo]
        workers = max(1, int(getattr(ctx, "workers", 1) or 1))
        if workers == 1 or len(jobs) == 1:
            for job, p in zip(jobs, todo):
                _signature_shard(job)
                part.mark("sig", p.name)
            return
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
            futures = {ex.submit(_signature_shard, job): p for job, p in zip(jobs, todo)}
            try:
                for fut in as_completed(futures):
                    fut.result()
                    part.mark("sig", futures[fut].name)
            except BrokenProcessPool as e:
                raise StepError(f"minhash_dedup: a worker process died ({e}); likely out of "
                                "memory: use fewer workers. Finished shards are kept; a rerun "
                                "resumes") from e
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise

    def _shard_table(self, shards: list[Path], part: PartialDir) -> tuple[list[int], list[int]]:
        counts = [len(load_json(part.root / "sig" / f"{p.name}.ids.json")["ids"]) for p in shards]
        offsets = [0]
        for c in counts:
            offsets.append(offsets[-1] + c)
        return counts, offsets

    def _cluster(self, shards: list[Path], part: PartialDir) -> None:
        counts, offsets = self._shard_table(shards, part)
        n = offsets[-1]
        excluded = []
        for p, off in zip(shards, offsets):
            excluded.extend(off + i for i in
                            load_json(part.root / "sig" / f"{p.name}.ids.json")["no_words"])
        sig_files = [part.root / "sig" / f"{p.name}.npy" for p in shards]
        r = self.rows

        def band_columns(b: int) -> np.ndarray:
            parts = [load_array(f, mmap=True)[:, b * r:(b + 1) * r] for f in sig_files]
            return (np.concatenate(parts) if parts
                    else np.empty((0, r), dtype=np.uint32))

        roots = cluster_roots(band_columns, n, self.bands, np.asarray(excluded, dtype=np.int64))
        dup = roots != np.arange(n)
        save_array(part.path("clusters.npy"), roots)
        save_json(part.path("clusters.json"), {
            "docs": int(n), "duplicates": int(dup.sum()),
            "clusters": int(len(np.unique(roots[dup]))), "docs_no_words": len(excluded)})
        part.mark("clusters")

    def _write_outputs(self, shards: list[Path], out_dir: Path, part: PartialDir,
                       out_done) -> None:
        counts, offsets = self._shard_table(shards, part)
        roots = load_array(part.root / "clusters.npy")
        ids_cache: dict[int, list[str]] = {}

        def id_at(pos: int) -> str:
            k = int(np.searchsorted(offsets, pos, side="right")) - 1
            if k not in ids_cache:
                ids_cache[k] = load_json(part.root / "sig" / f"{shards[k].name}.ids.json")["ids"]
            return ids_cache[k][pos - offsets[k]]

        for k, shard in enumerate(shards):
            if out_done(shard.name):
                continue
            part.unmark("out", shard.name)
            c = {"in": 0, "out": 0, "bytes_in": 0, "bytes_out": 0}
            sampler = DropSampler()

            def kept(shard=shard, off=offsets[k], c=c, sampler=sampler):
                for i, doc in enumerate(read_docs(shard)):
                    nbytes = len(doc["text"].encode("utf-8"))
                    c["in"] += 1
                    c["bytes_in"] += nbytes
                    root = int(roots[off + i])
                    if root != off + i:
                        shown = dict(doc)
                        shown["meta"] = {**(doc.get("meta") or {}), "duplicate_of": id_at(root)}
                        sampler.add(self.step_index, self.step_name or "minhash_dedup", REASON,
                                    shown)
                        continue
                    c["out"] += 1
                    c["bytes_out"] += nbytes
                    yield doc

            write_docs(out_dir / shard.name, kept())
            if c["in"] != counts[k]:
                raise StepError(f"minhash_dedup: {shard} changed while it was being deduplicated "
                                f"({counts[k]} documents hashed, {c['in']} read)")
            sampler.write(out_dir / "dropped" / shard.name)
            save_json(part.path("out", shard.name + ".json"), c)
            part.mark("out", shard.name)

    def _finish(self, names: list[str], part: PartialDir, outputs: list[Path]) -> list[Path]:
        c, sums = merge_shard_stats(part, names, ("bytes_in", "bytes_out"), dropped=False)
        bytes_in, bytes_out = sums["bytes_in"], sums["bytes_out"]
        if c.docs_in > c.docs_out:
            c.drop(REASON, c.docs_in - c.docs_out)
        cl = load_json(part.root / "clusters.json")
        c.info = {
            "clusters": cl["clusters"], "docs_no_words": cl["docs_no_words"],
            "removal_rate": round((c.docs_in - c.docs_out) / c.docs_in, 6) if c.docs_in else 0.0,
            "bytes_in": bytes_in, "bytes_removed": bytes_in - bytes_out,
            "byte_removal_rate": round((bytes_in - bytes_out) / bytes_in, 6) if bytes_in else 0.0,
            **self.settings(),
            "s_curve_threshold": round(s_curve_threshold(self.bands, self.rows), 4),
        }
        self.counters = c
        return outputs
