"""``winnow leaderboard build``: the rows read once, the board built once, every page written from it.

``build`` loads the rows, builds the ``tables.Board`` (tables, signal lines) once and hands it to
each writer: ``leaderboard/README.md`` (``render``), with ``--html`` ``leaderboard/index.html``
(``html``), and, for the repository's own board, the tables between the README's
``<!-- leaderboard:<scale> -->`` markers and the submission READMEs' results blocks
(``readmes``). Every file is written with ``atomic_open`` and only when its text changed (the
leaderboard README always).
"""

from __future__ import annotations

from pathlib import Path

from winnow.io import atomic_open
from winnow.leaderboard.boards import is_repository_board
from winnow.leaderboard.html import write_html
from winnow.leaderboard.readmes import write_readmes
from winnow.leaderboard.render import leaderboard_markdown, render, replace_marked
from winnow.leaderboard.rows import load_rows
from winnow.leaderboard.tables import Board
from winnow.paths import REPO_ROOT, leaderboard_dir


def build(rows_dir: Path | None = None, html: bool = False, folder: Path | None = None) -> list[Path]:
    """Write the pages of the board in ``folder`` (default ``leaderboard_dir()``; a test scale's
    board is ``$WINNOW_HOME/leaderboard``, ``winnow.leaderboard.boards``) from the rows under
    ``rows_dir`` (default: its ``rows/``); the paths written. Only the repository's board also
    writes the README blocks."""
    folder = folder or leaderboard_dir()
    board = Board.of(load_rows(rows_dir or (folder / "rows")))
    sections = render(board)
    out = folder / "README.md"
    with atomic_open(out, "wt") as f:
        f.write(leaderboard_markdown(sections))
    written = [out]
    if html:
        written.append(write_html(board, folder / "index.html"))
    readme = REPO_ROOT / "README.md"
    if readme.exists() and is_repository_board(folder):
        text = readme.read_text()
        new = text
        for scale, body in sections.items():
            new = replace_marked(new, (f"<!-- leaderboard:{scale} -->", f"<!-- /leaderboard:{scale} -->"), body)
        if new != text:
            with atomic_open(readme, "wt") as f:
                f.write(new)
            written.append(readme)
        written += write_readmes(board)
    return written
