"""The open_lm transformer that DCLM trains, as a ``transformers`` causal LM (self-contained).

This file imports only torch, transformers and the standard library, never winnow: it is copied
verbatim into every model folder winnow writes (``winnow.train.hf_folder``), and the folder's
``config.json`` points ``auto_map`` at it, so ``AutoModelForCausalLM.from_pretrained(dir,
trust_remote_code=True)`` builds this very code where winnow is not installed. Inside winnow,
``winnow.train.model`` re-exports it and registers it with the Auto classes. Two small rules are
therefore written here and in the torch-free ``winnow.train.plan`` (open_lm's SwiGLU width, the
head check); tests/test_hf_folder.py checks the two agree.

One model family serves every scale, from the 100k-parameter debug model to DCLM's 7B: the
architecture of ``mlfoundations/open_lm`` with the options DCLM's recipes turn on
(``--model-norm gain_only_lp_layer_norm --qk-norm``, rotary positions, SwiGLU, no weight tying).
Checked against open_lm's ``open_lm/model.py``, ``norms.py``, ``positional_embedding/rotary.py``
and ``losses.py`` (via the code index):

* Pre-norm blocks ``x + attn(norm(x))`` then ``h + ffn(norm(h))``; final norm before the head.
  Norms are LayerNorm with a gain and no bias, eps 1e-5.
* QK-norm: a gain-only LayerNorm over the *full* d_model applied to q and to k before the split
  into heads (2·d extra parameters per layer), exactly as open_lm's ``CustomAttn``.
* RoPE (base 10000, GPT-NeoX "rotate half" layout) on q and k after QK-norm; causal attention
  through ``F.scaled_dot_product_attention``.
* SwiGLU FFN with a fused ``w12`` (d -> 2h, gate first) and ``w3`` (h -> d). The hidden size is
  open_lm's rule ``m * ceil(int(8d/3) / m)`` with m = ``ffn_multiple_of`` (open_lm fixes
  m = 256). open_lm truncates 8d/3 to an integer *before* rounding up; we do the same, so every
  DCLM shape gets DCLM's hidden size.
* No biases; untied input embedding and output head.
* Init as open_lm: truncated normal at ±3σ with σ = 1/sqrt(d) for the embedding, qkv in-proj,
  w12 and head; attention out-proj σ/sqrt(2(layer+1)); w3 (1/sqrt(h))/sqrt(2(layer+1));
  norm gains 1.
* Parameter names follow open_lm's ``Transformer`` (``tok_embeddings``, ``layers.N.attention.
  in_proj``, ``feed_forward.w12``, ``norm``, ``output``), so a DCLM checkpoint loads after
  stripping its ``module.`` prefix and dropping open_lm's non-trainable rotary ``inv_freq`` buffers.

Known differences from open_lm, all numerical-only:

* DCLM's "LP" LayerNorm runs in the autocast dtype (bf16). ``nn.LayerNorm`` here follows
  autocast's rules: block and final norms read the fp32 residual stream and run in fp32; the
  QK-norms read bf16 projections and run in bf16 on CPU, fp32 on CUDA (layer_norm is on CUDA
  autocast's fp32 list). Identical in fp32, tiny differences in bf16.
* The rotary tables are computed in fp32 and applied in the activations' dtype; open_lm builds
  them in the key dtype. Identical in fp32.
* z-loss is ``z * mean(logsumexp(logits)^2)`` (PaLM's definition, and what open_lm's current
  ``CrossEntropyLossWithZLoss`` computes; one older open_lm revision squared the mean instead).
  It is averaged over the same non-ignored positions as the cross-entropy.

Inference notes: there is no KV cache. ``generate()`` recomputes the whole prefix at every step
(fine for the short continuations of lm-eval's ``generate_until`` on small models; say
``use_cache`` all you like, it is ignored). ``attention_mask``: with no padding or padding only on
the right (lm-eval's loglikelihood batches) the mask is not needed, because causal attention
already keeps real tokens from seeing later pads, so the fast ``is_causal`` path runs and scores
match an unpadded batch (up to float rounding from the different length). Left or mixed
padding (``generate`` with a left-padding tokenizer) builds an explicit causal-and-key mask;
since RoPE depends only on position *differences*, left-padded rows then score like unpadded
ones without needing ``position_ids``.
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import CausalLMOutputWithPast

try:  # transformers >= 5: init functions that skip tensors already loaded from a checkpoint
    from transformers import initialization as _init
except ImportError:  # transformers 4.x: plain torch init (loading bypasses _init_weights there)
    from torch.nn import init as _init

MODEL_TYPE = "winnow_openlm"
IGNORE_INDEX = -100


def swiglu_hidden(d_model: int, multiple_of: int = 256) -> int:
    """open_lm's SwiGLU width: int(8d/3) rounded up to a multiple of ``multiple_of``."""
    return multiple_of * ((int(2 * 4 * d_model / 3) + multiple_of - 1) // multiple_of)


def check_heads(d_model: int, n_heads: int) -> None:
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    if (d_model // n_heads) % 2:
        raise ValueError(f"head dim {d_model // n_heads} must be even for rotary embeddings")



class OpenLMConfig(PretrainedConfig):
    """Shape and numerics of an open_lm model. ``z_loss`` is the coefficient used with labels."""

    model_type = MODEL_TYPE
    # Standard names, so lm-eval and generation utilities that read e.g. max_position_embeddings
    # (to cap context length) or hidden_size work without knowing this config.
    attribute_map = {
        "hidden_size": "d_model",
        "num_hidden_layers": "n_layers",
        "num_attention_heads": "n_heads",
        "max_position_embeddings": "seq_len",
        "intermediate_size": "ffn_hidden",
    }

    def __init__(
        self,
        vocab_size: int = 50432,
        d_model: int = 512,
        n_layers: int = 8,
        n_heads: int = 8,
        ffn_multiple_of: int = 256,
        ffn_hidden: int | None = None,
        seq_len: int = 2048,
        norm_eps: float = 1e-5,
        rope_theta: float = 10000.0,
        qk_norm: bool = True,
        z_loss: float = 0.0,
        bos_token_id: int = 0,
        eos_token_id: int = 0,
        pad_token_id: int = 0,
        **kwargs,
    ):
        check_heads(d_model, n_heads)
        self.vocab_size = int(vocab_size)
        self.d_model = int(d_model)
        self.n_layers = int(n_layers)
        self.n_heads = int(n_heads)
        self.ffn_multiple_of = int(ffn_multiple_of)
        self.ffn_hidden = int(ffn_hidden) if ffn_hidden is not None else swiglu_hidden(d_model, ffn_multiple_of)
        self.seq_len = int(seq_len)
        self.norm_eps = float(norm_eps)
        self.rope_theta = float(rope_theta)
        self.qk_norm = bool(qk_norm)
        self.z_loss = float(z_loss)
        # No KV cache exists; telling generate() so keeps it from building one.
        kwargs["use_cache"] = False
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(
            bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_scale(cls, model: dict, **overrides) -> "OpenLMConfig":
        """Build from a scale YAML's ``model:`` block (vocab_size, d_model, n_layers, n_heads,
        ffn_multiple_of, seq_len; optionally any other constructor argument)."""
        allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
        if unknown := sorted(set(model) - set(allowed)):
            hints = {k: difflib.get_close_matches(k, allowed, n=1) for k in unknown}
            raise ValueError("unknown model config keys: " + ", ".join(
                k + (f" (did you mean {h[0]}?)" if h else "") for k, h in hints.items()))
        return cls(**{**dict(model), **overrides})


def rotary_tables(seq_len: int, head_dim: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of shape (seq_len, head_dim), fp32, in the "rotate half" layout.

    Computed per forward instead of cached in a buffer: it costs ~seq·hd/2 flops, keeps the
    state dict free of non-trainable tensors and avoids meta-device init pitfalls on load.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    t = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x of shape (batch, seq, heads, head_dim) by the tables of shape (seq, head_dim)."""
    cos = cos[None, :, None, :].to(x.dtype)
    sin = sin[None, :, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def _norm(config: OpenLMConfig) -> nn.LayerNorm:
    return nn.LayerNorm(config.d_model, eps=config.norm_eps, elementwise_affine=True, bias=False)


def _set_init_std(linear: nn.Module, std: float) -> None:
    # The std travels on the module that owns the weight: transformers' init walk calls
    # _init_weights on each module and skips modules with no parameters of their own, so the
    # parent (attention, FFN) could not initialise its children reliably.
    linear._winnow_init_std = std


class OpenLMAttention(nn.Module):
    def __init__(self, config: OpenLMConfig, layer_id: int):
        super().__init__()
        d = config.d_model
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.in_proj = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        self.q_norm = _norm(config) if config.qk_norm else nn.Identity()
        self.k_norm = _norm(config) if config.qk_norm else nn.Identity()
        std = 1.0 / math.sqrt(d)
        _set_init_std(self.in_proj, std)
        # Depth-scaled residual projections (https://arxiv.org/abs/1908.11365), as open_lm.
        _set_init_std(self.out_proj, std / math.sqrt(2 * (layer_id + 1)))

    def forward(self, x, cos, sin, attn_mask=None):
        b, s, d = x.shape
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q = q.view(b, s, self.n_heads, self.head_dim)
        k = k.view(b, s, self.n_heads, self.head_dim)
        v = v.view(b, s, self.n_heads, self.head_dim)
        # Cast back to v's dtype: under autocast the norm output may be fp32 (open_lm does the same).
        q = apply_rotary(q, cos, sin).to(v.dtype).transpose(1, 2)
        k = apply_rotary(k, cos, sin).to(v.dtype).transpose(1, 2)
        v = v.transpose(1, 2)
        if attn_mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, s, d))


class OpenLMSwiGLU(nn.Module):
    def __init__(self, config: OpenLMConfig, layer_id: int):
        super().__init__()
        d, h = config.d_model, config.ffn_hidden
        self.w12 = nn.Linear(d, 2 * h, bias=False)
        self.w3 = nn.Linear(h, d, bias=False)
        _set_init_std(self.w12, 1.0 / math.sqrt(d))
        _set_init_std(self.w3, 1.0 / math.sqrt(h) / math.sqrt(2 * (layer_id + 1)))

    def forward(self, x):
        gate, x = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * x)


class OpenLMBlock(nn.Module):
    def __init__(self, config: OpenLMConfig, layer_id: int):
        super().__init__()
        self.attention_norm = _norm(config)
        self.attention = OpenLMAttention(config, layer_id)
        self.ffn_norm = _norm(config)
        self.feed_forward = OpenLMSwiGLU(config, layer_id)

    def forward(self, x, cos, sin, attn_mask=None):
        h = x + self.attention(self.attention_norm(x), cos, sin, attn_mask)
        return h + self.feed_forward(self.ffn_norm(h))


@dataclass
class OpenLMOutput(CausalLMOutputWithPast):
    """CausalLMOutputWithPast plus ``ce_loss``: the plain cross-entropy (``loss`` adds z-loss)."""

    ce_loss: torch.FloatTensor | None = None


class _LMLoss(torch.autograd.Function):
    """Cross-entropy + z-loss over (N, V) fp32 logits with a hand-written backward.

    Autograd through logsumexp + gather keeps extra full-size temporaries (a zero-filled
    scatter buffer, x - lse, its exp); on CPU with an 8k vocab the loss then costs as much as a
    transformer layer. Here the gradient of both terms is one softmax scaled per row,
    ((g_ce + 2·z·g·lse_i)/n)·softmax_i, minus (g_ce/n) at the target: one allocation, three
    passes, about half the time. ``gradcheck``-tested in tests/test_model.py.
    """

    @staticmethod
    def forward(ctx, logits, targets, z_loss: float):
        lse = torch.logsumexp(logits, dim=-1)
        valid = targets != IGNORE_INDEX
        safe = targets.clamp_min(0)
        n = valid.sum().clamp_min(1)
        target_logit = logits.gather(1, safe.unsqueeze(1)).squeeze(1)
        ce = torch.where(valid, lse - target_logit, 0.0).sum() / n
        loss = ce + z_loss * torch.where(valid, lse.square(), 0.0).sum() / n if z_loss > 0 else ce.clone()
        ctx.save_for_backward(logits, lse, safe, valid, n)
        ctx.z_loss = z_loss
        return loss, ce

    @staticmethod
    def backward(ctx, g_loss, g_ce):
        logits, lse, safe, valid, n = ctx.saved_tensors
        zero = torch.zeros((), dtype=logits.dtype, device=logits.device)
        g_loss = zero if g_loss is None else g_loss
        g_all_ce = g_loss if g_ce is None else g_loss + g_ce  # ce enters both outputs
        coef = torch.where(valid, (g_all_ce + 2 * ctx.z_loss * g_loss * lse) / n, 0.0)
        grad = logits - lse.unsqueeze(1)
        grad.exp_()
        grad.mul_(coef.unsqueeze(1))
        rows = torch.arange(logits.shape[0], device=logits.device)
        grad.index_put_((rows, safe), torch.where(valid, -g_all_ce / n, 0.0), accumulate=True)
        return grad, None, None


def lm_loss_plain(logits: torch.Tensor, targets: torch.Tensor, z_loss: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``lm_loss`` in plain autograd ops, for ``torch.compile``: inductor cannot see through
    ``_LMLoss``'s hand-written backward, but fuses this formulation into fewer passes than
    either (measured: the compiled training step is ~15% faster at 1m-1x). Same value and
    gradient up to float rounding."""
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    lse = torch.logsumexp(logits, dim=-1)
    valid = targets != IGNORE_INDEX
    n = valid.sum().clamp_min(1)
    target_logit = logits.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1)
    ce = torch.where(valid, lse - target_logit, 0.0).sum() / n
    if z_loss > 0:
        return ce + z_loss * torch.where(valid, lse.square(), 0.0).sum() / n, ce
    return ce, ce


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, z_loss: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, ce) for *aligned* targets: ``logits[..., t, :]`` predicts ``targets[..., t]``.

    ce is the mean cross-entropy over positions whose target is not -100; loss = ce +
    z_loss · mean(logsumexp²) over the same positions. bf16/fp16 logits are upcast to fp32.
    """
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    logits = logits.reshape(-1, logits.shape[-1])
    return _LMLoss.apply(logits, targets.reshape(-1), float(z_loss))


def _attention_mask_for(attention_mask: torch.Tensor | None, seq: int) -> torch.Tensor | None:
    """None (use is_causal) unless some row has a pad *before* a real token (left/mixed padding)."""
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, seq), got shape {tuple(attention_mask.shape)}")
    keep = attention_mask.bool()
    # Right padding only (mask non-increasing along each row): causality already hides the pads.
    if not bool((keep[:, 1:] & ~keep[:, :-1]).any()):
        return None
    causal = torch.ones(seq, seq, dtype=torch.bool, device=keep.device).tril()
    allowed = causal[None, None] & keep[:, None, None, :]
    # A left pad sees no real key; letting every query see itself keeps its softmax finite.
    return allowed | torch.eye(seq, dtype=torch.bool, device=keep.device)[None, None]


class OpenLMForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = OpenLMConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["OpenLMBlock"]
    _supports_sdpa = True

    def __init__(self, config: OpenLMConfig):
        super().__init__(config)
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(OpenLMBlock(config, i) for i in range(config.n_layers))
        self.norm = _norm(config)
        self.output = nn.Linear(config.d_model, config.vocab_size, bias=False)
        std = 1.0 / math.sqrt(config.d_model)
        _set_init_std(self.tok_embeddings, std)
        _set_init_std(self.output, std)
        # transformers' gradient-checkpointing switch sets these two attributes on this module.
        self.gradient_checkpointing = False
        self._gradient_checkpointing_func = None
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        std = getattr(module, "_winnow_init_std", None)
        if std is not None:
            _init.trunc_normal_(module.weight, mean=0.0, std=std, a=-3 * std, b=3 * std)
        elif isinstance(module, nn.LayerNorm) and module.weight is not None:
            _init.ones_(module.weight)

    def get_input_embeddings(self):
        return self.tok_embeddings

    def set_input_embeddings(self, value):
        self.tok_embeddings = value

    def get_output_embeddings(self):
        return self.output

    def set_output_embeddings(self, value):
        self.output = value

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # no KV cache: generate() must not build one and slice inputs to it

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        # Always the whole prefix: without a cache every step recomputes it.
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> OpenLMOutput:
        """Logits of shape (batch, seq, vocab) in fp32; with ``labels`` (HF convention: same
        shape as input_ids, shifted here) also ``loss`` (= ce + z-loss) and ``ce_loss``.

        ``logits_to_keep`` > 0 computes the head for the last positions only (generation).
        Cache, position and output-selection keywords from generic callers are accepted and ignored.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.tok_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        seq = x.shape[1]
        cos, sin = rotary_tables(seq, self.config.head_dim, self.config.rope_theta, device=x.device)
        mask = _attention_mask_for(attention_mask, seq)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = self._gradient_checkpointing_func(layer.__call__, x, cos, sin, mask)
            else:
                x = layer(x, cos, sin, mask)
        x = self.norm(x)
        if logits_to_keep and labels is None:
            x = x[:, -logits_to_keep:]
        # fp32 logits (as open_lm and llama): the softmax over a large vocab is precision-sensitive.
        logits = self.output(x).float()
        loss = ce = None
        if labels is not None:
            loss, ce = lm_loss(logits[:, :-1], labels[:, 1:], self.config.z_loss)
        return OpenLMOutput(loss=loss, logits=logits, ce_loss=ce)
