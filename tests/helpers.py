"""Paths the tests share: the repository, the tests' fixtures and golden files.

Tests live in folders mirroring the package (``tests/curate/``, ``tests/eval/``, ...), so a path
relative to a test file depends on its depth; they import these instead.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
CURATE_FIXTURES = FIXTURES / "curate"
GOLDEN_DIR = TESTS / "golden"

# Prepended to a child Python's code: blocks every import of winnow (the repository and the
# installed package alike), as on a machine that never installed it; the child exits if winnow
# is still importable.
NO_WINNOW_GUARD = textwrap.dedent("""
    import importlib.abc, sys
    class _NoWinnow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "winnow" or name.startswith("winnow."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
    sys.meta_path.insert(0, _NoWinnow())
    try:
        import winnow  # noqa: F401
        raise SystemExit("winnow is importable")
    except ModuleNotFoundError:
        pass
""")
