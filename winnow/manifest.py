"""Manifest: the ID card of every artifact folder.

Each stage folder (pool, curated, tokenized, train, eval) ends with ``manifest.json``, written
last and atomically. Two hashes matter:

* ``input_key`` — hash of the parents' content ids, the resolved config and the code version of
  the stage. A rerun whose input key matches an existing manifest skips the stage.
* ``content_id`` — hash of the sorted (path, sha256) list of the folder's content files. It
  verifies: ``winnow verify`` recomputes every file hash and names the file that changed.

Before a stage is skipped, ``damaged`` checks that its files still match the manifest: every
file's size and its ``sample`` hash (sha256 of 16 spread 4 KiB blocks and the size, recorded at
write time; cheap for any file size), and, where the folder holds at most ``FULL_CHECK_BYTES``,
every file's full sha256, so a single changed byte of a small run is caught and the stage redone.

Hashes are sha256 over canonical JSON (sorted keys, no whitespace, UTF-8), so identity comes from
content, never from timestamps or random ids. Timings and host facts live in ``stats``/``env``,
which are outside both hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from winnow import __version__
from winnow.io import read_json, sha256_file, write_json
from winnow.paths import REPO_ROOT

log = logging.getLogger("winnow")

MANIFEST = "manifest.json"
SCHEMA = 1
FULL_CHECK_BYTES = 256 << 20   # a skipped stage's files are fully re-hashed up to this total size
SAMPLE_BLOCKS, SAMPLE_BLOCK = 16, 4096


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def hash_obj(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def code_version() -> dict:
    """winnow's version and, when run from a git checkout, the commit (and whether it is dirty)."""
    import subprocess

    info: dict[str, Any] = {"winnow": __version__}
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if commit:
            info["commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def environment() -> dict:
    env = {"python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("torch", "transformers", "tokenizers", "lm_eval"):
        m = sys.modules.get(mod)
        if m is not None:
            env[mod] = getattr(m, "__version__", "?")
    return env


@dataclass
class Manifest:
    kind: str
    input_key: str
    content_id: str
    files: dict[str, dict]
    parents: dict[str, str] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    code: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    schema: int = SCHEMA

    @property
    def short(self) -> str:
        return self.content_id[:8]

    def to_dict(self) -> dict:
        return asdict(self)


def content_id_of(files: dict[str, dict]) -> str:
    return hash_obj(sorted((name, meta["sha256"]) for name, meta in files.items()))


def sample_hash(path: Path) -> str:
    """sha256 of the file's size and ``SAMPLE_BLOCKS`` blocks spread evenly over it (first and
    last included): a cheap check of any file, outside the content id."""
    size = Path(path).stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        span = max(size - SAMPLE_BLOCK, 0)
        for i in range(SAMPLE_BLOCKS):
            f.seek(span * i // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BLOCK))
    return h.hexdigest()


def hash_files(folder: Path, names: Iterable[str], counts: dict[str, dict] | None = None) -> dict:
    files = {}
    for name in sorted(names):
        p = folder / name
        files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size, "sample": sample_hash(p),
                       **((counts or {}).get(name, {}))}
    return files


def default_content_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` except the manifest, temporaries and work folders."""
    names = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel == MANIFEST or p.name.startswith(".") or p.suffix == ".tmp":
            continue
        if rel.split("/")[0] in ("_work", "logs", "checkpoints"):
            continue
        names.append(rel)
    return names


def write_manifest(folder: Path, kind: str, input_key: str, *, parents: dict[str, str] | None = None,
                   config: dict | None = None, stats: dict | None = None,
                   files: Iterable[str] | None = None,
                   counts: dict[str, dict] | None = None) -> Manifest:
    """Hash the content files and write ``manifest.json`` last (atomically)."""
    folder = Path(folder)
    names = list(files) if files is not None else default_content_files(folder)
    hashed = hash_files(folder, names, counts)
    m = Manifest(kind=kind, input_key=input_key, content_id=content_id_of(hashed), files=hashed,
                 parents=dict(parents or {}), config=config or {}, stats=stats or {},
                 code=code_version(), env=environment())
    write_json(folder / MANIFEST, m.to_dict())
    return m


class ManifestError(ValueError):
    """A ``manifest.json`` that is not one (malformed JSON, another shape): the message names it."""


REQUIRED = ("kind", "input_key", "content_id", "files")


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest; None without one; ManifestError for a file that is not a manifest."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        d = read_json(path)
    except (json.JSONDecodeError, OSError) as e:
        raise ManifestError(f"{path}: unreadable manifest ({e})") from None
    if not isinstance(d, dict) or any(k not in d for k in REQUIRED) or not isinstance(d["files"], dict) \
            or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in d["files"].values()):
        raise ManifestError(f"{path}: not a manifest (a JSON object with {', '.join(REQUIRED)}; each file an "
                            "object with its sha256); the stage's output cannot be trusted")
    return Manifest(**{k: d[k] for k in Manifest.__dataclass_fields__ if k in d})


def completed(folder: Path, input_key: str) -> Manifest | None:
    """The folder's manifest if the stage already ran with this input key, else None."""
    try:
        m = read_manifest(folder)
    except ManifestError as e:   # a damaged manifest marks nothing finished: the stage is redone
        log.warning("%s; the stage is redone", e)
        return None
    if m is not None and m.input_key == input_key:
        return m
    return None


def damaged(folder: Path, m: Manifest, full_bytes: int = FULL_CHECK_BYTES) -> list[str]:
    """What no longer matches ``m`` among ``folder``'s files (empty: intact): missing files, sizes,
    sample hashes, and full sha256s when the files total at most ``full_bytes``."""
    folder = Path(folder)
    total = sum(int(meta.get("bytes") or 0) for meta in m.files.values())
    problems = []
    for name, meta in sorted(m.files.items()):
        p = folder / name
        try:
            size = p.stat().st_size
        except OSError:
            problems.append(f"{name} is missing")
            continue
        if meta.get("bytes") is not None and size != meta["bytes"]:
            problems.append(f"{name} has {size} bytes, the manifest {meta['bytes']}")
        elif meta.get("sample") and sample_hash(p) != meta["sample"]:
            problems.append(f"{name} changed (sample hash)")
        elif total <= full_bytes and sha256_file(p) != meta["sha256"]:
            problems.append(f"{name} changed (sha256)")
    return problems


def verify_folder(folder: Path) -> list[str]:
    """Recompute every hashed file of ``folder``'s manifest; return human-readable problems."""
    folder = Path(folder)
    try:
        m = read_manifest(folder)
    except ManifestError as e:
        return [str(e)]
    if m is None:
        return [f"{folder}: no {MANIFEST} (the stage did not finish)"]
    problems = []
    for name, meta in sorted(m.files.items()):
        p = folder / name
        if not p.exists():
            problems.append(f"{p}: missing (listed in {folder / MANIFEST})")
        elif sha256_file(p) != meta["sha256"]:
            problems.append(f"{p}: sha256 differs from the manifest (file was changed)")
    if content_id_of(m.files) != m.content_id:
        problems.append(f"{folder / MANIFEST}: content_id does not match its file list")
    return problems
