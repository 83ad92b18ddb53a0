"""One reader per extracting source kind: files of a pool source into documents.

``read_unit(unit, skips)`` is what the pool build calls for a file of kind ``html`` (one page),
``html_tar`` (a tarball of pages, with an optional ``index.jsonl`` of ids and urls), ``warc``
(HTML response records, extracted), ``wet`` (conversion records, taken as they are) or
``dclm_pool`` (DCLM-Pool shard lines). Each yields documents with the *upstream* id (re-keyed by
the build), ``text``, ``url``, ``source`` and ``meta`` (the annotations sidecar); the source
mapping's options (``extract``, ``encoding``, ``keep_html``, ``full_page_text``, ``drop_empty``,
``require_http_ok``, ``source``, ``id_prefix``, ``on_error``) are read here. The package
docstring (:mod:`winnow.pool.extract`) says what a document becomes and how ids are formed.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from typing import Iterator

from winnow.pool.extract.damage import Skips, corrupt
from winnow.pool.extract.htmltext import ENCODING_POLICIES, decode_html, extract_page, extraction_settings
from winnow.pool.extract.streams import finish_unit, open_stream
from winnow.pool.extract.warc import (HTML_MIMES, SNIFF_MIMES, charset_of, decode_payload, iter_warc,
                                      looks_like_html, mime_of, parse_http)
from winnow.pool.sources import DEFAULT_ID_PREFIX, DEFAULT_SOURCE_TAG, ChecksumError, SourceUnit


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
            text, title, full = extract_page(decoded, self.settings, self.full_page)
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
    raw, stream = open_stream(unit)
    try:
        data = stream.read()
        finish_unit(raw, unit, skips)
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, ChecksumError):
            raise
        corrupt(unit.spec, skips, "corrupt_stream", unit.name, f"cannot decompress: {e}")
        return
    finally:
        raw.close()
    doc = ctx.page(f"{ctx.prefix}/{_strip_compression(unit.name)}", None, data,
                   {"raw_file": unit.name}, unit.name)
    if doc is not None:
        yield doc


def tar_members(unit: SourceUnit, skips: Skips | None = None
                ) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    raw, stream = open_stream(unit)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                if m.isfile():
                    yield m, tf
        finish_unit(raw, unit, skips)
    finally:
        raw.close()


def read_html_tar(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Pages of a tarball; ``index.jsonl`` (any folder) gives ids and urls when present."""
    ctx = _Ctx(unit, skips)
    stem = _strip_compression(unit.basename)
    stem = stem[:-4] if stem.endswith(".tar") else stem
    index: dict[str, dict] = {}
    try:
        for m, tf in tar_members(unit):  # pass 1: the index (it may come last)
            if m.name.rsplit("/", 1)[-1] == "index.jsonl":
                data = tf.extractfile(m).read().decode("utf-8")  # type: ignore[union-attr]
                for lineno, ln in enumerate(data.splitlines(), 1):
                    if ln.strip():
                        _index_line(unit, skips, index, f"{unit.name}#{m.name}:{lineno}", ln)
        for m, tf in tar_members(unit, skips):  # pass 2: the pages
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
        corrupt(unit.spec, skips, "corrupt_stream", unit.name, f"{type(e).__name__}: {e}")


def _index_line(unit: SourceUnit, skips: Skips, index: dict, where: str, line: str) -> None:
    """One ``index.jsonl`` line: a JSON object keyed by its ``raw_file`` (else ``id``) string;
    anything else is a damaged index line (``bad_json``), not an unexplained crash."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        corrupt(unit.spec, skips, "bad_json", where, f"index line is not JSON ({e.msg})")
        return
    key = (rec.get("raw_file") or rec.get("id")) if isinstance(rec, dict) else None
    if not isinstance(key, str):
        corrupt(unit.spec, skips, "bad_json", where,
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
        mime = mime_of(http.get("content-type")) or mime_of(rec.headers.get("WARC-Identified-Payload-Type"))
        if mime not in HTML_MIMES and not (mime in SNIFF_MIMES and looks_like_html(body)):
            skips.add("not_html", where, mime or "no content type")
            continue
        meta = {"raw_file": unit.name, "offset": rec.offset, "warc_headers": rec.headers,
                "http_status": status, "http_headers": http, "warcinfo": warcinfo}
        doc = ctx.page(upstream, _strip_url(rec.headers.get("WARC-Target-URI")), body, meta, where,
                       declared=charset_of(http.get("content-type")))
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
    raw, stream = open_stream(unit)
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
                corrupt(unit.spec, skips, "bad_json", where, f"not a JSON object ({e.msg})")
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
        finish_unit(raw, unit, skips)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        if isinstance(e, ChecksumError):
            raise
        corrupt(unit.spec, skips, "corrupt_stream", f"{unit.name}#after-line{n}",
                 f"cannot decompress or decode: {type(e).__name__}: {e}")
    finally:
        raw.close()


READERS = {"html": read_html_file, "html_tar": read_html_tar, "warc": read_warc,
           "wet": read_wet, "dclm_pool": read_dclm_pool}


def read_unit(unit: SourceUnit, skips: Skips) -> Iterator[dict]:
    """Documents (upstream ids, convention form) of one file of an extracting source."""
    return READERS[unit.kind](unit, skips)

