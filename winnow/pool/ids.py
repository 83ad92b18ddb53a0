"""The ids a scale's pool shows submissions: the starting point of an id-list submission.

``winnow pool ids --scale S --out FILE`` builds the scale's pool if needed and writes the ids of
the documents in the scale's pool shards (``scale.pool.shards`` of them; the held-out documents
are not in any shard), one a line, sorted in code-point order (as ``LC_ALL=C sort`` and
``select_ids`` want), so any subset of its lines kept in order is a valid id-list submission.

Choices: the file is written through a temporary sibling and renamed (never half-written); ids
are read from the shards themselves rather than the pool manifest, so the list is exactly what
curation will see.
"""

from __future__ import annotations

from pathlib import Path

from winnow.docs import read_docs
from winnow.io import atomic_path


def pool_ids(shards: list[Path]) -> list[str]:
    """Every document id of ``shards``, sorted (code-point order) and unique."""
    return sorted({doc["id"] for shard in shards for doc in read_docs(shard)})


def write_ids(ids: list[str], out: str | Path) -> Path:
    """Write ``ids`` one a line to ``out`` atomically; return the path."""
    out = Path(out).expanduser()
    with atomic_path(out) as tmp:
        tmp.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return out
