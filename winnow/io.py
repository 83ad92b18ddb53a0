"""File helpers: fsspec opening with compression by suffix, atomic writes, hashing.

Every artifact file is written under a temporary name and renamed into place, so a killed
process never leaves a half-written file under its final name (README
"Reliability"). Hashing streams in 1 MiB blocks. A full disk (``disk_full``: ENOSPC or EDQUOT anywhere in
the exception chain, or torch's "unexpected pos" write failure) is told as one message naming
the folder, its free space and the space needed (``disk_full_message``: a stage's estimate carried
by ``DiskFull``, see ``winnow.space``; else at least what the interrupted file had written); the
temporary file is removed, so nothing half-written stands under a final name and a rerun resumes. ``file_lock`` serialises writers of one folder across
processes (``flock``).
"""

from __future__ import annotations

import contextlib
import errno
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
    except BaseException as e:
        if disk_full(e) and not hasattr(e, "partial"):   # the full-disk message's lower bound
            with contextlib.suppress(OSError, AttributeError):
                e.partial = (path, tmp.stat().st_size if tmp.is_file() else 0)
        raise
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


def _pairs(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {str(dup)[:60]!r} appears twice in one object")
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs)


def loads_json(text: str | bytes):
    """``json.loads`` for files anyone may have edited (rows, bundles, run.json, manifests): a key
    given twice in one object, or a number Python will not convert (an integer of thousands of
    digits), is a ``json.JSONDecodeError`` like any other malformed JSON, so callers that handle
    that one error tell every kind of damage in their own words."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError as e:   # a repeated key, or int() past sys.get_int_max_str_digits()
        raise json.JSONDecodeError(str(e).split(";")[0], text, 0) from None


class JSONFileError(json.JSONDecodeError):
    """A JSON file that does not parse, with its path in the message (the CLI prints it as one
    line); still a ``json.JSONDecodeError`` for callers that handle that."""

    def __init__(self, path, e: json.JSONDecodeError):
        super().__init__(f"{path}: not valid JSON ({e.msg})", e.doc, e.pos)


def read_json(path: str | os.PathLike):
    """A JSON file through ``loads_json``; malformed content is a ``JSONFileError`` naming the file,
    text that is not UTF-8 one too."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return loads_json(data)
    except json.JSONDecodeError as e:
        raise JSONFileError(path, e) from None
    except UnicodeDecodeError as e:
        raise JSONFileError(path, json.JSONDecodeError(f"byte {e.start} is not UTF-8", "", 0)) from None


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_WORDS = ("No space left on device", "Disk quota exceeded", "unexpected pos")


def disk_full(e: BaseException | None) -> bool:
    """Whether ``e`` (or an exception it was raised from) says the disk is full."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            return True
        if any(w in str(e) for w in FULL_WORDS):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


class DiskFull(OSError):
    """A stage stopped on a full disk: the folder it writes and the bytes it needs (an estimate
    and what it is based on, ``winnow.space.stage_need``). Its errno is ENOSPC, so ``disk_full``
    sees it like the error it was raised from."""

    def __init__(self, where: str | os.PathLike, need: int | None, basis: str, what: str):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.where, self.need, self.basis, self.what = Path(where), need, basis, what


def _mib(n: int | float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def disk_full_message(e: BaseException, fallback: str | os.PathLike | None = None) -> str:
    """One line for a full disk: the folder being written (from the error, else ``fallback``),
    the space left there, the space needed (a ``DiskFull`` stage estimate in the chain, else at
    least what the interrupted file had written) and what to do."""
    where = stage = partial = None
    x: BaseException | None = e
    for _ in range(20):
        if x is None:
            break
        if isinstance(x, DiskFull) and stage is None:
            stage = x
        if isinstance(x, OSError) and x.filename and where is None:
            where = Path(str(x.filename)).parent
        partial = partial or getattr(x, "partial", None)
        x = x.__cause__ or x.__context__
    where = where or (stage.where if stage else None) or (partial[0].parent if partial else None)
    where = where or Path(fallback or os.environ.get("WINNOW_HOME") or Path.home() / ".cache" / "winnow")
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free_bytes = shutil.disk_usage(probe).free
        free = f"{free_bytes / 2**20:.0f} MiB free"
    except OSError:
        free_bytes, free = None, "free space unknown"
    if stage is not None and stage.need is not None:
        short = "" if free_bytes is None else f"; free at least {_mib(max(stage.need - free_bytes, 0))} more"
        need = f"; {stage.what} needs about {_mib(stage.need)} ({stage.basis}){short}"
    elif partial is not None:
        need = f"; {partial[0].name} needs more than the {_mib(partial[1])} written before the disk filled"
    else:
        need = "; the space needed is unknown (the write that failed did not say)"
    return (f"the disk is full: no space left to write in {where} ({free} on that filesystem{need}). Nothing "
            "half-written was kept under a final name: free some space (or set WINNOW_HOME on a larger "
            "disk) and rerun the same command; finished stages and shards are kept and resumed")
