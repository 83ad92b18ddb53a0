"""Paths the tests share: the repository, the tests' fixtures and golden files.

Tests live in folders mirroring the package (``tests/curate/``, ``tests/eval/``, ...), so a path
relative to a test file depends on its depth; they import these instead.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
CURATE_FIXTURES = FIXTURES / "curate"
GOLDEN_DIR = TESTS / "golden"
