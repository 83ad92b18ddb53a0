"""Tokenize curated documents, shuffle them with the run seed and pack fixed-length sequences.

Documents are shuffled (a seeded permutation per pass), tokenized in that order, each followed by
``<|endoftext|>``, and the stream is cut into rows of ``seq_len + 1`` tokens (inputs and shifted
targets of one training sequence). Only as many documents are tokenized as the training budget
needs: the result equals "tokenize everything, shuffle documents, take the first N sequences".
When the curated data holds fewer tokens than the budget, the data is repeated with a fresh
permutation per pass, and the manifest records how many passes (fractional) training makes.

**Stages (the order track).** With ``stages`` (``winnow.tokenize.stages``; a recipe's
``stages:``), the rows are packed stage after stage: stage ``k`` gets its share of the rows
(``stage_rows``) and they are filled from its own documents only, shuffled with
``default_rng([seed, k, pass])`` and repeated with a fresh permutation when the stage needs
more tokens than it holds. Each stage starts a fresh token stream (the document being packed
when a stage's rows are full is cut there), so every row holds tokens of one stage only; the
training loader reads rows in file order, so training consumes the stages in order. Without
stages the packing is exactly the unstaged one (the pack version in ``ORDERS`` and the bytes of
``tokens.npy``/``order.json`` unchanged).

**Document order.** ``order="index"`` (pack version 1) shuffles document *positions*:
``default_rng([seed, pass]).permutation(n)``, so two submissions whose curated data differ see even
their shared documents in unrelated orders. ``order="id_hash"`` (pack version 2, the CPU scales
from their noise-study versions on) sorts documents by a keyed hash of their *id*,
``blake2b(id, key=fill_seed · pass [· stage])``: a document holds the same place relative to every
other document whatever else a submission keeps, so submissions sharing documents see them in the
same relative order and the budget is filled from the same end of the key order (common random
numbers between submissions at a seed; the differences between recipes are then measured on
paired runs). ``order_seed`` (optional) then permutes the packed rows, which separates the order
in which training sees the rows from which documents fill them, for the noise study.

Output: ``tokens.npy`` (uint16 when the vocabulary fits, else uint32), shape
``(n_sequences, seq_len + 1)``, plus ``order.json`` (pass count, documents used, and a sha256 of the
document order so the order can be verified; with stages also ``stages``: per stage its labels,
share, sequences, documents, documents used, passes and its own order sha256).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from winnow.docs import read_docs
from winnow.io import atomic_path, write_json
from winnow.tokenize import stages as stg

ORDERS = {"index": 1, "id_hash": 2}  # document order -> the pack version that writes it (order.json)
ROW_ORDER_SALT = 0x726F7773  # "rows"
BATCH_DOCS = 512


class NotEnoughData(ValueError):
    pass


def load_texts(shards: list[Path]) -> tuple[list[str], list[str]]:
    ids, texts, _ = load_documents(shards)
    return ids, texts


def load_documents(shards: list[Path], meta_key: str | None = None
                   ) -> tuple[list[str], list[str], list]:
    """Ids, texts and (when ``meta_key`` is given) ``meta[meta_key]`` of non-empty documents."""
    ids, texts, labels = [], [], []
    for shard in shards:
        for doc in read_docs(shard):
            if doc["text"]:
                ids.append(doc["id"])
                texts.append(doc["text"])
                if meta_key is not None:
                    labels.append((doc.get("meta") or {}).get(meta_key))
    return ids, texts, labels


class _Packer:
    """Fills ``out`` from documents, one segment of rows at a time; hashes the document order."""

    def __init__(self, tok, ids: list[str], texts: list[str], out: np.ndarray, eos: int, bar):
        self.tok, self.ids, self.texts, self.out = tok, ids, texts, out
        self.eos, self.bar = eos, bar
        self.order_hash = hashlib.sha256()

    def fill(self, start: int, need: int, members: np.ndarray, permutation) -> dict:
        """Write ``need`` tokens at ``out[start:]`` from ``members`` (document positions), pass
        ``p`` in the order ``members[permutation(p)]``; the stats of this segment."""
        filled = 0
        docs_used = 0
        passes = 0
        pass_tokens: list[int] = []
        seg_hash = hashlib.sha256()
        while filled < need:
            perm = members[permutation(passes)]
            passes += 1
            tokens_this_pass = 0
            for first in range(0, len(perm), BATCH_DOCS):
                chunk = perm[first:first + BATCH_DOCS]
                encs = self.tok.encode_batch([self.texts[i] for i in chunk],
                                             add_special_tokens=False)
                for i, enc in zip(chunk, encs):
                    piece = enc.ids + [self.eos]
                    take = min(len(piece), need - filled)
                    at = start + filled
                    self.out[at:at + take] = piece[:take]
                    filled += take
                    tokens_this_pass += len(piece)
                    docs_used += 1
                    line = self.ids[i].encode() + b"\n"
                    self.order_hash.update(line)
                    seg_hash.update(line)
                    if filled == need:
                        break
                self.bar.update(min(self.bar.total - self.bar.n, start + filled - self.bar.n))
                if filled == need:
                    break
            pass_tokens.append(tokens_this_pass)
            if tokens_this_pass == 0:
                raise NotEnoughData("the curated documents tokenize to nothing")
        # Fractional passes: full passes before the last, plus the share of the last pass consumed.
        if passes <= 1:
            curated_tokens = None  # not all tokenized; estimated by the caller from bytes if needed
            frac = float(passes)
        else:
            curated_tokens = pass_tokens[0]
            frac = (passes - 1) + (need - curated_tokens * (passes - 1)) / curated_tokens
        return {"docs_used": docs_used, "passes": frac, "passes_started": passes,
                "curated_tokens": curated_tokens, "order_sha256": seg_hash.hexdigest()}


def id_hash_order(ids: list[str], key: list[int]) -> np.ndarray:
    """Positions of ``ids`` sorted by a keyed 64-bit hash of each id (ties, which need equal ids,
    by position): the ``id_hash`` document order for one pass (``key``: seed, pass[, stage])."""
    k = b"".join(int(x).to_bytes(8, "little", signed=False) for x in key)
    h = np.fromiter((int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8, key=k).digest(), "little")
                     for i in ids), dtype=np.uint64, count=len(ids))
    return np.argsort(h, kind="stable")


def _permutation(order: str, seed: int, ids: list[str], members: np.ndarray, stage: int | None):
    """pass -> an index permutation of ``members`` in the document order ``order``."""
    if order == "index":
        prefix = [seed] if stage is None else [seed, stage]
        return lambda p: np.random.default_rng([*prefix, p]).permutation(len(members))
    member_ids = [ids[i] for i in members]
    prefix = [seed] if stage is None else [seed, stage]  # keys of different lengths never collide
    return lambda p: id_hash_order(member_ids, [*prefix, p])


def pack(*, shards: list[Path], tokenizer_path: Path, seq_len: int, n_sequences: int, seed: int,
         out_dir: Path, progress: bool = True, stages: list | None = None, order: str = "index",
         order_seed: int | None = None) -> dict:
    """Write ``out_dir/tokens.npy`` with ``n_sequences`` rows; return stats for the manifest.

    ``stages``: the recipe's ``winnow.tokenize.stages.Stage`` list (order track), or None.
    ``seed`` chooses the documents and their packing (document order ``order``, see the module
    docstring); ``order_seed``, when given, permutes the packed rows; on the order track only
    within each stage, so the stages keep the submission's order.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown document order {order!r}; known: {', '.join(ORDERS)}")
    from tokenizers import Tokenizer

    t0 = time.time()
    tok = Tokenizer.from_file(str(tokenizer_path))
    eos = tok.token_to_id("<|endoftext|>")
    vocab = tok.get_vocab_size()
    dtype = np.uint16 if vocab <= np.iinfo(np.uint16).max + 1 else np.uint32
    ids, texts, labels = load_documents(shards, stg.META_KEY if stages else None)
    if not texts:
        raise NotEnoughData("the curated data has no non-empty document; nothing to tokenize")
    row = seq_len + 1
    need = n_sequences * row
    out = np.empty(need, dtype=dtype)
    bar = tqdm(total=need, desc="tokenize", unit="tok", unit_scale=True, disable=not progress)
    packer = _Packer(tok, ids, texts, out, eos, bar)
    if not stages:
        everyone = np.arange(len(texts))
        seg = packer.fill(0, need, everyone, _permutation(order, seed, ids, everyone, None))
        staged = None
    else:
        members = stg.assign(stages, labels, ids)
        rows = stg.stage_rows(stages, n_sequences)
        staged = []
        start = 0
        for k, (stage, idx, n_rows) in enumerate(zip(stages, members, rows)):
            s = packer.fill(start, n_rows * row, idx, _permutation(order, seed, ids, idx, k))
            staged.append({"index": k, "stages": list(stage.labels), "share": stage.share,
                           "sequences": n_rows, "first_row": start // row, "docs": len(idx),
                           "docs_used": s["docs_used"], "passes": round(s["passes"], 4),
                           "passes_started": s["passes_started"],
                           "curated_tokens": s["curated_tokens"],
                           "order_sha256": s["order_sha256"]})
            start += n_rows * row
        seg = {"docs_used": sum(s["docs_used"] for s in staged),
               # rows-weighted mean of the stages' passes; each stage's own figure is listed
               "passes": sum(s["passes"] * s["sequences"] for s in staged) / n_sequences,
               "passes_started": max(s["passes_started"] for s in staged),
               "curated_tokens": None}
    bar.close()
    rows_out = out.reshape(n_sequences, row)
    if order_seed is not None:  # salted so it never equals a document permutation of the same seed
        rng = np.random.default_rng([int(order_seed), ROW_ORDER_SALT])
        spans = [(s["first_row"], s["sequences"]) for s in staged] if staged else [(0, n_sequences)]
        perm = np.concatenate([first + rng.permutation(n) for first, n in spans])
        rows_out = rows_out[perm]
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "tokens.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, rows_out)
    info = {
        "version": ORDERS[order],
        "seq_len": seq_len,
        "n_sequences": n_sequences,
        "tokens": need,
        "dtype": np.dtype(dtype).name,
        "vocab_size": vocab,
        "curated_docs": len(texts),
        "curated_tokens": seg["curated_tokens"],
        "docs_used": seg["docs_used"],
        "passes": round(seg["passes"], 4),
        "passes_started": seg["passes_started"],
        "order_sha256": packer.order_hash.hexdigest(),
    }
    if order != "index":  # only then, so version-1 order.json keeps its bytes
        info["order"] = order
    if order_seed is not None:
        info["row_order_seed"] = int(order_seed)
    if staged is not None:  # only then, so unstaged order.json keeps its bytes
        info["staged_version"] = stg.STAGED_PACK_VERSION
        info["stages"] = staged
    write_json(out_dir / "order.json", info)
    return {**info, "seconds": round(time.time() - t0, 1)}
