"""The bare training loop bench_train.py measures the harness against: plain PyTorch, no winnow code
but the model class. Same model, batch rows, AdamW settings, precision, compile flag, z-loss and
gradient clipping as ``winnow.train.loop.train_model``; no checkpoints, metrics or schedule object."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from winnow.train.model import OpenLMConfig, OpenLMForCausalLM  # the model class under test


def bare_loop(model_cfg: dict, train: dict, tokens: np.ndarray, steps: int, warmup: int, on_step=None,
              device: str = "cpu") -> float:
    """Tokens/s over ``steps`` steps after ``warmup`` untimed ones (rows of ``tokens`` in order) on
    ``device``; ``on_step()`` (e.g. a profiler's ``step``) is called after every step."""
    torch.manual_seed(0)
    model = OpenLMForCausalLM(OpenLMConfig.from_scale(model_cfg)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=train["lr"], betas=(train["beta1"], train["beta2"]),
                            eps=train["eps"], weight_decay=train["weight_decay"])
    bf16 = train["precision"] == "bf16"

    def loss_fn(x, y):
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x).logits.float().flatten(0, 1)
        z = torch.logsumexp(logits, dim=-1)
        return F.cross_entropy(logits, y.flatten()) + train["z_loss"] * (z * z).mean()

    loss_fn = torch.compile(loss_fn) if train["compile"] else loss_fn
    b, total = train["batch_size"], warmup + steps
    for i in range(total):
        if i == warmup:
            t0 = time.perf_counter()
        lr = train["lr"] * min(1.0, (i + 1) / train["warmup"]) * 0.5 * (1 + math.cos(math.pi * i / total))
        for group in opt.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(tokens[i * b:(i + 1) * b].astype(np.int64)).to(device)
        loss = loss_fn(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train["grad_clip"])
        opt.step()
        loss.item()  # waits for the step (on a GPU too)
        if on_step is not None:
            on_step()
    return steps * b * (tokens.shape[1] - 1) / (time.perf_counter() - t0)

