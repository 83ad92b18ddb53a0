"""The pool build: re-keyed opaque ids, allowed fields only, held-out split, manifest, rebuild skip."""

from __future__ import annotations

import re

import pytest

from winnow.docs import POOL_FIELDS, read_docs
from winnow.manifest import verify_folder
from winnow.pool.build import HELDOUT, build_pool, pool_dir, pool_shards, split_document


def test_split_document_moves_labels_and_uses_main_content():
    doc = {"id": "spamassassin/spam-2/00001", "text": "full page with menu", "url": None,
           "source": "email/spamassassin", "meta": {"is_spam": 1, "text_main": "main text"}}
    pool_doc, note = split_document(doc, "email.jsonl.zst")
    assert set(pool_doc) == set(POOL_FIELDS)
    assert pool_doc["text"] == "main text"
    assert re.fullmatch(r"d[0-9a-f]{16}", pool_doc["id"])
    assert "spam" not in pool_doc["id"]
    assert note["upstream_id"] == doc["id"] and note["meta"] == {"is_spam": 1}
    assert note["text_full_page"] == "full page with menu"


def test_mini_pool_shards_hold_only_allowed_fields(mini_pool):
    cfg, m = mini_pool
    ids = set()
    for shard in pool_shards(cfg):
        for d in read_docs(shard):
            assert set(d) == set(POOL_FIELDS)
            ids.add(d["id"])
    held = {d["id"] for d in read_docs(pool_dir(cfg["name"], cfg["version"]) / HELDOUT)}
    assert held and not (held & ids), "held-out documents must not be in the pool shards"
    assert m.stats["docs"] == len(ids)
    assert m.stats["heldout_docs"] == len(held)


def test_pool_manifest_verifies_and_rebuild_is_skipped(mini_pool):
    cfg, m = mini_pool
    folder = pool_dir(cfg["name"], cfg["version"])
    assert verify_folder(folder) == []
    shard_files = {k: v for k, v in m.files.items() if k.startswith("shards/")}
    assert len(shard_files) == cfg["n_shards"]
    assert all(v["docs"] > 0 and len(v["sha256"]) == 64 for v in shard_files.values())
    assert sum(v["docs"] for v in shard_files.values()) == m.stats["docs"]
    again = build_pool(cfg, progress=False)
    assert again.content_id == m.content_id


def test_pool_shards_subset_bounds(mini_pool):
    cfg, _ = mini_pool
    assert len(pool_shards(cfg, 2)) == 2
    with pytest.raises(ValueError, match="has 4 shards"):
        pool_shards(cfg, 5)
