"""External documents of the mixing track: what a recipe's ``external:`` lists, pinned and sharded.

A mixing-track recipe may add documents from outside the pool (bring your own data)::

    track: mixing
    external:
      - extra/my_docs.jsonl.zst                              # a local file, beside the recipe
      - {url: https://host/more.jsonl.gz, sha256: <64 hex>}  # a remote file (any fsspec URL), pinned
                                                             #   (s3://, gs://, hf://, memory://...)
      - {reference: debian_tutorials_v1}                     # a reference corpus, by its name

Each file is JSON Lines (plain, ``.gz`` or ``.zst``) with a string ``text`` on every line;
``id`` and ``url`` are optional. Its documents enter curation beside the pool's, before the
first step, so the recipe's steps see them too: id ``ext/<k>/<id, or the line number>`` (k =
the file's place in the list), source ``external/<file stem>`` (the per-source tables show
them), nothing else. The recipe fingerprint covers every file's sha256: a local file is hashed
when the recipe loads, a remote one is the pinned value and is checked after download (cached
under ``$WINNOW_HOME/external/<sha256>``). A ``file://`` URL is a local path and stays confined
to the recipe's folder like any other; any other URL must be pinned (issue 21: a submission names
the bytes it uses). Rows of the mixing track are flagged as using
external data; the filtering track's rule that every training document descends from a pool
document does not apply to them.

A ``{reference: <name>}`` entry names a registered reference corpus of
``winnow.curate.reference`` (pinned, sha256-verified Debian packages). Loading the recipe
materialises it with ``build_corpus`` (downloaded and extracted once, then reused from
``$WINNOW_HOME/reference/<name>/``) and from then on it is a local file: its
``docs.jsonl.zst`` is hashed like any local file, and the fingerprint holds the corpus name
(which carries its version, e.g. ``_v1``) with that sha256. Its documents get source
``external/<name>``. The docs file is zstd-compressed, so a build with another ``zstandard``
release could change the bytes and hence the fingerprint (never the other way round). An
unknown name is a recipe error that lists the registered corpora.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from winnow.curate.reference import REFERENCE_CORPORA, ReferenceError, build_corpus
from winnow.docs import (STRICT_JSON, DocumentError, StrictJSONError, check_fields, decompress_error, read_lines,
                         write_docs)
from winnow.fetch import FetchError, VerifyError, fetch
from winnow.io import compression_for, sha256_file
from winnow.paths import LocationError, inside, local_path, outside_message, winnow_home
from winnow.registry import suggest

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ExternalError(DocumentError):
    """An external file is missing, unpinned, altered or malformed (the message says which): a
    DocumentError, so the CLI tells it in one line like any bad input file."""


@dataclass(frozen=True)
class ExternalFile:
    """One entry of ``external:``: a local path, a pinned URL or a reference corpus (then
    ``path`` is its built docs file), and the content's sha256."""

    label: str  # as the recipe wrote it
    sha256: str
    path: Path | None = None  # local file
    url: str | None = None  # remote file
    reference: str | None = None  # a registered reference corpus' name (winnow.curate.reference)

    @property
    def stem(self) -> str:
        if self.reference is not None:
            return self.reference
        name = Path(self.url or str(self.path)).name
        for suffix in (".zst", ".gz", ".bz2", ".xz", ".jsonl", ".json"):
            name = name.removesuffix(suffix)
        return name or "external"

    @property
    def canonical(self) -> str | dict:
        """What the recipe fingerprint holds: the sha256; for a reference corpus, with its name."""
        if self.reference is None:
            return self.sha256
        return {"reference": self.reference, "sha256": self.sha256}


def reference_file(name: Any) -> ExternalFile:
    """The entry ``{reference: name}``: the corpus built (or reused from its cache) and hashed.

    Raises ExternalError for an unknown name (listing the registered ones) and
    ``winnow.curate.reference.ReferenceError`` when the corpus cannot be fetched or built.
    """
    known = sorted(REFERENCE_CORPORA)
    if not isinstance(name, str) or name not in REFERENCE_CORPORA:
        hint = suggest(str(name), known)
        hint = f"{hint} " if hint.startswith("did you mean") else ""
        raise ExternalError(f"unknown reference corpus {name!r}: {hint}(registered: "
                            f"{', '.join(known)}; see winnow/curate/reference.py)")
    path = build_corpus(name)
    return ExternalFile(label=f"reference:{name}", sha256=sha256_file(path), path=path,
                        reference=name)


def parse_external(raw: Any, folder: Path) -> tuple[list[ExternalFile], list[str]]:
    """The recipe's ``external:`` entries (``folder``: the recipe's) and the problems found."""
    if not isinstance(raw, list) or not raw:
        return [], ["`external` must be a non-empty list of local paths, {url, sha256} or "
                    "{reference: <corpus name>} entries"]
    files: list[ExternalFile] = []
    problems: list[str] = []
    for i, entry in enumerate(raw, 1):
        if isinstance(entry, str):
            try:
                given = local_path(entry)   # a plain path, or a file:// URL's path: confined alike
            except LocationError as e:
                problems.append(f"external entry {i}: {e}")
                continue
            if given is None:
                problems.append(f"external entry {i} ({entry}) is a URL: pin it as "
                                f"{{url: {entry}, sha256: <hex digest>}} so the recipe names its bytes")
                continue
            path = (folder / given).resolve()
            if not inside(folder, path):
                problems.append(outside_message(f"external entry {i}", entry, path, folder))
                continue
            if not path.is_file():
                problems.append(f"external entry {i}: {entry} not found (looked for {path})")
                continue
            files.append(ExternalFile(label=entry, sha256=sha256_file(path), path=path))
        elif isinstance(entry, dict) and set(entry) == {"url", "sha256"}:
            try:
                url, digest = pinned_entry(entry)
            except ExternalError as e:
                problems.append(f"external entry {i}: {e}")
                continue
            files.append(ExternalFile(label=url, sha256=digest, url=url))
        elif isinstance(entry, dict) and set(entry) == {"reference"}:
            try:
                files.append(reference_file(entry["reference"]))
            except (ExternalError, ReferenceError) as e:
                problems.append(f"external entry {i}: {e}")
        else:
            problems.append(f"external entry {i}: expected a path, {{url, sha256}} or "
                            f"{{reference: <corpus name>}}, got {entry!r}")
    return files, problems


def fetch_pinned(url: str, sha256: str, what: str = "external file", cache: Path | None = None) -> Path:
    """The local copy of a pinned remote file (any fsspec URL; an http(s) server; file://):
    ``$WINNOW_HOME/external/<sha256>``, fetched once, verified before it is renamed into place."""
    dest = (cache or winnow_home() / "external") / sha256
    try:
        return fetch(url, dest, sha256=sha256, progress=True).path
    except VerifyError as e:
        raise ExternalError(f"{what} {url}: sha256 {e.sha256} does not match the "
                            f"recipe's pin {sha256}; the upstream changed, re-pin it") from None
    except FetchError as e:
        raise ExternalError(f"{what} {url}: {e}") from None


def pinned_entry(entry: Any) -> tuple[str, str] | None:
    """``(url, sha256)`` of a ``{url: ..., sha256: <64 hex>}`` mapping, None if ``entry`` is not one;
    ExternalError for a mapping of that shape whose sha256 is not 64 hex digits."""
    if not (isinstance(entry, dict) and set(entry) == {"url", "sha256"}):
        return None
    digest = str(entry["sha256"]).lower()
    if not SHA256.match(digest):
        raise ExternalError(f"sha256 must be 64 hex digits, got {entry['sha256']!r}")
    return str(entry["url"]), digest


def fetch_external(f: ExternalFile, cache: Path | None = None) -> Path:
    """The local bytes of ``f``: the file itself, or the pinned download (verified, cached)."""
    if f.path is not None:
        if sha256_file(f.path) != f.sha256:
            raise ExternalError(f"external file {f.path} changed after the recipe was loaded; rerun")
        return f.path
    return fetch_pinned(f.url, f.sha256, cache=cache)


def _documents(f: ExternalFile, k: int, local: Path):
    where = f.label
    # the compression follows the entry's own name (a cached download is named by its hash)
    comp = compression_for(f.url or str(f.path))
    seen: dict[str, int] = {}
    with fsspec.open(str(local), "rt", compression=comp, encoding="utf-8", newline="\n").open() as lines:
        raw = lambda: fsspec.open(str(local), "rb", compression=comp).open()  # noqa: E731
        for lineno, line in read_lines(lines, f"external file {where}", raw):
            try:
                rec = STRICT_JSON.decode(line)
            except json.JSONDecodeError as e:
                raise DocumentError(f"external file {where}:{lineno}: not a JSON object ({e.msg}); each line "
                                    "must be one JSON object with a string `text`") from None
            except StrictJSONError as e:
                raise DocumentError(f"external file {where}:{lineno}: {e}; fix the line") from None
            except RecursionError:
                raise DocumentError(f"external file {where}:{lineno}: JSON nested too deeply to read; each "
                                    "line must be one flat JSON object with a string `text`") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise DocumentError(f"external file {where}:{lineno}: each line needs a string `text`")
            check_fields(rec, f"external file {where}:{lineno}", need_id=False)
            ident = str(rec.get("id", lineno))   # the id is optional: the line number stands in
            if ident in seen:
                raise DocumentError(f"external file {where}:{lineno}: id {ident[:80]!r} repeats line "
                                    f"{seen[ident]}; ids must be unique within the file (a line without "
                                    "an id takes its line number)")
            seen[ident] = lineno
            url = rec.get("url")
            yield {"id": f"ext/{k}/{ident}", "text": rec["text"],
                   "url": url if isinstance(url, str) else None, "source": f"external/{f.stem}"}


def external_shards(files: list[ExternalFile], out_dir: Path) -> list[Path]:
    """One shard per external file (``external-<k>.jsonl.zst`` in ``out_dir``), written atomically."""
    out_dir = Path(out_dir)
    shards = []
    for k, f in enumerate(files):
        local = fetch_external(f)
        shard = out_dir / f"external-{k:02d}.jsonl.zst"
        try:
            n = write_docs(shard, _documents(f, k, local))["docs"]
        except Exception as e:
            if not decompress_error(e):
                raise
            raise ExternalError(f"external file {f.label}: does not decompress ({type(e).__name__}: {e}); it is "
                                "cut short or not compressed as its name says (.zst, .gz, ...)") from None
        if n == 0:
            shard.unlink()
            raise ExternalError(f"external file {f.label} holds no documents")
        shards.append(shard)
    return shards
