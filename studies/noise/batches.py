"""How much of a run's training data sits in documents longer than a batch, from its packed tokens.

    python studies/noise/batches.py RUN_DIR [RUN_DIR ...]

Packing concatenates documents (each ended by the tokenizer's end-of-text id) and cuts the stream
into rows of seq_len + 1 tokens. Without a row permutation (``order_seed``, the scale's ``seeds:
{order: run}``) a batch is a run of consecutive rows, so a document longer than a batch fills
whole batches on its own. This prints, per run: the document count, median and largest length in
tokens, the share of tokens in documents longer than one row and than one batch, and the share of
rows that hold no document boundary. Read-only; numbers for the noise study's README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

EOS = 0   # the bpe*-v1 tokenizers' end-of-text id (winnow.tokenize.bpe)


def describe(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    scale = run["config"]["scale"]
    rows = np.load(run_dir / "tokenized" / "tokens.npy", mmap_mode="r")
    body = np.asarray(rows[:, :-1])
    ends = np.flatnonzero(body.reshape(-1) == EOS)
    lengths = np.diff(np.concatenate([[-1], ends]))
    row, batch = body.shape[1], body.shape[1] * int(scale["train"]["batch_size"])
    total = lengths.sum()
    return {"run": run_dir.name, "scale": scale["name"], "docs": int(len(lengths)),
            "median_tokens": float(np.median(lengths)), "max_tokens": int(lengths.max()),
            "share_in_docs_over_a_row": float(lengths[lengths > row].sum() / total),
            f"share_in_docs_over_a_batch ({batch} tokens)": float(lengths[lengths > batch].sum() / total),
            "rows_without_boundary": float(((body == EOS).sum(1) == 0).mean())}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        print(json.dumps(describe(Path(arg))))
