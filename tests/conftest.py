"""Shared test setup: a temporary WINNOW_HOME and leaderboard, one thread per process.

Tests never write into the checkout or the user's cache: WINNOW_HOME and WINNOW_LEADERBOARD point
into pytest's temporary folders for the whole session.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("winnow_home")
    board = tmp_path_factory.mktemp("leaderboard")
    old = {k: os.environ.get(k) for k in ("WINNOW_HOME", "WINNOW_LEADERBOARD")}
    os.environ["WINNOW_HOME"] = str(home)
    os.environ["WINNOW_LEADERBOARD"] = str(board)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def mini_pool():
    """The `mini` pool (a small fixed slice of the embedded pool's sources), built once."""
    from winnow.config import group_file
    from winnow.pool.build import build_pool

    cfg = group_file("pool", "mini")
    return cfg, build_pool(cfg, progress=False)


@pytest.fixture
def served(tmp_path):
    """(folder, base URL): an empty folder ``www`` served over HTTP on localhost (tests.helpers.serve_folder)."""
    from tests.helpers import serve_folder

    root = tmp_path / "www"
    root.mkdir()
    with serve_folder(root) as url:
        yield root, url
