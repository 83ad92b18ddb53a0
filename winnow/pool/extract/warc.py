"""WARC records and the HTTP messages inside them.

:func:`iter_warc` yields every record of a WARC or WET file. Well-formed files are parsed by
FastWARC (what DCLM's Common Crawl tools use) in quirks mode, which also reads ClueWeb09's
WARC/0.18; decompression happens in :mod:`winnow.pool.extract.streams` so that a truncated stream
raises instead of ending quietly, and gaps or trailing bytes beyond :data:`GAP_TOLERANCE` are
damage. Files whose header lines end in a bare ``\\n`` (hand-made WET samples such as cc_net's,
whose lengths are not byte counts) are read by a line-based parser that splits at ``WARC/1.x``
lines, as cc_net does.

:func:`parse_http` splits a response record's block into status, headers and body;
:func:`decode_payload` undoes a chunked transfer encoding or gzip/deflate/brotli content encoding
stored as sent; :func:`looks_like_html` sniffs bodies whose content type says nothing.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from winnow.pool.extract.damage import SourceError, Skips, corrupt
from winnow.pool.extract.streams import GZIP_MAGIC, TrackedStream, finish_unit, open_stream
from winnow.pool.sources import ChecksumError, SourceUnit

HTML_MIMES = {"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"}
SNIFF_MIMES = {"", "application/octet-stream", "text/plain", "unknown/unknown", "application/unknown"}
GAP_TOLERANCE = 256  # bytes between records that header re-serialisation may not account for


# ---------------------------------------------------------------------------------------------
# WARC records


@dataclass
class WarcRecord:
    type: str                 # warcinfo | response | conversion | request | ...
    headers: dict             # WARC headers
    block: bytes              # the record block (HTTP message for responses)
    offset: int               # offset of the record in the decompressed stream


def _header_len(rec) -> int:
    head = rec.headers.status_line or "WARC/1.0"
    return len(head.encode()) + 2 + sum(len(k.encode()) + 2 + len(v.encode()) + 2
                                        for k, v in rec.headers.items()) + 2


def _warc_type(name: str | None) -> str:
    return (name or "unknown").strip().lower()


def iter_warc(unit: SourceUnit, skips: Skips) -> Iterator[WarcRecord]:
    """Every record of a WARC/WET file in order, with the damage checks of the module docstring."""
    raw, stream = open_stream(unit)
    try:
        first = stream.peek(256)[:256] if hasattr(stream, "peek") else b""
        line_end = first.find(b"\n")
        if first.startswith(b"WARC/") and line_end > 0 and first[line_end - 1:line_end] != b"\r":
            yield from _iter_warc_lenient(unit, stream, skips)
        else:
            yield from _iter_warc_fastwarc(unit, stream, skips)
        finish_unit(raw, unit, skips)
    finally:
        raw.close()


def _iter_warc_fastwarc(unit: SourceUnit, stream: BinaryIO, skips: Skips) -> Iterator[WarcRecord]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    spec = unit.spec
    tracked = TrackedStream(stream)
    expected_next = 0
    n = 0
    it = ArchiveIterator(tracked, record_types=WarcRecordType.any_type, parse_http=False,
                         quirks_mode=True, auto_decode="none", stream_detect=False)
    try:
        for rec in it:
            n += 1
            pos = rec.stream_pos
            where = f"{unit.name}#record{n}@{pos}"
            if pos - expected_next > GAP_TOLERANCE:
                corrupt(spec, skips, "unparseable_bytes", where,
                         f"{pos - expected_next} bytes before this record are not a WARC record")
            block = rec.reader.read()
            expected_next = pos + _header_len(rec) + rec.content_length + 4
            if len(block) < rec.content_length:
                corrupt(spec, skips, "truncated_record", where,
                         f"record block has {len(block)} of its {rec.content_length} bytes")
                continue
            headers = dict(sorted(rec.headers.items()))  # to_dict()'s order varies between runs
            yield WarcRecord(_warc_type(headers.get("WARC-Type")), headers, block, pos)
        tracked.drain()
    except Exception as e:  # noqa: BLE001 - decompression errors surface from inside FastWARC
        if isinstance(e, SourceError) or tracked.error is None \
                or isinstance(tracked.error, ChecksumError):
            raise
        corrupt(spec, skips, "corrupt_stream", f"{unit.name}#after-record{n}@{tracked.pos}",
                 f"compressed stream is corrupt or truncated: {tracked.error}")
        return
    trailing = tracked.pos - expected_next
    if n == 0 and tracked.pos > 0:
        corrupt(spec, skips, "unparseable_bytes", f"{unit.name}#start@0",
                 f"no WARC record in {tracked.pos} bytes: not a WARC file")
    elif trailing > GAP_TOLERANCE:
        corrupt(spec, skips, "unparseable_bytes", f"{unit.name}#end@{expected_next}",
                 f"{trailing} bytes after the last record are not a WARC record")


_WARC_LINE = re.compile(rb"^WARC/\d+\.\d+\r?\n$")


def _iter_warc_lenient(unit: SourceUnit, stream: BinaryIO, skips: Skips) -> Iterator[WarcRecord]:
    """cc_net-style reading of ``\\n``-terminated WARC text: a record runs to the next WARC line."""
    headers: dict | None = None
    body: list[bytes] = []
    pos = start = 0
    in_headers = False

    def flush() -> WarcRecord:
        block = b"".join(body)
        if block.endswith(b"\n\n"):
            block = block[:-2]
        return WarcRecord(_warc_type(headers.get("WARC-Type")), headers, block, start)  # type: ignore[union-attr]

    lines = iter(stream)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            break
        except (EOFError, OSError, zlib.error) as e:
            if isinstance(e, ChecksumError):
                raise
            corrupt(unit.spec, skips, "corrupt_stream", f"{unit.name}#after@{pos}",
                     f"compressed stream is corrupt or truncated: {e}")
            return
        if _WARC_LINE.match(line):
            if headers is not None:
                yield flush()
            headers, body, start, in_headers = {}, [], pos, True
        elif in_headers:
            if not line.strip():
                in_headers = False
            elif b":" in line and headers is not None:
                k, v = line.decode("utf-8", "replace").split(":", 1)
                headers[k.strip()] = v.strip()
        elif headers is not None:
            body.append(line)
        elif line.strip():
            corrupt(unit.spec, skips, "unparseable_bytes", f"{unit.name}#start@{pos}",
                     "data before the first WARC record")
        pos += len(line)
    if headers is not None:
        yield flush()



# ---------------------------------------------------------------------------------------------
# HTTP payloads


def parse_http(block: bytes) -> tuple[int | None, dict, bytes]:
    """(status, headers with lower-case names, body) of an HTTP response message."""
    cut = block.find(b"\r\n\r\n")
    sep = 4
    lf = block.find(b"\n\n")
    if cut < 0 or (0 <= lf < cut):
        cut, sep = lf, 2
    if cut < 0:
        return None, {}, block
    head, body = block[:cut], block[cut + sep:]
    lines = head.decode("iso-8859-1").splitlines()
    status = None
    if lines and lines[0].startswith("HTTP/"):
        parts = lines[0].split()
        if len(parts) > 1 and parts[1].isdigit():
            status = int(parts[1])
        lines = lines[1:]
    headers: dict = {}
    for ln in lines:
        if ":" in ln:
            k, v = ln.split(":", 1)
            k = k.strip().lower()
            headers[k] = f"{headers[k]}, {v.strip()}" if k in headers else v.strip()
    return status, headers, body


_CHUNK = re.compile(rb"[0-9a-fA-F]{1,8}[ \t]*(;[^\r\n]*)?\r?\n")


def dechunk(body: bytes) -> bytes | None:
    """Body of a chunked transfer encoding, or None when it is not (correctly) chunked."""
    out, i = [], 0
    while True:
        m = _CHUNK.match(body, i)
        if not m:
            return None
        size = int(m.group(0).split(b";")[0].strip(), 16)
        i = m.end()
        if size == 0:
            return b"".join(out)
        out.append(body[i:i + size])
        i += size
        if body[i:i + 2] == b"\r\n":
            i += 2
        elif body[i:i + 1] == b"\n":
            i += 1
        elif i >= len(body):
            return b"".join(out)  # a capture cut after the last chunk's data
        else:
            return None


def decode_payload(headers: dict, body: bytes) -> bytes:
    """Undo transfer/content encodings that were stored as sent (and only those)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        plain = dechunk(body)
        if plain is not None:
            body = plain
    enc = headers.get("content-encoding", "").lower()
    if "gzip" in enc and body[:2] == GZIP_MAGIC:
        body = gzip.decompress(body)
    elif "deflate" in enc and body[:1] == b"\x78":
        body = zlib.decompress(body)
    elif enc.strip() == "br" and not body.lstrip()[:1] == b"<":
        import brotli  # installed with resiliparse

        body = brotli.decompress(body)
    return body


def mime_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and (b"<html" in head or b"<!doctype html" in head
                                      or b"<head" in head or b"<body" in head)



def charset_of(content_type: str | None) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None
