"""The scale plan: steps, tokens, sequences, parameters and FLOPs of a scale, from its config alone.

A scale's ``model:`` and ``train:`` blocks fix everything trained; the numbers that follow from
them are computed here and never typed (README "Scales"). ``derive(model, train)`` is the
plan: ``winnow.run.prepare`` computes it once per run (``Run.plan``), and curation (its token
budget), tokenization (how many sequences to pack), training, ``winnow ls scales`` and the
leaderboard's submit checks (the budget a run must have trained) all read that one plan.

This module imports no torch and builds no model: the shape arithmetic (``ModelShape``,
``param_counts``, ``flops_per_token``, open_lm's SwiGLU width) lives here, and
``winnow.train.model`` takes its shape defaults and formulas from it, so a plan computed here is
the model's own count (``tests`` check ``param_counts`` against a built model's).

* The token budget is ``tokens``, or ``tokens_per_param`` × parameters when ``tokens`` is null
  (``param_basis``: "total" as DCLM counts, or "non_embedding" as winnow's CPU tracks count).
* Training runs whole batches only: steps = budget // (batch_size · seq_len); ``tokens`` is what
  those steps train, ``sequences`` = steps · batch_size rows for the tokenize stage.
* The train block is checked here (``train_settings``): unknown keys are refused with a
  did-you-mean (typos are bugs), optional keys get their defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

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
# The model block's keys besides the shape's own fields: numerics and token ids that
# ``OpenLMConfig`` takes and a plan does not need (``tests`` check the two lists agree).
MODEL_NUMERIC_KEYS = ("norm_eps", "rope_theta", "z_loss", "bos_token_id", "eos_token_id", "pad_token_id")


def swiglu_hidden(d_model: int, multiple_of: int = 256) -> int:
    """open_lm's SwiGLU width: int(8d/3) rounded up to a multiple of ``multiple_of``."""
    return multiple_of * ((int(2 * 4 * d_model / 3) + multiple_of - 1) // multiple_of)


@dataclass(frozen=True)
class ModelShape:
    """The shape of an open_lm model; its defaults are ``OpenLMConfig``'s."""

    vocab_size: int = 50432
    d_model: int = 512
    n_layers: int = 8
    n_heads: int = 8
    ffn_multiple_of: int = 256
    ffn_hidden: int | None = None   # None: swiglu_hidden(d_model, ffn_multiple_of)
    seq_len: int = 2048
    qk_norm: bool = True

    def __post_init__(self):
        check_heads(self.d_model, self.n_heads)
        # the same conversions as OpenLMConfig's, so a plan counts what the model builds
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "ffn_multiple_of", "seq_len"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "qk_norm", bool(self.qk_norm))
        hidden = swiglu_hidden(self.d_model, self.ffn_multiple_of) if self.ffn_hidden is None else int(self.ffn_hidden)
        object.__setattr__(self, "ffn_hidden", hidden)

    @classmethod
    def from_scale(cls, model: dict) -> "ModelShape":
        """From a scale YAML's ``model:`` block (every key ``OpenLMConfig.from_scale`` takes)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        check_model_keys(model, [*fields, *MODEL_NUMERIC_KEYS])
        return cls(**{k: v for k, v in model.items() if k in fields})


def check_heads(d_model: int, n_heads: int) -> None:
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    if (d_model // n_heads) % 2:
        raise ValueError(f"head dim {d_model // n_heads} must be even for rotary embeddings")


def check_model_keys(model: dict, allowed: list[str]) -> None:
    """Refuse keys of a ``model:`` block outside ``allowed``, with a did-you-mean for each."""
    unknown = sorted(set(model) - set(allowed))
    if unknown:
        hints = {k: difflib.get_close_matches(k, allowed, n=1) for k in unknown}
        msg = ", ".join(f"{k}" + (f" (did you mean {h[0]}?)" if h else "") for k, h in hints.items())
        raise ValueError(f"unknown model config keys: {msg}")


def param_counts(shape) -> dict:
    """Parameter counts of a ``ModelShape`` (or ``OpenLMConfig``), equal to ``count_params`` of
    the built model.

    embedding = input embedding V·d + output head d·V. Per layer: attention 4d² (qkv 3d² + out
    d²), QK-norm gains 2d, SwiGLU 3dh (w12 2dh + w3 hd), two block norms 2d. Final norm d.
    """
    d, v, h = shape.d_model, shape.vocab_size, shape.ffn_hidden
    per_layer = 4 * d * d + (2 * d if shape.qk_norm else 0) + 3 * d * h + 2 * d
    embedding = 2 * v * d
    non_embedding = shape.n_layers * per_layer + d
    return {"total": embedding + non_embedding, "embedding": embedding, "non_embedding": non_embedding}


def flops_per_token(shape) -> int:
    """Training FLOPs per token (forward + backward), PaLM appendix B style.

    6·N_nonembedding (every matmul weight: 2 FLOPs per multiply-add forward, 4 backward)
    + 6·d·V for the output head (the input embedding is a lookup, no FLOPs)
    + 12·L·d·seq_len for attention scores and the weighted sum (QKᵀ and AV, each 2·seq·d per
    token per layer forward, ×3 for backward), counted over the full square, not the causal half.
    Norm gains sit inside N_nonembedding; their few FLOPs are immaterial.
    """
    n = param_counts(shape)["non_embedding"]
    return int(6 * n + 6 * shape.d_model * shape.vocab_size + 12 * shape.n_layers * shape.d_model * shape.seq_len)


def train_settings(train_cfg: dict) -> dict:
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


def derive(model_cfg: dict, train_cfg: dict) -> dict:
    """The plan of a scale: steps, tokens trained, token budget, tokens per step, sequences,
    parameter counts, FLOPs per token and in total, from its ``model:`` and ``train:`` blocks."""
    cfg = train_settings(train_cfg)
    shape = ModelShape.from_scale(model_cfg)
    params = param_counts(shape)
    budget = cfg["tokens"]
    if budget is None:
        if cfg["tokens_per_param"] is None:
            raise ValueError("train config needs tokens or tokens_per_param")
        budget = int(round(cfg["tokens_per_param"] * params[cfg["param_basis"]]))
    tokens_per_step = int(cfg["batch_size"]) * shape.seq_len
    steps = int(budget) // tokens_per_step
    if steps < 1:
        raise ValueError(f"token budget {budget} is smaller than one batch ({tokens_per_step} tokens)")
    fpt = flops_per_token(shape)
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
