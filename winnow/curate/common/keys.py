"""Keyed randomness: numbers decided by (seed, document id), never by input order.

``rank_key`` is ``random_sample``'s rank (``blake2b(id, key=seed, 8 bytes)`` as an unsigned
integer); it also breaks score ties in ``Selection`` and orders the proxy LM's sample.
``doc_uniform`` is a uniform in (0, 1) keyed by (seed, salt, id); ``pareto_draw`` and
``gumbel_draw`` turn such uniforms into noise by inverse CDF, so a noisy selection is the same
for any shard layout or worker count (``np.random``'s global state would not be).
"""

from __future__ import annotations

import hashlib

import numpy as np


def rank_key(seed: int, doc_id: str) -> int:
    """The keyed hash that orders documents for ``random_sample`` (lower = picked first)."""
    key = int(seed).to_bytes(16, "little", signed=True)
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), key=key, digest_size=8).digest(),
                          "big")


def doc_uniform(seed: int, doc_id: str, salt: str) -> float:
    """A uniform number in (0, 1) keyed by (seed, salt, document id): layout independent."""
    key = int(seed).to_bytes(16, "little", signed=True)
    d = hashlib.blake2b(f"{salt}\0{doc_id}".encode("utf-8"), key=key, digest_size=8).digest()
    return (int.from_bytes(d, "big") + 0.5) / 2.0 ** 64


def pareto_draw(u: np.ndarray, alpha: float) -> np.ndarray:
    """``np.random.pareto(alpha)`` (Lomax) by inverse CDF of uniforms ``u``."""
    return (1.0 - u) ** (-1.0 / alpha) - 1.0


def gumbel_draw(u: np.ndarray) -> np.ndarray:
    """Standard Gumbel noise by inverse CDF of uniforms ``u``."""
    return -np.log(-np.log(u))
