"""N-gram hashes over integer arrays: the one rolling hash that decontamination and the eval stage share.

``decontaminate`` (``winnow.curate.steps.decontam``) hashes n-grams of word hashes in curated
text; the eval stage's contamination measure (``winnow.eval.contamination``) hashes 13-grams of
token ids in the trained tokens. Both use ``ngram_hashes``: the n-gram ``x_0 .. x_{n-1}`` hashes
to ``(((x_0 P + x_1) P + ...) P + x_{n-1}) P + n`` modulo 2^64, P the FNV-64 prime. P is odd, so
multiplying by it is a bijection modulo 2^64 and every element moves the hash; the final length
term keeps n-grams of different lengths apart in one table. NumPy wraps uint64 overflow, which
is exactly arithmetic modulo 2^64, so the hash is the same on every machine and in every process.

Vectorised: n passes over the array, in place (no per-n-gram Python). Changing the hash changes
what ``decontaminate`` finds (bump its version) and what the eval stage measures (bump its rule).
"""

from __future__ import annotations

import numpy as np

P = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so the polynomial mixes every element


def _polynomial(columns, n: int) -> np.ndarray:
    """The hash of n-grams given as n equal-length uint64 arrays (element k of each n-gram)."""
    h = columns[0].copy()
    for col in columns[1:]:
        h *= P
        h += col
    h *= P
    h += np.uint64(n)
    return h


def ngram_hashes(values: np.ndarray, n: int) -> np.ndarray:
    """uint64 hashes of every n-gram of ``values`` (non-negative integers), one per start
    position, in order; empty when ``values`` is shorter than ``n``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    m = len(values) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    x = np.asarray(values).astype(np.uint64, copy=False)
    return _polynomial([x[k:k + m] for k in range(n)], n)


def row_hashes(rows: np.ndarray) -> np.ndarray:
    """The ``ngram_hashes`` value of each row of a 2-D array (n-grams given one per row)."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] < 1:
        raise ValueError(f"expected a 2-D array of n-grams, got shape {rows.shape}")
    x = rows.astype(np.uint64, copy=False)
    return _polynomial([x[:, k] for k in range(x.shape[1])], x.shape[1])
