"""Smoke test of bench/bench_curate.py: both sides run on a few pool documents and the ratios print."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from tests.helpers import REPO

pytest.importorskip("datatrove")
pytest.importorskip("spacy")
pytest.importorskip("orjson")

BENCH = REPO / "bench" / "bench_curate.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_curate", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_curate"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bench_curate_smoke(tmp_path, capsys):
    from winnow.docs import read_docs, write_docs
    from winnow.paths import DataRootError, data_root

    try:
        pool = data_root() / "pool"
    except DataRootError:
        pytest.skip("no data root: the pool files and banlists are needed")
    docs = [d for name in ("cc_dolma_test_samples.jsonl.zst", "web_dclm_test_fixtures.jsonl.zst")
            for d in read_docs(pool / name)]
    if not docs:
        pytest.skip("pool fixture files missing")
    longest = max(docs, key=lambda d: len(d["text"]))
    docs.append({**longest, "id": longest["id"] + "-planted-copy"})  # one certain duplicate
    (tmp_path / "pool").mkdir()
    write_docs(tmp_path / "pool" / "mini.jsonl.zst", docs)

    res = _bench().main(["--docs", str(len(docs)), "--repeats", "1", "--parts", "filters,minhash",
                         "--pool-dir", str(tmp_path / "pool")])
    out = capsys.readouterr().out
    assert "datatrove/winnow" in out and "summary" in out
    f = res["filters"]
    assert set(f["cpu_s"]) == {"winnow refinedweb", "winnow gopher+c4", "datatrove gopher+c4"}
    assert f["ratio_refinedweb"] > 0 and f["ratio_gopher_c4"] > 0
    m = res["minhash"]
    assert m["ratio"] > 0
    assert m["removed"]["winnow"] >= 1 and m["removed"]["datatrove"] >= 1  # the planted copy
