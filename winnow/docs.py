"""The document convention and its readers and writers.

A document is a dict with ``id`` (opaque, unique within the pool), ``text``, ``url`` (or None),
``source`` (coarse type tag) and, after curation, ``meta`` (``meta.pool_id`` names the pool
document it descends from; enrichers may add fields). Pool shards expose only ``POOL_FIELDS``;
everything else a source carries lives in the pool's annotations sidecar (submissions/README.md "Recipes").

Shards are JSON Lines, zstd-compressed (``.jsonl.zst``), one document per line, split on ``\\n``.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import os
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from winnow.io import atomic_open, open_file

POOL_FIELDS = ("id", "text", "url", "source")
STEP_FIELDS = POOL_FIELDS + ("meta",)


class DocumentError(ValueError):
    """A malformed document or shard line."""


def bad_utf8_line(raw: IO[bytes]) -> tuple[int, int] | None:
    """(line number, first bad byte) of the first line of a binary stream that is not UTF-8."""
    for lineno, line in enumerate(raw, 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            return lineno, line[e.start]
    return None


def read_lines(lines: Iterable[str], where: str, raw: Callable[[], IO[bytes]] | None = None) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-blank lines of a text stream; invalid UTF-8 is a
    DocumentError naming ``where`` and the line (found by rereading the bytes from ``raw()``,
    since a text stream decodes ahead of the line it yields)."""
    try:
        for lineno, line in enumerate(lines, 1):
            if line.strip():
                yield lineno, line
    except UnicodeDecodeError as e:
        found = None
        if raw is not None:
            with raw() as f:
                found = bad_utf8_line(f)
        at, byte = found or ("?", e.object[e.start])
        raise DocumentError(f"{where}:{at}: not UTF-8 (byte 0x{byte:02x}); the file must be UTF-8 JSON "
                            "Lines: re-encode it (e.g. `iconv -f latin1 -t utf-8`)") from None


class StrictJSONError(ValueError):
    """JSON that Python's parser takes but JSON does not allow, or that means two things."""


def _no_constant(name: str):
    raise StrictJSONError(f"{name} is not a JSON number (numbers must be finite)")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise StrictJSONError(f"key {dup[:60]!r} appears twice in one object (which one counts?)")
    return out


STRICT_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def decompress_error(e: BaseException) -> bool:
    """A compressed file that is not what its suffix says, or is cut short."""
    return isinstance(e, (EOFError, io.UnsupportedOperation, zlib.error, lzma.LZMAError, gzip.BadGzipFile)) \
        or type(e).__name__ == "ZstdError"


def read_records(path: str | os.PathLike, what: str = "shard", strict: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, JSON object) of each non-blank line of a JSON Lines file (plain or
    compressed). Invalid UTF-8, bad JSON, nesting too deep for the parser, lines that are not
    JSON objects and a file that does not decompress are a DocumentError naming the file and
    line, never a traceback. ``strict`` (input from outside: pool sources, external files) also
    refuses NaN/Infinity and an object with a key twice (``STRICT_JSON``); shards winnow wrote are
    read with the faster plain parser."""
    loads = STRICT_JSON.decode if strict else json.loads
    lineno = 0
    try:
        with open_file(path, "rt") as f:
            for lineno, line in read_lines(f, str(path), lambda: open_file(path, "rb")):
                try:
                    rec = loads(line)
                except json.JSONDecodeError as e:
                    raise DocumentError(f"{path}:{lineno}: not a JSON object ({e.msg}); "
                                        f"each line of a {what} must be one JSON document") from None
                except StrictJSONError as e:
                    raise DocumentError(f"{path}:{lineno}: {e}; fix the line") from None
                except RecursionError:
                    raise DocumentError(f"{path}:{lineno}: JSON nested too deeply to read; each line of a "
                                        f"{what} must be one flat JSON document") from None
                if not isinstance(rec, dict):
                    raise DocumentError(f"{path}:{lineno}: a JSON {type(rec).__name__}, not an object; each "
                                        f"line of a {what} must be one JSON document {{\"id\": ..., \"text\": ...}}")
                yield lineno, rec
    except Exception as e:
        if not decompress_error(e):
            raise
        raise DocumentError(f"{path}: does not decompress after line {lineno} ({type(e).__name__}: {e}); the "
                            "file is cut short or is not compressed as its suffix says (.zst, .gz, ...)") from None


def read_docs(path: str | os.PathLike) -> Iterator[dict]:
    """Yield documents of a JSON Lines shard (plain or compressed), naming the line on bad JSON."""
    for _, rec in read_records(path):
        yield rec


def check_fields(rec: dict, where: str, *, need_id: bool = True) -> None:
    """A source or external document's fields: ``id`` a non-empty string (optional when not
    ``need_id``), ``text`` a string that is valid Unicode (no lone surrogates), ``url`` a string
    or null, ``meta`` an object or null, ``source`` a string or null. A DocumentError names
    ``where`` (file:line), the field and the fix."""
    def bad(field: str, want: str) -> DocumentError:
        got = type(rec.get(field)).__name__ if field in rec else "missing"
        return DocumentError(f"{where}: field {field!r} is {got}; it must be {want} (fix or drop the line)")

    if (need_id or "id" in rec) and not (isinstance(rec.get("id"), str) and rec["id"]):
        raise bad("id", "a non-empty string, unique within the file")
    if not isinstance(rec.get("text"), str):
        raise bad("text", "a string")
    try:
        rec["text"].encode("utf-8")
    except UnicodeEncodeError as e:
        raise DocumentError(f"{where}: field 'text' holds a lone surrogate (\\u{ord(rec['text'][e.start]):04x} at "
                            f"character {e.start}), which is not Unicode text; fix the line's escapes") from None
    for field, kind, want in (("url", str, "a string or null"), ("meta", dict, "an object or null"),
                              ("source", str, "a string or null")):
        if rec.get(field) is not None and not isinstance(rec[field], kind):
            raise bad(field, want)


def read_source_docs(path: str | os.PathLike) -> Iterator[dict]:
    """Documents of a pool source file, each checked (``check_fields``); an empty file is an
    error, never a silently smaller pool."""
    n = 0
    for lineno, rec in read_records(path, "pool source", strict=True):
        check_fields(rec, f"{path}:{lineno}")
        n += 1
        yield rec
    if n == 0:
        raise DocumentError(f"{path}: holds no documents; remove it from the pool's sources or fill it")


def dump_doc(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_docs(path: str | os.PathLike, docs: Iterable[dict]) -> dict:
    """Write documents atomically; return ``{"docs": n, "text_bytes": b}``."""
    n = nbytes = 0
    with atomic_open(Path(path), "wt") as f:
        for doc in docs:
            f.write(dump_doc(doc))
            n += 1
            nbytes += len(doc.get("text", "").encode("utf-8"))
    return {"docs": n, "text_bytes": nbytes}


def check_doc(doc: object, where: str) -> dict:
    """Validate one document; raise DocumentError naming ``where`` and the problem."""
    if not isinstance(doc, dict):
        raise DocumentError(f"{where}: a document must be a dict, got {type(doc).__name__}")
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise DocumentError(f"{where}: document has no string 'id'")
    if not isinstance(doc.get("text"), str):
        raise DocumentError(f"{where}: document {doc.get('id')!r} has no string 'text'")
    return doc
