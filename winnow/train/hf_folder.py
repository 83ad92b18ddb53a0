"""A winnow model folder as a complete Hugging Face model: its code, its tokenizer, its context.

Every model folder winnow writes (training's ``train/model``, ``winnow convert from-open-lm``)
loads in a Python that has torch and transformers but not winnow:

* **Code.** ``modeling_openlm.py`` (``winnow.train.modeling_openlm``, which imports no winnow) is
  copied byte for byte beside the weights and ``config.json`` carries ``auto_map``, the standard
  custom-code mechanism: ``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)``
  builds the very code winnow trains and evaluates with (no existing transformers architecture
  has open_lm's block: QK-norm over the full width before the head split, gain-only norms, fused
  SwiGLU; rewriting it as e.g. OLMo-2 would be a second implementation to keep equal). Inside
  winnow the architecture is registered, so ``trust_remote_code`` is not needed there.
* **Tokenizer.** ``tokenizer.json`` is the scale's file, copied byte for byte (its sha256 is the
  one the scale pins); ``tokenizer_config.json`` / ``special_tokens_map.json`` name
  ``<|endoftext|>`` as eos and bos (no BOS is ever added: winnow and DCLM separate documents by
  EOS only), pad ``<|padding|>`` where the vocabulary has it (GPT-NeoX) else eos, and
  ``model_max_length`` = the model's context, so lm-eval and ``generate`` truncate where the
  model does. ``clean_up_tokenization_spaces`` is off: byte-level BPE decodes exactly.

All of these files are content of the train stage (hashed by its manifest): a changed modeling
file or tokenizer shows up in ``winnow verify``. Folders written before this module existed lack
them and stay verifiable as they are; ``export_hf`` writes a complete copy elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from winnow.io import atomic_path
from winnow.train import modeling_openlm
from winnow.tokenize.bpe import tokenizer_file

MODELING_FILE = "modeling_openlm.py"
AUTO_MAP = {
    "AutoConfig": "modeling_openlm.OpenLMConfig",
    "AutoModelForCausalLM": "modeling_openlm.OpenLMForCausalLM",
}
EOS = "<|endoftext|>"
PAD = "<|padding|>"


def save_pretrained(model, folder: str | os.PathLike) -> None:
    """``model.save_pretrained(folder)`` plus the modeling file and ``auto_map`` in config.json."""
    folder = Path(folder)
    model.config.auto_map = dict(AUTO_MAP)
    model.save_pretrained(folder)
    shutil.copyfile(modeling_openlm.__file__, folder / MODELING_FILE)


def _special_tokens(tokenizer_json: Path) -> dict:
    added = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("added_tokens", [])
    specials = {t["content"] for t in added if t.get("special")}
    if EOS not in specials:
        raise ValueError(f"{tokenizer_json} has no special {EOS} token; winnow's tokenizers all do")
    return {"bos_token": EOS, "eos_token": EOS, "pad_token": PAD if PAD in specials else EOS}


def write_tokenizer(folder: str | os.PathLike, tokenizer_json: str | os.PathLike, model_max_length: int) -> None:
    """The tokenizer files of a HF folder: ``tokenizer.json`` as given, and its two configs."""
    folder, tokenizer_json = Path(folder), Path(tokenizer_json)
    special = _special_tokens(tokenizer_json)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(model_max_length),
    }
    if tokenizer_json.resolve() != (folder / "tokenizer.json").resolve():
        shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    for name, obj in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        (folder / name).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _run_scale(model_dir: Path) -> dict | None:
    """The scale of the winnow run folder (holding run.json) that ``model_dir`` lies in, if any."""
    for p in [model_dir.resolve(), *model_dir.resolve().parents]:
        if (p / "run.json").is_file():
            return json.loads((p / "run.json").read_text(encoding="utf-8")).get("config", {}).get("scale")
    return None


def export_hf(model_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
              tokenizer_json: str | os.PathLike | None = None, seq_len: int | None = None) -> Path:
    """A complete HF copy of a winnow model folder (for folders trained before this module, whose
    hashed files must not change): weights and config copied, code, ``auto_map`` and tokenizer
    added. The tokenizer and context default to the folder's own, else its run's scale."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{model_dir} is not a HF model folder (no config.json)")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != modeling_openlm.MODEL_TYPE:
        raise ValueError(f"{model_dir} holds a {config.get('model_type')!r} model, not winnow's "
                         f"{modeling_openlm.MODEL_TYPE!r}; it needs no export")
    scale = _run_scale(model_dir)
    if tokenizer_json is None:
        if (model_dir / "tokenizer.json").is_file():
            tokenizer_json = model_dir / "tokenizer.json"
        elif scale is not None:
            tokenizer_json = tokenizer_file(scale["tokenizer"]["name"], scale["tokenizer"].get("sha256"))
        else:
            raise ValueError(f"no tokenizer for {model_dir}: no tokenizer.json there and no winnow run "
                             "above it; pass one")
    seq_len = int(seq_len or (scale or {}).get("model", {}).get("seq_len") or config["seq_len"])
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for p in sorted(model_dir.iterdir()):
            if p.is_file() and p.name != "manifest.json":
                shutil.copyfile(p, tmp / p.name)
        config["auto_map"] = dict(AUTO_MAP)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        shutil.copyfile(modeling_openlm.__file__, tmp / MODELING_FILE)
        write_tokenizer(tmp, tokenizer_json, seq_len)
        if out_dir.exists():
            shutil.rmtree(out_dir)
    return out_dir
