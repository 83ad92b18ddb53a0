"""CPU causal attention, forward + backward: PyTorch's SDPA kernel against the alternatives that
stock PyTorch offers, on a scale's attention shape, GFLOP/s side by side and as a fraction of
the matrix-multiply peak measured in the same run.

Attention takes a quarter to a third of a CPU training step at 8-9% of the matmul peak
(``bench_train.py --breakdown``); this bench records what replacing the kernel without writing
a new one would give. Candidates (``CANDIDATES``): ``sdpa`` (``F.scaled_dot_product_attention``,
causal: the flash-attention CPU kernel the model uses; the peer every ratio is against),
``sdpa+compile``, ``plain+compile`` (scores, mask, fp32 softmax, values as plain ops, which
inductor fuses), ``blocked+compile`` (the same over query blocks, skipping blocks above the
diagonal) and ``plain`` (eager, what the MATH backend does). Each is checked against ``sdpa``
on the bench's input before it is timed.

    python bench/bench_attention.py                       # 1m-1x's shape: 16 x 5 heads x 512 x 32
    python bench/bench_attention.py --shape tiny-1x --batch 16
    python bench/bench_attention.py --heads 2 --head-dim 80   # another split of the same width
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from bench_train import attention_flops as model_attention_flops
from bench_train import matmul_peak, model_config  # bench/ is on sys.path when run as a script


def sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def plain(q, k, v):
    t = q.shape[-2]
    mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    p = torch.softmax(s.float().masked_fill(~mask, float("-inf")), -1).to(q.dtype)
    return p @ v


def blocked(q, k, v, block: int = 128):
    t = q.shape[-2]
    mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    outs = []
    for i in range(0, t, block):  # query block i attends to keys [0, i + block) only
        s = (q[:, :, i:i + block] @ k[:, :, :i + block].transpose(-1, -2)) * q.shape[-1] ** -0.5
        s = s.float().masked_fill(~mask[i:i + block, :i + block], float("-inf"))
        outs.append(torch.softmax(s, -1).to(q.dtype) @ v[:, :, :i + block])
    return torch.cat(outs, 2)


CANDIDATES = {
    "sdpa": lambda: sdpa,
    "sdpa+compile": lambda: torch.compile(sdpa),
    "plain+compile": lambda: torch.compile(plain),
    "blocked+compile": lambda: torch.compile(blocked),
    "plain": lambda: plain,
}


def attention_flops(batch: int, heads: int, seq: int, head_dim: int) -> float:
    """Causal attention forward + backward of one layer of this shape (bench_train's count)."""
    return model_attention_flops({"seq_len": seq, "d_model": heads * head_dim, "n_layers": 1}, batch)


def time_one(fn, shape: tuple[int, int, int, int], dtype: torch.dtype, iters: int, warmup: int) -> float:
    """Best-of seconds per forward + backward over ``iters`` calls after ``warmup`` calls."""
    q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3))
    for _ in range(warmup):
        fn(q, k, v).float().sum().backward()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn(q, k, v).float().sum().backward()
    return (time.perf_counter() - t0) / iters


def check_same(fn, shape: tuple[int, int, int, int], dtype: torch.dtype) -> float:
    """Largest absolute difference from ``sdpa``'s output on random input."""
    q, k, v = (torch.randn(shape, dtype=dtype) for _ in range(3))
    with torch.no_grad():
        return float((fn(q, k, v).float() - sdpa(q, k, v).float()).abs().max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="1m-1x", help="a scale (or bench_train SHAPES name) for heads, width, seq")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--heads", type=int, help="override the shape's head count (head dim = width / heads)")
    ap.add_argument("--head-dim", type=int, help="override the head dim (with --heads)")
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="rounds over all candidates, best of each")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = model_config(a.shape, a.seq_len)
    heads = a.heads or cfg["n_heads"]
    head_dim = a.head_dim or cfg["d_model"] // heads
    shape = (a.batch, heads, cfg["seq_len"], head_dim)
    names = a.candidates.split(",")
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidate(s) {unknown}; known: {', '.join(CANDIDATES)}")
    fns = {n: CANDIDATES[n]() for n in names}
    peak = matmul_peak(torch.bfloat16)
    print(f"shape batch x heads x seq x head_dim = {' x '.join(map(str, shape))}, bf16, {a.threads} threads, "
          f"load {os.getloadavg()[0]:.1f}, matmul peak {peak / 1e9:.0f} GFLOP/s")
    for n, fn in fns.items():
        err = check_same(fn, shape, torch.bfloat16)
        if err > 0.05:
            raise SystemExit(f"{n}: output differs from sdpa by {err:.3g}: not the same attention")
    best: dict[str, float] = {}
    for _ in range(a.repeats):  # alternate the candidates so machine noise hits all of them
        for n, fn in fns.items():
            best[n] = min(best.get(n, float("inf")), time_one(fn, shape, torch.bfloat16, a.iters, a.warmup))
    flops = attention_flops(*shape)
    ref = best.get("sdpa")
    print(f"{'candidate':16s} {'ms':>8s} {'GFLOP/s':>8s} {'of peak':>8s} {'vs sdpa':>8s}")
    for n, s in best.items():
        vs = f"{ref / s:7.2f}x" if ref else "       -"
        print(f"{n:16s} {s * 1e3:8.1f} {flops / s / 1e9:8.1f} {flops / s / peak:8.1%} {vs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
