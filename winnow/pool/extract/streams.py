"""Byte streams of source files: verified, then decompressed so that damage raises.

:func:`decompressed` recognises gzip and zstd by their magic bytes. zstd is read frame by frame
by :class:`ZstdReader`, which raises on a truncated last frame (``zstandard``'s own stream reader
ends quietly there) and serves a large decompressed frame from an offset instead of copying what
is left on every read. :func:`open_stream` opens a source file through the sha256-checking
:class:`~winnow.pool.sources.VerifyingReader`; :func:`finish_unit` reads the rest so the digest
is always checked and recorded.
"""

from __future__ import annotations

import gzip
import io
from collections import deque
from typing import BinaryIO

from winnow.pool.extract.damage import Skips
from winnow.pool.sources import SourceUnit, VerifyingReader, open_unit

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class ZstdReader(io.RawIOBase):
    """zstd decompression across frames that raises on a truncated last frame."""

    def __init__(self, raw: BinaryIO):
        import zstandard

        self._raw, self._z = raw, zstandard
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._buf = b""
        self._pos = 0  # served up to here: slicing the rest off would copy it on every read
        self._pieces: deque[bytes] = deque()  # decompressed, not yet served
        self._in_frame = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self._pos >= len(self._buf) and (self._pieces or not self._eof):
            if self._pieces:  # served one by one: joining them would copy them all again
                self._buf, self._pos = self._pieces.popleft(), 0
                continue
            chunk = self._raw.read(1 << 16)
            if not chunk:
                self._eof = True
                if self._in_frame:
                    raise EOFError("zstd stream ends inside a frame (truncated)")
                break
            while chunk:
                self._in_frame = True
                piece = self._d.decompress(chunk)
                if piece:
                    self._pieces.append(piece)
                if self._d.eof:
                    chunk = self._d.unused_data
                    self._d = self._z.ZstdDecompressor().decompressobj()
                    self._in_frame = False
                else:
                    chunk = b""
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = memoryview(self._buf)[self._pos:self._pos + n]
        self._pos += n
        return n


def decompressed(raw: BinaryIO) -> BinaryIO:
    """A buffered stream of ``raw``'s content, gunzipped or un-zstd'ed by its magic bytes."""
    buf = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, 1 << 20)  # type: ignore[arg-type]
    head = buf.peek(4)[:4]
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=buf, mode="rb")  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        return io.BufferedReader(ZstdReader(buf), 1 << 20)
    return buf


class TrackedStream:
    """``read``/``tell`` over a decompressed stream for FastWARC: counts bytes, keeps the error."""

    def __init__(self, stream: BinaryIO):
        self._s = stream
        self.pos = 0
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._s.read(n)
        except Exception as e:  # gzip/zlib/zstandard errors, or a checksum mismatch at EOF
            self.error = e
            raise
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def open_stream(unit: SourceUnit) -> tuple[VerifyingReader, BinaryIO]:
    """(the verifying raw stream, its decompressed content) of one source file."""
    raw = open_unit(unit)
    return raw, decompressed(raw)


def finish_unit(raw: VerifyingReader, unit: SourceUnit, skips: Skips | None) -> None:
    """Read what is left of the file, check its declared sha256 and record the digest."""
    digest = raw.finish()
    if skips is not None:
        skips.digests[unit.name] = digest

