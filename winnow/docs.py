"""The document convention and its readers and writers.

A document is a dict with ``id`` (opaque, unique within the pool), ``text``, ``url`` (or None),
``source`` (coarse type tag) and, after curation, ``meta`` (``meta.pool_id`` names the pool
document it descends from; enrichers may add fields). Pool shards expose only ``POOL_FIELDS``;
everything else a source carries lives in the pool's annotations sidecar (DESIGN.md Contracts).

Shards are JSON Lines, zstd-compressed (``.jsonl.zst``), one document per line, split on ``\\n``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from winnow.io import atomic_open, open_file

POOL_FIELDS = ("id", "text", "url", "source")
STEP_FIELDS = POOL_FIELDS + ("meta",)


class DocumentError(ValueError):
    """A malformed document or shard line."""


def read_docs(path: str | os.PathLike) -> Iterator[dict]:
    """Yield documents of a JSON Lines shard (plain or compressed), naming the line on bad JSON."""
    with open_file(path, "rt") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise DocumentError(f"{path}:{lineno}: not a JSON object ({e.msg}); "
                                    "each line of a shard must be one JSON document") from None


def dump_doc(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_docs(path: str | os.PathLike, docs: Iterable[dict]) -> dict:
    """Write documents atomically; return ``{"docs": n, "text_bytes": b}``."""
    n = nbytes = 0
    with atomic_open(Path(path), "wt") as f:
        for doc in docs:
            f.write(dump_doc(doc))
            n += 1
            nbytes += len(doc.get("text", "").encode("utf-8"))
    return {"docs": n, "text_bytes": nbytes}


def check_doc(doc: object, where: str) -> dict:
    """Validate one document; raise DocumentError naming ``where`` and the problem."""
    if not isinstance(doc, dict):
        raise DocumentError(f"{where}: a document must be a dict, got {type(doc).__name__}")
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise DocumentError(f"{where}: document has no string 'id'")
    if not isinstance(doc.get("text"), str):
        raise DocumentError(f"{where}: document {doc.get('id')!r} has no string 'text'")
    return doc
