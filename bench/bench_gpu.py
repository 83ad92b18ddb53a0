"""GPU training throughput and MFU: winnow's ``train_model`` against the bare loop on one GPU.

Issue 5's GPU goal: MFU of at least 40% at 150m-1x on an H100. Both sides train the scale's model
(``OpenLMForCausalLM``) on the same synthetic rows with the same AdamW settings, bf16 autocast and
compile flag (``bench/bare_loop.py``, the CPU bench's peer, with ``device``); rates are taken after
``--warmup`` steps. MFU is model FLOPs per second (``flops_per_token`` × tokens/s: 6·N + the head +
attention, PaLM-style, as the training metrics count it) over the GPU's dense bf16 peak
(``winnow.train.loop.PEAK_FLOPS``: 989 TFLOP/s for H100 and H200, as DCLM and PaLM report MFU);
the fraction of the bf16 matmul throughput measured in the same run is printed beside it.

The bare loop steps one batch at a time, so both sides run ``--batch`` sequences per step (no
accumulation). ``--full-batch`` adds a harness-only run at the scale's global batch (150m-1x:
192 × 2048) in micro-batches of ``--batch``, the way an official run trains on one GPU.

    python bench/bench_gpu.py                               # 150m-1x, 16 x 2048 per step, bf16+compile
    python bench/bench_gpu.py --shape 10m-1x --batch 32 --full-batch --out $OUT/gpu.json
    python bench/bench_gpu.py --shape debug --device cpu --steps 2 --warmup 1   # the code path, on CPU
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from bare_loop import bare_loop  # bench/ is on sys.path when this file runs as a script
from bench_train import TRAIN, harness, matmul_peak, model_config, scale_batch

from winnow.train.loop import peak_flops
from winnow.train.plan import derive


def run(args: argparse.Namespace) -> dict:
    model_cfg = model_config(args.shape, args.seq_len)
    seq, batch = model_cfg["seq_len"], args.batch
    device = torch.device(args.device)
    spec_peak = peak_flops({}, device)
    mm_peak = matmul_peak(torch.bfloat16, sizes=(4096, 8192), device=args.device) if device.type == "cuda" else None
    plan = derive(model_cfg, {**TRAIN, "batch_size": batch, "tokens": batch * seq, "precision": "bf16",
                              "compile": False})
    fpt = plan["flops_per_token"]
    rng = np.random.default_rng(0)
    full = (scale_batch(args.shape) or batch) if args.full_batch else batch
    rows = max(full, batch) * (args.warmup + args.steps)
    tokens = rng.integers(0, model_cfg["vocab_size"], size=(rows, seq + 1))
    tokens = tokens.astype(np.uint16 if model_cfg["vocab_size"] <= 65536 else np.uint32)
    out = {"shape": args.shape, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "batch": batch, "seq_len": seq, "flops_per_token": fpt,
           "non_embedding_params": plan["params"]["non_embedding"], "peak_flops": spec_peak,
           "matmul_peak_flops": mm_peak, "steps": args.steps, "warmup": args.warmup, "runs": []}

    def record(side: str, mode: str, b: int, micro: int | None, tok_s: float) -> None:
        f = fpt * tok_s
        out["runs"].append({"side": side, "mode": mode, "batch": b, "micro_batch": micro, "tokens_per_s": tok_s,
                            "model_flops_per_s": f, "mfu": f / spec_peak if spec_peak else None,
                            "of_matmul_peak": f / mm_peak if mm_peak else None})

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.npy"
        np.save(path, tokens)
        for mode in args.modes.split(","):
            train = {**TRAIN, "batch_size": batch, "precision": "bf16", "compile": mode.endswith("+compile")}
            record("harness", mode, batch, None, harness(model_cfg, train, path, args.steps, args.warmup, 1)[0])
            if not args.no_bare:
                record("bare", mode, batch, None,
                       bare_loop(model_cfg, train, tokens, args.steps, args.warmup, device=args.device))
            if args.full_batch and full != batch:
                train = {**train, "batch_size": full, "micro_batch_size": batch}
                record("harness", mode, full, batch, harness(model_cfg, train, path, args.steps, args.warmup, 1)[0])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="150m-1x", help="a scale name (its model block) or a bench_train SHAPES name")
    p.add_argument("--batch", type=int, default=16, help="sequences per step (and micro-batch with --full-batch)")
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--modes", default="bf16+compile", help="bf16 and/or bf16+compile")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda")
    p.add_argument("--full-batch", action="store_true", help="also the harness at the scale's batch, in micro-batches")
    p.add_argument("--no-bare", action="store_true")
    p.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this bench needs a GPU (or --device cpu to exercise the code path)")
    if args.device == "cpu" and torch.cuda.is_available():  # train_model takes the GPU when there is one
        raise SystemExit("--device cpu on a machine with a GPU would time the harness on the GPU; use cuda")
    res = run(args)
    mm = res["matmul_peak_flops"]
    print(f"{res['shape']} on {res['device']}, torch {res['torch']}, {res['non_embedding_params']:,} non-embedding "
          f"params, seq {res['seq_len']}; peak {res['peak_flops'] or float('nan'):.3g} FLOP/s (spec), "
          f"bf16 matmul measured {mm or float('nan'):.3g}")
    print(f"{'side':<9}{'mode':>14}{'batch':>7}{'micro':>7}{'tokens/s':>12}{'TFLOP/s':>9}{'MFU':>8}{'of mm':>8}")
    for r in res["runs"]:
        pct = lambda v: f"{v:8.1%}" if v is not None else "       –"
        print(f"{r['side']:<9}{r['mode']:>14}{r['batch']:>7}{r['micro_batch'] or '–':>7}{r['tokens_per_s']:>12,.0f}"
              f"{r['model_flops_per_s'] / 1e12:>9.1f}{pct(r['mfu'])}{pct(r['of_matmul_peak'])}")
    pairs = {(r["mode"], r["side"]): r["tokens_per_s"] for r in res["runs"] if r["micro_batch"] is None}
    for mode in args.modes.split(","):
        if (mode, "bare") in pairs and not math.isnan(pairs[(mode, "bare")]):
            print(f"{mode}: harness / bare = {pairs[(mode, 'harness')] / pairs[(mode, 'bare')]:.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
