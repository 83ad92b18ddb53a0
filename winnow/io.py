"""File helpers: fsspec opening with compression by suffix, atomic writes, hashing.

Every artifact file is written under a temporary name and renamed into place, so a killed
process never leaves a half-written file under its final name (DEVELOPERS.md, definition of
done 4). Hashing streams in 1 MiB blocks. ``file_lock`` serialises writers of one folder across
processes (``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import IO, Iterator

import fsspec

COMPRESSION = {".zst": "zstd", ".zstd": "zstd", ".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def compression_for(path: str | os.PathLike) -> str | None:
    return COMPRESSION.get(Path(str(path)).suffix)


def open_file(path: str | os.PathLike, mode: str = "rt", **kwargs) -> IO:
    """Open a local or remote (fsspec URL) file, decompressing by suffix (.zst, .gz, ...)."""
    if "t" in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "\n")
    return fsspec.open(str(path), mode, compression=compression_for(path), **kwargs).open()


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wt") -> Iterator[IO]:
    """Open ``path`` for writing (compressed by suffix) through a temporary name."""
    path = Path(path)
    with atomic_path(path) as tmp:
        kwargs = {"encoding": "utf-8", "newline": "\n"} if "t" in mode else {}
        comp = compression_for(path)
        if comp == "zstd":
            import zstandard

            raw = open(tmp, "wb")
            cctx = zstandard.ZstdCompressor(level=3)
            stream = cctx.stream_writer(raw, closefd=True)
            f: IO = io.TextIOWrapper(stream, **kwargs) if "t" in mode else stream
        else:
            f = fsspec.open(str(tmp), mode, compression=comp, **kwargs).open()
        try:
            yield f
        finally:
            f.close()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, on_wait=None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block. The kernel
    releases it when the process dies, so a killed holder never blocks the next one. If another
    process (or another open of the file) holds it, ``on_wait()`` is called once, then this one
    waits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> None:
    with atomic_open(path, "wt") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
