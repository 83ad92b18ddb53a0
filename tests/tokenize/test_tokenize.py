"""Committed tokenizers match their recorded hashes; packing is deterministic and repeats data."""

from __future__ import annotations

import numpy as np
import pytest

from winnow.docs import write_docs
from winnow.io import read_json, sha256_file
from winnow.tokenize import bpe
from winnow.tokenize.pack import NotEnoughData, pack


@pytest.mark.parametrize("name", ["bpe1k-v1", "bpe8k-v1"])
def test_committed_tokenizer_matches_index_and_roundtrips(name):
    s = bpe.spec(name)
    assert sha256_file(bpe.tokenizer_file(name)) == s.sha256
    tok = bpe.load(name)
    assert tok.get_vocab_size() == s.vocab_size
    assert tok.token_to_id(bpe.EOS) == 0
    text = "Ünïcode text, code `x = 1`\n\nand a new paragraph."
    assert tok.decode(tok.encode(text).ids) == text  # byte-level: lossless


def test_tokenizer_file_refuses_a_different_hash():
    with pytest.raises(bpe.TokenizerMismatch, match="differs from the scale"):
        bpe.tokenizer_file("bpe1k-v1", expected_sha256="0" * 64)


def _shard(tmp_path, texts):
    p = tmp_path / "shards" / "s.jsonl.zst"
    write_docs(p, [{"id": f"d{i}", "text": t, "url": None, "source": "x"} for i, t in enumerate(texts)])
    return [p]


def test_pack_is_deterministic_and_records_passes(tmp_path):
    shards = _shard(tmp_path, [f"document number {i} " * 5 for i in range(20)])
    tok = bpe.tokenizer_file("bpe1k-v1")
    a = pack(shards=shards, tokenizer_path=tok, seq_len=16, n_sequences=200, seed=3, out_dir=tmp_path / "a", progress=False)
    b = pack(shards=shards, tokenizer_path=tok, seq_len=16, n_sequences=200, seed=3, out_dir=tmp_path / "b", progress=False)
    c = pack(shards=shards, tokenizer_path=tok, seq_len=16, n_sequences=200, seed=4, out_dir=tmp_path / "c", progress=False)
    ta, tb, tc = (np.load(tmp_path / x / "tokens.npy") for x in "abc")
    assert ta.shape == (200, 17) and ta.dtype == np.uint16
    assert (ta == tb).all() and a["order_sha256"] == b["order_sha256"]
    assert not (ta == tc).all()
    assert a["passes"] > 1 and a["passes_started"] >= 2  # 20 short docs cannot fill 3400 tokens once
    assert read_json(tmp_path / "a" / "order.json")["passes"] == a["passes"]
    # documents are separated by EOS (id 0)
    assert (ta == 0).sum() >= 20


def test_pack_refuses_empty_data(tmp_path):
    shards = _shard(tmp_path, ["", ""])
    with pytest.raises(NotEnoughData):
        pack(shards=shards, tokenizer_path=bpe.tokenizer_file("bpe1k-v1"), seq_len=8, n_sequences=2,
             seed=0, out_dir=tmp_path / "o", progress=False)


def _doc_order(tmp_path, name, texts_by_id, seed, order, n_sequences=40, order_seed=None):
    p = tmp_path / name / "s.jsonl.zst"
    write_docs(p, [{"id": i, "text": t, "url": None, "source": "x"} for i, t in texts_by_id.items()])
    tok_path = bpe.tokenizer_file("bpe1k-v1")
    stats = pack(shards=[p], tokenizer_path=tok_path, seq_len=16, n_sequences=n_sequences, seed=seed,
                 out_dir=tmp_path / name / "out", progress=False, order=order, order_seed=order_seed)
    rows = np.load(tmp_path / name / "out" / "tokens.npy")
    text = bpe.load("bpe1k-v1").decode(rows.reshape(-1).tolist(), skip_special_tokens=False)
    seen = [w for w in text.replace("<|endoftext|>", " ").split() if w.startswith("doc")]
    return list(dict.fromkeys(seen)), stats, rows


def test_id_hash_order_puts_shared_documents_in_the_same_relative_order(tmp_path):
    """Common random numbers: under id_hash a document's place relative to the others depends on
    its id and the seed only, so two submissions that share documents see them in one order; the
    index order shuffles positions, which differ between the two."""
    texts = {f"id{i}": f"doc{i} " for i in range(60)}
    a = dict(texts)
    b = {k: v for j, (k, v) in enumerate(texts.items()) if j % 3 != 0}  # a filter kept two thirds
    b.update({f"x{i}": f"doc{100 + i} " for i in range(10)})            # and some documents of its own
    shared = set(a) & set(b)
    name = {f"doc{i}": f"id{i}" for i in range(60)}

    def shared_order(seq):
        return [name[d] for d in seq if d in name and name[d] in shared]

    oa, sa, _ = _doc_order(tmp_path, "a", a, 5, "id_hash", n_sequences=8)
    ob, sb, _ = _doc_order(tmp_path, "b", b, 5, "id_hash", n_sequences=8)
    common = [d for d in shared_order(oa) if d in set(shared_order(ob))]
    assert len(common) >= 5 and common == [d for d in shared_order(ob) if d in set(common)]
    assert sa["version"] == 2 and sa["order"] == "id_hash"
    ia, _, _ = _doc_order(tmp_path, "ia", a, 5, "index", n_sequences=8)
    ib, _, _ = _doc_order(tmp_path, "ib", b, 5, "index", n_sequences=8)
    icommon = [d for d in shared_order(ia) if d in set(shared_order(ib))]
    assert icommon != [d for d in shared_order(ib) if d in set(icommon)]
    # another seed, another order
    oc, _, _ = _doc_order(tmp_path, "c", a, 6, "id_hash", n_sequences=8)
    assert oc != oa


def test_order_seed_permutes_rows_and_nothing_else(tmp_path):
    texts = {f"id{i}": f"document doc{i} " * 3 for i in range(80)}
    _, s0, rows = _doc_order(tmp_path, "plain", texts, 1, "id_hash")
    _, s1, perm = _doc_order(tmp_path, "perm", texts, 1, "id_hash", order_seed=9)
    assert not (rows == perm).all()
    assert sorted(map(bytes, rows)) == sorted(map(bytes, perm))  # the same rows, another order
    assert s1["row_order_seed"] == 9 and s0["order_sha256"] == s1["order_sha256"]
    with pytest.raises(ValueError, match="unknown document order"):
        _doc_order(tmp_path, "bad", texts, 1, "alphabetical")
