"""Where winnow finds things: the data root, WINNOW_HOME and the checkout's own folders.

Data root order (README "Data"): ``$WINNOW_DATA``, then ``../shared/data``
beside the checkout, then ``~/.cache/winnow/data``. Nothing is ever downloaded implicitly: a
missing data root is an error that says where winnow looked and how to get the data. The data root
and WINNOW_HOME are local folders (``file://`` URLs name them too); any other URL is refused with
the way to get a local copy (``winnow data pull --from URL``) or to copy results out.
"""

from __future__ import annotations

import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def inside(folder: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` (symlinks resolved) lies in ``folder`` (symlinks resolved): the rule that
    keeps every file a submission references inside its own folder."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def outside_message(what: str, given: str, resolved: Path, folder: Path) -> str:
    """The one wording of a submission file that resolves outside its folder (never its content)."""
    return (f"{what} names {given!r}, which resolves to {resolved}, outside the submission folder "
            f"{folder}: every file a submission uses must be inside its folder (copy it in; symlinks "
            "out of the folder are not followed), or be a URL pinned with its sha256")


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(value) -> bool:
    """Whether ``value`` is a ``scheme://`` URL (``file://``, ``s3://``, ``memory://``, ``https://``...)."""
    return isinstance(value, str) and bool(_URL.match(value))


def local_path(value: str | os.PathLike) -> Path | None:
    """The local path a ``file://`` URL names (``file:///abs`` or ``file://localhost/abs``), a
    plain path as a Path, None for any other URL (those go through fsspec: winnow.remote)."""
    if not is_url(value):
        return Path(value).expanduser()
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        raise LocationError(f"{value}: a file:// URL names a local path (file:///abs/path); "
                            f"host {parts.netloc!r} is not this machine")
    return Path(urllib.request.url2pathname(parts.path))


class LocationError(FileNotFoundError):
    """A path or URL that winnow cannot use where it was given (the message says why and what to do)."""


class DataRootError(FileNotFoundError):
    """No usable data root was found."""


def env_data_dir() -> Path | None:
    """``$WINNOW_DATA`` as a local folder (a path or ``file://`` URL), None when unset.

    Any other URL is refused with how to get a local copy: runs memory-map and re-read the data
    root's files, and lm-eval's task code reads it by path; ``winnow data pull --from URL`` copies
    a data release from any fsspec or http(s) location, verifying every file."""
    raw = os.environ.get("WINNOW_DATA")
    if not raw:
        return None
    local = local_path(raw)
    if local is None:
        raise DataRootError(
            f"WINNOW_DATA={raw}: the data root must be a local folder (a path or file:// URL): winnow "
            "memory-maps and re-reads its files. Copy it here, verified, with: winnow data pull --from "
            f"{raw} --dest DIR (a release made by `winnow data pack`), then set WINNOW_DATA=DIR")
    return local


def data_root_candidates() -> list[tuple[str, Path]]:
    """The places searched for the data root, in order, with how each was chosen."""
    found: list[tuple[str, Path]] = []
    env = env_data_dir()
    if env is not None:
        found.append(("$WINNOW_DATA", env))
    found.append(("../shared/data beside the checkout", REPO_ROOT.parent / "shared" / "data"))
    found.append(("user cache", Path.home() / ".cache" / "winnow" / "data"))
    return found


def data_root() -> Path:
    """The first candidate that holds a ``pool/`` or ``eval/`` folder."""
    candidates = data_root_candidates()
    for _, path in candidates:
        if (path / "pool").is_dir() or (path / "eval").is_dir():
            return path
    looked = "\n".join(f"  - {how}: {path}" for how, path in candidates)
    raise DataRootError(
        "winnow could not find its data root. It looked in:\n"
        f"{looked}\n"
        "Set WINNOW_DATA to a folder holding pool/ and eval/ (a copy of the project's data folder, "
        "described in README.md, section Data), or put that copy at ~/.cache/winnow/data."
    )


def winnow_home() -> Path:
    """``$WINNOW_HOME`` (default ``~/.cache/winnow``): pools, runs and caches live here.

    A ``file://`` URL is its local path. Any other URL is refused: runs write with atomic renames,
    completion markers and memory-mapped shards, which object stores do not offer (copy results
    out with fsspec or the cloud's CLI instead)."""
    raw = os.environ.get("WINNOW_HOME")
    if raw is None:
        return Path.home() / ".cache" / "winnow"
    home = local_path(raw)
    if home is None:
        raise LocationError(
            f"WINNOW_HOME={raw}: winnow's home must be a local folder (a path or file:// URL): runs "
            "write with atomic renames and memory-mapped shards, which remote filesystems do not "
            "offer; set WINNOW_HOME to a local folder and copy results out afterwards")
    return home


def conf_dir() -> Path:
    return REPO_ROOT / "conf"


def eval_tasks_dir() -> Path:
    return REPO_ROOT / "eval" / "tasks"


def leaderboard_dir() -> Path:
    return Path(os.environ.get("WINNOW_LEADERBOARD", REPO_ROOT / "leaderboard")).expanduser()
