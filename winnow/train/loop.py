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
* Data parallelism (``winnow.train.distributed``): under torchrun with WORLD_SIZE > 1 the model
  is sharded with FSDP2 and each rank trains on its contiguous slice of every global batch, so
  the global batch, the order of sequences and the loss (the mean over all tokens of the global
  batch) are those of a single process; only float rounding differs. ``micro_batch_size``
  (per rank) turns on gradient accumulation: batch_size / (world_size · micro_batch_size)
  micro-steps, each loss scaled by 1/steps, which again averages over the whole global batch.
  ``activation_checkpointing`` recomputes each block in backward. Both, like the world size,
  change speed and memory, not the run: they are resume-neutral, so a run may resume with a
  different world size, micro batch or checkpointing setting. A single process with neither
  takes exactly the code path (and bits) it always did.
* Determinism: seeded torch/python/numpy RNGs, ``torch.use_deterministic_algorithms(True,
  warn_only=True)`` for the duration of the call, fixed row order from the loader. On CPU two runs
  with the same seed and thread count give bitwise-identical weights.
* Checkpoints every ``checkpoint_every`` steps in ``checkpoints/step_XXXXXXXX/`` (weights as
  safetensors, optimizer, schedule, RNG states, loader position, step, metric tail), written to a
  hidden temporary folder and renamed into place, so a kill never leaves a partial checkpoint
  under a final name; the newest two are kept. A rerun resumes from the newest checkpoint, so
  a run killed at any point and rerun ends with the same bits as an uninterrupted one. A
  checkpoint records the run's settings; resuming under different settings is refused. Under
  FSDP rank 0 gathers and writes full state dicts in the same format (any world size resumes).
* ``metrics.jsonl`` (rank 0 only): one line per ``log_every`` steps (default 1) with loss,
  ce_loss, lr, tokens, tokens_per_s, flops (cumulative, ``flops_per_token`` × tokens), mfu
  (model FLOPs/s over the peak of all devices: the bf16 dense peak of known GPUs, or the
  ``peak_flops`` train key / ``WINNOW_PEAK_FLOPS`` per device, else null), grad_norm, elapsed;
  plus heldout_loss every ``eval_every`` steps when a held-out token file is given. On resume,
  lines for steps after the checkpoint are dropped before appending, so each step appears once.
  Optional sinks, off by default and never required: TensorBoard (``tensorboard: true`` or
  ``WINNOW_TENSORBOARD=1``, into ``tensorboard/``) and W&B (when ``WANDB_PROJECT`` is set).
* The final model is ``save_pretrained`` (safetensors) into ``model/`` through a temporary folder.
  With ``average_from`` (``winnow.train.averaging``) ``model/`` holds the uniform mean of the
  weights over the steps after that fraction of training and ``last/`` the last step's weights;
  checkpoints then carry the running mean, so resumes stay exact.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import difflib
import functools
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
from winnow.train import distributed
from winnow.train.averaging import TailAverage, average_start
from winnow.train.data import SequenceLoader
from winnow.train.model import (OpenLMConfig, OpenLMForCausalLM, count_params, flops_per_token, lm_loss,
                                lm_loss_plain, param_counts)

logger = logging.getLogger("winnow.train")

REQUIRED_TRAIN_KEYS = (
    "batch_size", "lr", "final_lr", "warmup", "weight_decay", "z_loss", "beta1", "beta2", "eps",
    "grad_clip", "precision", "compile", "checkpoint_every",
)
OPTIONAL_TRAIN_KEYS = {
    "tokens": None, "tokens_per_param": None, "param_basis": "total", "threads": None, "log_every": 1,
    # speed and bookkeeping (see RESUME_NEUTRAL_KEYS)
    "micro_batch_size": None, "activation_checkpointing": False, "peak_flops": None,
    "eval_every": None, "eval_sequences": 64, "tensorboard": False,
    # tail weight averaging: the saved model is the uniform mean of the weights after each step
    # from this fraction of the steps on (None: the last step's weights); see TailAverage
    "average_from": None,
}
# Settings that change speed, memory or bookkeeping but not what is trained (at most float
# rounding, for micro_batch_size): a resume may differ here, and a checkpoint's identity omits them.
RESUME_NEUTRAL_KEYS = {
    "threads", "log_every", "checkpoint_every", "micro_batch_size", "activation_checkpointing", "peak_flops",
    "eval_every", "eval_sequences", "tensorboard",
}
# Dense bf16 peak FLOP/s per GPU (no sparsity), matched against torch.cuda.get_device_name().
# MFU is reported against these whatever the precision, as PaLM and DCLM report it.
PEAK_FLOPS = (("H200", 989e12), ("H100", 989e12), ("A100", 312e12))
CHECKPOINT_RE = re.compile(r"^step_(\d{8})$")
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "state.pt")
AVERAGE_FILE = "average.safetensors"  # in a checkpoint once tail averaging has begun
LAST_MODEL = "last"  # with tail averaging: the last step's weights, beside model/ (the mean)
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
    for key in ("micro_batch_size", "eval_every"):
        if cfg[key] is not None and int(cfg[key]) < 1:
            raise ValueError(f"{key} must be >= 1 (or null), got {cfg[key]}")
    if int(cfg["eval_sequences"]) < 1:
        raise ValueError(f"eval_sequences must be >= 1, got {cfg['eval_sequences']}")
    if cfg["average_from"] is not None and not 0.0 <= float(cfg["average_from"]) < 1.0:
        raise ValueError(f"average_from must be a fraction of the steps in [0, 1) (or null), got {cfg['average_from']}")
    if cfg["peak_flops"] is not None and not float(cfg["peak_flops"]) > 0:
        raise ValueError(f"peak_flops must be a positive FLOP/s figure (or null), got {cfg['peak_flops']}")
    return cfg


def accumulation_steps(batch_size: int, world_size: int, micro_batch_size: int | None) -> tuple[int, int]:
    """(micro batch per rank, accumulation steps) for a global batch split over ``world_size`` ranks."""
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} is not divisible by the world size {world_size}")
    per_rank = batch_size // world_size
    micro = per_rank if micro_batch_size is None else int(micro_batch_size)
    if per_rank % micro:
        raise ValueError(
            f"batch_size {batch_size} / (world size {world_size} x micro_batch_size {micro}) is not an integer; "
            f"micro_batch_size must divide the per-rank batch of {per_rank}"
        )
    return micro, per_rank // micro


def peak_flops(cfg: dict, device: torch.device) -> float | None:
    """Peak FLOP/s of one device: the train key, then WINNOW_PEAK_FLOPS, then the GPU table."""
    if cfg.get("peak_flops") is not None:
        return float(cfg["peak_flops"])
    env = os.environ.get("WINNOW_PEAK_FLOPS")
    if env:
        try:
            return float(env)
        except ValueError:
            raise ValueError(f"WINNOW_PEAK_FLOPS must be a number of FLOP/s, got {env!r}") from None
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_FLOPS:
            if key in name:
                return value
    return None


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


def _save_checkpoint(ckpt_root: Path, step: int, model_sd: dict, optim_sd: dict, state: dict,
                     average_sd: dict | None = None) -> Path:
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step_{step:08d}"
    tmp = ckpt_root / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous() for k, v in model_sd.items()}, str(tmp / "model.safetensors"))
    torch.save(optim_sd, tmp / "optimizer.pt")
    if average_sd is not None:
        save_file({k: v.detach().contiguous() for k, v in average_sd.items()}, str(tmp / AVERAGE_FILE))
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
        # a key at its "off" default is left out, so checkpoints written before it existed still resume
        "train": {k: v for k, v in cfg.items()
                  if k not in RESUME_NEUTRAL_KEYS and not (k == "average_from" and v is None)},
        "seed": int(seed),
        "steps": plan["steps"],
        "tokens_shape": list(loader.tokens.shape),
    }))


def _forward_loss(model, inputs, targets, z_loss: float, autocast: bool, loss_fn=lm_loss):
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=inputs).logits
        return loss_fn(logits, targets, z_loss)


def _enable_activation_checkpointing(model) -> None:
    """Recompute each block in backward (non-reentrant ``torch.utils.checkpoint``). Sets the two
    attributes the model's forward reads, rather than going through transformers' switch."""
    from torch.utils.checkpoint import checkpoint

    model.gradient_checkpointing = True
    model._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)


class _Sinks:
    """Optional metric sinks besides metrics.jsonl: TensorBoard and W&B, only on rank 0."""

    def __init__(self, cfg: dict, out_dir: Path, run_config: dict, enabled: bool):
        self.tb = self.wandb = None
        if not enabled:
            return
        if cfg["tensorboard"] or os.environ.get("WINNOW_TENSORBOARD") == "1":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("TensorBoard logging was asked for but tensorboard is not installed; skipping it")
            else:
                self.tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
        if os.environ.get("WANDB_PROJECT"):
            try:
                import wandb
            except ImportError:
                logger.warning("WANDB_PROJECT is set but wandb is not installed; skipping W&B logging")
            else:
                self.wandb = wandb.init(project=os.environ["WANDB_PROJECT"], config=run_config, dir=str(out_dir),
                                        name=os.environ.get("WANDB_NAME") or out_dir.name)

    def log(self, row: dict) -> None:
        values = {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float)) and v is not None}
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, row["step"])
        if self.wandb is not None:
            self.wandb.log(values, step=row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


@torch.no_grad()
def _heldout_loss(model, rows: np.ndarray, env, micro: int, autocast: bool) -> float:
    """Mean next-token cross-entropy over ``rows`` (all ranks call it; each takes its share).

    Rows are split evenly over ranks (the caller passes a multiple of the world size) and run in
    micro batches, so every rank makes the same number of forward calls, as FSDP requires.
    """
    was_training = model.training
    model.eval()
    per = len(rows) // env.world_size
    mine = rows[env.rank * per:(env.rank + 1) * per]
    total = torch.zeros(2, dtype=torch.float64, device=env.device)
    for start in range(0, per, micro):
        batch = torch.from_numpy(mine[start:start + micro].astype(np.int64)).to(env.device)
        _, ce = _forward_loss(model, batch[:, :-1], batch[:, 1:], 0.0, autocast)
        n = batch.shape[0] * (batch.shape[1] - 1)
        total += torch.tensor([float(ce) * n, n], dtype=torch.float64, device=env.device)
    model.train(was_training)
    total = distributed.all_reduce_sum(env, total)
    return float(total[0] / total[1])


def _read_resume_state(ckpt_root: Path, identity: dict, out_dir: Path) -> dict | None:
    """The newest checkpoint's state.pt (plus its path), or None; refuses a different run's."""
    checkpoints = list_checkpoints(ckpt_root)
    if not checkpoints:
        return None
    _, path = checkpoints[-1]
    state = torch.load(path / "state.pt", weights_only=True)
    if state["identity"] != identity:
        raise ValueError(
            f"{path} belongs to a different run (settings {state['identity']}, this run {identity}); "
            f"refusing to resume into {out_dir}"
        )
    return {**state, "path": str(path)}


def train_model(
    *,
    model_cfg: dict,
    train_cfg: dict,
    tokens_path: Path,
    out_dir: Path,
    seed: int,
    progress: bool = True,
    stop_after_step: int | None = None,
    heldout_path: Path | None = None,
) -> dict:
    """Train (or resume training) the scale's model on ``tokens_path``; write ``out_dir/model``.

    Returns stats: steps, tokens, final_loss and final_ce_loss (means over the last 10 steps),
    seconds (training wall time summed over all sessions of this run), tokens_per_s (this
    session's rate, compilation included), params, flops_per_token, total_flops, resumed_from
    (a step or None), stopped_early, world_size, accumulation_steps, passes (over the token
    file's rows). ``stop_after_step`` ends after that step without writing the final model (tests
    use it to simulate an interruption). ``heldout_path``: an optional token file of the same
    layout; the mean cross-entropy of its first ``eval_sequences`` rows is logged as
    ``heldout_loss`` every ``eval_every`` steps (default: every checkpoint) and at the end.

    Under torchrun (WORLD_SIZE > 1) every rank calls this with the same arguments; rank 0 writes
    the metrics, checkpoints and the final model. A process group the caller initialised is used
    and left open; one created here is destroyed on return.
    """
    cfg = _train_settings(train_cfg)
    plan = derive(model_cfg, train_cfg)
    out_dir = Path(out_dir)
    ckpt_root = out_dir / "checkpoints"
    metrics_path = out_dir / "metrics.jsonl"
    steps = plan["steps"]

    prev_threads = torch.get_num_threads()
    prev_det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed for deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    env = distributed.init()
    sinks = None
    try:
        device = env.device
        main_rank = env.is_main
        micro, accum = accumulation_steps(int(cfg["batch_size"]), env.world_size, cfg["micro_batch_size"])
        if main_rank:
            out_dir.mkdir(parents=True, exist_ok=True)
        _seed_everything(seed)
        config = OpenLMConfig.from_scale(model_cfg, z_loss=float(cfg["z_loss"]))
        model = OpenLMForCausalLM(config).to(device)
        model.train()
        if cfg["activation_checkpointing"]:
            _enable_activation_checkpointing(model)
        loader = SequenceLoader(tokens_path, int(cfg["batch_size"]), seed=seed)
        if loader.seq_len != config.seq_len:
            raise ValueError(
                f"{tokens_path}: rows hold {loader.seq_len}+1 tokens, the model's seq_len is {config.seq_len}"
            )
        passes = loader.passes_needed(steps)
        if passes > 1 and main_rank:
            logger.warning("training makes %.2f passes over the %d rows of %s (a seeded permutation per extra pass)",
                           passes, loader.n_rows, tokens_path)
        heldout = None
        if heldout_path is not None:
            held = SequenceLoader(heldout_path, 1)
            if held.seq_len != config.seq_len:
                raise ValueError(
                    f"{heldout_path}: rows hold {held.seq_len}+1 tokens, the model's seq_len is {config.seq_len}"
                )
            n_held = min(int(cfg["eval_sequences"]), held.n_rows) // env.world_size * env.world_size
            if n_held < 1:
                raise ValueError(f"{heldout_path}: {held.n_rows} rows cannot be split over {env.world_size} ranks")
            heldout = np.asarray(held.tokens[:n_held])
            if int(heldout.max()) >= config.vocab_size:
                raise ValueError(f"{heldout_path}: token id {int(heldout.max())} >= vocab_size {config.vocab_size}")
        identity = _resume_identity(model_cfg, cfg, seed, plan, loader)

        # Rank 0 finds and checks the checkpoint; every rank gets the verdict (an error raised on
        # rank 0 alone would leave the others waiting in a collective).
        found, error = None, None
        if main_rank:
            try:
                _clean_tmp(ckpt_root)
                _clean_tmp(out_dir, prefix=".model.")
                found = _read_resume_state(ckpt_root, identity, out_dir)
            except ValueError as e:
                error = str(e)
        if env.distributed:
            found, error = distributed.broadcast_object(env, (found, error))
        if error:
            raise ValueError(error)

        start_step, elapsed_before, resumed_from = 0, 0.0, None
        recent = collections.deque(maxlen=FINAL_LOSS_WINDOW)  # (loss, ce) of the last steps
        if env.distributed:
            distributed.shard_model(model, bf16_params=cfg["precision"] == "bf16" and device.type == "cuda")
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=float(cfg["lr"]),
            betas=(float(cfg["beta1"]), float(cfg["beta2"])),
            eps=float(cfg["eps"]),
            weight_decay=float(cfg["weight_decay"]),
        )
        schedule = WarmupCosine(cfg["lr"], cfg["final_lr"], cfg["warmup"], steps)
        avg_start = average_start(cfg["average_from"], steps)
        average = TailAverage(model, avg_start) if avg_start is not None else None
        if found is not None:
            path = Path(found["path"])
            if env.distributed:
                model_sd = load_file(str(path / "model.safetensors")) if main_rank else None
                optim_sd = torch.load(path / "optimizer.pt", weights_only=True) if main_rank else None
                distributed.load_full_state(env, model, optimizer, model_sd, optim_sd)
                del model_sd, optim_sd
            else:
                model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
                optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True, map_location=device))
            if average is not None and found.get("average_count"):
                average.begin_from(found["average_count"])
                with average.swapped():  # the checkpointed mean goes through the model's own loading
                    avg_sd = load_file(str(path / AVERAGE_FILE), device=str(device)) if main_rank else None
                    if env.distributed:
                        distributed.load_full_model_state(env, model, avg_sd)
                    else:
                        model.load_state_dict(avg_sd)
                    del avg_sd
            schedule.load_state_dict(found["schedule"])
            loader.load_state_dict(found["loader"])
            _set_rng_state(found["rng"])
            start_step, elapsed_before, resumed_from = found["step"], found["elapsed"], found["step"]
            recent.extend(tuple(x) for x in found["recent"])
            if main_rank:
                logger.info("resuming from step %d (%s)", start_step, path)
        if main_rank:
            _truncate_metrics(metrics_path, start_step)
        distributed.barrier(env)

        step_fn = _forward_loss
        if cfg["compile"]:  # the plain-ops loss: inductor fuses it, the hand-written one it cannot
            step_fn = torch.compile(functools.partial(_forward_loss, loss_fn=lm_loss_plain))
        autocast = cfg["precision"] == "bf16"
        z_loss = float(cfg["z_loss"])
        grad_clip = float(cfg["grad_clip"])
        log_every = int(cfg["log_every"])
        eval_every = int(cfg["eval_every"] or cfg["checkpoint_every"])
        tokens_per_step = plan["tokens_per_step"]
        fpt = plan["flops_per_token"]
        peak = peak_flops(cfg, device)
        last_step = steps if stop_after_step is None else min(steps, int(stop_after_step))
        # The original single-process step (bit-identical to earlier versions) unless sharded or accumulating.
        simple = not env.distributed and accum == 1
        part = (env.rank, env.world_size)
        sinks = _Sinks(cfg, out_dir, {"model": dict(model_cfg), "train": dict(cfg), "seed": seed,
                                      "world_size": env.world_size}, enabled=main_rank)

        bar = tqdm(total=steps, initial=start_step, desc="train", unit="step", disable=not (progress and main_rank),
                   dynamic_ncols=True)
        session_start = interval_start = time.perf_counter()
        interval_steps = 0
        done = start_step
        metrics_ctx = open(metrics_path, "a", encoding="utf-8") if main_rank else contextlib.nullcontext()
        with metrics_ctx as metrics:
            for i in range(start_step, last_step):
                lr = schedule(i)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = loader.next_batch(part)
                top = int(batch.max())
                if env.distributed:
                    top = int(distributed.all_reduce_max(env, torch.tensor(top, device=device)))
                if top >= config.vocab_size:
                    raise ValueError(f"{tokens_path}: token id {top} >= vocab_size {config.vocab_size}")
                batch = batch.to(device, non_blocking=True)
                if simple:
                    loss, ce = step_fn(model, batch[:, :-1], batch[:, 1:], z_loss, autocast)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                else:
                    optimizer.zero_grad(set_to_none=True)
                    sums = torch.zeros(2, device=device)
                    for m in range(accum):
                        mb = batch[m * micro:(m + 1) * micro]
                        if env.distributed:  # reduce-scatter gradients once, after the last micro batch
                            model.set_requires_gradient_sync(m == accum - 1)
                        loss_m, ce_m = step_fn(model, mb[:, :-1], mb[:, 1:], z_loss, autocast)
                        # Equal-sized micro batches: the mean of their means is the batch mean.
                        (loss_m if accum == 1 else loss_m / accum).backward()
                        sums += torch.stack([loss_m.detach(), ce_m.detach()]) / accum
                    loss, ce = distributed.all_reduce_mean(env, sums)  # FSDP averages gradients the same way
                    params = [p for p in model.parameters() if p.grad is not None]
                    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
                    if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP: the global norm
                        grad_norm = grad_norm.full_tensor()
                    torch.nn.utils.clip_grads_with_norm_(params, grad_clip, grad_norm)
                optimizer.step()
                done = i + 1
                if average is not None:
                    average.update(done)
                loss_v, ce_v = float(loss.item()), float(ce.item())
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"loss is {loss_v} at step {done}")
                recent.append((loss_v, ce_v))
                interval_steps += 1
                heldout_v = None
                if heldout is not None and (done % eval_every == 0 or done == steps):
                    heldout_v = _heldout_loss(model, heldout, env, micro, autocast)
                now = time.perf_counter()
                if done % log_every == 0 or done == last_step or heldout_v is not None:
                    tok_s = interval_steps * tokens_per_step / max(now - interval_start, 1e-9)
                    row = {
                        "step": done,
                        "loss": loss_v,
                        "ce_loss": ce_v,
                        "lr": lr,
                        "tokens": done * tokens_per_step,
                        "tokens_per_s": round(tok_s, 1),
                        "flops": fpt * done * tokens_per_step,
                        "mfu": None if peak is None else round(fpt * tok_s / (peak * env.world_size), 6),
                        "grad_norm": float(grad_norm),
                        "elapsed": round(elapsed_before + now - session_start, 3),
                    }
                    if heldout_v is not None:
                        row["heldout_loss"] = heldout_v
                    if main_rank:
                        metrics.write(json.dumps(row) + "\n")
                        metrics.flush()
                        sinks.log(row)
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
                        "average_count": average.count if average is not None else 0,
                    }
                    avg_sd = None
                    if env.distributed:  # gathering is a collective: every rank takes part
                        model_sd = distributed.full_model_state(model)
                        optim_sd = distributed.full_optimizer_state(model, optimizer)
                        if average is not None and average.active:
                            with average.swapped():
                                avg_sd = distributed.full_model_state(model)
                        if main_rank:
                            _save_checkpoint(ckpt_root, done, model_sd, optim_sd, state, avg_sd)
                        del model_sd, optim_sd, avg_sd
                        distributed.barrier(env)
                    else:
                        if average is not None and average.active:
                            with average.swapped():
                                avg_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        _save_checkpoint(ckpt_root, done, model.state_dict(), optimizer.state_dict(), state, avg_sd)
        bar.close()
        session_seconds = time.perf_counter() - session_start
        stopped_early = done < steps
        if not stopped_early:
            def save(folder: Path) -> None:
                if env.distributed:
                    model_sd = distributed.full_model_state(model)
                    if main_rank:
                        with torch.device("meta"):
                            final = OpenLMForCausalLM(config)
                        final.load_state_dict(model_sd, assign=True)
                        _save_final_model(final, folder)
                    del model_sd
                    distributed.barrier(env)
                else:
                    _save_final_model(model, folder)

            if average is not None and average.active:
                # model/ (what is evaluated) holds the mean; last/ keeps the last step's weights
                save(out_dir / LAST_MODEL)
                with average.swapped():
                    save(out_dir / "model")
            else:
                save(out_dir / "model")
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
            "world_size": env.world_size,
            "accumulation_steps": accum,
            "passes": round(passes, 4),
            "order_sha256": loader.order_sha256(),  # the training rows' order (data.py)
            "average": None if average is None else {"from_step": average.start, "iterates": average.count},
        }
    finally:
        if sinks is not None:
            sinks.close()
        distributed.close(env)
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det[0], warn_only=prev_det[1])


def main(argv: list[str] | None = None) -> int:
    """``python -m winnow.train.loop``: train from a scale YAML or JSON configs; prints the stats as JSON.

    Runs under ``torchrun`` unchanged (``torchrun --nproc_per_node 8 -m winnow.train.loop ...``):
    every rank trains its share, rank 0 writes the outputs and prints the stats.
    """
    p = argparse.ArgumentParser(prog="python -m winnow.train.loop", description=main.__doc__)
    p.add_argument("--scale", type=Path, help="a scale YAML (conf/scale/NAME.yaml): its model: and train: blocks")
    p.add_argument("--model-cfg", help="the scale's model: block, as JSON (instead of --scale)")
    p.add_argument("--train-cfg", help="the scale's train: block, as JSON (instead of --scale)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override one train key, e.g. --set micro_batch_size=4 (repeatable)")
    p.add_argument("--tokens", required=True, type=Path, help="tokens.npy from the tokenize stage")
    p.add_argument("--heldout", type=Path, default=None, help="optional held-out token file (same layout)")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, metrics, model)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--stop-after-step", type=int, default=None)
    args = p.parse_args(argv)
    if args.scale is not None:
        if args.model_cfg or args.train_cfg:
            p.error("give --scale or --model-cfg/--train-cfg, not both")
        import yaml

        scale = yaml.safe_load(args.scale.read_text(encoding="utf-8"))
        if not isinstance(scale, dict) or "model" not in scale or "train" not in scale:
            p.error(f"{args.scale} has no model: and train: blocks")
        model_cfg, train_cfg = scale["model"], scale["train"]
    elif args.model_cfg and args.train_cfg:
        model_cfg, train_cfg = json.loads(args.model_cfg), json.loads(args.train_cfg)
    else:
        p.error("give --scale, or both --model-cfg and --train-cfg")
    train_cfg = dict(train_cfg)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        try:
            train_cfg[key] = json.loads(value)
        except json.JSONDecodeError:
            train_cfg[key] = value
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format="%(name)s: %(message)s")
    stats = train_model(
        model_cfg=model_cfg,
        train_cfg=train_cfg,
        tokens_path=args.tokens,
        out_dir=args.out,
        seed=args.seed,
        progress=not args.no_progress,
        stop_after_step=args.stop_after_step,
        heldout_path=args.heldout,
    )
    if rank == 0:
        json.dump(stats, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
