"""Download, verify, cache: the one way winnow fetches a file from a URL.

:func:`fetch` is used by every fetcher: pool sources (``fetch: cache``), a mixing recipe's
pinned ``external:`` files, evaluation data (`winnow data pull`) and reference corpora. It
gathers the best of what those four did on their own:

- **Temporary name, then rename.** Bytes go to a stable hidden ``.<name>.part`` beside the
  destination and are renamed into place only once they verify, so a reader never sees a partial
  or unverified file, and an interrupted download is *resumed* from the ``.part`` file (HTTP
  ``Range``; a server that ignores it, or answers 416, restarts from byte 0). A resumed file that
  does not verify gets one clean attempt, since the kept part may come from another version.
- **Checks.** Any of a sha256, a git blob id (what upstream repositories pin) and a size; the
  file is accepted when *one* of the given digests matches (a table may know both the upstream
  blob and the sha256 of an accepted rebuild). A file that does not verify is deleted and the
  error names the URL, what was expected and what arrived. A destination that already exists is
  reused when it verifies (or when nothing is known to check it against), else fetched again.
- **Retries.** Transient network errors and 5xx answers are retried with exponential backoff
  (from :data:`RETRY_WAIT_S`, at most 30 s); a connection that ends early is resumed. An unknown
  host fails at once (no network): the message says to use a mirror.
- **Errors** are :class:`FetchError` (or :class:`VerifyError` for bytes that do not match), one
  line each: what, where, and how to fix it. Callers add their own context (which table, which
  recipe, which mirror setting) by wrapping the message.
- **Progress**: ``progress=True`` shows a byte-count tqdm bar on stderr; a callable receives
  ``(bytes so far, expected total or None)`` after every block.

Protocols: ``http(s)://`` through urllib (Range requests, a User-Agent), ``file://`` URLs and
plain paths directly, anything else through fsspec (``s3://``, ``gs://``, ``memory://``; a
missing backend is named in the error with the winnow extra that installs it).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from winnow.remote import backend_hint

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RETRY_WAIT_S = 2.0  # first wait before retrying a failed transfer; doubles each time (at most 30 s)
USER_AGENT = "winnow-fetch/1"
TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
             TimeoutError)

Progress = Callable[[int, "int | None"], None]


class FetchError(OSError):
    """A file could not be fetched (the message says what, where and how to fix it)."""


class VerifyError(FetchError):
    """The fetched bytes match none of the expected digests; nothing was kept."""

    def __init__(self, message: str, sha256: str, git_blob: str, size: int):
        super().__init__(message)
        self.sha256, self.git_blob, self.size = sha256, git_blob, size


@dataclass(frozen=True)
class Fetched:
    path: Path          # the verified file
    sha256: str
    git_blob: str
    size: int
    moved: int          # bytes transferred this time (0 when a verified copy was reused)
    resumed_from: int   # bytes of an earlier partial download that were kept (0: none)
    reused: bool        # the destination was already there and verified


# ----------------------------------------------------------------------------------- hashing
def git_blob_id_bytes(data: bytes) -> str:
    """Git's object id of a blob: sha1 over ``b"blob <size>\\0"`` then the content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


_HASH_CACHE: dict[tuple, tuple[str, str]] = {}


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """``(sha256, git blob id)`` of a file in one streaming pass (cached by size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _HASH_CACHE:
        return _HASH_CACHE[key]
    sha, blob = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % st.st_size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha.update(block)
            blob.update(block)
    out = (sha.hexdigest(), blob.hexdigest())
    _HASH_CACHE[key] = out
    return out


def _as_set(value: str | Iterable[str] | None) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value.lower()}
    return {v.lower() for v in value if v}


# ------------------------------------------------------------------------------------ opening
class _Restart(Exception):
    """The partial download cannot be continued: start again from byte 0."""


def part_path(dest: str | os.PathLike) -> Path:
    """The stable temporary name of ``dest`` while it downloads (kept to resume)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


def _open_remote(url: str, offset: int, timeout: float) -> tuple[BinaryIO, bool]:
    """(stream, resumed) for ``url`` from byte ``offset``; resumed False means from byte 0."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset:
            req.add_header("Range", f"bytes={offset}-")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:
                raise _Restart() from None
            raise
        resumed = bool(offset) and resp.status == 206
        content_range = resp.headers.get("Content-Range")
        if resumed and content_range and not content_range.startswith(f"bytes {offset}-"):
            resp.close()  # the server sent another part than the one asked for
            raise _Restart()
        return resp, resumed
    if scheme == "file" or "://" not in url:
        local = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path)) if scheme else Path(url)
        f: BinaryIO = open(local, "rb")
    else:  # any other fsspec protocol (s3://, gs://, memory://, ...)
        import fsspec

        try:
            f = fsspec.open(url, "rb").open()
        except (ImportError, ValueError) as e:  # e.g. s3:// without s3fs: name winnow's extra
            raise FetchError(backend_hint(url, e) + "; or fetch from an http(s) mirror or a local copy") from None
    if offset:
        f.seek(offset)
    return f, bool(offset)


def _download(url: str, part: Path, size: int | None, retries: int, timeout: float,
              report: Progress | None) -> int:
    """Download ``url`` into ``part``, continuing a partial file; returns bytes transferred."""
    moved = 0
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            part.unlink()
            offset = 0
        if size is not None and offset == size:
            return moved
        try:
            stream, resumed = _open_remote(url, offset, timeout)
            before = moved
            done = offset if resumed else 0
            with stream, open(part, "ab" if resumed else "wb") as out:
                for block in iter(lambda: stream.read(CHUNK), b""):
                    out.write(block)
                    moved += len(block)
                    done += len(block)
                    if report is not None:
                        report(done, size)
            got = part.stat().st_size
            if (size is not None and got < size and moved > before
                    and url.startswith(("http://", "https://")) and attempt < retries):
                # The connection ended early without an error: ask for the rest.
                log.warning("%s: connection ended at byte %d of %d; resuming", url, got, size)
                attempt += 1
                continue
            return moved  # a short or wrong file then fails verification, naming its size
        except _Restart:
            part.unlink(missing_ok=True)
            continue
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt >= retries:
                raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from None
        except FileNotFoundError:
            raise FetchError(f"{url}: no such file") from None
        except TRANSIENT as e:
            offline = isinstance(getattr(e, "reason", None), socket.gaierror)  # unknown host: no retry
            if attempt >= retries or offline:
                kept = (f"; the partial download {part} is kept: run the same command again to resume"
                        if part.exists() else "")
                hint = "; no network? fetch from a local or mirrored copy instead" if offline else ""
                raise FetchError(f"{url}: {e} (after {attempt + 1} attempt(s){kept}{hint})") from None
        attempt += 1
        time.sleep(min(RETRY_WAIT_S * 2 ** (attempt - 1), 30.0))


def _tqdm_progress(name: str) -> tuple[Progress, Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(desc=f"fetch {name}", unit="B", unit_scale=True, unit_divisor=1024, leave=False)

    def report(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return report, bar.close


# -------------------------------------------------------------------------------------- fetch
def fetch(url: str, dest: str | os.PathLike, *, sha256: str | Iterable[str] | None = None,
          git_blob: str | Iterable[str] | None = None, size: int | None = None, reuse: bool = True,
          retries: int = 3, timeout: float = 60.0, progress: bool | Progress = False) -> Fetched:
    """Fetch ``url`` into ``dest``, verified; the file's digests and what was transferred.

    ``sha256`` / ``git_blob``: the accepted digest(s); the file verifies when any one matches
    (none given: whatever arrives is kept, and its digests are returned for the caller to
    record). ``size``: the expected byte count, used to resume and to detect a connection that
    ended early (give it only when it is certain). ``reuse`` False fetches again even when
    ``dest`` already verifies (a forced refresh). Raises :class:`FetchError` when the file
    cannot be fetched (the ``.part`` file is kept so a rerun resumes) and :class:`VerifyError`
    when its bytes do not verify (nothing is kept).
    """
    dest = Path(dest)
    shas, blobs = _as_set(sha256), _as_set(git_blob)

    def verifies(sha: str, blob: str) -> bool:
        return (not shas and not blobs) or sha in shas or blob in blobs

    if reuse and dest.is_file():
        sha, blob = file_hashes(dest)
        if verifies(sha, blob):
            return Fetched(dest, sha, blob, dest.stat().st_size, 0, 0, True)
        log.info("%s: the copy there does not verify; fetching it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    resumed_from = part.stat().st_size if part.exists() else 0
    close = None
    report = progress if callable(progress) else None
    if progress is True:
        report, close = _tqdm_progress(dest.name)
    try:
        moved = _download(url, part, size, retries, timeout, report)
        sha, blob = file_hashes(part)
        if not verifies(sha, blob) and resumed_from:
            # The kept partial may come from another version of the file: one clean attempt.
            part.unlink()
            moved += _download(url, part, size, retries, timeout, report)
            sha, blob = file_hashes(part)
    finally:
        if close is not None:
            close()
    got = part.stat().st_size
    if not verifies(sha, blob):
        part.unlink()
        want = " or ".join([f"sha256 {s}" for s in sorted(shas)] + [f"git blob {b}" for b in sorted(blobs)])
        raise VerifyError(f"{url}: the downloaded file does not verify: expected {want}, got sha256 "
                          f"{sha} (git blob {blob}, {got:,} bytes); nothing was kept. The source may "
                          "hold another version of the file, or the transfer was corrupted: retry, "
                          "or fetch from another mirror", sha, blob, got)
    os.replace(part, dest)
    return Fetched(dest, sha, blob, got, moved, resumed_from if moved < got else 0, False)
