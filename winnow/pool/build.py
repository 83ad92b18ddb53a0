"""Build a fixed, versioned, content-hashed pool from the data root's source files.

What a pool build does, in one pass over the sources:

* **Re-keys** every document to an opaque id (``d`` + 16 hex of sha256 of the upstream id), since
  upstream ids leak labels (``spamassassin/spam-2/...``). The mapping goes to the annotations.
* **Reduces fields** to ``id, text, url, source`` (submissions/README.md "Recipes"). For web and docs pages
  ``text`` is the main-content extraction (``meta.text_main``, as DCLM-Pool does); the full-page
  text and every other field (labels included) move to an annotations sidecar, one per shard, for
  diagnostics only.
* **Holds out** a fixed seeded sample (by keyed hash of the new id) for held-out bits per byte;
  those documents are not in the pool's shards.
* **Shards** by hash of the new id (sources are mixed across shards, so the first K shards are a
  seeded uniform subset: that is how a scale takes a pool subset sized for it), each shard sorted
  by id so the bytes do not depend on source order.

Sources are JSON Lines document files (the embedded pool: ``sources: "pool/*.jsonl.zst"``, relative
to the data root; a URL glob such as ``"s3://bucket/pool/*.jsonl.zst"``, ``"https://host/pool/*.jsonl.zst"``
(a folder with an HTML index) or ``"memory://pool/*.jsonl.zst"`` is read through fsspec, each file
fetched once into ``$WINNOW_HOME/downloads`` and named in the input key by its sha256) or,
as a list, any of the kinds in ``winnow.pool.sources``: raw HTML pages and tarballs, WARC, WET and
DCLM-Pool shards, local or fsspec URLs, whose text ``winnow.pool.extract`` produces (resiliparse
main-content extraction with DCLM's settings). Those go through the same re-keying, field
reduction, held-out split and sharding; records left out are counted by reason in the manifest's
``stats.skipped``, and a damaged file stops the build before anything is written.

The manifest lists per-shard sha256, document and byte counts. Output lives in
``$WINNOW_HOME/pools/<name>@v<version>/`` and a rebuild with the same input key is skipped.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import shutil
import time
from pathlib import Path

from tqdm import tqdm

from winnow.docs import DocumentError, read_source_docs, write_docs
from winnow.io import sha256_file
from winnow.manifest import Manifest, completed, damaged, hash_obj, write_manifest
from winnow.paths import data_root, is_url, winnow_home
from winnow.pool.extract.damage import Skips
from winnow.pool.extract.htmltext import extractor_version
from winnow.pool.extract.readers import read_unit
from winnow.pool.sources import fetch_to_cache, source_units, unit_fingerprint

log = logging.getLogger(__name__)

POOL_BUILD_VERSION = 1  # bump when the build logic changes any output byte
HELDOUT = "heldout.jsonl.zst"


def pool_dir(name: str, version: int) -> Path:
    return winnow_home() / "pools" / f"{name}@v{version}"


def new_id(upstream_id: str) -> str:
    return "d" + hashlib.sha256(f"winnow-pool/{upstream_id}".encode()).hexdigest()[:16]


def _unit(key: str) -> float:
    """A uniform number in [0, 1) from a string (stable across machines and Python versions)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def shard_name(i: int) -> str:
    return f"shard_{i:05d}.jsonl.zst"


def split_document(doc: dict, source_file: str) -> tuple[dict, dict]:
    """(pool document with only the allowed fields, its annotation record)."""
    meta = dict(doc.get("meta") or {})
    text_main = meta.pop("text_main", None)
    ident = new_id(doc["id"])
    annotation = {"id": ident, "upstream_id": doc["id"], "source_file": source_file, "meta": meta}
    text = doc.get("text") or ""
    if text_main is not None:  # web / docs page: the pool text is the main-content extraction
        annotation["text_full_page"] = text
        text = text_main
    pool_doc = {"id": ident, "text": text, "url": doc.get("url"), "source": doc.get("source", "")}
    return pool_doc, annotation


def _source_files(cfg: dict, root: Path) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(str(root / cfg["sources"])))
    if not files:
        raise FileNotFoundError(
            f"pool {cfg['name']!r}: no source files match {root / cfg['sources']}; "
            "check the data root (WINNOW_DATA) or the pool's `sources` pattern")
    return files


def _source_readers(cfg: dict, root: Path):
    """[(name, fingerprint, documents iterator factory)] and whether any source extracts text.

    A ``sources`` string keeps the original behaviour exactly (JSON Lines files named by their
    file name), so existing pools keep their input keys and content ids.
    """
    if isinstance(cfg["sources"], str) and not is_url(cfg["sources"]):
        return [(f.name, sha256_file(f), (lambda f=f, skips=None: read_source_docs(f)))
                for f in _source_files(cfg, root)], False

    readers, units = [], source_units(cfg, root)   # a URL glob string is one jsonl source
    for u in units:
        if u.kind == "jsonl" and u.is_local:
            read = (lambda u=u, skips=None: read_source_docs(u.url.removeprefix("file://")))
        elif u.kind == "jsonl" and u.spec.get("fetch", "cache") == "cache":
            # a remote document file (s3://, https://, memory://...): fetched once into
            # $WINNOW_HOME/downloads, verified against a declared sha256, and named by its bytes
            local = fetch_to_cache(u)
            readers.append((u.name, sha256_file(local), (lambda p=local, skips=None: read_source_docs(p))))
            continue
        elif u.kind == "jsonl":   # fetch: stream: read from the URL; named by its declared sha256 or URL
            read = (lambda u=u, skips=None: read_source_docs(u.url))
        else:
            read = (lambda u=u, skips=None: read_unit(u, skips))
        readers.append((u.name, unit_fingerprint(u), read))
    return readers, any(u.kind != "jsonl" for u in units)


def build_pool(cfg: dict, *, progress: bool = True) -> Manifest:
    """Build (or find already built) the pool described by a ``conf/pool/*.yaml`` mapping."""
    root = data_root()
    readers, extracting = _source_readers(cfg, root)
    out = pool_dir(cfg["name"], cfg["version"])
    source_hashes = {name: digest for name, digest, _ in readers}
    key = {"cfg": cfg, "sources": source_hashes, "build": POOL_BUILD_VERSION}
    if extracting:  # extraction output depends on the extractor's version
        key["extractor"] = extractor_version()
    input_key = hash_obj(key)
    done = completed(out, input_key)
    if done is not None and (bad := damaged(out, done)):   # a changed shard: rebuild, never skip over it
        log.warning("pool %s@v%s: %s no longer matches its manifest (%s); rebuilding it", cfg["name"],
                    cfg["version"], out, "; ".join(bad[:3]))
        done = None
    if done is not None:
        log.info("pool %s@v%s already built (%s)", cfg["name"], cfg["version"], done.short)
        return done
    if out.exists():  # a different or unfinished build: start clean, it is cheap to redo
        shutil.rmtree(out)
    t0 = time.time()
    n_shards = int(cfg["n_shards"])
    shards: list[list[dict]] = [[] for _ in range(n_shards)]
    notes: list[list[dict]] = [[] for _ in range(n_shards)]
    heldout: list[dict] = []
    heldout_notes: list[dict] = []
    seen: set[str] = set()
    max_docs, max_bytes = cfg.get("max_docs_per_source"), cfg.get("max_bytes_per_source")
    skips = Skips()
    for name, _, docs in tqdm(readers, desc=f"pool {cfg['name']}: reading sources", unit="file",
                              disable=not progress):
        n_docs = n_bytes = 0
        for doc in docs(skips=skips):
            if max_docs is not None and n_docs >= max_docs:
                break
            if max_bytes is not None and n_bytes >= max_bytes:
                break
            pool_doc, note = split_document(doc, name)
            if pool_doc["id"] in seen:
                raise DocumentError(f"{name}: upstream id {doc['id']!r} occurs twice in the sources; ids must be "
                                    "unique: drop or rename the second document")
            seen.add(pool_doc["id"])
            n_docs += 1
            n_bytes += len(pool_doc["text"].encode("utf-8"))
            if _unit(f"heldout/{cfg['heldout_seed']}/{pool_doc['id']}") < cfg["heldout_fraction"]:
                heldout.append(pool_doc)
                heldout_notes.append(note)
            else:
                k = int(pool_doc["id"][1:], 16) % n_shards
                shards[k].append(pool_doc)
                notes[k].append(note)
    counts: dict[str, dict] = {}
    by_id = lambda d: d["id"]  # noqa: E731
    for k in tqdm(range(n_shards), desc=f"pool {cfg['name']}: writing shards", unit="shard",
                  disable=not progress):
        name = f"shards/{shard_name(k)}"
        counts[name] = write_docs(out / name, sorted(shards[k], key=by_id))
        write_docs(out / "annotations" / shard_name(k), sorted(notes[k], key=by_id))
    counts[HELDOUT] = write_docs(out / HELDOUT, sorted(heldout, key=by_id))
    write_docs(out / "annotations" / HELDOUT, sorted(heldout_notes, key=by_id))
    stats = {
        "docs": sum(c["docs"] for n, c in counts.items() if n.startswith("shards/")),
        "text_bytes": sum(c["text_bytes"] for n, c in counts.items() if n.startswith("shards/")),
        "heldout_docs": counts[HELDOUT]["docs"],
        "heldout_text_bytes": counts[HELDOUT]["text_bytes"],
        "sources": len(readers),
        "seconds": round(time.time() - t0, 1),
    }
    if extracting:
        stats.update(skips.stats())
    # a remote file named by its URL in the input key is recorded by what it hashed to when read
    parents = {f"source:{k}": skips.digests.get(k, v) if v.startswith("url:") else v
               for k, v in source_hashes.items()}
    m = write_manifest(out, "pool", input_key, config=dict(cfg), stats=stats, counts=counts,
                       parents=parents)
    log.info("pool %s@v%s: %d docs, %d held out, content id %s", cfg["name"], cfg["version"],
             stats["docs"], stats["heldout_docs"], m.short)
    return m


def pool_shards(cfg: dict, n: int | None = None) -> list[Path]:
    """The first ``n`` shards of a built pool (all when None): a seeded uniform subset."""
    out = pool_dir(cfg["name"], cfg["version"])
    total = int(cfg["n_shards"])
    n = total if n is None else int(n)
    if not 0 < n <= total:
        raise ValueError(f"pool {cfg['name']!r} has {total} shards; a scale asked for {n}")
    return [out / "shards" / shard_name(k) for k in range(n)]
