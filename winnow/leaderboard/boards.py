"""Which board a row goes to: the repository's ``leaderboard/`` takes only leaderboard scales.

A scale whose YAML says ``leaderboard: {board: false}`` (``debug``, the scale of tests and CI)
is a test scale. With no ``WINNOW_LEADERBOARD`` set, its rows and their pages go to a board in
the run's home, ``$WINNOW_HOME/leaderboard/``, so ``winnow run scale=debug ... --submit`` leaves
the checkout as it was and test rows never sit among official ones. Every other scale (with a
``leaderboard:`` section or without one, as the GPU scales) goes to ``leaderboard_dir()``: the
repository's ``leaderboard/``. ``WINNOW_LEADERBOARD``, when set, is the board of every scale
(tests point it at a temporary folder), as it is for ``winnow leaderboard build|check``.

The property is a key of the scale YAML rather than a list of names here, so a new test-only
scale says so where it is defined; the default is the board, so no official scale needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from winnow.config import ConfigError, group_file
from winnow.paths import REPO_ROOT, leaderboard_dir, winnow_home


def on_board(scale: dict) -> bool:
    """Whether rows of this scale config belong on the repository's board (the default)."""
    return (scale.get("leaderboard") or {}).get("board", True) is not False


def is_repository_board(folder: Path) -> bool:
    """Whether ``folder`` is the repository's own ``leaderboard/`` (whose pages include the README
    blocks and ``index.html``), not a test scale's or a temporary board."""
    return Path(folder) == REPO_ROOT / "leaderboard"


def home_board() -> Path:
    """The board of test scales' rows: ``$WINNOW_HOME/leaderboard``."""
    return winnow_home() / "leaderboard"


def board_for(scale_name: str) -> Path:
    """The board (a folder holding ``rows/`` and ``README.md``) a row of ``scale_name`` goes to."""
    if os.environ.get("WINNOW_LEADERBOARD"):
        return leaderboard_dir()
    try:
        scale = group_file("scale", scale_name)
    except ConfigError:  # not a committed scale: submit refuses it before writing anything
        return leaderboard_dir()
    return leaderboard_dir() if on_board(scale) else home_board()
