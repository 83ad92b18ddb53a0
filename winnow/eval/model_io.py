"""Find a model, its tokenizer and its context length for evaluation, from one path.

`winnow eval --model PATH` accepts:

* a local Hugging Face causal-LM folder (`config.json` + weights), winnow's own `train/model`
  folders included (winnow's architecture registers itself with the Auto classes);
* a winnow training checkpoint (`train/checkpoints/step_N`: `model.safetensors` + `state.pt`,
  no config): the model shape comes from the run's `run.json` (its scale), found above it.

The tokenizer is, in order: the one passed explicitly (a `tokenizer.json` file or a HF folder);
a `tokenizer.json` in the model folder; the tokenizer of the winnow run the folder belongs to
(its scale's committed BPE or GPT-NeoX file, checked by sha256); `AutoTokenizer` on the folder.
The context length is, in order: the explicit value; the run's scale; the model config's
`max_position_embeddings` / `n_positions` / `seq_len`. Every failure names what was looked for.

The run is the one the caller names (the eval stage passes its run folder), else the folder
holding `run.json` above the path; its `run.json` is read only when something is still unknown
(a checkpoint's shape, the tokenizer, the context length), so the eval stage, which passes the
tokenizer and the context length of a `train/model` folder, never reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow.tokenize.bpe import tokenizer_file


TOKENIZER_FILES = ("tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")


class ModelLoadError(ValueError):
    """The path does not hold something winnow can evaluate (message says what was looked for)."""


@dataclass
class EvalModel:
    model: Any  # a torch causal LM returning logits
    tokenizer: Any  # tokenizers.Tokenizer or a PreTrainedTokenizerFast
    seq_len: int
    source: dict  # what was loaded from where (for logs and results)


def find_run_dir(path: Path) -> Path | None:
    """The winnow run folder (holding run.json) that `path` lies in, if any."""
    for p in [path, *path.parents]:
        if (p / "run.json").is_file():
            return p
    return None


def _run_scale(run_dir: Path | None) -> dict | None:
    if run_dir is None:
        return None
    with open(run_dir / "run.json", encoding="utf-8") as f:
        return json.load(f).get("config", {}).get("scale")


def _load_model(path: Path, scale: dict | None):
    import torch
    from transformers import AutoModelForCausalLM

    import winnow.train.model  # noqa: F401  (registers winnow_openlm with the Auto classes)

    if (path / "config.json").is_file():
        try:
            return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval(), "hf-folder"
        except (OSError, ValueError, KeyError, RuntimeError) as e:   # a malformed config.json or weights
            raise ModelLoadError(f"{path}: not a loadable Hugging Face model folder ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:300]})") from None
    if (path / "model.safetensors").is_file() and (path / "state.pt").is_file():
        if scale is None:
            raise ModelLoadError(
                f"{path} is a winnow checkpoint but no run.json was found above it, so its model "
                "shape is unknown; evaluate the run's train/model folder or pass a HF folder"
            )
        from safetensors.torch import load_file

        from winnow.train.model import OpenLMConfig, OpenLMForCausalLM

        model = OpenLMForCausalLM(OpenLMConfig.from_scale(scale["model"]))
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        return model.float().eval(), "winnow-checkpoint"
    raise ModelLoadError(
        f"{path} holds no model: expected a Hugging Face folder (config.json + weights) or a winnow "
        "checkpoint (model.safetensors + state.pt)"
    )


def _load_tokenizer(path: Path, tokenizer: str | Path | None, scale: dict | None):
    from tokenizers import Tokenizer

    if tokenizer is not None:
        t = Path(tokenizer)
        if t.is_file():
            try:
                return Tokenizer.from_file(str(t)), str(t)
            except Exception as e:   # tokenizers raises a bare Exception for a file it cannot parse
                raise ModelLoadError(f"--tokenizer {t}: not a tokenizer.json file ({e})") from None
        if t.is_dir():
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(t)), str(t)
        raise ModelLoadError(f"tokenizer {t} does not exist (give a tokenizer.json file or a HF folder)")
    if (path / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(path / "tokenizer.json")), str(path / "tokenizer.json")
    if scale is not None:
        f = tokenizer_file(scale["tokenizer"]["name"], scale["tokenizer"].get("sha256"))
        return Tokenizer.from_file(str(f)), str(f)
    if any((path / f).is_file() for f in TOKENIZER_FILES):
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(path)), str(path)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"AutoTokenizer could not load the tokenizer in {path} ({e}); pass --tokenizer") from e
    raise ModelLoadError(
        f"no tokenizer for {path}: none of {', '.join(('tokenizer.json',) + TOKENIZER_FILES)} there and no "
        "winnow run above it; pass --tokenizer"
    )


def _seq_len(model, scale: dict | None, seq_len: int | None) -> int:
    if seq_len:
        return int(seq_len)
    if scale is not None:
        return int(scale["model"]["seq_len"])
    cfg = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "seq_len", "max_seq_len"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 1:
            return value
    raise ModelLoadError("cannot tell the model's context length from its config; pass --seq-len")


def load_for_eval(path: str | Path, tokenizer: str | Path | None = None, seq_len: int | None = None,
                  run_dir: str | Path | None = None) -> EvalModel:
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    run_dir = Path(run_dir).resolve() if run_dir is not None else find_run_dir(path.resolve())
    needs_run = tokenizer is None or not seq_len or not (path / "config.json").is_file()
    scale = _run_scale(run_dir) if needs_run else None
    model, kind = _load_model(path, scale)
    tok, tok_source = _load_tokenizer(path, tokenizer, scale)
    n = _seq_len(model, scale, seq_len)
    source = {"model": str(path), "kind": kind, "tokenizer": tok_source, "seq_len": n,
              "run": str(run_dir) if run_dir else None}
    return EvalModel(model=model, tokenizer=tok, seq_len=n, source=source)
