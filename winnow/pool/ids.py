"""The ids a scale's pool shows submissions: the starting point of an id-list submission.

``winnow pool ids --scale S --out FILE`` builds the scale's pool if needed and writes the ids of
the documents in the scale's pool shards (``scale.pool.shards`` of them; the held-out documents
are not in any shard), one a line, sorted in code-point order (as ``LC_ALL=C sort`` and
``select_ids`` want), so any subset of its lines kept in order is a valid id-list submission.

``winnow validate --scale S`` checks an id-list submission (or a recipe's ``ids:`` file) against
the same list (``scale_pool_ids``, ``unknown_ids``), so an id no pool shard holds is found before
a run, not seconds into its curation.

Choices: the file is written through a temporary sibling and renamed (never half-written); ids
are read from the shards themselves rather than the pool manifest, so the list is exactly what
curation will see.
"""

from __future__ import annotations

import re
from pathlib import Path

from winnow.docs import read_docs
from winnow.io import atomic_path
from winnow.pool.build import build_pool, pool_shards

EXAMPLES = 5  # unknown ids shown at most (a long list is counted, never printed whole)
_ID_LIKE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def shown_id(line: str) -> str:
    """An id as an error message may show it: only when it looks like a pool id, so a file that is
    not an id list (``/etc/passwd`` given as one) never has its lines printed."""
    return repr(line) if _ID_LIKE.fullmatch(line) else "(a line that is not a pool id, not shown)"


def pool_ids(shards: list[Path]) -> list[str]:
    """Every document id of ``shards``, sorted (code-point order) and unique."""
    return sorted({doc["id"] for shard in shards for doc in read_docs(shard)})


def write_ids(ids: list[str], out: str | Path) -> Path:
    """Write ``ids`` one a line to ``out`` atomically; return the path."""
    out = Path(out).expanduser()
    with atomic_path(out) as tmp:
        tmp.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return out


def scale_pool_ids(cfg: dict) -> tuple[list[str], str]:
    """The ids a submission sees under the run config ``cfg`` (its pool built first if needed) and
    where they come from, e.g. ``scale debug: pool mini@v1, 2 shards, held-out documents excluded``."""
    scale, pool = cfg["scale"], cfg["pool"]
    build_pool(pool, progress=cfg["progress"])
    shards = pool_shards(pool, scale["pool"].get("shards"))
    where = (f"scale {scale['name']}: pool {pool['name']}@v{pool['version']}, {len(shards)} shards, "
             "held-out documents excluded")
    return pool_ids(shards), where


def unknown_ids(ids_file: str | Path, pool: list[str]) -> tuple[int, int, list[str]]:
    """How many ids of ``ids_file`` are not in ``pool``, of how many, and the first ``EXAMPLES``
    of them as ``shown_id`` shows them. The file was checked when its recipe loaded (sorted, unique, UTF-8)."""
    known = set(pool)
    listed = [i for line in Path(ids_file).read_text(encoding="utf-8").splitlines() if (i := line.strip())]
    missing = [i for i in listed if i not in known]
    return len(missing), len(listed), [shown_id(i) for i in missing[:EXAMPLES]]
