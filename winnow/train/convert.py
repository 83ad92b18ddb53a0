"""Convert models between open_lm's checkpoint format (DCLM's) and winnow's HF model folders.

winnow's model (``winnow.train.model``) is open_lm's ``Transformer`` with DCLM's options and the
same parameter names, so conversion is a renaming of containers, not of weights. Checked against
``mlfoundations/open_lm`` (``model.py``, ``main.py``, ``norms.py``, ``positional_embedding/
rotary.py``, ``model_configs/*.json``) via the code index:

* open_lm saves ``torch.save({"epoch", "name", "state_dict", "evaluation_loss", ...})`` with the
  optimizer in a separate ``optimizer_N.pt``; under DDP/FSDP the state-dict keys carry a
  ``module.`` prefix, which ``main.load_model`` strips (it takes the ``state_dict`` branch only
  when the dict has an ``"epoch"`` key; otherwise the file is a bare state dict).
* Parameter names: ``tok_embeddings``, ``layers.N.attention.{in_proj,out_proj}``,
  ``layers.N.attention.{q_norm,k_norm}`` (QK-norm), ``layers.N.feed_forward.{w12,w3}``
  (SwiGLU, both ``swiglu`` via xformers and ``swiglu_torch``), ``layers.N.{attention_norm,
  ffn_norm}``, ``norm``, ``output``; every norm is gain-only (``weight``, no ``bias``) with
  DCLM's ``gain_only_lp_layer_norm``. open_lm also stores one persistent rotary buffer per layer,
  ``layers.N.attention.pos_embed.inv_freq`` = 1/10000^(arange(0, head_dim, 2)/head_dim): dropped
  (after checking it) on the way in, written on the way out so open_lm's strict load succeeds.
* The model JSON (``--model`` of open_lm) gives ``hidden_dim``, ``n_layers``, ``n_heads``,
  ``seq_len``, ``vocab_size``, ``post_embed_norm``, ``weight_tying`` and optionally
  ``model_norm``, ``ffn_type``, ``qk_norm``, ``positional_embedding_type`` (otherwise open_lm's
  command-line flags decide: DCLM passes ``--model-norm gain_only_lp_layer_norm --qk-norm``).
  open_lm fixes the SwiGLU width at 256·ceil(int(8d/3)/256) and norm eps at 1e-5.

Only what winnow's model can represent converts: weight tying, a post-embedding norm, norms with
biases, GeLU/MoE FFNs or other position embeddings are refused with the reason. Sizes missing
from the JSON are read off the state dict (d_model, vocab, layers, FFN width, QK-norm); n_heads
and seq_len cannot be and must be given. Going out, a winnow model whose FFN width or eps
open_lm cannot rebuild is refused unless ``allow_nonstandard`` (then the JSON records
``ffn_hidden`` for winnow's own way back, and open_lm itself could not build it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import torch

from winnow.io import atomic_path
from winnow.train.hf_folder import save_pretrained, write_tokenizer
from winnow.train.model import OpenLMConfig, OpenLMForCausalLM, swiglu_hidden

logger = logging.getLogger("winnow.train")

OPEN_LM_FFN_MULTIPLE = 256
OPEN_LM_NORM_EPS = 1e-5
OPEN_LM_ROPE_THETA = 10000.0
GAIN_ONLY_NORMS = ("gain_only_lp_layer_norm", "gain_only_layer_norm")
SWIGLU_FFNS = ("swiglu", "swiglu_torch")
INV_FREQ_RE = re.compile(r"^layers\.(\d+)\.attention\.pos_embed\.inv_freq$")
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


class ConvertError(ValueError):
    """The checkpoint or config cannot be converted; the message says why."""


def _strip_wrappers(key: str) -> str:
    # DDP/FSDP ("module."), torch.compile ("_orig_mod.") and FSDP1/checkpoint wrappers may nest.
    for prefix in WRAPPER_PREFIXES:
        key = key.replace(prefix, "")
    return key


def inv_freq(head_dim: int, theta: float = OPEN_LM_ROPE_THETA) -> torch.Tensor:
    """open_lm's rotary buffer for one layer (fp32)."""
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))


def read_params(params: dict | str | os.PathLike | None) -> dict:
    """An open_lm model JSON as a dict (a path, a dict, or None for "infer what can be")."""
    if params is None:
        return {}
    if isinstance(params, dict):
        return dict(params)
    path = Path(params)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConvertError(f"open_lm model JSON {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path} is not JSON: {e}") from None


def config_from_open_lm(params: dict, state_dict: dict[str, torch.Tensor], z_loss: float = 0.0) -> OpenLMConfig:
    """winnow's config for an open_lm model: the JSON's values, the rest read off the weights."""
    refusals = []
    if params.get("post_embed_norm"):
        refusals.append("post_embed_norm is true (winnow's model has no post-embedding norm)")
    if params.get("weight_tying"):
        refusals.append("weight_tying is true (winnow's model has an untied output head)")
    norm = params.get("model_norm", params.get("norm_type"))
    if norm is not None and norm not in GAIN_ONLY_NORMS:
        refusals.append(f"model_norm {norm!r} is not a gain-only LayerNorm ({', '.join(GAIN_ONLY_NORMS)})")
    if params.get("ffn_type", "swiglu") not in SWIGLU_FFNS:
        refusals.append(f"ffn_type {params['ffn_type']!r} is not SwiGLU ({', '.join(SWIGLU_FFNS)})")
    if params.get("positional_embedding_type", "rotary") != "rotary":
        refusals.append(f"positional_embedding_type {params['positional_embedding_type']!r} is not 'rotary'")
    if params.get("moe_freq"):
        refusals.append("the model has mixture-of-experts layers")
    biases = sorted(k for k in state_dict if k.endswith(".bias"))
    if biases:
        refusals.append(f"the weights hold biases ({', '.join(biases[:3])}...); winnow's model has none")
    if refusals:
        raise ConvertError("cannot convert this open_lm model: " + "; ".join(refusals))

    def need(key: str, tensor_key: str | None = None, dim: int = 0):
        if key in params:
            return int(params[key])
        if tensor_key is not None and tensor_key in state_dict:
            return int(state_dict[tensor_key].shape[dim])
        raise ConvertError(f"the open_lm model JSON must give {key!r} (it cannot be read off the weights)")

    layer_ids = {int(m.group(1)) for k in state_dict if (m := re.match(r"^layers\.(\d+)\.", k))}
    n_layers = int(params["n_layers"]) if "n_layers" in params else len(layer_ids)
    d_model = need("hidden_dim", "tok_embeddings.weight", 1)
    w12 = state_dict.get("layers.0.feed_forward.w12.weight")
    ffn_hidden = int(params.get("ffn_hidden", w12.shape[0] // 2 if w12 is not None else
                                swiglu_hidden(d_model, OPEN_LM_FFN_MULTIPLE)))
    qk_norm = params.get("qk_norm")
    if qk_norm is None:
        qk_norm = "layers.0.attention.q_norm.weight" in state_dict
    return OpenLMConfig(
        vocab_size=need("vocab_size", "tok_embeddings.weight", 0),
        d_model=d_model,
        n_layers=n_layers,
        n_heads=need("n_heads"),
        ffn_multiple_of=OPEN_LM_FFN_MULTIPLE,
        ffn_hidden=ffn_hidden,
        seq_len=need("seq_len"),
        norm_eps=float(params.get("norm_eps", OPEN_LM_NORM_EPS)),
        rope_theta=OPEN_LM_ROPE_THETA,
        qk_norm=bool(qk_norm),
        z_loss=z_loss,
    )


def open_lm_state_to_winnow(state_dict: dict[str, torch.Tensor], config: OpenLMConfig) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes, check and drop the rotary buffers; the rest keeps its names."""
    out = {}
    expected = inv_freq(config.head_dim)
    for key, value in state_dict.items():
        key = _strip_wrappers(key)
        if INV_FREQ_RE.match(key):
            if value.shape != expected.shape or not torch.allclose(value.float(), expected, rtol=1e-5, atol=0):
                raise ConvertError(f"{key} is not open_lm's default rotary table (base 10000, head_dim "
                                   f"{config.head_dim}); winnow's model could not reproduce it")
            continue
        out[key] = value
    return out


def load_open_lm_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of an open_lm checkpoint file (train checkpoint dict or bare state dict)."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"open_lm checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - the reason is in the message
        raise ConvertError(f"{path}: not loadable as a plain torch checkpoint (weights_only=True): {e}") from None
    if isinstance(ckpt, dict) and "state_dict" in ckpt:
        ckpt = ckpt["state_dict"]
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ConvertError(f"{path} holds no state dict (expected a dict of tensors or one under 'state_dict')")
    return ckpt


def from_open_lm(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    params: dict | str | os.PathLike | None = None,
    tokenizer: str | os.PathLike | None = None,
    z_loss: float = 0.0,
) -> Path:
    """Write a winnow HF folder (``save_pretrained``, safetensors) from an open_lm checkpoint.

    ``params``: open_lm's model JSON (path or dict) or explicit dims in its keys (hidden_dim,
    n_layers, n_heads, seq_len, vocab_size). ``tokenizer``: a ``tokenizer.json`` copied into the
    folder with its configs, so the folder is a complete HF model (``winnow.train.hf_folder``).
    Tensors keep their dtype.
    """
    out_dir = Path(out_dir)
    state = {_strip_wrappers(k): v for k, v in load_open_lm_checkpoint(checkpoint).items()}
    config = config_from_open_lm(read_params(params), state, z_loss=z_loss)
    weights = open_lm_state_to_winnow(state, config)
    with torch.device("meta"):
        model = OpenLMForCausalLM(config)
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or unexpected:
        raise ConvertError(f"{checkpoint}: state dict does not match the model (missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]})")
    shapes = [(k, tuple(weights[k].shape), tuple(v.shape)) for k, v in model.state_dict().items()
              if tuple(weights[k].shape) != tuple(v.shape)]
    if shapes:
        raise ConvertError(f"{checkpoint}: shapes differ from the config ((name, checkpoint, config): {shapes[:3]})")
    model.load_state_dict(weights, assign=True, strict=True)
    if tokenizer is not None and not Path(tokenizer).is_file():
        raise ConvertError(f"tokenizer file {tokenizer} does not exist")
    with atomic_path(out_dir) as tmp:
        save_pretrained(model, tmp)
        if tokenizer is not None:
            write_tokenizer(tmp, tokenizer, config.seq_len)
        if out_dir.exists():  # os.replace cannot replace a non-empty folder
            shutil.rmtree(out_dir)
    logger.info("converted %s to %s (%d layers, d_model %d)", checkpoint, out_dir, config.n_layers, config.d_model)
    return out_dir


def open_lm_params(config: OpenLMConfig, *, allow_nonstandard: bool = False) -> dict:
    """open_lm's model JSON for a winnow config (DCLM's options spelled out)."""
    problems = []
    standard_ffn = swiglu_hidden(config.d_model, OPEN_LM_FFN_MULTIPLE)
    if config.ffn_hidden != standard_ffn:
        problems.append(f"SwiGLU width {config.ffn_hidden} (open_lm builds {standard_ffn} for d_model "
                        f"{config.d_model})")
    if config.norm_eps != OPEN_LM_NORM_EPS:
        problems.append(f"norm eps {config.norm_eps} (open_lm uses {OPEN_LM_NORM_EPS})")
    if config.rope_theta != OPEN_LM_ROPE_THETA:
        raise ConvertError(f"rope_theta {config.rope_theta}: open_lm's rotary base is fixed at {OPEN_LM_ROPE_THETA}")
    params = {
        "hidden_dim": config.d_model,
        "n_layers": config.n_layers,
        "n_heads": config.n_heads,
        "seq_len": config.seq_len,
        "vocab_size": config.vocab_size,
        "post_embed_norm": False,
        "weight_tying": False,
        "model_norm": "gain_only_lp_layer_norm",
        "norm_type": "gain_only_lp_layer_norm",
        "ffn_type": "swiglu_torch",
        "qk_norm": config.qk_norm,
        "positional_embedding_type": "rotary",
    }
    if problems:
        if not allow_nonstandard:
            raise ConvertError("open_lm cannot rebuild this model: " + "; ".join(problems)
                               + " (allow_nonstandard / --allow-nonstandard writes it anyway)")
        logger.warning("open_lm itself cannot build this model (%s); the JSON records the values for winnow",
                       "; ".join(problems))
        params["ffn_hidden"] = config.ffn_hidden
        params["norm_eps"] = config.norm_eps
    return params


def to_open_lm(
    model_dir: str | os.PathLike,
    out_pt: str | os.PathLike,
    *,
    params_out: str | os.PathLike | None = None,
    epoch: int = 1,
    name: str | None = None,
    allow_nonstandard: bool = False,
) -> tuple[Path, Path]:
    """Write an open_lm checkpoint (``{"epoch", "name", "state_dict": {"module."+k: v}, ...}``, the
    rotary buffers included) and its model JSON (default: beside it, ``.json``) from a winnow HF
    folder. open_lm's ``load_model`` reads it with ``--resume`` or ``--pretrained``."""
    from transformers import AutoModelForCausalLM

    model_dir, out_pt = Path(model_dir), Path(out_pt)
    if not (model_dir / "config.json").is_file():
        raise ConvertError(f"{model_dir} is not a HF model folder (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    if not isinstance(model, OpenLMForCausalLM):
        raise ConvertError(f"{model_dir} holds a {type(model).__name__}, not winnow's open_lm model")
    config = model.config
    params = open_lm_params(config, allow_nonstandard=allow_nonstandard)
    state = {}
    for key, value in model.state_dict().items():
        state["module." + key] = value.detach().clone()
        if re.fullmatch(r"layers\.\d+\.attention\.in_proj\.weight", key):
            layer = key.split(".")[1]
            state[f"module.layers.{layer}.attention.pos_embed.inv_freq"] = inv_freq(config.head_dim)
    checkpoint = {"epoch": int(epoch), "name": name or model_dir.name, "state_dict": state, "evaluation_loss": None}
    params_out = Path(params_out) if params_out is not None else out_pt.with_suffix(".json")
    with atomic_path(out_pt) as tmp:
        torch.save(checkpoint, tmp)
    with atomic_path(params_out) as tmp:
        tmp.write_text(json.dumps(params, indent=4) + "\n", encoding="utf-8")
    logger.info("wrote open_lm checkpoint %s and model JSON %s", out_pt, params_out)
    return out_pt, params_out
