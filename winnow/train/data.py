"""Batches of packed token sequences for training, read from ``tokens.npy`` in a fixed order.

The tokenize stage writes one NumPy array of shape (n_sequences, seq_len + 1), dtype uint16 or
uint32, already shuffled (``winnow/tokenize/pack.py`` shuffles documents with a seeded
permutation per pass over the curated data; on the order track the order is the submission's).
Row i is one training sequence: inputs are its first seq_len tokens, targets its last seq_len.
Choices:

* Memory-mapped (``np.load(mmap_mode="r")``): a run touches only the rows it trains on and
  startup costs nothing, whatever the file size.
* The loader reads a *stream* of sample indices k = 0, 1, 2, ...; sample k is row
  ``order_p[k mod n]`` of pass p = k // n. Within a pass every row is used exactly once
  (sampling without replacement). Pass 0 is the file order itself: the tokenize stage already
  shuffled it (and on the order track the file order *is* the submission), so re-shuffling
  here would only change the numbers of every existing one-pass run. Passes p >= 1, which only
  happen when the file holds fewer rows than training needs, use ``default_rng([seed, p,
  PASS_SALT]).permutation(n)``: deterministic given (seed, p), fresh each pass.
* Without a seed the loader is single-pass and running out of rows is an error with numbers,
  never a silent wrap-around (the tokenize stage guarantees enough rows for a scale's budget).
* Batch b is samples [b·batch_size, (b+1)·batch_size). Under data parallelism each rank reads
  its contiguous slice of that global batch (``part=(rank, world_size)``), so the global batch
  and the order of sequences are exactly those of a single process.
* The whole loader state is (pass, position), which makes checkpoint/resume exact and trivial;
  it is the same on every rank.
* ``order_sha256()`` hashes the file-row index of every sample consumed so far, in order (a pure
  function of the seed, the row count and the position, so resumes need no extra state). With the
  tokens file's content id it pins the exact sequence of training rows: on the order track it
  lets anyone verify that training consumed the stages in the submitted order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

TOKEN_DTYPES = (np.uint16, np.uint32)
# Mixed into the per-pass permutation seed so it never coincides with the tokenize stage's
# document permutation for the same (seed, pass), which uses default_rng([seed, pass]).
PASS_SALT = 0x6C6F6164  # "load"


def pass_order(n_rows: int, seed: int | None, pass_index: int) -> np.ndarray | None:
    """Row order of one pass: None (file order) for pass 0, else a seeded permutation."""
    if pass_index == 0:
        return None
    if seed is None:
        raise ValueError("a second pass over the rows needs a seed for its permutation")
    return np.random.default_rng([int(seed), int(pass_index), PASS_SALT]).permutation(n_rows)


class SequenceLoader:
    """Iterate LongTensor batches of shape (batch_size, seq_len + 1) from ``tokens.npy``.

    ``seed=None``: a single pass in file order (running out of rows is an error). With a seed,
    further passes use a seeded permutation each (see the module docstring).
    """

    def __init__(self, path: str | os.PathLike, batch_size: int, start_row: int = 0, *, seed: int | None = None):
        self.path = Path(path)
        self.tokens = np.load(self.path, mmap_mode="r")
        if self.tokens.ndim != 2 or self.tokens.shape[1] < 2:
            raise ValueError(f"{self.path}: expected shape (n_sequences, seq_len + 1), got {self.tokens.shape}")
        if self.tokens.dtype not in TOKEN_DTYPES:
            raise ValueError(f"{self.path}: token dtype must be uint16 or uint32, got {self.tokens.dtype}")
        if self.tokens.shape[0] < 1:
            raise ValueError(f"{self.path}: the file holds no sequences")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.seed = None if seed is None else int(seed)
        self.next_row = int(start_row)  # index into the sample stream (pass · n_rows + position)
        self._order_cache: tuple[int, np.ndarray | None] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def seq_len(self) -> int:
        """Model context length: each row holds seq_len + 1 tokens (inputs plus the last target)."""
        return int(self.tokens.shape[1]) - 1

    @property
    def multi_pass(self) -> bool:
        return self.seed is not None

    def passes_needed(self, n_batches: int) -> float:
        """How many passes over the rows ``n_batches`` more batches make (from the current position)."""
        return (self.next_row + n_batches * self.batch_size) / self.n_rows

    def require_rows(self, n_batches: int) -> None:
        """Single-pass loaders: fail now, with numbers, if ``n_batches`` more batches do not fit."""
        needed = self.next_row + n_batches * self.batch_size
        if not self.multi_pass and needed > self.n_rows:
            raise ValueError(
                f"{self.path}: training needs {needed} sequences ({n_batches} batches of "
                f"{self.batch_size} from row {self.next_row}) but the file has {self.n_rows}; "
                "the tokenize stage should have written enough rows for this scale"
            )

    def _order(self, pass_index: int) -> np.ndarray | None:
        if self._order_cache is None or self._order_cache[0] != pass_index:
            self._order_cache = (pass_index, pass_order(self.n_rows, self.seed, pass_index))
        return self._order_cache[1]

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Rows of stream samples [start, stop), possibly spanning a pass boundary."""
        pieces = []
        k = start
        while k < stop:
            p, pos = divmod(k, self.n_rows)
            take = min(stop - k, self.n_rows - pos)
            order = self._order(p)
            if order is None:
                pieces.append(self.tokens[pos : pos + take])
            else:
                pieces.append(self.tokens[order[pos : pos + take]])
            k += take
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def order_sha256(self, n_samples: int | None = None) -> str:
        """sha256 of the file-row indices (little-endian int64) of samples [0, n_samples), in
        order; by default the samples consumed so far."""
        n = self.next_row if n_samples is None else int(n_samples)
        h = hashlib.sha256(b"winnow-row-order-v1")
        k = 0
        while k < n:
            p, pos = divmod(k, self.n_rows)
            take = min(n - k, self.n_rows - pos)
            order = pass_order(self.n_rows, self.seed, p) if p else None
            idx = np.arange(pos, pos + take, dtype=np.int64) if order is None else order[pos:pos + take]
            h.update(np.ascontiguousarray(idx, dtype="<i8").tobytes())
            k += take
        return h.hexdigest()

    def next_batch(self, part: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """The next global batch, or with ``part=(rank, world_size)`` that rank's contiguous
        slice of it (batch_size // world_size rows). Every rank advances by the whole batch."""
        rank, world = part
        if world < 1 or not 0 <= rank < world or self.batch_size % world:
            raise ValueError(f"cannot split a batch of {self.batch_size} into part {rank} of {world}")
        self.require_rows(1)
        per = self.batch_size // world
        start = self.next_row + rank * per
        rows = self._rows(start, start + per)
        self.next_row += self.batch_size
        # int64 because embedding lookups and cross-entropy targets take LongTensor indices.
        return torch.from_numpy(rows.astype(np.int64))

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        p, pos = divmod(self.next_row, self.n_rows)
        return {"pass": p, "position": pos}

    def load_state_dict(self, state: dict) -> None:
        if "next_row" in state:  # checkpoints written before passes existed: a single stream index
            self.next_row = int(state["next_row"])
            return
        if not 0 <= int(state["position"]) < self.n_rows:
            raise ValueError(f"{self.path}: loader position {state['position']} is outside 0..{self.n_rows - 1}")
        self.next_row = int(state["pass"]) * self.n_rows + int(state["position"])
