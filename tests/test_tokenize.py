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
