"""Exact deduplication: keep the first occurrence of each text, corpus-wide.

Order is deterministic: shards in the order given (the pipeline keeps the pool's shard order),
then documents in line order, so the kept copy never depends on the number of workers. Texts
are compared by a 128-bit blake2b digest (16 bytes a document in memory); with
``normalize: true`` the text is lower-cased and every whitespace run collapsed to one space
before hashing. The output has the same number and names of shards as the input; a shard whose
documents are all duplicates is written empty. A sample of dropped documents goes to
``<out_dir>/dropped/<shard>``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from winnow.curate.base import DropSampler, GlobalStep, StepContext
from winnow.docs import read_docs, write_docs


def normalize_text(text: str) -> str:
    return " ".join(text.lower().split())


class ExactDedup(GlobalStep):
    """Drop every document whose (optionally normalised) text was seen before. Reason: duplicate."""

    version = 1

    def __init__(self, normalize: bool = False):
        self.normalize = normalize

    def key(self, text: str) -> bytes:
        if self.normalize:
            text = normalize_text(text)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seen: set[bytes] = set()
        c = self.counters
        outputs = []
        for shard in input_shards:
            sampler = DropSampler()

            def kept(shard=shard, sampler=sampler):
                for doc in read_docs(shard):
                    c.docs_in += 1
                    h = self.key(doc["text"])
                    if h in seen:
                        c.drop("duplicate")
                        sampler.add(self.step_index, self.step_name or "exact_dedup",
                                    "duplicate", doc)
                        continue
                    seen.add(h)
                    c.docs_out += 1
                    yield doc

            out = Path(out_dir) / Path(shard).name
            write_docs(out, kept())
            sampler.write(Path(out_dir) / "dropped" / Path(shard).name)
            outputs.append(out)
        return outputs
