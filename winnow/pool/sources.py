"""Pool source declarations: what a pool's ``sources`` list may hold, and how each becomes files.

A pool config's ``sources`` is either the original form, one glob string of JSON Lines document
files relative to the data root (``"pool/*.jsonl.zst"``, the embedded pool), or a list whose items
are such strings or mappings with a ``kind``:

=============  =====================================================================================
kind           one file holds
=============  =====================================================================================
``jsonl``      documents in the winnow convention (``id``, ``text``, ``url``, ``source``, ``meta``)
``html``       one raw HTML page (``.html``, ``.htm``, optionally ``.gz`` / ``.zst``)
``html_tar``   a tar (``.tar``, ``.tar.gz``, ``.tar.zst``) of HTML pages, optionally with an
               ``index.jsonl`` member mapping each page to ``id`` and ``url`` (the layout of
               ``<data>/pool/raw_html/*.tar.zst``)
``warc``       WARC response records; HTML payloads are extracted (``winnow.pool.extract``)
``wet``        WARC conversion records (Common Crawl WET): the text is taken as it is
``dclm_pool``  DCLM-Pool pre-extracted shards (``*.jsonl.gz``: ``text``, ``metadata`` = the WARC
               headers; the url is ``metadata["WARC-Target-URI"]``)
=============  =====================================================================================

Files are named either by ``paths`` (one glob or a list of globs; relative ones are under the data
root, others are fsspec URLs such as ``file:///...``, ``https://...``, ``s3://...``) or by
``url_list`` (a text file, optionally ``.gz``/``.zst``, one URL per line, optionally followed by
its sha256; the DCLM-Pool lists in ``<data>/pool/download_lists`` have this shape), with
``offset``/``limit`` to take a slice of it. ``mirror`` rewrites URL prefixes (``s3://commoncrawl/``
to ``https://data.commoncrawl.org/`` on a machine with internet, or to a local directory laid out
like the bucket), and ``sha256`` maps a file's name or URL to its known digest.

A file is identified by a *name* that does not depend on where it was read from: a path under the
data root stays relative to it (``pool/raw_html/warc/x.warc.gz``) and a URL loses its scheme and
bucket/host (``s3://commoncrawl/contrib/...`` and ``https://data.commoncrawl.org/contrib/...`` are
both ``contrib/...``). The name goes into the pool manifest's parents and the annotations.

Remote files are read through :func:`open_unit`: with ``fetch: cache`` (the default for remote
URLs) each file is downloaded once into ``$WINNOW_HOME/downloads/<name>`` by
:func:`winnow.fetch.fetch` (under a temporary name, resumed if interrupted), its sha256 checked
against the known one (or recorded, when none is known) and then renamed into place; with ``fetch: stream`` it is read straight from the URL and hashed on the way, and a digest
mismatch raises :class:`ChecksumError` when the file has been read to its end. Nothing is ever
downloaded by tests: they use ``file://`` URLs and local directories laid out like the remote.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import fsspec

from winnow.fetch import FetchError, VerifyError, fetch
from winnow.io import open_file, sha256_file
from winnow.paths import winnow_home
from winnow.remote import backend_hint, filesystem

SOURCE_KINDS = ("jsonl", "html", "html_tar", "warc", "wet", "dclm_pool")
EXTRACT_KINDS = ("html", "html_tar", "warc", "wet", "dclm_pool")

# Keys a source mapping may carry (besides ``kind``); anything else is a typo and an error.
COMMON_KEYS = {"paths", "url_list", "offset", "limit", "mirror", "sha256", "fetch", "source",
               "id_prefix", "keep_html", "full_page_text", "drop_empty", "require_http_ok",
               "on_error", "encoding"}
DEFAULT_SOURCE_TAG = {"jsonl": None, "html": "web/html", "html_tar": "web/html", "warc": "web/warc",
                      "wet": "web/wet", "dclm_pool": "web/dclm-pool"}
DEFAULT_ID_PREFIX = {"jsonl": None, "html": "html", "html_tar": "html", "warc": "warc",
                     "wet": "wet", "dclm_pool": "dclm-pool"}


class SourceConfigError(ValueError):
    """A pool ``sources`` entry that cannot be understood."""


class ChecksumError(IOError):
    """A source file's bytes do not match the sha256 the pool config declares for it."""


@dataclass(frozen=True)
class SourceUnit:
    """One file of a pool source: where to read it, what it is called, and what it must hash to."""

    kind: str
    name: str                     # location-independent name (manifest parents, annotations)
    url: str                      # what is opened (local path or fsspec URL), after ``mirror``
    sha256: str | None = None     # known digest, if any
    spec: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_local(self) -> bool:
        return _is_local(self.url)

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def _suggest(word: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"


def normalize_sources(sources) -> list[dict]:
    """The ``sources`` value of a pool config as a list of mappings, each with a valid ``kind``."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not isinstance(sources, (list, tuple)) or not sources:
        raise SourceConfigError("pool `sources` must be a glob string or a non-empty list")
    out = []
    for i, s in enumerate(sources):
        if isinstance(s, (str, os.PathLike)):
            s = {"kind": "jsonl", "paths": str(s)}
        if not isinstance(s, dict):
            raise SourceConfigError(f"pool sources[{i}]: expected a string or a mapping, got {s!r}")
        s = dict(s)
        kind = s.get("kind")
        if kind not in SOURCE_KINDS:
            raise SourceConfigError(f"pool sources[{i}]: unknown kind {kind!r}; "
                                    f"{_suggest(str(kind), SOURCE_KINDS)}")
        extra = set(s) - COMMON_KEYS - {"kind", "extract"}
        if extra:
            bad = sorted(extra)[0]
            raise SourceConfigError(f"pool sources[{i}] ({kind}): unknown key {bad!r}; "
                                    f"{_suggest(bad, COMMON_KEYS | {'extract'})}")
        if ("paths" in s) == ("url_list" in s):
            raise SourceConfigError(f"pool sources[{i}] ({kind}): give exactly one of `paths` "
                                    "or `url_list`")
        if s.get("fetch", "cache") not in ("cache", "stream"):
            raise SourceConfigError(f"pool sources[{i}]: fetch must be 'cache' or 'stream'")
        if s.get("on_error", "raise") not in ("raise", "skip"):
            raise SourceConfigError(f"pool sources[{i}]: on_error must be 'raise' or 'skip'")
        out.append(s)
    return out


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def _under(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def canonical_name(url: str, root: Path | None = None) -> str:
    """A location-independent name: relative to the data root, or the URL without scheme/host."""
    if _is_local(url):
        p = Path(_local_path(url)).resolve()
        if root is not None:
            try:
                return p.relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                pass
        return p.as_posix().lstrip("/")
    rest = url.split("://", 1)[1]
    return rest.split("/", 1)[1] if "/" in rest else rest  # drop the bucket or host


def apply_mirror(url: str, mirror: dict | None) -> str:
    """Rewrite the longest matching URL prefix (``s3://commoncrawl/`` -> a mirror or local dir)."""
    for prefix in sorted(mirror or {}, key=len, reverse=True):
        if url.startswith(prefix):
            target = str(mirror[prefix])
            if not target.endswith("/"):
                target += "/"
            return target + url[len(prefix):]
    return url


def _read_lines(path: str) -> list[str]:
    with open_file(path, "rt") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def _glob_base(pattern: str) -> str:
    """The folder part of a glob pattern before its first wildcard."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else ""


def _glob(pattern: str, root: Path) -> list[str]:
    if _is_local(pattern):
        p = _local_path(pattern)
        if not os.path.isabs(p):
            p = str(root / p)
        return sorted(str(Path(x)) for x in globlib.glob(p))
    fs, path = filesystem(pattern)   # a missing backend is one line naming winnow's extra
    proto = pattern.split("://", 1)[0]
    # http(s) globs list the folder's HTML index and return full URLs; other filesystems return paths
    return sorted(x if "://" in x else f"{proto}://{x}" for x in fs.glob(path))


def expand(spec: dict, root: Path) -> list[SourceUnit]:
    """The files of one (normalized) source mapping, in a fixed order."""
    kind = spec["kind"]
    known = {str(k): str(v).lower() for k, v in (spec.get("sha256") or {}).items()}
    units: list[SourceUnit] = []
    if "paths" in spec:
        patterns = spec["paths"] if isinstance(spec["paths"], (list, tuple)) else [spec["paths"]]
        for pattern in patterns:
            matches = _glob(apply_mirror(str(pattern), spec.get("mirror")), root)
            if not matches:
                where = pattern if os.path.isabs(_local_path(str(pattern))) or not _is_local(str(pattern)) \
                    else root / str(pattern)
                raise FileNotFoundError(f"pool source ({kind}): no files match {where}; check the "
                                        "data root (WINNOW_DATA) or the source's `paths`")
            base = _glob_base(_local_path(str(pattern)))
            for url in matches:
                name = canonical_name(url, root)
                if _is_local(url) and os.path.isabs(_local_path(str(pattern))) \
                        and not _under(_local_path(url), root):
                    # outside the data root: relative to the pattern's folder, so the name (and
                    # the pool's ids, annotations and content id) do not depend on where it lives
                    name = os.path.relpath(_local_path(url), base or "/").replace(os.sep, "/")
                units.append(SourceUnit(kind, name, url, known.get(name) or known.get(url), spec))
    else:
        lst = str(spec["url_list"])
        if _is_local(lst) and not os.path.isabs(_local_path(lst)):
            lst = str(root / lst)
        lines = _read_lines(lst)
        start = int(spec.get("offset") or 0)
        stop = None if spec.get("limit") is None else start + int(spec["limit"])
        for ln in lines[start:stop]:
            parts = ln.split()
            original = parts[0]
            digest = parts[1].lower() if len(parts) > 1 else None
            name = canonical_name(original, root if _is_local(original) else None)
            digest = digest or known.get(name) or known.get(original)
            url = apply_mirror(original, spec.get("mirror"))
            if _is_local(url) and not os.path.isabs(_local_path(url)):
                url = str(root / _local_path(url))
            units.append(SourceUnit(kind, name, url, digest, spec))
    seen: set[str] = set()
    for u in units:
        if u.name in seen:
            raise SourceConfigError(f"pool source ({kind}): file {u.name!r} is listed twice")
        seen.add(u.name)
    if known:
        unused = set(known) - {u.name for u in units} - {u.url for u in units}
        if unused:
            raise SourceConfigError(f"pool source ({kind}): sha256 given for unknown file "
                                    f"{sorted(unused)[0]!r}")
    return units


def source_units(cfg: dict, root: Path) -> list[SourceUnit]:
    """All files of a pool config's sources, source by source, each source's files sorted."""
    units: list[SourceUnit] = []
    for spec in normalize_sources(cfg["sources"]):
        units.extend(expand(spec, root))
    names = [u.name for u in units]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SourceConfigError(f"pool {cfg.get('name')!r}: file {dup!r} belongs to two sources")
    return units


# ---------------------------------------------------------------------------------------------
# Reading with verification


class VerifyingReader(io.RawIOBase):
    """A read-only binary stream that hashes what passes through and checks it at the end.

    ``expected`` None only records the digest (``.sha256`` after EOF). With an expected digest a
    mismatch raises :class:`ChecksumError` from the read that reaches EOF, so a consumer never
    finishes a file whose bytes are not the declared ones. :meth:`finish` reads what a consumer
    left unread (it stopped early) so the check still happens.
    """

    def __init__(self, raw: BinaryIO, name: str, expected: str | None = None):
        self._raw, self.name_, self.expected = raw, name, expected
        self._h = hashlib.sha256()
        self.sha256: str | None = None
        self.nbytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._raw.read(len(b))
        if not data:
            self._done()
            return 0
        n = len(data)
        b[:n] = data
        self._h.update(data)
        self.nbytes += n
        return n

    def _done(self) -> None:
        if self.sha256 is None:
            self.sha256 = self._h.hexdigest()
            if self.expected and self.sha256 != self.expected:
                raise ChecksumError(
                    f"{self.name_}: sha256 {self.sha256} after {self.nbytes} bytes, but the pool "
                    f"config declares {self.expected}; the file is corrupt, truncated or not the "
                    "declared one (delete any cached copy and fetch it again)")

    def finish(self) -> str:
        while self.read(1 << 20):
            pass
        self._done()
        return self.sha256  # type: ignore[return-value]

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def downloads_dir() -> Path:
    return winnow_home() / "downloads"


def fetch_to_cache(unit: SourceUnit, cache: Path | None = None) -> Path:
    """Download a remote file once (:func:`winnow.fetch.fetch`: verified, renamed into place,
    resumed if interrupted); its path.

    Its digest is kept beside it (``<file>.sha256``), so a later build reuses the copy without
    hashing it again when that digest is the known one (or none is known); a copy without the
    record is hashed and reused if it verifies.
    """
    dest = (cache or downloads_dir()) / unit.name
    side = dest.with_name(dest.name + ".sha256")
    if dest.exists() and side.exists():
        if unit.sha256 is None or side.read_text().strip() == unit.sha256:
            return dest
    try:
        got = fetch(unit.url, dest, sha256=unit.sha256, progress=True)
    except VerifyError as e:
        raise ChecksumError(f"{unit.url}: downloaded {e.size} bytes with sha256 {e.sha256}, but the "
                            f"pool config declares {unit.sha256}; nothing was kept") from None
    except FetchError as e:
        raise FetchError(f"pool source file {unit.name}: {e} (for Common Crawl, the source's "
                         "`mirror` can map 's3://commoncrawl/' to 'https://data.commoncrawl.org/' "
                         "or to a local copy)") from None
    side.write_text(got.sha256 + "\n")
    return dest


def _fsspec_open(url: str) -> BinaryIO:
    try:
        return fsspec.open(url, "rb").open()
    except (ImportError, ValueError) as e:  # e.g. s3:// without s3fs
        raise SourceConfigError(backend_hint(url, e) + "; or set the source's `mirror` (for Common "
                                "Crawl: 's3://commoncrawl/': 'https://data.commoncrawl.org/')") from None


def open_unit(unit: SourceUnit) -> VerifyingReader:
    """Open a source file as a verifying binary stream (raw bytes, not decompressed).

    Local files are read in place; remote ones are downloaded once into the cache (``fetch:
    cache``) or read from the URL (``fetch: stream``; a tarball, read in two passes, is then
    fetched twice).
    """
    if unit.is_local:
        path = _local_path(unit.url)
        return VerifyingReader(open(path, "rb"), unit.name, unit.sha256)
    if unit.spec.get("fetch", "cache") == "cache":
        path = fetch_to_cache(unit)
        return VerifyingReader(open(path, "rb"), unit.name, unit.sha256)
    return VerifyingReader(_fsspec_open(unit.url), unit.url, unit.sha256)


def unit_fingerprint(unit: SourceUnit) -> str:
    """What identifies a file's bytes for a pool's input key, without downloading it.

    Local files are hashed (like the embedded pool's sources); remote ones are named by their
    declared sha256, or by their URL when none is declared (Common Crawl paths never change).
    """
    if unit.is_local:
        digest = sha256_file(Path(_local_path(unit.url)))
        if unit.sha256 and digest != unit.sha256:
            raise ChecksumError(f"{unit.url}: sha256 {digest}, but the pool config declares "
                                f"{unit.sha256}")
        return digest
    return unit.sha256 or f"url:{unit.name}"


_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_sha256(s: str | None) -> bool:
    return bool(s) and bool(_HEX64.fullmatch(s or ""))
