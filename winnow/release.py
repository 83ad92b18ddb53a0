"""Data releases: a whole data root as plain files plus a manifest, made by ``winnow data pack``
and fetched by ``winnow data pull --from URL`` (or ``$WINNOW_DATA_RELEASE_URL``).

The embedded pool is assembled offline from many sources, so no upstream file holds it; a release
is how a fresh machine gets it, with every other file of the data root in the same place. Choices:

- **Layout.** ``<release>/<path>`` for every file of the data root, so a release folder is itself
  a data root (``WINNOW_DATA=<release>``, ``winnow data pull --mirror`` work on it), and
  ``<release>/release.json``: ``{"schema", "kind", "version", "bytes", "files": {path: {"sha256",
  "bytes"}}}``. Canonical JSON without time stamps: packing the same data root gives the same
  bytes, so the manifest's sha256 names the release.
- **Pinned.** ``conf/data_release.json`` records the version and the sha256 of the project's
  ``release.json``; a pull checks the manifest against it before trusting a line of it. A release
  of another data folder is pinned on the command line (``--release-sha256 HEX``), never trusted
  unpinned.
- **Every file through** :func:`winnow.fetch.fetch`: sha256 and size checked before the atomic
  rename, an interrupted pull resumed from the ``.part`` file, files already present and verified
  skipped. Every file is tried; the error lists each one that failed.
- **Safe names.** A manifest path that is absolute, climbs out (``..``), is hidden or holds a
  backslash is refused before anything is fetched: a release cannot write outside the data root.
- **Packing** writes into a temporary sibling folder renamed into place (hard links where the
  filesystem allows, else copies); hidden files (``.*``, which includes ``.part`` leftovers) and
  a top-level ``release.json`` (a pulled root's own manifest) are not part of a release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from winnow.fetch import FetchError, VerifyError, fetch, file_hashes
from winnow.paths import REPO_ROOT

MANIFEST = "release.json"
KIND = "winnow-data-release"
SCHEMA = 1
PIN_PATH = REPO_ROOT / "conf" / "data_release.json"
RELEASE_URL_ENV = "WINNOW_DATA_RELEASE_URL"


class ReleaseError(FileNotFoundError):
    """A release cannot be packed or pulled (the message says what, where and how to fix it)."""


@dataclass(frozen=True)
class PullReport:
    url: str
    dest: Path
    files: int
    bytes: int
    fetched: list[str]     # paths downloaded this time
    skipped: list[str]     # already present and verified
    resumed: int           # bytes of earlier partial downloads that were kept


def pin() -> dict:
    """The project's pinned release (``conf/data_release.json``)."""
    return json.loads(PIN_PATH.read_text(encoding="utf-8"))


def release_url(given: str | None = None) -> str | None:
    """Where releases are fetched from: ``--from``, else ``$WINNOW_DATA_RELEASE_URL``, else None."""
    url = given or os.environ.get(RELEASE_URL_ENV) or None
    if url and "://" not in url:   # a local folder
        url = Path(url).expanduser().resolve().as_uri()
    return url.rstrip("/") if url else None


def release_files(root: Path) -> list[str]:
    """The data root's files that belong to a release, as sorted posix paths under ``root``."""
    out = []
    for p in Path(root).rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == MANIFEST or not p.is_file():
            continue
        out.append(rel.as_posix())
    return sorted(out)


def manifest_of(root: Path, version: int | str) -> dict:
    """The release manifest of a data root (every file's sha256 and size)."""
    files = {}
    for rel in release_files(root):
        files[rel] = {"sha256": file_hashes(root / rel)[0], "bytes": (root / rel).stat().st_size}
    if not files:
        raise ReleaseError(f"{root}: no files to pack (expected a data root: pool/, eval/, tokenizers/ ...)")
    return {"schema": SCHEMA, "kind": KIND, "version": version,
            "bytes": sum(f["bytes"] for f in files.values()), "files": files}


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def pack(root: str | os.PathLike, out: str | os.PathLike, version: int | str | None = None) -> tuple[Path, str]:
    """Write the release of data root ``root`` into the new folder ``out``; (out, manifest sha256)."""
    root, out = Path(root).expanduser().resolve(), Path(out).expanduser().resolve()
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such data root folder (pass --root, or set WINNOW_DATA)")
    if out.exists():
        raise ReleaseError(f"{out} already exists: pack writes a new folder (remove it, or choose another)")
    if out.is_relative_to(root):
        raise ReleaseError(f"{out} is inside the data root {root}: pack into a folder outside it")
    manifest = manifest_of(root, pin()["version"] if version is None else version)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, entry in manifest["files"].items():
            src, dst = root / rel, tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src.resolve(), dst)
            except OSError:   # another filesystem, or links not allowed: copy
                shutil.copyfile(src, dst)
            if dst.stat().st_size != entry["bytes"]:
                raise ReleaseError(f"{src} changed while it was packed; pack again")
        data = manifest_bytes(manifest)
        (tmp / MANIFEST).write_bytes(data)
        os.replace(tmp, out)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return out, hashlib.sha256(data).hexdigest()


def _checked_paths(manifest: dict, url: str) -> dict[str, dict]:
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND or manifest.get("schema") != SCHEMA:
        raise ReleaseError(f"{url}/{MANIFEST}: not a winnow data release manifest of schema {SCHEMA}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ReleaseError(f"{url}/{MANIFEST}: lists no files")
    for rel, entry in files.items():
        parts = PurePosixPath(rel).parts
        if (not isinstance(rel, str) or not rel or "\\" in rel or rel.startswith("/") or ".." in parts
                or any(p.startswith(".") for p in parts) or rel == MANIFEST):
            raise ReleaseError(f"{url}/{MANIFEST}: unsafe file name {rel!r} (absolute, climbing out with "
                               "'..', hidden or the manifest itself); nothing was fetched")
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
                and isinstance(entry.get("bytes"), int) and entry["bytes"] >= 0):
            raise ReleaseError(f"{url}/{MANIFEST}: entry {rel!r} needs a sha256 (64 hex) and a byte count")
    return files


def pull(url: str, dest: str | os.PathLike, sha256: str | None = None, force: bool = False,
         say: Callable[[str], None] | None = print, retries: int = 3) -> PullReport:
    """Fetch the release at ``url`` into the data root ``dest``, every file verified.

    ``sha256`` pins the release's manifest (default: the project's pin, ``conf/data_release.json``).
    Files present and verified are skipped unless ``force``. Raises ReleaseError naming every
    file that failed, after trying them all; what verified stays (a rerun fetches the rest).
    """
    say = say or (lambda _m: None)
    dest = Path(dest).expanduser()
    pinned = pin()
    want = (sha256 or pinned["sha256"]).lower()
    try:
        got = fetch(f"{url}/{MANIFEST}", dest / MANIFEST, sha256=want, reuse=False, retries=retries)
    except VerifyError as e:
        theirs = "" if sha256 else (f" (winnow pins release v{pinned['version']}, sha256 {want[:12]}..., "
                                    f"in {PIN_PATH.relative_to(REPO_ROOT)})")
        raise ReleaseError(f"{url}/{MANIFEST} has sha256 {e.sha256}, not {want}{theirs}: it is another "
                           f"release. If you trust it, pin it: --release-sha256 {e.sha256}") from None
    except FetchError as e:
        raise ReleaseError(f"data release at {url}: {e}") from None
    manifest = json.loads(got.path.read_text(encoding="utf-8"))
    files = _checked_paths(manifest, url)
    total = sum(e["bytes"] for e in files.values())
    say(f"data release v{manifest.get('version')} at {url}: {len(files)} files, {total:,} bytes, into {dest}")
    fetched, skipped, failed, resumed = [], [], [], 0
    for i, (rel, entry) in enumerate(sorted(files.items()), 1):
        target = dest / rel
        head = f"[{i}/{len(files)}] {rel}:"
        if not force and target.is_file() and target.stat().st_size == entry["bytes"] \
                and file_hashes(target)[0] == entry["sha256"]:
            skipped.append(rel)
            continue
        try:
            f = fetch(f"{url}/{urllib.parse.quote(rel)}", target, sha256=entry["sha256"], size=entry["bytes"],
                      reuse=False, retries=retries)
        except FetchError as e:   # VerifyError too: nothing was kept
            failed.append(f"{rel}: {e}")
            say(f"{head} FAILED: {e}")
            continue
        resumed += f.resumed_from
        fetched.append(rel)
        say(f"{head} {f.size:,} bytes, sha256 verified" + (f" (resumed at byte {f.resumed_from:,})"
                                                             if f.resumed_from else ""))
    if skipped:
        say(f"{len(skipped)} file(s) already present and verified, skipped")
    if failed:
        raise ReleaseError(f"{len(failed)} of {len(files)} release file(s) could not be fetched (the others "
                           "are in place; run the same command again to retry):\n"
                           + "\n".join(f"  - {m}" for m in failed))
    return PullReport(url, dest, len(files), total, fetched, skipped, resumed)
