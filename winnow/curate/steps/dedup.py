"""Exact deduplication: keep the first occurrence of each text, corpus-wide.

Order is deterministic: shards in the order given (the pipeline keeps the pool's shard order),
then documents in line order, so the kept copy never depends on the number of workers. Texts
are compared by a 128-bit blake2b digest (16 bytes a document in memory); with
``normalize: true`` the text is lower-cased and every whitespace run collapsed to one space
before hashing. The output has the same number and names of shards as the input; a shard whose
documents are all duplicates is written empty. A sample of dropped documents goes to
``<out_dir>/dropped/<shard>``.

``url_dedup`` is the same pass keyed on the document's ``url`` (reason ``duplicate_url``):
documents without a url are always kept. With ``normalize: true`` (the default) the url is
stripped, its scheme and host lower-cased and its ``#fragment`` dropped before hashing, so
``HTTP://Example.com/a#top`` and ``http://example.com/a`` are the same page; path and query are
compared as they are. Near-duplicate text is the business of ``minhash_dedup`` and
``bloom_dedup``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from winnow.curate.base import DropSampler, GlobalStep, StepContext
from winnow.curate.common.text import normalize_text
from winnow.docs import read_docs, write_docs


def normalize_url(url: str) -> str:
    """Strip, lower-case scheme and host, drop the fragment (path and query kept as they are)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 host: compare the stripped string
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


class ExactDedup(GlobalStep):
    """Drop every document whose (optionally normalised) text was seen before. Reason: duplicate.

    Parameters:

    * ``normalize``: compare texts lower-cased with whitespace runs collapsed
    """

    version = 1
    seed_dependent = budget_dependent = False  # unseeded digests, first copy in input order
    reason = "duplicate"
    default_name = "exact_dedup"

    def __init__(self, normalize: bool = False):
        self.normalize = normalize

    def key(self, text: str) -> bytes:
        if self.normalize:
            text = normalize_text(text)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def doc_key(self, doc: dict) -> bytes | None:
        """The key compared between documents; None: never a duplicate."""
        return self.key(doc["text"])

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seen: set[bytes] = set()
        c = self.counters
        outputs = []
        reason = self.reason
        for shard in input_shards:
            sampler = DropSampler()

            def kept(shard=shard, sampler=sampler):
                for doc in read_docs(shard):
                    c.docs_in += 1
                    h = self.doc_key(doc)
                    if h is None:
                        c.docs_out += 1
                        yield doc
                        continue
                    if h in seen:
                        c.drop(reason)
                        sampler.add(self.step_index, self.step_name or self.default_name,
                                    reason, doc)
                        continue
                    seen.add(h)
                    c.docs_out += 1
                    yield doc

            out = Path(out_dir) / Path(shard).name
            write_docs(out, kept())
            sampler.write(Path(out_dir) / "dropped" / Path(shard).name)
            outputs.append(out)
        return outputs


class UrlDedup(ExactDedup):
    """Drop every document whose (optionally normalised) url was seen before; no url: kept.
    Reason: duplicate_url.

    Parameters:

    * ``normalize``: compare urls stripped, with scheme and host lower-cased and the fragment
      dropped
    """

    version = 1
    reason = "duplicate_url"
    default_name = "url_dedup"

    def __init__(self, normalize: bool = True):
        self.normalize = normalize

    def doc_key(self, doc: dict) -> bytes | None:
        url = doc.get("url")
        if not isinstance(url, str) or not url.strip():
            return None
        if self.normalize:
            url = normalize_url(url)
        return hashlib.blake2b(url.encode("utf-8"), digest_size=16).digest()
