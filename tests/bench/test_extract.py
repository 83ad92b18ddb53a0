"""Smoke test of bench/bench_extract.py: pages per CPU-second on a hand-written page."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from tests.helpers import REPO

BENCH = REPO / "bench" / "bench_extract.py"

PAGE = (b"<html><head><title>T</title></head><body><nav><a href='/'>Home</a> <a href='/x'>About</a>"
        b"</nav><article><h1>A real article</h1><p>" + b"This is the main text of the page. " * 12
        + b"</p></article><footer>Copyright footer text</footer></body></html>")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_extract", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_extract"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bench_extract_reports_pages_per_cpu_second():
    res = _bench().bench_extract([PAGE] * 20, verbose=False)
    assert res["pages"] == 20 and res["resiliparse_pages_per_cpu_s"] > 0
    try:
        import trafilatura  # noqa: F401
    except ImportError:
        assert "ratio_resiliparse_over_trafilatura" not in res
    else:
        assert res["ratio_resiliparse_over_trafilatura"] > 0
