"""The training loop: one scale's ``model:`` + ``train:`` blocks and a tokens.npy in, a model out.

``train_model`` is a pure function of its arguments (config, data, seed); ``winnow train`` (the
run's train stage) and ``python -m winnow.train`` (any token file) wrap it. Its neighbours: the
scale plan (steps, tokens, FLOPs: ``winnow.train.plan``, torch-free), the checkpoint files
(``winnow.train.checkpoint``), the metric sinks (``winnow.train.metrics``), the sharding
(``winnow.train.distributed``). Choices, each following DCLM/open_lm unless noted:

* The number of steps and tokens is the plan's (``winnow.train.plan.derive``: a whole number of
  batches, tokens // (batch_size · seq_len) steps), the same plan the other stages read.
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
  The files are ``winnow.train.checkpoint``'s.
* ``metrics.jsonl`` (rank 0 only): one line per ``log_every`` steps (default 1) with loss,
  ce_loss, lr, tokens, tokens_per_s, flops (cumulative, ``flops_per_token`` × tokens), mfu
  (model FLOPs/s over the peak of all devices: the bf16 dense peak of known GPUs, or the
  ``peak_flops`` train key / ``WINNOW_PEAK_FLOPS`` per device, else null), grad_norm, elapsed;
  plus heldout_loss every ``eval_every`` steps when a held-out token file is given. On resume,
  lines for steps after the checkpoint are dropped before appending, so each step appears once.
  Optional sinks (``winnow.train.metrics``), off by default and never required: TensorBoard
  (``tensorboard: true`` or ``WINNOW_TENSORBOARD=1``, into ``tensorboard/``) and W&B (when
  ``WANDB_PROJECT`` is set).
* The final model is ``save_pretrained`` (safetensors) into ``model/`` through a temporary folder.
  With ``average_from`` (``winnow.train.averaging``) ``model/`` holds the uniform mean of the
  weights over the steps after that fraction of training and ``last/`` the last step's weights;
  checkpoints then carry the running mean, so resumes stay exact.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from winnow.train import distributed
from winnow.train.averaging import TailAverage, average_start
from winnow.train.checkpoint import (AVERAGE_FILE, clean_tmp, read_resume_state, resume_identity, save_checkpoint,
                                     save_final_model, set_rng_state)
from winnow.train.data import SequenceLoader
from winnow.train.metrics import MetricSinks, truncate_metrics
from winnow.train.model import OpenLMConfig, OpenLMForCausalLM, count_params, lm_loss, lm_loss_plain
from winnow.train.plan import derive, train_settings

logger = logging.getLogger("winnow.train")

# Dense bf16 peak FLOP/s per GPU (no sparsity), matched against torch.cuda.get_device_name().
# MFU is reported against these whatever the precision, as PaLM and DCLM report it.
PEAK_FLOPS = (("H200", 989e12), ("H100", 989e12), ("A100", 312e12))
FINAL_LOSS_WINDOW = 10  # final_loss is the mean over this many last steps
LAST_MODEL = "last"  # with tail averaging: the last step's weights, beside model/ (the mean)


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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


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
    tokenizer_file: Path | None = None,
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
    ``tokenizer_file``: the scale's tokenizer JSON, written into the final model folder with its
    configs, so the folder is a complete HF model (``winnow.train.hf_folder``).

    Under torchrun (WORLD_SIZE > 1) every rank calls this with the same arguments; rank 0 writes
    the metrics, checkpoints and the final model. A process group the caller initialised is used
    and left open; one created here is destroyed on return.
    """
    cfg = train_settings(train_cfg)
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
        identity = resume_identity(model_cfg, cfg, seed, plan, loader)

        # Rank 0 finds and checks the checkpoint; every rank gets the verdict (an error raised on
        # rank 0 alone would leave the others waiting in a collective).
        found, error = None, None
        if main_rank:
            try:
                clean_tmp(ckpt_root)
                clean_tmp(out_dir, prefix=".model.")
                found = read_resume_state(ckpt_root, identity, out_dir)
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
            set_rng_state(found["rng"])
            start_step, elapsed_before, resumed_from = found["step"], found["elapsed"], found["step"]
            recent.extend(tuple(x) for x in found["recent"])
            if main_rank:
                logger.info("resuming from step %d (%s)", start_step, path)
        if main_rank:
            truncate_metrics(metrics_path, start_step)
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
        sinks = MetricSinks(cfg, out_dir, {"model": dict(model_cfg), "train": dict(cfg), "seed": seed,
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
                            save_checkpoint(ckpt_root, done, model_sd, optim_sd, state, avg_sd)
                        del model_sd, optim_sd, avg_sd
                        distributed.barrier(env)
                    else:
                        if average is not None and average.active:
                            with average.swapped():
                                avg_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        save_checkpoint(ckpt_root, done, model.state_dict(), optimizer.state_dict(), state, avg_sd)
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
                        save_final_model(final, folder, tokenizer_file)
                    del model_sd
                    distributed.barrier(env)
                else:
                    save_final_model(model, folder, tokenizer_file)

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
