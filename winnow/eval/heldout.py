"""Held-out bits per byte of a model, and of a unigram reference fitted on the training tokens.

Both numbers score exactly the same tokens, so they are comparable (`select_heldout`):

- each held-out document is tokenised on its own (no special tokens) and its first `seq_len`
  tokens are the targets; the model predicts them from an end-of-text token prepended as the
  document boundary (input = EOS + the first seq_len - 1 tokens: one window of the training
  context, the way documents follow an EOS in packed training sequences);
- documents are taken in the order given until `max_tokens` targets are collected (the last
  document is cut to fit), so the budget is exact;
- bytes = UTF-8 bytes of the text covered by the scored tokens (the document prefix up to the
  end offset of its last scored token);
- bits per byte = total nats / ln 2 / total bytes.

The unigram reference: p(t) = (count(t) + 1) / (N + V) from the training token counts (add-one
smoothing over the vocabulary of size V). A model that does not beat it has learnt no context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from winnow.eval.lm import as_tokenizer, find_eos_id


@dataclass(frozen=True)
class HeldoutTargets:
    """The scored held-out tokens, one list per document, and the bytes they cover."""

    docs: list[list[int]]
    n_bytes: int
    n_docs_seen: int

    @property
    def n_tokens(self) -> int:
        return sum(len(d) for d in self.docs)


def select_heldout(tokenizer, texts: Sequence[str], seq_len: int, max_tokens: int) -> HeldoutTargets:
    """The held-out targets shared by `heldout_bpb` and `unigram_bpb` (see module docstring)."""
    tk = as_tokenizer(tokenizer)
    docs: list[list[int]] = []
    n_bytes = 0
    total = 0
    seen = 0
    for text in texts:
        if total >= max_tokens:
            break
        seen += 1
        enc = tk.encode(text, add_special_tokens=False)
        keep = min(len(enc.ids), seq_len, max_tokens - total)
        if keep <= 0:
            continue
        ids = list(enc.ids[:keep])
        end = enc.offsets[keep - 1][1] if keep < len(enc.ids) else len(text)
        docs.append(ids)
        n_bytes += len(text[:end].encode("utf-8"))
        total += keep
    return HeldoutTargets(docs=docs, n_bytes=n_bytes, n_docs_seen=seen)


def _result(nats: float, targets: HeldoutTargets) -> dict:
    bpb = nats / math.log(2) / targets.n_bytes if targets.n_bytes else float("nan")
    return {
        "bits_per_byte": bpb,
        "tokens": targets.n_tokens,
        "bytes": targets.n_bytes,
        "docs": len(targets.docs),
    }


@torch.inference_mode()
def heldout_bpb(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    seq_len: int,
    max_tokens: int,
    *,
    eos_id: int | None = None,
    max_batch_tokens: int = 2048,
) -> dict:
    """Model bits per byte on held-out documents: {bits_per_byte, tokens, bytes, docs}."""
    eos = eos_id if eos_id is not None else find_eos_id(tokenizer, model)
    targets = select_heldout(tokenizer, texts, seq_len, max_tokens)
    device = next(model.parameters()).device
    model.eval()
    order = sorted(range(len(targets.docs)), key=lambda i: (-len(targets.docs[i]), i))
    batch_size = max(1, max_batch_tokens // max(seq_len, 1))
    nats = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = len(targets.docs[idx[0]])
        inp = torch.full((len(idx), width), eos, dtype=torch.long)
        tgt = torch.full((len(idx), width), -100, dtype=torch.long)
        for b, i in enumerate(idx):
            ids = targets.docs[i]
            inp[b, : len(ids)] = torch.tensor([eos] + ids[:-1], dtype=torch.long)
            tgt[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        out = model(input_ids=inp.to(device))
        logits = out.logits if hasattr(out, "logits") else out[0]
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            tgt.to(device).reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        nats += float(loss.double())
    return _result(nats, targets)


def _token_files(train_tokens: Path | str | Iterable[Path | str]) -> list[Path]:
    if isinstance(train_tokens, (str, Path)):
        path = Path(train_tokens)
        return sorted(path.rglob("*.npy")) if path.is_dir() else [path]
    return [Path(p) for p in train_tokens]


def unigram_counts(train_tokens: Path | str | Iterable[Path | str], vocab_size: int) -> np.ndarray:
    """Token counts (int64, length vocab_size) over one .npy file, a folder of them, or a list."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    files = _token_files(train_tokens)
    if not files:
        raise FileNotFoundError(f"no training token files (*.npy) in {train_tokens}")
    for f in files:
        arr = np.load(f, mmap_mode="r").reshape(-1)
        for s in range(0, arr.shape[0], 1 << 24):
            chunk = np.asarray(arr[s : s + (1 << 24)], dtype=np.int64)
            if chunk.size and (chunk.min() < 0 or chunk.max() >= vocab_size):
                raise ValueError(f"{f}: token ids outside [0, {vocab_size})")
            counts += np.bincount(chunk, minlength=vocab_size)
    return counts


def unigram_bpb_from_counts(counts: np.ndarray, targets: HeldoutTargets) -> dict:
    """Bits per byte of the add-one-smoothed unigram model `counts` on `targets`."""
    counts = np.asarray(counts, dtype=np.float64)
    logp = np.log(counts + 1.0) - math.log(counts.sum() + counts.shape[0])
    ids = np.fromiter((t for d in targets.docs for t in d), dtype=np.int64)
    nats = float(-logp[ids].sum()) if ids.size else 0.0
    return _result(nats, targets)


def unigram_bpb(
    train_tokens_npy: Path | str | Iterable[Path | str],
    vocab_size: int,
    tokenizer,
    texts: Sequence[str],
    seq_len: int,
    max_tokens: int,
) -> dict:
    """Unigram (add-one) bits per byte on the same held-out tokens/bytes as `heldout_bpb`."""
    counts = unigram_counts(train_tokens_npy, vocab_size)
    result = unigram_bpb_from_counts(counts, select_heldout(tokenizer, texts, seq_len, max_tokens))
    result["train_tokens"] = int(counts.sum())
    return result
