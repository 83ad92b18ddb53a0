"""Tokenize curated documents, shuffle them with the run seed and pack fixed-length sequences.

Documents are shuffled (a seeded permutation per pass), tokenized in that order, each followed by
``<|endoftext|>``, and the stream is cut into rows of ``seq_len + 1`` tokens (inputs and shifted
targets of one training sequence). Only as many documents are tokenized as the training budget
needs: the result equals "tokenize everything, shuffle documents, take the first N sequences".
When the curated data holds fewer tokens than the budget, the data is repeated with a fresh
permutation per pass, and the manifest records how many passes (fractional) training makes.

Output: ``tokens.npy`` (uint16 when the vocabulary fits, else uint32), shape
``(n_sequences, seq_len + 1)``, plus ``order.json`` (pass count, documents used, and a sha256 of the
document order so the order can be verified).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from winnow.docs import read_docs
from winnow.io import atomic_path, write_json

PACK_VERSION = 1
BATCH_DOCS = 512


class NotEnoughData(ValueError):
    pass


def load_texts(shards: list[Path]) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for shard in shards:
        for doc in read_docs(shard):
            if doc["text"]:
                ids.append(doc["id"])
                texts.append(doc["text"])
    return ids, texts


def pack(*, shards: list[Path], tokenizer_path: Path, seq_len: int, n_sequences: int, seed: int,
         out_dir: Path, progress: bool = True) -> dict:
    """Write ``out_dir/tokens.npy`` with ``n_sequences`` rows; return stats for the manifest."""
    from tokenizers import Tokenizer

    t0 = time.time()
    tok = Tokenizer.from_file(str(tokenizer_path))
    eos = tok.token_to_id("<|endoftext|>")
    vocab = tok.get_vocab_size()
    dtype = np.uint16 if vocab <= np.iinfo(np.uint16).max + 1 else np.uint32
    ids, texts = load_texts(shards)
    if not texts:
        raise NotEnoughData("the curated data has no non-empty document; nothing to tokenize")
    row = seq_len + 1
    need = n_sequences * row
    out = np.empty(need, dtype=dtype)
    filled = 0
    order_hash = hashlib.sha256()
    docs_used = 0
    pass_tokens: list[int] = []
    bar = tqdm(total=need, desc="tokenize", unit="tok", unit_scale=True, disable=not progress)
    passes = 0
    while filled < need:
        perm = np.random.default_rng([seed, passes]).permutation(len(texts))
        passes += 1
        tokens_this_pass = 0
        for start in range(0, len(perm), BATCH_DOCS):
            chunk = perm[start:start + BATCH_DOCS]
            encs = tok.encode_batch([texts[i] for i in chunk], add_special_tokens=False)
            for i, enc in zip(chunk, encs):
                piece = enc.ids + [eos]
                take = min(len(piece), need - filled)
                out[filled:filled + take] = piece[:take]
                filled += take
                tokens_this_pass += len(piece)
                docs_used += 1
                order_hash.update(ids[i].encode() + b"\n")
                if filled == need:
                    break
            bar.update(min(bar.total - bar.n, filled - bar.n))
            if filled == need:
                break
        pass_tokens.append(tokens_this_pass)
        if tokens_this_pass == 0:
            raise NotEnoughData("the curated documents tokenize to nothing")
    bar.close()
    # Fractional passes: full passes before the last, plus the share of the last pass consumed.
    if passes == 1:
        curated_tokens = None  # not all tokenized; estimated by the caller from bytes if needed
        frac = 1.0
    else:
        curated_tokens = pass_tokens[0]
        frac = (passes - 1) + (need - curated_tokens * (passes - 1)) / curated_tokens
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "tokens.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, out.reshape(n_sequences, row))
    info = {
        "version": PACK_VERSION,
        "seq_len": seq_len,
        "n_sequences": n_sequences,
        "tokens": need,
        "dtype": np.dtype(dtype).name,
        "vocab_size": vocab,
        "curated_docs": len(texts),
        "curated_tokens": curated_tokens,
        "docs_used": docs_used,
        "passes": round(frac, 4),
        "passes_started": passes,
        "order_sha256": order_hash.hexdigest(),
    }
    write_json(out_dir / "order.json", info)
    return {**info, "seconds": round(time.time() - t0, 1)}
