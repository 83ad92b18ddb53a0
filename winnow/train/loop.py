"""The training loop: one scale's ``model:`` + ``train:`` blocks and a tokens.npy in, a model out.

``train_model`` is a pure function of its arguments (config, data, seed); the CLI verb wraps it.
Choices, each following DCLM/open_lm unless noted:

* Derived numbers are computed, never typed: ``derive`` turns a scale into steps, tokens actually
  trained (a whole number of batches: tokens // (batch_size · seq_len) steps), parameter counts
  and FLOPs, without building a model, so the CLI, manifests and the leaderboard can all call it.
* AdamW over all parameters with one weight decay (open_lm's ``main.py`` puts every parameter,
  gains included, in the decayed group). Gradient clipping by global norm; the pre-clip norm is
  logged.
* Schedule: open_lm's ``cosine_lr`` exactly. For the 0-based step i, lr = lr·(i+1)/warmup while
  i < warmup, then final_lr + ½(1 + cos(π(i − warmup)/(steps − warmup)))·(lr − final_lr). So the
  first step already uses lr/warmup, the peak is reached at i = warmup − 1, and the cosine would
  touch final_lr at i = steps, one step after the last (the last step's lr is a hair above it).
* Loss: next-token cross-entropy over all seq_len positions of each row (row[:, :-1] predicts
  row[:, 1:], as open_lm) plus ``z_loss``·mean(logsumexp²). Logits and loss in fp32.
* precision "bf16" = autocast to bfloat16 with fp32 master weights and optimizer state (DCLM's
  ``amp_bfloat16``); "fp32" = plain fp32. ``compile`` runs forward + loss through torch.compile.
* Determinism: seeded torch/python/numpy RNGs, ``torch.use_deterministic_algorithms(True,
  warn_only=True)`` for the duration of the call, fixed row order from the loader. On CPU two runs
  with the same seed and thread count give bitwise-identical weights.
* Checkpoints every ``checkpoint_every`` steps in ``checkpoints/step_XXXXXXXX/`` (weights as
  safetensors, optimizer, schedule, RNG states, loader row, step, metric tail), written to a
  hidden temporary folder and renamed into place, so a kill never leaves a partial checkpoint
  under a final name; the newest two are kept. A rerun resumes from the newest checkpoint, so
  a run killed at any point and rerun ends with the same bits as an uninterrupted one. A
  checkpoint records the run's settings; resuming under different settings is refused.
* ``metrics.jsonl``: one line per ``log_every`` steps (default 1); on resume, lines for steps
  after the checkpoint are dropped before appending, so each step appears once.
* The final model is ``save_pretrained`` (safetensors) into ``model/`` through a temporary folder.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from winnow.io import atomic_open
from winnow.train.data import SequenceLoader
from winnow.train.model import OpenLMConfig, OpenLMForCausalLM, count_params, flops_per_token, lm_loss, param_counts

logger = logging.getLogger("winnow.train")

REQUIRED_TRAIN_KEYS = (
    "batch_size", "lr", "final_lr", "warmup", "weight_decay", "z_loss", "beta1", "beta2", "eps",
    "grad_clip", "precision", "compile", "checkpoint_every",
)
OPTIONAL_TRAIN_KEYS = {
    "tokens": None, "tokens_per_param": None, "param_basis": "total", "threads": None, "log_every": 1,
}
# Settings that change speed or bookkeeping but not a single trained bit: a resume may differ here.
RESUME_NEUTRAL_KEYS = {"threads", "log_every", "checkpoint_every"}
CHECKPOINT_RE = re.compile(r"^step_(\d{8})$")
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "state.pt")
KEEP_CHECKPOINTS = 2
FINAL_LOSS_WINDOW = 10  # final_loss is the mean over this many last steps


def _train_settings(train_cfg: dict) -> dict:
    """The train block with optional keys filled in; unknown keys are refused (typos are bugs)."""
    known = set(REQUIRED_TRAIN_KEYS) | set(OPTIONAL_TRAIN_KEYS)
    unknown = sorted(set(train_cfg) - known)
    if unknown:
        hints = [
            k + "".join(f" (did you mean {m}?)" for m in difflib.get_close_matches(k, known, n=1)) for k in unknown
        ]
        raise ValueError(f"unknown train config keys: {', '.join(hints)}")
    missing = [k for k in REQUIRED_TRAIN_KEYS if k not in train_cfg]
    if missing:
        raise ValueError(f"train config is missing: {', '.join(missing)}")
    cfg = {**OPTIONAL_TRAIN_KEYS, **train_cfg}
    if cfg["precision"] not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {cfg['precision']!r}")
    if cfg["param_basis"] not in ("total", "non_embedding"):
        raise ValueError(f"param_basis must be 'total' or 'non_embedding', got {cfg['param_basis']!r}")
    if int(cfg["checkpoint_every"]) < 1 or int(cfg["log_every"]) < 1:
        raise ValueError("checkpoint_every and log_every must be >= 1")
    return cfg


def derive(model_cfg: dict, train_cfg: dict) -> dict:
    """Steps, tokens, parameters and FLOPs of a scale, from its config alone (no model is built).

    The token budget is ``tokens``, or ``tokens_per_param`` × parameters when ``tokens`` is null
    (``param_basis``: "total" as DCLM counts, or "non_embedding" as winnow's CPU tracks count).
    Training runs whole batches only: steps = budget // (batch_size · seq_len).
    """
    cfg = _train_settings(train_cfg)
    config = OpenLMConfig.from_scale(model_cfg)
    params = param_counts(config)
    budget = cfg["tokens"]
    if budget is None:
        if cfg["tokens_per_param"] is None:
            raise ValueError("train config needs tokens or tokens_per_param")
        budget = int(round(cfg["tokens_per_param"] * params[cfg["param_basis"]]))
    tokens_per_step = int(cfg["batch_size"]) * config.seq_len
    steps = int(budget) // tokens_per_step
    if steps < 1:
        raise ValueError(f"token budget {budget} is smaller than one batch ({tokens_per_step} tokens)")
    fpt = flops_per_token(config)
    return {
        "steps": steps,
        "tokens": steps * tokens_per_step,
        "token_budget": int(budget),
        "tokens_per_step": tokens_per_step,
        "sequences": steps * int(cfg["batch_size"]),
        "params": params,
        "flops_per_token": fpt,
        "total_flops": fpt * steps * tokens_per_step,
    }


class WarmupCosine:
    """open_lm's ``cosine_lr`` as an object: ``schedule(i)`` is the lr of 0-based step i."""

    def __init__(self, lr: float, final_lr: float, warmup: int, steps: int):
        self.lr, self.final_lr, self.warmup, self.steps = float(lr), float(final_lr), int(warmup), int(steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / (self.steps - self.warmup)
        return self.final_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (self.lr - self.final_lr)

    def state_dict(self) -> dict:
        return {"lr": self.lr, "final_lr": self.final_lr, "warmup": self.warmup, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        # The schedule is a pure function of its settings; a checkpoint with other settings is a
        # different run, not something to resume.
        if state != self.state_dict():
            raise ValueError(f"checkpoint schedule {state} differs from this run's {self.state_dict()}")


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        # numpy's state holds an ndarray; stored as plain lists so torch.load(weights_only=True) reads it.
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def list_checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (step, path), oldest first. Temporary folders never match."""
    if not ckpt_root.is_dir():
        return []
    found = []
    for p in ckpt_root.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and p.is_dir() and all((p / f).is_file() for f in CHECKPOINT_FILES):
            found.append((int(m.group(1)), p))
    return sorted(found)


def _save_checkpoint(ckpt_root: Path, step: int, model, optimizer, state: dict) -> Path:
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step_{step:08d}"
    tmp = ckpt_root / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({**state, "rng": _rng_state()}, tmp / "state.pt")
    if final.exists():  # a leftover from an abandoned run at the same step: the new one wins
        shutil.rmtree(final)
    os.replace(tmp, final)  # the folder appears complete or not at all
    for _, old in list_checkpoints(ckpt_root)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _clean_tmp(folder: Path, prefix: str = ".") -> None:
    """Remove temporary folders left by a killed process (they never hold anything complete)."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(prefix) and p.name.endswith(".tmp"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep metric lines for steps <= last_step (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                if json.loads(line)["step"] <= last_step:
                    kept.append(line if line.endswith("\n") else line + "\n")
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut short by a kill
    with atomic_open(path, "wt") as f:
        f.writelines(kept)


def _save_final_model(model, folder: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if folder.exists():  # os.replace cannot replace a non-empty folder: move the old one aside first
        old = folder.with_name(f".{folder.name}.old.{os.getpid()}.tmp")
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


def _resume_identity(model_cfg: dict, cfg: dict, seed: int, plan: dict, loader: SequenceLoader) -> dict:
    """What must match for a checkpoint to belong to this run (plain JSON types, so it survives
    ``torch.load(weights_only=True)`` and compares equal whatever mapping type the caller passed)."""
    return json.loads(json.dumps({
        "model": dict(model_cfg),
        "train": {k: v for k, v in cfg.items() if k not in RESUME_NEUTRAL_KEYS},
        "seed": int(seed),
        "steps": plan["steps"],
        "tokens_shape": list(loader.tokens.shape),
    }))


def _forward_loss(model, inputs, targets, z_loss: float, autocast: bool):
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=inputs).logits
        return lm_loss(logits, targets, z_loss)


def train_model(
    *,
    model_cfg: dict,
    train_cfg: dict,
    tokens_path: Path,
    out_dir: Path,
    seed: int,
    progress: bool = True,
    stop_after_step: int | None = None,
) -> dict:
    """Train (or resume training) the scale's model on ``tokens_path``; write ``out_dir/model``.

    Returns stats: steps, tokens, final_loss and final_ce_loss (means over the last 10 steps),
    seconds (training wall time summed over all sessions of this run), tokens_per_s (this
    session's rate, compilation included), params, flops_per_token, total_flops, resumed_from
    (a step or None), stopped_early. ``stop_after_step`` ends after that step without writing
    the final model (tests use it to simulate an interruption).
    """
    cfg = _train_settings(train_cfg)
    plan = derive(model_cfg, train_cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_root = out_dir / "checkpoints"
    metrics_path = out_dir / "metrics.jsonl"
    steps = plan["steps"]

    prev_threads = torch.get_num_threads()
    prev_det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed for deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        _seed_everything(seed)
        config = OpenLMConfig.from_scale(model_cfg, z_loss=float(cfg["z_loss"]))
        model = OpenLMForCausalLM(config).to(device)
        model.train()
        loader = SequenceLoader(tokens_path, int(cfg["batch_size"]))
        if loader.seq_len != config.seq_len:
            raise ValueError(
                f"{tokens_path}: rows hold {loader.seq_len}+1 tokens, the model's seq_len is {config.seq_len}"
            )
        loader.require_rows(steps)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=float(cfg["lr"]),
            betas=(float(cfg["beta1"]), float(cfg["beta2"])),
            eps=float(cfg["eps"]),
            weight_decay=float(cfg["weight_decay"]),
        )
        schedule = WarmupCosine(cfg["lr"], cfg["final_lr"], cfg["warmup"], steps)
        identity = _resume_identity(model_cfg, cfg, seed, plan, loader)

        start_step, elapsed_before, resumed_from = 0, 0.0, None
        recent = collections.deque(maxlen=FINAL_LOSS_WINDOW)  # (loss, ce) of the last steps
        _clean_tmp(ckpt_root)
        _clean_tmp(out_dir, prefix=".model.")
        checkpoints = list_checkpoints(ckpt_root)
        if checkpoints:
            _, path = checkpoints[-1]
            state = torch.load(path / "state.pt", weights_only=True)
            if state["identity"] != identity:
                raise ValueError(
                    f"{path} belongs to a different run (settings {state['identity']}, this run {identity}); "
                    f"refusing to resume into {out_dir}"
                )
            model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
            optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True, map_location=device))
            schedule.load_state_dict(state["schedule"])
            loader.load_state_dict(state["loader"])
            _set_rng_state(state["rng"])
            start_step, elapsed_before, resumed_from = state["step"], state["elapsed"], state["step"]
            recent.extend(tuple(x) for x in state["recent"])
            logger.info("resuming from step %d (%s)", start_step, path)
        _truncate_metrics(metrics_path, start_step)

        step_fn = _forward_loss
        if cfg["compile"]:
            step_fn = torch.compile(_forward_loss)
        autocast = cfg["precision"] == "bf16"
        z_loss = float(cfg["z_loss"])
        grad_clip = float(cfg["grad_clip"])
        log_every = int(cfg["log_every"])
        tokens_per_step = plan["tokens_per_step"]
        last_step = steps if stop_after_step is None else min(steps, int(stop_after_step))

        bar = tqdm(total=steps, initial=start_step, desc="train", unit="step", disable=not progress, dynamic_ncols=True)
        session_start = interval_start = time.perf_counter()
        interval_steps = 0
        done = start_step
        with open(metrics_path, "a", encoding="utf-8") as metrics:
            for i in range(start_step, last_step):
                lr = schedule(i)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = loader.next_batch()
                if int(batch.max()) >= config.vocab_size:
                    raise ValueError(f"{tokens_path}: token id {int(batch.max())} >= vocab_size {config.vocab_size}")
                batch = batch.to(device, non_blocking=True)
                loss, ce = step_fn(model, batch[:, :-1], batch[:, 1:], z_loss, autocast)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                done = i + 1
                loss_v, ce_v = float(loss.item()), float(ce.item())
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"loss is {loss_v} at step {done}")
                recent.append((loss_v, ce_v))
                interval_steps += 1
                now = time.perf_counter()
                if done % log_every == 0 or done == last_step:
                    tok_s = interval_steps * tokens_per_step / max(now - interval_start, 1e-9)
                    row = {
                        "step": done,
                        "loss": loss_v,
                        "ce_loss": ce_v,
                        "lr": lr,
                        "tokens": done * tokens_per_step,
                        "tokens_per_s": round(tok_s, 1),
                        "grad_norm": float(grad_norm),
                        "elapsed": round(elapsed_before + now - session_start, 3),
                    }
                    metrics.write(json.dumps(row) + "\n")
                    metrics.flush()
                    bar.set_postfix(loss=f"{loss_v:.4f}", tok_s=f"{tok_s:,.0f}", refresh=False)
                    interval_start, interval_steps = now, 0
                bar.update(1)
                if done % int(cfg["checkpoint_every"]) == 0 and done < steps:
                    state = {
                        "step": done,
                        "elapsed": elapsed_before + time.perf_counter() - session_start,
                        "loader": loader.state_dict(),
                        "schedule": schedule.state_dict(),
                        "recent": [list(x) for x in recent],
                        "identity": identity,
                    }
                    _save_checkpoint(ckpt_root, done, model, optimizer, state)
        bar.close()
        session_seconds = time.perf_counter() - session_start
        stopped_early = done < steps
        if not stopped_early:
            _save_final_model(model, out_dir / "model")
        return {
            "steps": done,
            "tokens": done * tokens_per_step,
            "final_loss": float(np.mean([x[0] for x in recent])) if recent else None,
            "final_ce_loss": float(np.mean([x[1] for x in recent])) if recent else None,
            "seconds": elapsed_before + session_seconds,
            "tokens_per_s": (done - start_step) * tokens_per_step / max(session_seconds, 1e-9),
            "params": count_params(model),
            "flops_per_token": plan["flops_per_token"],
            "total_flops": plan["flops_per_token"] * done * tokens_per_step,
            "resumed_from": resumed_from,
            "stopped_early": stopped_early,
        }
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det[0], warn_only=prev_det[1])


def main(argv: list[str] | None = None) -> int:
    """``python -m winnow.train.loop``: train from JSON configs; prints the stats as JSON."""
    p = argparse.ArgumentParser(prog="python -m winnow.train.loop", description=main.__doc__)
    p.add_argument("--model-cfg", required=True, help="the scale's model: block, as JSON")
    p.add_argument("--train-cfg", required=True, help="the scale's train: block, as JSON")
    p.add_argument("--tokens", required=True, type=Path, help="tokens.npy from the tokenize stage")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, metrics, model)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--stop-after-step", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    stats = train_model(
        model_cfg=json.loads(args.model_cfg),
        train_cfg=json.loads(args.train_cfg),
        tokens_path=args.tokens,
        out_dir=args.out,
        seed=args.seed,
        progress=not args.no_progress,
        stop_after_step=args.stop_after_step,
    )
    json.dump(stats, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
