"""Batches of packed token sequences for training, read in order from ``tokens.npy``.

The tokenize stage writes one NumPy array of shape (n_sequences, seq_len + 1), dtype uint16 or
uint32, already shuffled (or, for the order track, ordered by the submission). Row i is one
training sequence: inputs are its first seq_len tokens, targets its last seq_len. Choices:

* Memory-mapped (``np.load(mmap_mode="r")``): a run touches only the rows it trains on and
  startup costs nothing, whatever the file size.
* Rows are consumed strictly in file order, ``batch_size`` at a time, with no shuffling here: the
  data order is part of the tokenized artifact (and of a submission on the order track), so two
  runs over the same file see the same batches.
* The whole loader state is the next row index, which makes checkpoint/resume exact and trivial.
* Running out of rows is an error, never a silent wrap-around into a second epoch: the tokenize
  stage guarantees enough rows for the scale's token budget.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

TOKEN_DTYPES = (np.uint16, np.uint32)


class SequenceLoader:
    """Iterate LongTensor batches of shape (batch_size, seq_len + 1) from ``tokens.npy`` in row order."""

    def __init__(self, path: str | os.PathLike, batch_size: int, start_row: int = 0):
        self.path = Path(path)
        self.tokens = np.load(self.path, mmap_mode="r")
        if self.tokens.ndim != 2 or self.tokens.shape[1] < 2:
            raise ValueError(f"{self.path}: expected shape (n_sequences, seq_len + 1), got {self.tokens.shape}")
        if self.tokens.dtype not in TOKEN_DTYPES:
            raise ValueError(f"{self.path}: token dtype must be uint16 or uint32, got {self.tokens.dtype}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.next_row = int(start_row)

    @property
    def n_rows(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def seq_len(self) -> int:
        """Model context length: each row holds seq_len + 1 tokens (inputs plus the last target)."""
        return int(self.tokens.shape[1]) - 1

    def require_rows(self, n_batches: int) -> None:
        """Fail now, with numbers, if ``n_batches`` more batches do not fit in the file."""
        needed = self.next_row + n_batches * self.batch_size
        if needed > self.n_rows:
            raise ValueError(
                f"{self.path}: training needs {needed} sequences ({n_batches} batches of "
                f"{self.batch_size} from row {self.next_row}) but the file has {self.n_rows}; "
                "the tokenize stage should have written enough rows for this scale"
            )

    def next_batch(self) -> torch.Tensor:
        self.require_rows(1)
        rows = self.tokens[self.next_row : self.next_row + self.batch_size]
        self.next_row += self.batch_size
        # int64 because embedding lookups and cross-entropy targets take LongTensor indices.
        return torch.from_numpy(rows.astype(np.int64))

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"next_row": self.next_row}

    def load_state_dict(self, state: dict) -> None:
        self.next_row = int(state["next_row"])
