"""Submissions named by URL: ``file://`` is a local path, any other fsspec URL is copied first.

``submission=file:///abs/folder`` is the folder itself (winnow.paths.local_path). Any other URL
(``s3://bucket/subs/mine``, ``gs://...``, ``hf://...``, ``memory://...``) goes through fsspec and
is copied into ``$WINNOW_HOME/remote/<digest>/<parent>/<name>`` before use. Choices:

- **Content-addressed.** The digest hashes the layout and every file's relative path and sha256, so the same
  content is one copy however often it is named, and a changed remote folder is a new copy; the
  copy is written under a temporary name and renamed into place, so a half copy is never used.
- **Same layout, same name.** The copy keeps the URL's last two path parts, so the submission's
  name (``<parent>/<name>``) is what it would be from a local checkout of the same folder.
- **Confinement kept.** A listed file whose relative path is absolute or climbs out (``..``) is
  refused; the copy holds regular files only (object stores have no symlinks), so the local
  rules that keep a submission's files inside its folder (winnow.paths.inside) apply unchanged.
- **Never silently empty.** A URL that lists no files, or whose protocol's package is missing
  (``s3fs``, ``gcsfs``, ``huggingface_hub``...), is one error line saying so; ``backend_hint``
  words the second for every fsspec reader in winnow, naming winnow's extra (``pip install
  'winnow[s3]'``) as declared in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from winnow.io import disk_full
from winnow.paths import LocationError, winnow_home

# the extra of winnow (pyproject.toml) and the package it installs for each fsspec protocol
EXTRAS = {"s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs"), "gs": ("gcs", "gcsfs"), "gcs": ("gcs", "gcsfs"),
          "hf": ("hf", "huggingface_hub"), "az": ("azure", "adlfs"), "abfs": ("azure", "adlfs"),
          "http": ("http", "aiohttp"), "https": ("http", "aiohttp")}


class RemoteError(LocationError):
    """A URL that cannot be read (missing protocol package, nothing there, unsafe names)."""


def backend_hint(url: str, error: Exception) -> str:
    """One line for a URL whose fsspec backend is missing or unknown: what to ``pip install``."""
    protocol = url.split("://", 1)[0].lower()
    if isinstance(error, ImportError) and protocol in EXTRAS:
        extra, package = EXTRAS[protocol]
        return (f"{url}: reading {protocol}:// URLs needs {package}, which is not installed: "
                f"pip install 'winnow[{extra}]' (or pip install {package})")
    if isinstance(error, ImportError):
        return f"{url}: the fsspec backend for {protocol}:// is not installed ({error}); install it"
    return (f"{url}: {error}; winnow reads URLs through fsspec (file://, s3://, gs://, hf://, "
            "memory://, https:// ...; for s3, gs and hf install winnow's extra of that name)")


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for ``url``; one clear line when it cannot be opened."""
    try:
        import fsspec.core

        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:  # a backend not installed; fsspec's "Protocol not known"
        raise RemoteError(backend_hint(url, e)) from None


def _listing(fs, root: str, url: str) -> list[tuple[str, str]]:
    """(relative posix path, full path) of every file under ``root``, checked and sorted."""
    root = root.rstrip("/")
    if fs.isfile(root):
        return [(posixpath.basename(root), root)]
    if not fs.isdir(root):
        raise RemoteError(f"{url}: no such file or folder")
    out = []
    for full in sorted(fs.find(root, withdirs=False)):
        rel = posixpath.relpath(full.rstrip("/"), root)
        if rel.startswith(("/", "../")) or rel in ("", ".", "..") or "/../" in f"/{rel}/":
            raise RemoteError(f"{url}: the listed file {full!r} is not inside the folder")
        out.append((rel, full))
    if not out:
        raise RemoteError(f"{url}: the folder holds no files (a submission needs recipe.yaml or an id file)")
    return out


def copy_submission(url: str, cache: Path | None = None) -> Path:
    """The local copy of the submission folder (or id file) at ``url``, made if not yet cached. A
    server that does not answer, refuses or fails is a RemoteError naming the URL (each backend
    raises its own exception types: aiohttp's, botocore's...)."""
    try:
        return _copy_submission(url, cache)
    except RemoteError:
        raise
    except Exception as e:
        if disk_full(e):
            raise
        raise RemoteError(f"{url}: could not be read ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); "
                          "check the URL and the network, or copy the submission folder here") from None


def _copy_submission(url: str, cache: Path | None) -> Path:
    fs, root = filesystem(url)
    files = _listing(fs, root, url)
    single = fs.isfile(root.rstrip("/"))  # an id file, not a folder
    parts = [p for p in root.rstrip("/").split("/") if p]
    parent, name = (["remote", "remote"] + parts)[-2:]
    layout = Path(parent) if single else Path(parent) / name
    base = Path(cache or winnow_home() / "remote")
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".part-", dir=base))
    try:
        entries = [f"{layout.as_posix()}\n"]
        for rel, full in files:
            dest = tmp / layout / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with fs.open(full, "rb") as src, open(dest, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
            entries.append(f"{rel}\0{h.hexdigest()}\n")
        digest = hashlib.sha256("".join(entries).encode()).hexdigest()[:16]
        final = base / digest
        if not final.exists():
            try:
                os.replace(tmp, final)
                tmp = None
            except OSError:  # another process renamed the same content into place first
                if not final.is_dir():
                    raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return final / layout / files[0][0] if single else final / layout
