"""Bloom-filter n-gram dedup with the semantics of DCLM's BFF (``dedup/bff`` in DCLM's repo).

Registered as ``bloom_dedup``. Drop reasons: ``near_duplicate_document`` (the whole document was
judged a duplicate) and ``duplicate_paragraphs`` (every paragraph with n-grams was removed and
only whitespace is left).

What BFF does, and so what this step does (DCLM runs ``bff --min-ngram-size 13
--max-ngram-size 13 --filtering-threshold 0.8 --fp-rate 0.01 --remove-type old-both``):

* text is cut into *units*: paragraphs (``mode: paragraph`` or ``both``) split at every ``\\n``
  (a unit starts at its newline, so removing it removes its line break), or the whole text
  (``mode: document``);
* a unit is tokenized on Unicode (UAX #29) word boundaries, whitespace tokens dropped
  (punctuation marks are tokens); it yields its ``ngram``-grams (default 13) of consecutive
  tokens; a unit with fewer than ``ngram`` but at least ``min_ngram`` tokens is one n-gram; a
  unit with fewer than ``min_ngram`` tokens is kept and never added to the filter;
* a unit whose fraction of n-grams already in the filter is **greater than** ``threshold``
  (default 0.8) is removed; otherwise all its n-grams are inserted. Units are checked one after
  the other, so a paragraph repeated inside one document is removed from its second occurrence;
* ``both`` (BFF's ``old-both``, what DCLM's README runs): paragraph removal, and the whole
  document is dropped when, over all its paragraphs, more than ``threshold`` of the n-grams
  were already in the filter;
* in ``both`` mode only paragraphs of at least ``min_ngram`` tokens take part in the document
  decision, so a document made of many short lines is judged on its few long ones (as in BFF);
* ``annotate: true`` (BFF's ``--annotate``): nothing is removed; the filter is updated as if it
  were, and each document gets ``meta.bff_duplicate_spans`` (``[start, end)`` character
  offsets of the units that would be removed, ``[[0, len]]`` for a whole document) and
  ``meta.bff_contained_ngram_count``.

The filter is sized as BFF sizes it: the smallest bit array whose false-positive probability
``(1 - (1 - 1/m)**(k n))**k`` for ``n = expected_ngram_count`` insertions is at most
``fp_rate`` (per n-gram), with ``k = ceil(m / n * ln 2)`` hash functions unless ``num_hashers``
is given. ``expected_ngram_count: null`` (the default) estimates it as the input's UTF-8 text
bytes / 3, counted in a first read of the input: an overestimate for most text (English web
text has about 5 bytes per token), and BFF's advice is that overestimates are the safe side.
The memory the step will need (the filter plus 64 MiB of working memory) is computed before any
work and compared with ``max_memory`` (``"auto"``: 80% of physical memory; or bytes, or a size
such as ``"8GiB"``); over it, the step refuses with ``MemoryLimitError`` saying what is needed,
what is allowed and which parameter to change.

Differences from BFF, all for reproducibility: documents are processed sequentially in input
order (shard order as given, then line order; BFF shares one filter among threads over shuffled
files, so its output depends on scheduling); the hash functions are seeded from ``seed`` (the
run seed by default; BFF draws them at random); a document whose text was blank to begin with
is passed through (BFF drops it). The filter is written with numpy rather than by calling BFF:
BFF is a Rust command-line tool over whole folders with its own file layout, not a library, and
no maintained Python package implements its unit/threshold/both-mode semantics; n-gram hashes
are computed a document at a time with numpy (word hashes: seeded xxh3-64; an n-gram: an
order-sensitive polynomial of its word hashes, avalanched; ``k`` bit positions by double
hashing), so the Python cost is per token, not per n-gram and hash function.

Measured (``tests/curate/test_dedup_near.py``, defaults, ~300-word copies with a fraction of
their words edited): 0-0.5% edits removed 100%, 1% 88%, 2% 48%, 5% 1%, 10-20% 0%; no distinct
document removed. One edited word spoils up to 13 13-grams, so BFF is much stricter than MinHash.

Resumable: after each shard the output shard, its drop sample and its counters are written,
then the filter (``<out_dir>/_partial/bloom_<k>.npy``), then ``state.json`` naming the next
shard, all atomically; a rerun after a crash (even ``kill -9``) continues from the last finished
shard with the filter as it was then, and writes the same bytes. Memory: the filter (saved and
its fill counted without a copy) plus ``WORKING_MEMORY``: the token-hash cache (at most
``TOKEN_CACHE_SIZE`` entries) and a unit's ``[n-grams, k]`` lookup arrays (``LOCATE_CHUNK``
n-grams at a time); only the token list of an extremely long unit grows beyond it.

Over ~500 lines as one algorithm: the filter's sizing, its bit array, the tokenising and n-gram
hashing and the resumable pass follow BFF together (read them side by side with ``dedup/bff``); no other
step uses them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from pathlib import Path
from typing import Literal

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common.hashing import MASK64 as _MASK64, fmix64
from winnow.curate.common import text as textlib
from winnow.curate.common.partial import (open_partial, PartialDir, human_bytes, load_array, merge_shard_stats,
                                         load_json, parse_bytes, physical_memory, save_array,
                                         save_json)
from winnow.docs import read_docs, write_docs

log = logging.getLogger(__name__)

DOC_REASON = "near_duplicate_document"
PARA_REASON = "duplicate_paragraphs"
WORKING_MEMORY = 64 * 1024**2  # documents in flight, hash arrays, the output writer
AUTO_MEMORY_FRACTION = 0.8
BYTES_PER_NGRAM_ESTIMATE = 3
TOKEN_CACHE_SIZE = 200_000  # token -> hash entries (~25 MiB), inside WORKING_MEMORY
LOCATE_CHUNK = 1 << 14  # n-grams located at a time: bounds the [n-grams, k] arrays of a unit
FILL_CHUNK = 1 << 20  # filter words counted at a time by fill()

_POLY = np.uint64(0x9E3779B97F4A7C15)
_NEWLINE = re.compile("\n")


class MemoryLimitError(ParamError):
    """The Bloom filter would need more memory than ``max_memory`` allows."""

    def __init__(self, message: str):
        super().__init__("max_memory", message)

    def __reduce__(self):
        return (MemoryLimitError, (self.message,))


def false_positive_rate(n_bits: int, expected: int, k: int) -> float:
    """BFF's formula: ``(1 - (1 - 1/m)**(k n))**k`` for ``m`` bits, ``n`` elements, ``k`` hashes."""
    if n_bits <= 0 or k <= 0:
        return 1.0
    return (-math.expm1(k * expected * math.log1p(-1.0 / n_bits))) ** k


def optimal_hashers(n_bits: int, expected: int) -> int:
    return max(1, math.ceil(n_bits / max(expected, 1) * math.log(2)))


def bloom_size(expected: int, fp_rate: float, num_hashers: int = 0) -> tuple[int, int]:
    """(bits, hash functions) of the smallest filter meeting ``fp_rate`` for ``expected`` n-grams.

    Bits are a multiple of 64 (whole uint64 words); hash functions are BFF's optimum
    ``ceil(m / n * ln 2)`` unless ``num_hashers`` is given.
    """
    expected = max(int(expected), 1)

    def fits(words: int) -> bool:
        m = words * 64
        k = num_hashers or optimal_hashers(m, expected)
        return false_positive_rate(m, expected, k) <= fp_rate

    # the textbook optimum -n ln p / ln^2 2 is a lower bound (k must be a whole number)
    lo = max(1, math.ceil(-expected * math.log(fp_rate) / math.log(2) ** 2 / 64))
    if fits(lo):
        hi = lo
    else:
        hi = lo + 1
        while not fits(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # smallest fitting size, as BFF's binary search finds it
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    m = hi * 64
    return m, num_hashers or optimal_hashers(m, expected)


class BloomFilter:
    """A bit array of uint64 words with ``k`` seeded hash functions (double hashing)."""

    def __init__(self, n_bits: int, k: int, seed: int, words: np.ndarray | None = None):
        n_words = -(-int(n_bits) // 64)
        if words is None:
            words = np.zeros(n_words, dtype=np.uint64)
        elif words.shape != (n_words,) or words.dtype != np.uint64:
            raise StepError(f"saved Bloom filter has shape {words.shape} {words.dtype}, "
                            f"expected ({n_words},) uint64")
        self.words = words
        self.n_bits = np.uint64(n_words * 64)
        self.k = int(k)
        digest = hashlib.blake2b(int(seed).to_bytes(16, "little", signed=True),
                                 person=b"winnow-bff", digest_size=16).digest()
        self._s1 = np.uint64(int.from_bytes(digest[:8], "little"))
        self._s2 = np.uint64(int.from_bytes(digest[8:], "little"))
        self._ks = np.arange(self.k, dtype=np.uint64)[None, :]

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)

    def locate(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Word indices and bit masks (both ``[len(hashes), k]``) of each n-gram hash."""
        h1 = fmix64(hashes ^ self._s1)[:, None]
        h2 = (fmix64(hashes ^ self._s2) | np.uint64(1))[:, None]
        pos = (h1 + self._ks * h2) % self.n_bits
        return (pos >> np.uint64(6)).astype(np.intp), np.uint64(1) << (pos & np.uint64(63))

    def contains(self, words: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return ((self.words[words] & masks) != 0).all(axis=1)

    def insert(self, words: np.ndarray, masks: np.ndarray) -> None:
        np.bitwise_or.at(self.words, words.ravel(), masks.ravel())

    def count_contained(self, hashes: np.ndarray) -> tuple[int, tuple | None]:
        """(how many of ``hashes`` are in the filter, their ``locate`` when it was one slice).

        All of a unit's n-grams are looked up before any is inserted (as BFF does), a slice
        of ``LOCATE_CHUNK`` at a time, so a huge unit never needs ``[n-grams, k]`` arrays whole.
        """
        if len(hashes) <= LOCATE_CHUNK:
            located = self.locate(hashes)
            return int(self.contains(*located).sum()), located
        return sum(int(self.contains(*self.locate(hashes[i:i + LOCATE_CHUNK])).sum())
                   for i in range(0, len(hashes), LOCATE_CHUNK)), None

    def insert_hashes(self, hashes: np.ndarray, located: tuple | None = None) -> None:
        """Insert ``hashes`` (``located``: their ``locate``, when already computed)."""
        if located is not None:
            self.insert(*located)
            return
        for i in range(0, len(hashes), LOCATE_CHUNK):
            self.insert(*self.locate(hashes[i:i + LOCATE_CHUNK]))

    def fill(self) -> float:
        """Fraction of bits set (counted a slice at a time: ``np.unpackbits`` of the whole
        filter would need eight times its memory)."""
        ones = 0
        for i in range(0, len(self.words), FILL_CHUNK):
            chunk = self.words[i:i + FILL_CHUNK]
            if hasattr(np, "bitwise_count"):  # numpy >= 2.0
                ones += int(np.bitwise_count(chunk).sum(dtype=np.int64))
            else:  # pragma: no cover - numpy 1.26
                ones += int(np.unpackbits(chunk.view(np.uint8)).sum(dtype=np.int64))
        return ones / float(self.n_bits)


class Tokens:
    """UAX #29 word tokens (whitespace dropped) and their seeded 64-bit hashes, cached."""

    def __init__(self, seed: int):
        from xxhash import xxh3_64_intdigest

        self._xxh = xxh3_64_intdigest
        self._seed = int(seed) & _MASK64
        self._cache: dict[str, int] = {}

    @staticmethod
    def split(text: str) -> list[str]:
        """BFF's ``tokenize``: UAX #29 word-bound segments that are not all whitespace (the
        shared ``textlib.uax29_tokens``, which corrects where the ``regex`` module joins an
        opening quote to its word, as in ``'inside``)."""
        return [t for t in textlib.uax29_tokens(text) if not t.isspace()]

    def _miss(self, tok: str) -> int:
        h = self._cache[tok] = self._xxh(tok.encode("utf-8"), self._seed)
        return h

    def hashes(self, tokens: list[str]) -> np.ndarray:
        cache = self._cache
        if len(cache) > TOKEN_CACHE_SIZE:
            cache.clear()
        miss = self._miss
        return np.array([cache[t] if t in cache else miss(t) for t in tokens], dtype=np.uint64)


def ngram_hashes(h: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the ``n``-grams of the token hashes ``h`` (``len(h) - n + 1`` of them)."""
    m = len(h) - n + 1
    acc = h[:m].copy()
    for j in range(1, n):
        acc = acc * _POLY + h[j:j + m]
    return fmix64(acc ^ np.uint64(n))


class BloomDedup(GlobalStep):
    """DCLM BFF: remove paragraphs and/or documents whose n-grams were mostly seen before.

    Parameters:

    * ``mode``: ``paragraph`` (remove duplicate paragraphs), ``document`` (drop duplicate
      documents) or ``both``
    * ``ngram``: the n-gram size, in UAX #29 word tokens
    * ``min_ngram``: a unit with fewer tokens than this is kept and never added to the filter
    * ``threshold``: a unit whose share of n-grams already in the filter is greater than this is
      a duplicate
    * ``fp_rate``: the filter's false-positive probability per n-gram, which sizes it
    * ``expected_ngram_count``: the n-gram insertions the filter is sized for (null: estimated
      as the input's text bytes / 3)
    * ``num_hashers``: the number of hash functions (0: derived from the filter size, as BFF)
    * ``max_memory``: the most memory the step may need (``auto``: 80% of physical memory, or
      bytes, or a size)
    * ``seed``: a fixed seed of the hash functions (null: the run seed)
    """

    version = 2  # 2: tokens split as UAX #29 where the regex module joins a quote to its word
    resumable = True
    seed_dependent = True     # the hash functions, and so the false positives, unless `seed:`
    budget_dependent = False  # the filter is sized from the input, not the scale

    def __init__(self, mode: Literal["paragraph", "document", "both"] = "both", ngram: int = 13,
                 min_ngram: int = 13, threshold: float = 0.8, fp_rate: float = 0.01,
                 expected_ngram_count: int | None = None, num_hashers: int = 0,
                 max_memory: int | str = "auto", annotate: bool = False,
                 seed: int | None = None):
        if mode not in ("paragraph", "document", "both"):
            raise ParamError("mode", f"must be 'paragraph', 'document' or 'both', got {mode!r}")
        for name, v in (("ngram", ngram), ("min_ngram", min_ngram)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParamError(name, f"must be an integer >= 1 (tokens), got {v!r}")
        if min_ngram > ngram:
            raise ParamError("min_ngram", f"must be <= ngram ({ngram}), got {min_ngram}")
        if isinstance(threshold, bool) or not 0.0 <= float(threshold) <= 1.0:
            raise ParamError("threshold", f"must be between 0 and 1 (the fraction of a unit's "
                                          f"n-grams already seen), got {threshold!r}")
        if isinstance(fp_rate, bool) or not 0.0 < float(fp_rate) < 1.0:
            raise ParamError("fp_rate", f"must be between 0 and 1 (exclusive), got {fp_rate!r}")
        if expected_ngram_count is not None and (
                isinstance(expected_ngram_count, bool) or not isinstance(expected_ngram_count, int)
                or expected_ngram_count < 1):
            raise ParamError("expected_ngram_count",
                             f"must be a positive integer or null (estimated from the input), "
                             f"got {expected_ngram_count!r}")
        if isinstance(num_hashers, bool) or not isinstance(num_hashers, int) or num_hashers < 0:
            raise ParamError("num_hashers", f"must be an integer >= 0 (0: optimal), "
                                            f"got {num_hashers!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")
        if max_memory != "auto":
            parse_bytes(max_memory, "max_memory")
        self.mode = mode
        self.ngram, self.min_ngram = ngram, min_ngram
        self.threshold = float(threshold)
        self.fp_rate = float(fp_rate)
        self.expected_ngram_count = expected_ngram_count
        self.num_hashers = num_hashers
        self.max_memory = max_memory
        self.annotate = bool(annotate)
        # annotating keeps every document and records its duplicate spans instead
        self.provides = ("meta.bff_duplicate_spans", "meta.bff_contained_ngram_count") \
            if self.annotate else ()
        self.seed = seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        if expected_ngram_count is not None and max_memory != "auto":
            self.check_memory(expected_ngram_count)  # refuse at validation time when we can

    # ------------------------------------------------------------------ memory

    def memory_limit(self) -> int | None:
        if self.max_memory == "auto":
            total = physical_memory()
            return int(total * AUTO_MEMORY_FRACTION) if total else None
        return parse_bytes(self.max_memory, "max_memory")

    def memory_needed(self, expected: int) -> tuple[int, int, int]:
        """(bytes needed in all, filter bits, hash functions) for ``expected`` n-grams."""
        n_bits, k = bloom_size(expected, self.fp_rate, self.num_hashers)
        return n_bits // 8 + WORKING_MEMORY, n_bits, k

    def check_memory(self, expected: int) -> tuple[int, int]:
        """Raise MemoryLimitError if the filter for ``expected`` n-grams does not fit."""
        needed, n_bits, k = self.memory_needed(expected)
        limit = self.memory_limit()
        if limit is not None and needed > limit:
            allowed = (f"max_memory={self.max_memory!r} ({human_bytes(limit)})"
                       if self.max_memory != "auto" else
                       f"max_memory='auto' ({human_bytes(limit)}, {AUTO_MEMORY_FRACTION:.0%} of "
                       f"this machine's physical memory)")
            raise MemoryLimitError(
                f"bloom_dedup needs about {human_bytes(needed)}: a Bloom filter of "
                f"{human_bytes(n_bits // 8)} ({k} hash functions) for "
                f"expected_ngram_count={expected:,} at fp_rate={self.fp_rate:g}, plus "
                f"{human_bytes(WORKING_MEMORY)} of working memory; that is more than "
                f"{allowed}. Raise max_memory (if the machine has the memory), raise fp_rate "
                f"(a larger per-n-gram false-positive rate needs fewer bits), or lower "
                f"expected_ngram_count (an underestimate raises the real false-positive rate)")
        return n_bits, k

    # ------------------------------------------------------------------ helpers

    def effective_seed(self, ctx: StepContext | None) -> int:
        return int(self.seed if self.seed is not None else (ctx.seed if ctx else 0))

    def settings(self) -> dict:
        return {"mode": self.mode, "ngram": self.ngram, "min_ngram": self.min_ngram,
                "threshold": self.threshold, "fp_rate": self.fp_rate,
                "expected_ngram_count": self.expected_ngram_count,
                "num_hashers": self.num_hashers, "annotate": self.annotate}

    def _say(self, ctx: StepContext, msg: str) -> None:
        say = getattr(getattr(ctx, "engine", None), "say", None)
        (say or log.info)(msg)

    def _estimate(self, shards: list[Path], part: PartialDir) -> int:
        if self.expected_ngram_count is not None:
            return self.expected_ngram_count
        f = part.root / "estimate.json"
        if f.exists():
            return int(load_json(f)["expected_ngram_count"])
        nbytes = sum(len(d["text"].encode("utf-8")) for p in shards for d in read_docs(p))
        expected = max(1, -(-nbytes // BYTES_PER_NGRAM_ESTIMATE))
        save_json(part.path("estimate.json"), {"text_bytes": nbytes,
                                               "expected_ngram_count": expected})
        return expected

    # ------------------------------------------------------------------ one document

    def process(self, text: str, bloom: BloomFilter, tok: Tokens) -> dict:
        """BFF on one document: the windows to remove, whether the whole document goes, stats."""
        if self.mode == "document":
            windows = [(0, len(text))]
        else:
            cuts = [0] + [m.start() for m in _NEWLINE.finditer(text)] + [len(text)]
            windows = list(zip(cuts[:-1], cuts[1:]))
        removed: list[tuple[int, int]] = []
        total = contained_total = units = 0
        for s, e in windows:
            tokens = tok.split(text[s:e])
            if len(tokens) >= self.ngram:
                hashes = ngram_hashes(tok.hashes(tokens), self.ngram)
            elif len(tokens) >= self.min_ngram:
                hashes = ngram_hashes(tok.hashes(tokens), len(tokens))
            else:
                continue  # too short: kept, never added
            contained, located = bloom.count_contained(hashes)
            units += 1
            total += len(hashes)
            contained_total += contained
            if contained / len(hashes) > self.threshold:
                removed.append((s, e))
            else:
                bloom.insert_hashes(hashes, located)
        whole = bool(removed) if self.mode == "document" else (
            self.mode == "both" and total > 0 and contained_total / total > self.threshold)
        return {"removed": removed, "whole": whole, "ngrams": total,
                "contained": contained_total, "units": units}

    # ------------------------------------------------------------------ run

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seed = self.effective_seed(ctx)
        shards, out_dir, part = open_partial("bloom_dedup", self.version, self.settings(), input_shards,
                                             out_dir, seed=seed)
        names = [p.name for p in shards]
        expected = self._estimate(shards, part)
        n_bits, k = self.check_memory(expected)  # before the filter is allocated

        start, bloom = 0, None
        state_file = part.root / "state.json"
        if state_file.exists():
            state = load_json(state_file)
            done_ok = all((out_dir / n).exists() for n in names[:state["next"]])
            if done_ok and (state["next"] == len(names) and (part.root / "final.json").exists()):
                return self._finish(names, part, expected)
            if done_ok and (part.root / state["bloom"]).exists():
                start = int(state["next"])
                bloom = BloomFilter(n_bits, k, seed, load_array(part.root / state["bloom"]))
                self._say(ctx, f"bloom_dedup: resuming at shard {start + 1} of {len(names)} "
                               f"from {part.root}")
            else:
                start = 0
        if bloom is None:
            bloom = BloomFilter(n_bits, k, seed)
        tok = Tokens(seed)
        for i in range(start, len(shards)):
            self._shard(shards[i], out_dir, part, bloom, tok)
            save_array(part.path(f"bloom_{i + 1}.npy"), bloom.words)
            save_json(state_file, {"next": i + 1, "bloom": f"bloom_{i + 1}.npy"})
            part.remove(f"bloom_{i}.npy")
            part.mark("out", shards[i].name)
        fill = bloom.fill()
        save_json(part.path("final.json"), {"bloom_fill": round(fill, 6),
                                            "bloom_fp_rate_est": round(fill ** bloom.k, 8),
                                            "bloom_bytes": bloom.nbytes, "bloom_hashers": bloom.k})
        part.remove(f"bloom_{len(shards)}.npy")
        return self._finish(names, part, expected)

    def _shard(self, shard: Path, out_dir: Path, part: PartialDir, bloom: BloomFilter,
               tok: Tokens) -> None:
        c = {"in": 0, "out": 0, "dropped": {}, "bytes_in": 0, "bytes_removed": 0, "units": 0,
             "units_removed": 0, "docs_modified": 0, "ngrams": 0, "ngrams_contained": 0}
        sampler = DropSampler()
        name = self.step_name or "bloom_dedup"

        def drop(doc: dict, reason: str, nbytes: int) -> None:
            c["dropped"][reason] = c["dropped"].get(reason, 0) + 1
            c["bytes_removed"] += nbytes
            sampler.add(self.step_index, name, reason, doc)

        def kept():
            for doc in read_docs(shard):
                text = doc["text"]
                nbytes = len(text.encode("utf-8"))
                c["in"] += 1
                c["bytes_in"] += nbytes
                r = self.process(text, bloom, tok)
                c["units"] += r["units"]
                c["ngrams"] += r["ngrams"]
                c["ngrams_contained"] += r["contained"]
                c["units_removed"] += len(r["removed"])
                if self.annotate:
                    spans = [[0, len(text)]] if r["whole"] else [list(w) for w in r["removed"]]
                    doc = dict(doc)
                    doc["meta"] = {**(doc.get("meta") or {}), "bff_duplicate_spans": spans,
                                   "bff_contained_ngram_count": r["contained"]}
                elif r["whole"]:
                    drop(doc, DOC_REASON, nbytes)
                    continue
                elif r["removed"]:
                    parts, last = [], 0
                    for s, e in r["removed"]:
                        parts.append(text[last:s])
                        last = e
                    parts.append(text[last:])
                    new = "".join(parts)
                    if not new.strip():
                        drop(doc, PARA_REASON, nbytes)
                        continue
                    c["bytes_removed"] += nbytes - len(new.encode("utf-8"))
                    c["docs_modified"] += 1
                    doc = dict(doc)
                    doc["text"] = new
                c["out"] += 1
                yield doc

        write_docs(out_dir / shard.name, kept())
        sampler.write(out_dir / "dropped" / shard.name)
        save_json(part.path("out", shard.name + ".json"), c)

    def _finish(self, names: list[str], part: PartialDir, expected: int) -> list[Path]:
        c, info = merge_shard_stats(part, names, ("bytes_in", "bytes_removed", "units", "units_removed",
                                                  "docs_modified", "ngrams", "ngrams_contained"))
        final = load_json(part.root / "final.json")
        info.update({
            "removal_rate": round(c.n_dropped / c.docs_in, 6) if c.docs_in else 0.0,
            "byte_removal_rate": (round(info["bytes_removed"] / info["bytes_in"], 6)
                                  if info["bytes_in"] else 0.0),
            "expected_ngram_count": expected, **final,
            "ngram": self.ngram, "threshold": self.threshold, "fp_rate": self.fp_rate,
        })
        c.info = info
        self.counters = c
        return [part.root.parent / n for n in names]
