"""Raw web sources for a pool: HTML pages, WARC, WET and DCLM-Pool shards into documents.

Every reader here yields documents in the convention the pool build consumes (``id`` = the
*upstream* id, re-keyed later like every pool source; ``text``; ``url``; ``source``; ``meta``, which
the build moves to the annotations sidecar). What a document becomes:

* **Text.** HTML is decoded (:func:`decode_html`: valid UTF-8 as UTF-8, else a charset the HTTP
  response declares, else resiliparse's ``detect_encoding``; ``encoding: detect`` uses the last
  alone) and extracted with resiliparse ``extract_plain_text`` using :data:`DCLM_EXTRACTION`:
  ``main_content=True`` (the DCLM-Pool extraction), block formatting preserved, list bullets on,
  alt texts, link targets, form fields and ``<noscript>`` off. With these settings and
  ``encoding: detect`` the text of all 1,232 pages under ``<data>/pool/raw_html/*.tar.zst`` is
  byte-identical to the embedded pool's ``meta.text_main``; the default decoding differs on 14 of
  them, where uchardet's guess made mojibake. WARC payloads stored with their transfer or content
  encoding (chunked, gzip) are decoded first. WET conversion records and DCLM-Pool shards are
  already text and are taken as they are.
* **Ids.** Position-based, so they never depend on extraction settings: ``<prefix>/<file>/<nnnn>``
  for the n-th response (WARC) or conversion (WET) record of a file, counting from 1, and the
  n-th line of a DCLM-Pool shard; a tarball's ``index.jsonl`` id when it has one. The WARC scheme
  is the one the embedded pool's ``web_warc_samples`` source uses and the tarball ids are those of
  the embedded ``web_*`` sources, so the same page gets the same pool id whichever way it enters.
* **Annotations.** The raw HTML (decoded), WARC headers, HTTP status and headers, warcinfo,
  detected encoding, title and the location in the source file (``raw_file``, ``offset``) go to
  ``meta``, hence to the annotations sidecar; pool documents keep only ``id, text, url, source``.

**Bad input.** A record that is fine but has no usable text is *skipped and counted by reason*
(manifest ``stats.skipped``): ``http_status`` (not 2xx), ``not_html`` (another content type),
``content_encoding`` (a compressed payload that does not decompress), ``extract_error`` (the
HTML parser failed), ``empty_text`` (nothing left after extraction), ``not_a_document`` (a
DCLM-Pool line without text). A *corrupt file* is different: a truncated or corrupt gzip/zstd
stream, a record shorter than its ``Content-Length``, unparseable bytes between or after records,
a line that is not JSON. By default (``on_error: raise``) that stops the build with a
:class:`SourceError` naming the file, the record and the offset, before anything is written;
with ``on_error: skip`` the damaged record (or the rest of a file whose compression is broken) is
counted as ``truncated_record`` / ``unparseable_bytes`` / ``corrupt_stream`` / ``bad_json`` and
the build goes on.

WARC files are parsed by FastWARC (what DCLM's Common Crawl tools use) in quirks mode, which also
reads ClueWeb09's WARC/0.18; decompression happens here (gzip members, zstd frames), so that a
truncated stream raises instead of ending quietly. Files whose header lines end in a bare ``\\n``
(hand-made WET samples such as cc_net's, whose lengths are not byte counts) are read by a
line-based parser that splits at ``WARC/1.x`` lines, as cc_net does.

:func:`bench_extract` compares resiliparse with trafilatura (if installed) on the same pages.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import tarfile
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from winnow.pool.sources import (DEFAULT_ID_PREFIX, DEFAULT_SOURCE_TAG, ChecksumError, SourceUnit,
                                 VerifyingReader, open_unit)

log = logging.getLogger(__name__)

# resiliparse ``extract_plain_text`` keyword arguments for the pool text (DCLM-Pool style).
DCLM_EXTRACTION: dict = {
    "preserve_formatting": True,
    "main_content": True,
    "list_bullets": True,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "comments": True,
}
HTML_MIMES = {"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"}
SNIFF_MIMES = {"", "application/octet-stream", "text/plain", "unknown/unknown", "application/unknown"}
GAP_TOLERANCE = 256  # bytes between records that header re-serialisation may not account for

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class SourceError(ValueError):
    """A source file that is corrupt where it should not be (see the module docstring)."""


# ---------------------------------------------------------------------------------------------
# Extraction


def extractor_version() -> str:
    from importlib.metadata import version

    return f"resiliparse-{version('resiliparse')}/fastwarc-{version('fastwarc')}"


def extraction_settings(overrides: dict | None = None) -> dict:
    """DCLM's settings with ``overrides`` applied; unknown names are an error."""
    import inspect

    from resiliparse.extract.html2text import extract_plain_text

    settings = dict(DCLM_EXTRACTION)
    if overrides:
        try:
            known = set(inspect.signature(extract_plain_text).parameters) - {"html"}
        except (TypeError, ValueError):  # a builtin without a signature
            known = set(DCLM_EXTRACTION) | {"post_meta", "hidden_elements", "skip_elements"}
        bad = set(overrides) - known
        if bad:
            raise ValueError(f"pool extract: unknown resiliparse option {sorted(bad)[0]!r}; "
                             f"known: {', '.join(sorted(known))}")
        settings.update(overrides)
    return settings


ENCODING_POLICIES = ("auto", "detect")


def decode_html(data: bytes, policy: str = "auto", declared: str | None = None) -> tuple[str, str]:
    """(text, encoding) of raw HTML bytes.

    ``detect`` is how the embedded pool's ``text_main`` was made: resiliparse's ``detect_encoding``
    (uchardet) alone. ``auto`` (the default) first takes bytes that are valid UTF-8 as UTF-8, then
    a charset the HTTP response declared if the bytes are valid in it, and only then uchardet: on
    the raw_html pages uchardet calls 373 valid-UTF-8 pages cp1252 or similar, and 14 of them come
    out with mojibake (``BeitrÃ¤ge``) under ``detect``.
    """
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    if policy == "auto":
        try:
            data.decode("utf-8")
            return bytes_to_str(data, "utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        if declared:
            try:
                data.decode(declared)
                return bytes_to_str(data, declared), declared.lower()
            except (UnicodeDecodeError, LookupError):
                pass
    elif policy != "detect":
        raise ValueError(f"pool extract: encoding must be one of {ENCODING_POLICIES}, got {policy!r}")
    enc = detect_encoding(data)
    return bytes_to_str(data, enc), enc


def _charset(content_type: str | None) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


def extract_main_text(html: str | bytes, settings: dict | None = None) -> str:
    """Main-content plain text of one page (resiliparse, DCLM settings unless given)."""
    from resiliparse.extract.html2text import extract_plain_text

    if isinstance(html, bytes):
        html = decode_html(html)[0]
    return extract_plain_text(html, **(DCLM_EXTRACTION if settings is None else settings))


def _extract(html: str, settings: dict, full_page: bool) -> tuple[str, str | None, str | None]:
    """(main text, title, full-page text or None) from one parse of the page."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, **settings)
    title = tree.title or None
    full = extract_plain_text(tree, **{**settings, "main_content": False}) if full_page else None
    return text, title, full


# ---------------------------------------------------------------------------------------------
# Skips and errors


@dataclass
class Skips:
    """Counts of records left out, by reason, with a few examples for the log and the manifest."""

    counts: Counter = field(default_factory=Counter)
    by_file: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)  # sha256 of each file read to its end

    def add(self, reason: str, where: str, detail: str = "") -> None:
        """Count one record; ``where`` is ``<file name>`` or ``<file name>#<place in it>``."""
        self.counts[reason] += 1
        file = where.split("#", 1)[0]
        self.by_file.setdefault(file, Counter())[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 3:
            ex.append(f"{where}: {detail}" if detail else where)
            log.info("skipped %s (%s) %s", where, reason, detail)

    def stats(self) -> dict:
        return {"skipped": dict(sorted(self.counts.items())),
                "skipped_by_file": {f: dict(sorted(c.items())) for f, c in sorted(self.by_file.items())},
                "skip_examples": dict(sorted(self.examples.items()))}


def _corrupt(spec: dict, skips: Skips, reason: str, where: str, detail: str) -> None:
    """A damaged record or file: raise (the default) or count it, as the source says."""
    if spec.get("on_error", "raise") == "skip":
        skips.add(reason, where, detail)
        return
    raise SourceError(f"{where}: {detail} ({reason}); the source file is damaged. Fetch it again, "
                      "or set `on_error: skip` on this pool source to count such records as "
                      "skipped and go on")


# ---------------------------------------------------------------------------------------------
# Byte streams


class _ZstdReader(io.RawIOBase):
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
        return io.BufferedReader(_ZstdReader(buf), 1 << 20)
    return buf


class _Tracked:
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


def _open_verified(unit: SourceUnit) -> tuple[VerifyingReader, BinaryIO]:
    raw = open_unit(unit)
    return raw, decompressed(raw)


def _finish(raw: VerifyingReader, unit: SourceUnit, skips: Skips | None) -> None:
    """Read what is left of the file, check its declared sha256 and record the digest."""
    digest = raw.finish()
    if skips is not None:
        skips.digests[unit.name] = digest


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
    raw, stream = _open_verified(unit)
    try:
        first = stream.peek(256)[:256] if hasattr(stream, "peek") else b""
        line_end = first.find(b"\n")
        if first.startswith(b"WARC/") and line_end > 0 and first[line_end - 1:line_end] != b"\r":
            yield from _iter_warc_lenient(unit, stream, skips)
        else:
            yield from _iter_warc_fastwarc(unit, stream, skips)
        _finish(raw, unit, skips)
    finally:
        raw.close()


def _iter_warc_fastwarc(unit: SourceUnit, stream: BinaryIO, skips: Skips) -> Iterator[WarcRecord]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    spec = unit.spec
    tracked = _Tracked(stream)
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
                _corrupt(spec, skips, "unparseable_bytes", where,
                         f"{pos - expected_next} bytes before this record are not a WARC record")
            block = rec.reader.read()
            expected_next = pos + _header_len(rec) + rec.content_length + 4
            if len(block) < rec.content_length:
                _corrupt(spec, skips, "truncated_record", where,
                         f"record block has {len(block)} of its {rec.content_length} bytes")
                continue
            headers = dict(sorted(rec.headers.items()))  # to_dict()'s order varies between runs
            yield WarcRecord(_warc_type(headers.get("WARC-Type")), headers, block, pos)
        tracked.drain()
    except Exception as e:  # noqa: BLE001 - decompression errors surface from inside FastWARC
        if isinstance(e, SourceError) or tracked.error is None \
                or isinstance(tracked.error, ChecksumError):
            raise
        _corrupt(spec, skips, "corrupt_stream", f"{unit.name}#after-record{n}@{tracked.pos}",
                 f"compressed stream is corrupt or truncated: {tracked.error}")
        return
    trailing = tracked.pos - expected_next
    if n == 0 and tracked.pos > 0:
        _corrupt(spec, skips, "unparseable_bytes", f"{unit.name}#start@0",
                 f"no WARC record in {tracked.pos} bytes: not a WARC file")
    elif trailing > GAP_TOLERANCE:
        _corrupt(spec, skips, "unparseable_bytes", f"{unit.name}#end@{expected_next}",
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
            _corrupt(unit.spec, skips, "corrupt_stream", f"{unit.name}#after@{pos}",
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
            _corrupt(unit.spec, skips, "unparseable_bytes", f"{unit.name}#start@{pos}",
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


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and (b"<html" in head or b"<!doctype html" in head
                                      or b"<head" in head or b"<body" in head)


# ---------------------------------------------------------------------------------------------
# Document readers, one per source kind


def _strip_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip()
    return url[1:-1] if url.startswith("<") and url.endswith(">") else (url or None)


class _Ctx:
    def __init__(self, unit: SourceUnit, skips: Skips):
        spec = unit.spec
        self.unit, self.skips, self.spec = unit, skips, spec
        self.settings = extraction_settings(spec.get("extract"))
        self.source = spec.get("source") or DEFAULT_SOURCE_TAG[unit.kind]
        self.prefix = spec.get("id_prefix") or DEFAULT_ID_PREFIX[unit.kind]
        self.keep_html = bool(spec.get("keep_html", True))
        self.full_page = bool(spec.get("full_page_text", False))
        self.drop_empty = bool(spec.get("drop_empty", True))
        self.encoding = spec.get("encoding", "auto")
        if self.encoding not in ENCODING_POLICIES:
            raise ValueError(f"pool source {unit.name}: encoding must be one of "
                             f"{ENCODING_POLICIES}, got {self.encoding!r}")

    def page(self, upstream_id: str, url: str | None, html: bytes, meta: dict,
             where: str, declared: str | None = None) -> dict | None:
        try:
            decoded, enc = decode_html(html, self.encoding, declared)
            text, title, full = _extract(decoded, self.settings, self.full_page)
        except Exception as e:  # noqa: BLE001 - resiliparse raises its own parser exceptions
            self.skips.add("extract_error", where, f"{type(e).__name__}: {e}")
            return None
        return self.doc(upstream_id, text, url, {**meta, "encoding": enc, "title": title,
                                                 **({"html": decoded} if self.keep_html else {})},
                        where, full)

    def doc(self, upstream_id: str, text: str, url: str | None, meta: dict, where: str,
            full: str | None = None) -> dict | None:
        if self.drop_empty and not text.strip():
            self.skips.add("empty_text", where, upstream_id)
            return None
        meta = {k: v for k, v in meta.items() if v is not None}
        if full is not None:  # the build's split_document keeps text_main as the pool text
            meta["text_main"] = text
            text = full
        return {"id": upstream_id, "text": text, "url": url, "source": self.source, "meta": meta}


def _strip_compression(name: str) -> str:
    for suf in (".gz", ".zst", ".zstd"):
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def read_html_file(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    ctx = _Ctx(unit, skips)
    raw, stream = _open_verified(unit)
    try:
        data = stream.read()
        _finish(raw, unit, skips)
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, ChecksumError):
            raise
        _corrupt(unit.spec, skips, "corrupt_stream", unit.name, f"cannot decompress: {e}")
        return
    finally:
        raw.close()
    doc = ctx.page(f"{ctx.prefix}/{_strip_compression(unit.name)}", None, data,
                   {"raw_file": unit.name}, unit.name)
    if doc is not None:
        yield doc


def _tar_members(unit: SourceUnit, skips: Skips | None = None
                 ) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    raw, stream = _open_verified(unit)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                if m.isfile():
                    yield m, tf
        _finish(raw, unit, skips)
    finally:
        raw.close()


def read_html_tar(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Pages of a tarball; ``index.jsonl`` (any folder) gives ids and urls when present."""
    ctx = _Ctx(unit, skips)
    stem = _strip_compression(unit.basename)
    stem = stem[:-4] if stem.endswith(".tar") else stem
    index: dict[str, dict] = {}
    try:
        for m, tf in _tar_members(unit):  # pass 1: the index (it may come last)
            if m.name.rsplit("/", 1)[-1] == "index.jsonl":
                data = tf.extractfile(m).read().decode("utf-8")  # type: ignore[union-attr]
                for lineno, ln in enumerate(data.splitlines(), 1):
                    if ln.strip():
                        _index_line(unit, skips, index, f"{unit.name}#{m.name}:{lineno}", ln)
        for m, tf in _tar_members(unit, skips):  # pass 2: the pages
            if m.name.rsplit("/", 1)[-1] == "index.jsonl":
                continue
            rec = index.get(m.name, {})
            upstream = rec.get("id") or f"{ctx.prefix}/{stem}/{m.name}"
            meta = {"raw_file": f"{unit.name}:{m.name}",
                    **{k: v for k, v in rec.items() if k not in ("id", "url", "raw_file")}}
            doc = ctx.page(upstream, _strip_url(rec.get("url")),
                           tf.extractfile(m).read(), meta, f"{unit.name}#{m.name}")  # type: ignore[union-attr]
            if doc is not None:
                yield doc
    except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        if isinstance(e, ChecksumError):
            raise
        _corrupt(unit.spec, skips, "corrupt_stream", unit.name, f"{type(e).__name__}: {e}")


def _index_line(unit: SourceUnit, skips: Skips, index: dict, where: str, line: str) -> None:
    """One ``index.jsonl`` line: a JSON object keyed by its ``raw_file`` (else ``id``) string;
    anything else is a damaged index line (``bad_json``), not an unexplained crash."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        _corrupt(unit.spec, skips, "bad_json", where, f"index line is not JSON ({e.msg})")
        return
    key = (rec.get("raw_file") or rec.get("id")) if isinstance(rec, dict) else None
    if not isinstance(key, str):
        _corrupt(unit.spec, skips, "bad_json", where,
                 "index line is not a JSON object with a string `raw_file` or `id`")
        return
    index[key] = rec


def read_warc(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """HTML response records of a WARC file, extracted; other records are context or skipped."""
    ctx = _Ctx(unit, skips)
    n = 0
    warcinfo = None
    require_ok = bool(unit.spec.get("require_http_ok", True))
    for rec in iter_warc(unit, skips):
        if rec.type == "warcinfo":
            warcinfo = rec.block.decode("utf-8", "replace").strip()
            continue
        if rec.type != "response":
            continue
        n += 1
        upstream = f"{ctx.prefix}/{unit.basename}/{n:04d}"
        where = f"{unit.name}#{n}@{rec.offset}"
        status, http, body = parse_http(rec.block)
        if require_ok and status is not None and not 200 <= status < 300:
            skips.add("http_status", where, str(status))
            continue
        try:
            body = decode_payload(http, body)
        except Exception as e:  # noqa: BLE001 - gzip/zlib/brotli errors alike
            skips.add("content_encoding", where, f"{type(e).__name__}: {e}")
            continue
        mime = _mime(http.get("content-type")) or _mime(rec.headers.get("WARC-Identified-Payload-Type"))
        if mime not in HTML_MIMES and not (mime in SNIFF_MIMES and looks_like_html(body)):
            skips.add("not_html", where, mime or "no content type")
            continue
        meta = {"raw_file": unit.name, "offset": rec.offset, "warc_headers": rec.headers,
                "http_status": status, "http_headers": http, "warcinfo": warcinfo}
        doc = ctx.page(upstream, _strip_url(rec.headers.get("WARC-Target-URI")), body, meta, where,
                       declared=_charset(http.get("content-type")))
        if doc is not None:
            yield doc


def read_wet(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Conversion records of a WET file: the text as Common Crawl extracted it (UTF-8)."""
    from resiliparse.parse.encoding import bytes_to_str

    ctx = _Ctx(unit, skips)
    n = 0
    warcinfo = None
    for rec in iter_warc(unit, skips):
        if rec.type == "warcinfo":
            warcinfo = rec.block.decode("utf-8", "replace").strip()
            continue
        if rec.type != "conversion":
            continue
        n += 1
        text = bytes_to_str(rec.block, "utf-8").strip()
        meta = {"raw_file": unit.name, "offset": rec.offset, "warc_headers": rec.headers,
                "warcinfo": warcinfo}
        doc = ctx.doc(f"{ctx.prefix}/{unit.basename}/{n:04d}", text,
                      _strip_url(rec.headers.get("WARC-Target-URI")), meta,
                      f"{unit.name}#{n}@{rec.offset}")
        if doc is not None:
            yield doc


def read_dclm_pool(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Lines of a DCLM-Pool shard: ``text`` plus ``metadata`` (WARC headers) and friends."""
    ctx = _Ctx(unit, skips)
    stem = _strip_compression(unit.basename)
    stem = stem[:-6] if stem.endswith(".jsonl") else stem
    raw, stream = _open_verified(unit)
    n = 0
    try:
        for lineno, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8", newline="\n"), 1):
            if not line.strip():
                continue
            n += 1
            where = f"{unit.name}#line{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                _corrupt(unit.spec, skips, "bad_json", where, f"not a JSON object ({e.msg})")
                continue
            text = rec.pop("text", None) if isinstance(rec, dict) else None
            if not isinstance(text, str):
                skips.add("not_a_document", where, "no string `text`")
                continue
            md = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
            url = _strip_url(rec.pop("url", None) or md.get("WARC-Target-URI"))
            rec["raw_file"] = unit.name
            rec["line"] = lineno
            doc = ctx.doc(f"{ctx.prefix}/{stem}/{n:04d}", text, url, rec, where)
            if doc is not None:
                yield doc
        _finish(raw, unit, skips)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        if isinstance(e, ChecksumError):
            raise
        _corrupt(unit.spec, skips, "corrupt_stream", f"{unit.name}#after-line{n}",
                 f"cannot decompress or decode: {type(e).__name__}: {e}")
    finally:
        raw.close()


READERS = {"html": read_html_file, "html_tar": read_html_tar, "warc": read_warc,
           "wet": read_wet, "dclm_pool": read_dclm_pool}


def read_unit(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Documents (upstream ids, convention form) of one file of an extracting source."""
    return READERS[unit.kind](unit, skips)


# ---------------------------------------------------------------------------------------------
# Benchmark


def sample_pages(limit: int = 300, root=None) -> list[bytes]:
    """Up to ``limit`` raw pages from ``<data>/pool/raw_html/*.tar.zst``, spread over the tarballs."""
    from pathlib import Path

    from winnow.paths import data_root
    from winnow.pool.sources import SourceUnit

    tars = sorted(Path(root or data_root()).glob("pool/raw_html/*.tar*"))
    if not tars:
        raise FileNotFoundError("no pool/raw_html/*.tar* under the data root")
    per = max(1, limit // len(tars))
    pages: list[bytes] = []
    for t in tars:
        unit = SourceUnit("html_tar", t.name, str(t))
        k = 0
        for m, tf in _tar_members(unit):
            if k >= per or len(pages) >= limit:
                break
            if m.name.endswith((".html", ".htm")):
                pages.append(tf.extractfile(m).read())  # type: ignore[union-attr]
                k += 1
    return pages


def bench_extract(pages: list[bytes] | None = None, *, limit: int = 300, repeats: int = 1,
                  verbose: bool = True) -> dict:
    """Pages per CPU-second of resiliparse (DCLM settings) vs trafilatura on the same pages.

    Pages are decoded once beforehand (same strings for both); only extraction is timed, with
    ``time.process_time`` (CPU of this process, so other load on the machine matters less).
    trafilatura runs with its defaults (``extract(html)``, text output) when it is installed.
    """
    pages = pages if pages is not None else sample_pages(limit)
    html = [decode_html(p)[0] for p in pages]
    mb = sum(len(p) for p in pages) / 1e6

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            for h in html:
                fn(h)
            best = min(best, time.process_time() - t0)
        return best

    res = {"pages": len(html), "html_mb": round(mb, 2)}
    t = timed(lambda h: extract_main_text(h))
    res["resiliparse_pages_per_cpu_s"] = round(len(html) / t, 1)
    res["resiliparse_mb_per_cpu_s"] = round(mb / t, 2)
    try:
        import trafilatura
    except ImportError:
        trafilatura = None
    if trafilatura is not None:
        t2 = timed(lambda h: trafilatura.extract(h))
        res["trafilatura_pages_per_cpu_s"] = round(len(html) / t2, 1)
        res["ratio_resiliparse_over_trafilatura"] = round(t2 / t, 2)
    if verbose:
        print(f"extraction on {res['pages']} raw_html pages ({res['html_mb']} MB of HTML), CPU time:")
        print(f"  resiliparse  {res['resiliparse_pages_per_cpu_s']:>8.1f} pages/CPU-s "
              f"({res['resiliparse_mb_per_cpu_s']} MB/CPU-s)")
        if "trafilatura_pages_per_cpu_s" in res:
            print(f"  trafilatura  {res['trafilatura_pages_per_cpu_s']:>8.1f} pages/CPU-s")
            print(f"  ratio resiliparse/trafilatura: {res['ratio_resiliparse_over_trafilatura']}x")
        else:
            print("  trafilatura not installed: no ratio (pip install trafilatura to compare)")
    return res


if __name__ == "__main__":  # python -m winnow.pool.extract [LIMIT]
    import sys

    bench_extract(limit=int(sys.argv[1]) if len(sys.argv) > 1 else 300)
