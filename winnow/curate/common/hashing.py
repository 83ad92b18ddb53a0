"""Hashing shared by the steps: MurmurHash3's 64-bit finaliser and hashed word n-gram buckets.

``fmix64`` mixes every input bit into every output bit; bloom_dedup derives its k probe positions
from it, minhash_dedup and ``NgramHasher`` combine token hashes into n-gram hashes with it.
Written with NumPy because no library offers a vectorised 64-bit mixer; overflow wraps modulo
2^64, as the algorithm requires. Changing it changes which documents those steps remove (their
versions).

``NgramHasher`` (dsir's features, target_classifier's too): the text is lower-cased and split
with NLTK's ``WordPunctTokenizer`` pattern (``\\w+|[^\\w\\s]+``); words are hashed once with
seeded xxh3-64 (cached) and n-gram hashes are combined in NumPy, the bucket being the 64-bit hash
modulo ``num_buckets``. ``winnow.curate.steps.dsir`` says why not the ``data-selection``
package's sha256 per n-gram.
"""

from __future__ import annotations

import re

import numpy as np
from xxhash import xxh3_64_intdigest

C1 = np.uint64(0xFF51AFD7ED558CCD)
C2 = np.uint64(0xC4CEB9FE1A85EC53)
S33 = np.uint64(33)
MASK64 = (1 << 64) - 1


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 fmix64 of each uint64 (wrapping arithmetic)."""
    h = h ^ (h >> S33)
    h = h * C1
    h = h ^ (h >> S33)
    h = h * C2
    return h ^ (h >> S33)


_TOKEN = re.compile(r"\w+|[^\w\s]+")  # nltk.tokenize.WordPunctTokenizer's pattern
_POLY = np.uint64(0x9E3779B97F4A7C15)
CACHE_LIMIT = 1_000_000


class NgramHasher:
    """Text -> bucket ids of its lower-cased word-punct unigrams and bigrams (``ngrams`` = 2)."""

    def __init__(self, num_buckets: int, ngrams: int = 2, seed: int = 0):
        self.num_buckets = int(num_buckets)
        self.ngrams = ngrams
        self.seed = seed
        self._xxh = xxh3_64_intdigest
        self._cache: dict[str, int] = {}

    def tokens(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())

    def hashes(self, words: list[str]) -> np.ndarray:
        cache = self._cache
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        out = []
        for w in words:
            h = cache.get(w)
            if h is None:
                h = cache[w] = self._xxh(w.encode("utf-8"), self.seed)
            out.append(h)
        return np.array(out, dtype=np.uint64)

    def buckets(self, text: str) -> np.ndarray:
        """Bucket id (int64) of every unigram, then every bigram, ... of ``text``."""
        h = self.hashes(self.tokens(text))
        parts = [h]
        for n in range(2, self.ngrams + 1):
            m = len(h) - n + 1
            if m <= 0:
                break
            acc = h[:m].copy()
            for j in range(1, n):
                acc = acc * _POLY + h[j:j + m]
            parts.append(fmix64(acc ^ np.uint64(n)))
        allh = np.concatenate(parts) if len(parts) > 1 else h
        return (allh % np.uint64(self.num_buckets)).astype(np.int64)

    def counts(self, text: str) -> np.ndarray:
        return np.bincount(self.buckets(text), minlength=self.num_buckets)
