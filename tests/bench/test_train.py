"""Smoke test of bench/bench_train.py: the harness and the bare loop train the same rows, and the
matmul peak and shapes resolve (a handful of steps on the debug model)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import REPO

torch = pytest.importorskip("torch")

BENCH = REPO / "bench"


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_train

    return bench_train


def test_bare_loop_and_harness_run_the_same_shape(bench, tmp_path):
    from bare_loop import bare_loop

    torch.set_num_threads(1)
    cfg = bench.model_config("debug", None)
    assert cfg["seq_len"] == 128 and cfg["vocab_size"] == 1024
    assert bench.model_config("tiny-1x", 64)["seq_len"] == 64  # --seq-len overrides
    with pytest.raises(SystemExit, match="unknown shape"):
        bench.model_config("no-such-scale", None)
    train = {**bench.TRAIN, "batch_size": 2, "precision": "fp32", "compile": False}
    tokens = np.random.default_rng(0).integers(0, 1024, size=(8, 129)).astype(np.uint16)
    np.save(tmp_path / "t.npy", tokens)
    assert bare_loop(cfg, train, tokens, steps=2, warmup=1) > 0
    rate, first = bench.harness(cfg, train, tmp_path / "t.npy", steps=2, warmup=1, threads=1)
    assert rate > 0 and first > 0
    assert 0 < bench.matmul_peak(torch.float32, sizes=(64,), seconds=0.05) < 1e15


def test_breakdown_shares_add_up_and_matmuls_are_counted(bench):
    torch.set_num_threads(1)
    cfg = bench.model_config("debug", 64)
    train = {**bench.TRAIN, "batch_size": 2, "precision": "fp32", "compile": False}
    tokens = np.random.default_rng(0).integers(0, 1024, size=(8, 65)).astype(np.uint16)
    b = bench.breakdown(cfg, train, tokens, steps=2, warmup=1)
    shares = [b[k] for k in ("matmul", "attention", "fused", "optimizer", "other")]
    assert sum(shares) == pytest.approx(1.0) and b["matmul"] > 0 and b["attention"] > 0
    assert b["fused"] == 0                       # nothing compiled in eager mode
    assert b["matmul_gflops"] > 0 and b["attention_gflops"] > 0
    # causal attention of one step: 3 x 2 x T^2 x d x layers x batch
    assert bench.attention_flops(cfg, 2) == 3 * 2 * 64 * 64 * cfg["d_model"] * cfg["n_layers"] * 2


def test_attention_candidates_compute_the_same_causal_attention(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_attention as ba

    torch.manual_seed(0)
    shape = (2, 3, 40, 8)
    for name in ("plain", "sdpa"):
        assert ba.check_same(ba.CANDIDATES[name](), shape, torch.float32) < 1e-5
    assert ba.check_same(lambda q, k, v: ba.blocked(q, k, v, block=16), shape, torch.float32) < 1e-5
    # a non-causal attention is caught
    assert ba.check_same(lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v),
                         shape, torch.float32) > 0.05
    assert ba.attention_flops(16, 5, 512, 32) == 3 * 2 * 16 * 160 * 512 * 512
    with pytest.raises(SystemExit, match="unknown candidate"):
        ba.main(["--shape", "debug", "--candidates", "nope"])


def test_gpu_bench_code_path_runs_on_cpu(monkeypatch, tmp_path):
    """bench_gpu.py's harness, bare loop (with a device) and micro-batched full-batch run, on the
    CPU at the debug shape: every run measured, no MFU without a known peak."""
    if torch.cuda.is_available():
        pytest.skip("on a GPU machine the bench runs on the GPU")
    monkeypatch.syspath_prepend(str(BENCH))
    import json

    import bench_gpu

    torch.set_num_threads(1)
    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--shape", "debug", "--device", "cpu", "--batch", "2", "--steps", "2", "--warmup", "1",
                           "--modes", "bf16", "--full-batch", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(r["side"], r["batch"], r["micro_batch"]) for r in res["runs"]] == \
        [("harness", 2, None), ("bare", 2, None), ("harness", 8, 2)]   # debug's batch is 8
    assert all(r["tokens_per_s"] > 0 and r["mfu"] is None for r in res["runs"])
    with pytest.raises(SystemExit, match="no CUDA device"):
        bench_gpu.main(["--shape", "debug"])
