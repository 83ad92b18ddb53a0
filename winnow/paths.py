"""Where winnow finds things: the data root, WINNOW_HOME and the checkout's own folders.

Data root order (DESIGN.md "Where the data lives"): ``$WINNOW_DATA``, then ``../shared/data``
beside the checkout, then ``~/.cache/winnow/data``. Nothing is ever downloaded implicitly: a
missing data root is an error that says where winnow looked and how to get the data.
"""

from __future__ import annotations

import os
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


class DataRootError(FileNotFoundError):
    """No usable data root was found."""


def data_root_candidates() -> list[tuple[str, Path]]:
    """The places searched for the data root, in order, with how each was chosen."""
    found: list[tuple[str, Path]] = []
    env = os.environ.get("WINNOW_DATA")
    if env:
        found.append(("$WINNOW_DATA", Path(env).expanduser()))
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
    """``$WINNOW_HOME`` (default ``~/.cache/winnow``): pools, runs and caches live here."""
    return Path(os.environ.get("WINNOW_HOME", Path.home() / ".cache" / "winnow")).expanduser()


def conf_dir() -> Path:
    return REPO_ROOT / "conf"


def eval_tasks_dir() -> Path:
    return REPO_ROOT / "eval" / "tasks"


def leaderboard_dir() -> Path:
    return Path(os.environ.get("WINNOW_LEADERBOARD", REPO_ROOT / "leaderboard")).expanduser()
