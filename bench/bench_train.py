"""Training throughput: winnow's ``train_model`` against a bare PyTorch loop, tokens/s side by side.

Both sides train the same model class (OpenLMForCausalLM) on the same synthetic batches with the
same AdamW settings, precision and compile flag; the bare loop is the smallest honest loop
(no checkpoints, metrics, RNG bookkeeping or progress bar), so the ratio is the harness's
overhead. Rates are measured over the steps after ``--warmup`` steps (compilation and allocator
warm-up excluded). The 1-minute load average is printed, because the numbers are only meaningful
on an otherwise idle machine.

    python bench/bench_train.py --shapes quickstart,0.6m,1m --modes fp32,bf16,bf16+compile --threads 2
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

from winnow.train.loop import derive, train_model
from winnow.train.model import OpenLMConfig, OpenLMForCausalLM, lm_loss

SHAPES = {  # CPU-track candidates: (d_model, n_layers, n_heads); vocab 8192, seq 512, ffn multiple 32
    "quickstart": (96, 3, 3),
    "0.6m": (128, 3, 4),
    "1m": (160, 3, 5),
}
TRAIN = dict(batch_size=8, lr=3e-3, final_lr=3e-5, warmup=25, weight_decay=0.033, z_loss=1e-4, beta1=0.9,
             beta2=0.95, eps=1e-8, grad_clip=1.0, checkpoint_every=10**9)


def bare_loop(model_cfg: dict, tokens: np.ndarray, steps: int, warmup: int, precision: str, compile: bool) -> float:
    """Tokens/s of a minimal loop over the same rows (steps after ``warmup`` are timed)."""
    torch.manual_seed(0)
    model = OpenLMForCausalLM(OpenLMConfig.from_scale(model_cfg, z_loss=TRAIN["z_loss"])).train()
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN["lr"], betas=(TRAIN["beta1"], TRAIN["beta2"]),
                            eps=TRAIN["eps"], weight_decay=TRAIN["weight_decay"])

    def fwd(x, y):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return lm_loss(model(input_ids=x).logits, y, TRAIN["z_loss"])[0]

    fwd = torch.compile(fwd) if compile else fwd
    b = TRAIN["batch_size"]
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        batch = torch.from_numpy(tokens[i * b:(i + 1) * b].astype(np.int64))
        loss = fwd(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["grad_clip"])
        opt.step()
        loss.item()
    return steps * b * model_cfg["seq_len"] / (time.perf_counter() - t0)


def harness(model_cfg: dict, tokens_path: Path, steps: int, warmup: int, precision: str, compile: bool,
            threads: int) -> tuple[float, float]:
    """(tokens/s after warm-up, seconds of the first step) of ``train_model``, from its metrics."""
    b, seq = TRAIN["batch_size"], model_cfg["seq_len"]
    cfg = {**TRAIN, "tokens": (warmup + steps) * b * seq, "precision": precision, "compile": compile,
           "threads": threads}
    with tempfile.TemporaryDirectory() as out:
        train_model(model_cfg=model_cfg, train_cfg=cfg, tokens_path=tokens_path, out_dir=Path(out), seed=0,
                    progress=False)
        rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    t_warm, t_end = rows[warmup - 1]["elapsed"], rows[-1]["elapsed"]
    return steps * b * seq / (t_end - t_warm), rows[0]["elapsed"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="quickstart,0.6m,1m")
    p.add_argument("--modes", default="fp32,bf16,bf16+compile")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="alternate harness/bare this often, keep the best of each")
    p.add_argument("--no-bare", action="store_true", help="skip the bare loop (harness numbers only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n_rows = (args.warmup + args.steps) * TRAIN["batch_size"]
    tokens = rng.integers(0, 8192, size=(n_rows, 513)).astype(np.uint16)
    print(f"torch {torch.__version__}, threads {args.threads}, load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'shape':<11}{'non-emb':>9}{'mode':>14}{'harness tok/s':>15}{'bare tok/s':>12}{'ratio':>7}"
          f"{'1st step s':>11}{'load':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.npy"
        np.save(path, tokens)
        for shape in args.shapes.split(","):
            d, layers, heads = SHAPES[shape]
            model_cfg = dict(vocab_size=8192, d_model=d, n_layers=layers, n_heads=heads, ffn_multiple_of=32,
                             seq_len=512)
            plan = derive(model_cfg, {**TRAIN, "tokens": 4096, "precision": "fp32", "compile": False})
            non_emb = plan["params"]["non_embedding"]
            for mode in args.modes.split(","):
                precision, compile = mode.split("+")[0], mode.endswith("+compile")
                h = bare = float("nan")
                for _ in range(args.repeats):  # best of N: on a shared machine, the least disturbed run
                    rate, first = harness(model_cfg, path, args.steps, args.warmup, precision, compile, args.threads)
                    h = rate if math.isnan(h) else max(h, rate)
                    if not args.no_bare:
                        rate = bare_loop(model_cfg, tokens, args.steps, args.warmup, precision, compile)
                        bare = rate if math.isnan(bare) else max(bare, rate)
                print(f"{shape:<11}{non_emb:>9,}{mode:>14}{h:>15,.0f}{bare:>12,.0f}{h / bare:>7.2f}{first:>11.2f}"
                      f"{os.getloadavg()[0]:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
