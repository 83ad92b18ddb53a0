"""winnow's entry to its model: the open_lm architecture, registered with the Auto classes.

The architecture (config, blocks, loss, generation notes, every difference from open_lm) lives in
``winnow.train.modeling_openlm``, a file that imports no winnow so that it can travel inside
every model folder (``winnow.train.hf_folder``). This module re-exports it, adds what only winnow
needs (``count_params``; the torch-free shape arithmetic of ``winnow.train.plan``) and registers
``winnow_openlm`` with ``AutoConfig`` / ``AutoModelForCausalLM``, so inside winnow a model folder
loads without ``trust_remote_code``.
"""

from __future__ import annotations

import torch.nn as nn
from transformers import AutoConfig, AutoModelForCausalLM

from winnow.train.modeling_openlm import (IGNORE_INDEX, MODEL_TYPE, OpenLMAttention, OpenLMBlock,  # noqa: F401
                                          OpenLMConfig, OpenLMForCausalLM, OpenLMOutput, OpenLMSwiGLU,
                                          apply_rotary, lm_loss, lm_loss_plain, rotary_tables)
# The shape arithmetic is torch-free, in the scale plan; the model re-exports it for its users.
from winnow.train.plan import (ModelShape, check_heads, check_model_keys, flops_per_token,  # noqa: F401
                               param_counts, swiglu_hidden)


def count_params(model: nn.Module) -> dict:
    """``total``, ``embedding`` (input embedding + output head) and ``non_embedding`` counts."""
    model = getattr(model, "_orig_mod", model)  # see through torch.compile's wrapper
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel() + model.get_output_embeddings().weight.numel()
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


# Registration is idempotent (exist_ok): re-importing or reloading this module re-points the
# Auto mappings at the current classes instead of failing.
AutoConfig.register(MODEL_TYPE, OpenLMConfig, exist_ok=True)
AutoModelForCausalLM.register(OpenLMConfig, OpenLMForCausalLM, exist_ok=True)
