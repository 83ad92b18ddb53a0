"""Training throughput: winnow's ``train_model`` against a bare PyTorch loop, tokens/s side by side.

Both sides train the same model class (OpenLMForCausalLM) on the same synthetic batches with the
same AdamW settings, precision and compile flag; the bare loop (``bench/bare_loop.py``, plain
PyTorch) is the smallest honest loop (no checkpoints, metrics, RNG bookkeeping or progress bar),
so the ratio is the harness's overhead. Rates are measured over the steps after ``--warmup`` steps
(compilation and allocator warm-up excluded). The 1-minute load average is printed, because the
numbers are only meaningful on an otherwise idle machine.

Fraction of peak: the harness's model FLOP/s (tokens/s × ``flops_per_token``: 6·N_non-embedding +
6·d·V for the head + attention, PaLM-style) over the best square ``torch.mm`` throughput in the
same precision measured at the start of the same run (``matmul_peak``).

    python bench/bench_train.py --shapes tiny-1x,1m-1x --modes fp32,bf16,bf16+compile --threads 2
    python bench/bench_train.py --shapes 60m-1x --seq-len 512 --batch 4 --modes bf16+compile --steps 6
    python bench/bench_train.py --shapes 1m-1x --modes bf16+compile --breakdown --no-bare

``--breakdown`` profiles the bare loop's timed steps (torch.profiler) and prints where a step's
time goes: matrix multiplies (with their GFLOP/s from the profiler's FLOP counts), attention
(``scaled_dot_product_attention``, GFLOP/s from the causal attention FLOPs), inductor's fused
kernels (the compiled graphs' own time), the optimizer step and the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from bare_loop import bare_loop  # bench/ is on sys.path when this file runs as a script

from winnow.paths import conf_dir
from winnow.train.loop import train_model
from winnow.train.plan import derive

SHAPES = {  # CPU-track candidates: (d_model, n_layers, n_heads); vocab 8192, seq 512, ffn multiple 32
    "quickstart": (96, 3, 3),
    "0.6m": (128, 3, 4),
    "1m": (160, 3, 5),
}
TRAIN = dict(batch_size=8, lr=3e-3, final_lr=3e-5, warmup=25, weight_decay=0.033, z_loss=1e-4, beta1=0.9,
             beta2=0.95, eps=1e-8, grad_clip=1.0, checkpoint_every=10**9)


def harness(model_cfg: dict, train: dict, tokens_path: Path, steps: int, warmup: int,
            threads: int) -> tuple[float, float]:
    """(tokens/s after warm-up, seconds of the first step) of ``train_model``, from its metrics."""
    b, seq = train["batch_size"], model_cfg["seq_len"]
    cfg = {**train, "tokens": (warmup + steps) * b * seq, "threads": threads}
    with tempfile.TemporaryDirectory() as out:
        train_model(model_cfg=model_cfg, train_cfg=cfg, tokens_path=tokens_path, out_dir=Path(out), seed=0,
                    progress=False)
        rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    t_warm, t_end = rows[warmup - 1]["elapsed"], rows[-1]["elapsed"]
    return steps * b * seq / (t_end - t_warm), rows[0]["elapsed"]


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def attention_flops(model_cfg: dict, batch: int) -> float:
    """FLOPs of one step's causal attention, forward and backward: per layer and head the two
    T x T x head_dim products (2 * 2 * T^2 * hd FLOPs, halved by the causal mask), three times."""
    t, d, layers = model_cfg["seq_len"], model_cfg["d_model"], model_cfg["n_layers"]
    return 3 * 2 * t * t * d * layers * batch


def breakdown(model_cfg: dict, train: dict, tokens: np.ndarray, steps: int, warmup: int) -> dict:
    """Shares of the profiled step time by kind of work, and the matmul and attention GFLOP/s."""
    from torch.profiler import ProfilerActivity, profile, schedule

    sched = schedule(wait=max(warmup - 1, 0), warmup=1 if warmup else 0, active=steps, repeat=1)
    with profile(activities=[ProfilerActivity.CPU], schedule=sched, with_flops=True) as prof:
        bare_loop(model_cfg, train, tokens, steps, warmup, on_step=prof.step)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    mm = [e for e in events if e.key in MATMUL_OPS]
    mm_s = sum(e.self_cpu_time_total for e in mm) / 1e6
    attn_s = sum(e.self_cpu_time_total for e in events if "scaled_dot_product" in e.key) / 1e6
    fused_s = sum(e.self_cpu_time_total for e in events if "CompiledFxGraph" in e.key) / 1e6
    opt_s = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step")) / 1e6
    attn_flops = attention_flops(model_cfg, train["batch_size"]) * steps
    return {"matmul": mm_s / total, "attention": attn_s / total, "fused": fused_s / total,
            "optimizer": opt_s / total, "other": 1 - (mm_s + attn_s + fused_s + opt_s) / total,
            "matmul_gflops": sum(e.flops for e in mm) / mm_s / 1e9 if mm_s else float("nan"),
            "attention_gflops": attn_flops / attn_s / 1e9 if attn_s else float("nan")}


def matmul_peak(dtype: torch.dtype = torch.bfloat16, sizes=(256, 512, 1024, 2048), seconds: float = 1.0,
                device: str = "cpu") -> float:
    """Best FLOP/s of a square ``torch.mm`` in ``dtype`` over ``sizes`` on ``device``: the machine's
    reachable matrix-multiply peak at the current thread count, the denominator of the fraction of
    peak. On a GPU the timings are synchronised (launches are asynchronous)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    best = 0.0
    for n in sizes:
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        torch.mm(a, b)
        sync()
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            torch.mm(a, b)
            reps += 1
        sync()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0))
    return best


def model_config(shape: str, seq_len: int | None) -> dict:
    """A model block: a scale's (conf/scale/<shape>.yaml) or one of SHAPES; ``seq_len`` overrides."""
    path = conf_dir() / "scale" / f"{shape}.yaml"
    if path.is_file():
        cfg = dict(yaml.safe_load(path.read_text())["model"])
    elif shape in SHAPES:
        d, layers, heads = SHAPES[shape]
        cfg = dict(vocab_size=8192, d_model=d, n_layers=layers, n_heads=heads, ffn_multiple_of=32, seq_len=512)
    else:
        raise SystemExit(f"unknown shape {shape!r}: a scale in {conf_dir() / 'scale'} or one of {', '.join(SHAPES)}")
    if seq_len:
        cfg["seq_len"] = seq_len
    return cfg


def scale_batch(shape: str) -> int | None:
    """The batch size of scale ``shape`` (conf/scale/<shape>.yaml), or None for other shapes."""
    path = conf_dir() / "scale" / f"{shape}.yaml"
    return int(yaml.safe_load(path.read_text())["train"]["batch_size"]) if path.is_file() else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="tiny-1x,1m-1x", help="scale names (their model block) or " + ",".join(SHAPES))
    p.add_argument("--modes", default="fp32,bf16,bf16+compile")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=None,
                   help=f"sequences per step (default: the scale's batch, else {TRAIN['batch_size']})")
    p.add_argument("--seq-len", type=int, default=None, help="override the shapes' sequence length")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="alternate harness/bare this often, keep the best of each")
    p.add_argument("--no-bare", action="store_true", help="skip the bare loop (harness numbers only)")
    p.add_argument("--breakdown", action="store_true", help="also profile the bare loop: where a step's time goes")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    peak = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    print(f"torch {torch.__version__}, threads {args.threads}, load average at start {os.getloadavg()[0]:.2f}; "
          f"matmul peak bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s, fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s")
    print(f"{'shape':<11}{'non-emb':>12}{'batch':>6}{'seq':>6}{'mode':>14}{'harness tok/s':>15}{'bare tok/s':>12}{'ratio':>7}"
          f"{'GFLOP/s':>9}{'of peak':>9}{'1st step s':>11}{'load':>6}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            model_cfg = model_config(shape, args.seq_len)
            seq = model_cfg["seq_len"]
            batch = args.batch or scale_batch(shape) or TRAIN["batch_size"]
            tokens = rng.integers(0, model_cfg["vocab_size"], size=((args.warmup + args.steps) * batch, seq + 1))
            tokens = tokens.astype(np.uint16 if model_cfg["vocab_size"] <= 65536 else np.uint32)
            path = Path(tmp) / f"{shape}.npy"
            np.save(path, tokens)
            plan = derive(model_cfg, {**TRAIN, "batch_size": batch, "tokens": batch * seq,
                                      "precision": "fp32", "compile": False})
            for mode in args.modes.split(","):
                precision, compile = mode.split("+")[0], mode.endswith("+compile")
                train = {**TRAIN, "batch_size": batch, "precision": precision, "compile": compile}
                h = bare = float("nan")
                for _ in range(args.repeats):  # best of N: on a shared machine, the least disturbed run
                    rate, first = harness(model_cfg, train, path, args.steps, args.warmup, args.threads)
                    h = rate if math.isnan(h) else max(h, rate)
                    if not args.no_bare:
                        rate = bare_loop(model_cfg, train, tokens, args.steps, args.warmup)
                        bare = rate if math.isnan(bare) else max(bare, rate)
                flops = h * plan["flops_per_token"]
                print(f"{shape:<11}{plan['params']['non_embedding']:>12,}{batch:>6}{seq:>6}{mode:>14}{h:>15,.0f}{bare:>12,.0f}"
                      f"{h / bare:>7.2f}{flops / 1e9:>9.1f}{flops / peak[precision]:>9.1%}{first:>11.2f}"
                      f"{os.getloadavg()[0]:>6.2f}", flush=True)
                if args.breakdown:
                    b = breakdown(model_cfg, train, tokens, args.steps, args.warmup)
                    print("  where a step goes: " + ", ".join(f"{k} {b[k]:.0%}" for k in
                          ("matmul", "attention", "fused", "optimizer", "other"))
                          + f"; matmul {b['matmul_gflops']:.0f} GFLOP/s ({b['matmul_gflops'] * 1e9 / peak[precision]:.0%}"
                          f" of peak), attention {b['attention_gflops']:.0f} GFLOP/s "
                          f"({b['attention_gflops'] * 1e9 / peak[precision]:.0%})", flush=True)


if __name__ == "__main__":
    main()
