"""The small BPE tokenizers of the CPU scales: trained once, committed, pinned by sha256.

Each scale names a tokenizer; the tokenizer JSON (Hugging Face ``tokenizers`` format) is committed
under ``winnow/tokenize/assets/`` and its sha256 is part of the scale, so a run can prove which
tokenizer it used. ``winnow tokenizer train <name>`` reproduces a file from the pool:

* a fixed seeded sample of pool documents (keyed hash of the document id, the held-out set is
  already outside the pool), each cut to its first ``doc_chars`` characters so long books don't
  dominate, up to ``sample_bytes``;
* GPT-2-style byte-level BPE (byte alphabet, so no unknown tokens), ``<|endoftext|>`` as id 0
  (document separator, also used as pad), trained with ``tokenizers``' BpeTrainer, which is
  deterministic for the same input order.

``bytes_per_token`` (measured on the sample) lets curation steps estimate token counts from
UTF-8 bytes without tokenizing.

``spec`` and ``tokenizer_file`` resolve every tokenizer name a scale can use: names registered
in ``winnow.tokenize.registry.EXTERNAL`` (GPT-NeoX-20B, built from DCLM's tiktoken file under
the data root, see ``winnow.tokenize.neox``) first, then the committed files here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from winnow.docs import read_docs
from winnow.io import atomic_path, sha256_file, write_json
from winnow.registry import RegistryError, suggest
from winnow.tokenize.registry import EXTERNAL

ASSETS = Path(__file__).resolve().parent / "assets"
INDEX = ASSETS / "tokenizers.json"
EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TokenizerSpec:
    name: str
    vocab_size: int
    pool: str            # "<pool name>@v<version>" it was trained on
    sample_bytes: int
    doc_chars: int
    seed: int
    sha256: str = ""
    bytes_per_token: float = 0.0

    @property
    def path(self) -> Path:
        return ASSETS / f"{self.name}.json"


# What each committed tokenizer is; sha256 and bytes_per_token are filled by `train` into INDEX.
RECIPES = {
    "bpe1k-v1": dict(vocab_size=1024, pool="embedded@v1", sample_bytes=2_000_000, doc_chars=4000, seed=0),
    "bpe8k-v1": dict(vocab_size=8192, pool="embedded@v1", sample_bytes=12_000_000, doc_chars=8000, seed=0),
}


class TokenizerMismatch(RuntimeError):
    pass


def spec(name: str):
    """The committed tokenizer's ``TokenizerSpec``, or the registered external provider of ``name``
    (both have ``bytes_per_token`` and ``sha256``)."""
    if name in EXTERNAL:
        return EXTERNAL.get(name)
    index = json.loads(INDEX.read_text()) if INDEX.exists() else {}
    if name not in index:
        raise RegistryError(f"tokenizer {name!r} is neither committed under {ASSETS} nor registered: "
                       f"{suggest(name, sorted(index) + EXTERNAL.names())}; "
                       f"`winnow tokenizer train {name}` makes a committed one")
    return TokenizerSpec(name=name, **index[name])


def tokenizer_file(name: str, expected_sha256: str | None = None) -> Path:
    """The tokenizer JSON of ``name``, checked against its recorded (and the scale's) sha256.

    Committed tokenizers are checked file for file; an external one (GPT-NeoX-20B) checks its
    source file and returns the JSON built from it."""
    if name in EXTERNAL:
        return EXTERNAL.get(name).tokenizer_file(expected_sha256)
    s = spec(name)
    actual = sha256_file(s.path)
    for want, who in ((s.sha256, INDEX.name), (expected_sha256, "the scale")):
        if want and actual != want:
            raise TokenizerMismatch(f"{s.path}: sha256 {actual[:12]}… differs from {who} "
                                    f"({want[:12]}…); the tokenizer file was changed")
    return s.path


def load(name_or_path: str | Path):
    from tokenizers import Tokenizer

    p = Path(name_or_path)
    return Tokenizer.from_file(str(p if p.suffix == ".json" else tokenizer_file(str(name_or_path))))


def sample_texts(shards: list[Path], sample_bytes: int, doc_chars: int, seed: int) -> list[str]:
    """Pool documents ranked by a keyed hash of their id, cut to doc_chars, up to sample_bytes."""
    ranked = []
    for shard in shards:
        for doc in read_docs(shard):
            if doc["text"].strip():
                key = hashlib.sha256(f"tokenizer/{seed}/{doc['id']}".encode()).hexdigest()
                ranked.append((key, doc["text"][:doc_chars]))
    ranked.sort()
    out, total = [], 0
    for _, text in ranked:
        if total >= sample_bytes:
            break
        out.append(text)
        total += len(text.encode("utf-8"))
    return out


def train(name: str, shards: list[Path]) -> TokenizerSpec:
    """Train tokenizer ``name`` from its recipe on the given pool shards and commit it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    r = RECIPES[name]
    texts = sample_texts(shards, r["sample_bytes"], r["doc_chars"], r["seed"])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=r["vocab_size"], min_frequency=2, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    path = ASSETS / f"{name}.json"
    with atomic_path(path) as tmp:
        tok.save(str(tmp), pretty=False)
    s = TokenizerSpec(name=name, **r, sha256=sha256_file(path),
                      bytes_per_token=round(n_bytes / n_tokens, 4))
    index = json.loads(INDEX.read_text()) if INDEX.exists() else {}
    index[name] = {k: v for k, v in asdict(s).items() if k != "name"}
    write_json(INDEX, dict(sorted(index.items())))
    return s

