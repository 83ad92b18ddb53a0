"""MurmurHash3's 64-bit finaliser over NumPy uint64 arrays, shared by the hashing steps.

``fmix64`` mixes every input bit into every output bit; bloom_dedup derives its k probe positions
from it, minhash_dedup and dsir combine token hashes into n-gram hashes with it. Written with
NumPy because no library offers a vectorised 64-bit mixer; overflow wraps modulo 2^64, as the
algorithm requires. Changing it changes which documents those steps remove (their versions).
"""

from __future__ import annotations

import numpy as np

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
