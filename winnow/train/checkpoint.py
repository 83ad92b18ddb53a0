"""Checkpoints of a training run: written whole or not at all, read back only by the same run.

* A checkpoint is ``checkpoints/step_XXXXXXXX/`` holding the weights (safetensors), the optimizer
  state, ``state.pt`` (step, elapsed time, loader position, schedule, the last losses, the run's
  identity, RNG states) and, once tail averaging has begun, the running mean of the weights.
* It is written into a hidden temporary folder and renamed into place, so a kill never leaves a
  partial checkpoint under a final name; the newest ``KEEP_CHECKPOINTS`` are kept, and the
  temporary folders a killed process left are removed before a resume (``clean_tmp``).
* ``resume_identity`` is what must match for a checkpoint to belong to a run (model, the train
  settings that change what is trained, seed, steps, the token file's shape); ``read_resume_state``
  refuses another run's checkpoint instead of resuming into it.
* The final model is ``save_pretrained`` into its folder through a temporary one
  (``save_final_model``), replacing an older one only once the new one is complete; with the
  scale's tokenizer it is a complete Hugging Face model (``winnow.train.hf_folder``).

``winnow.train.loop`` decides when to checkpoint and what goes in; this module owns the files.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from winnow.train.data import SequenceLoader
from winnow.train.hf_folder import save_pretrained, write_tokenizer
from winnow.train.plan import RESUME_NEUTRAL_KEYS

CHECKPOINT_RE = re.compile(r"^step_(\d{8})$")
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "state.pt")
AVERAGE_FILE = "average.safetensors"  # in a checkpoint once tail averaging has begun
KEEP_CHECKPOINTS = 2


def rng_state() -> dict:
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


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def save_checkpoint(ckpt_root: Path, step: int, model_sd: dict, optim_sd: dict, state: dict,
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
    torch.save({**state, "rng": rng_state()}, tmp / "state.pt")
    if final.exists():  # a leftover from an abandoned run at the same step: the new one wins
        shutil.rmtree(final)
    os.replace(tmp, final)  # the folder appears complete or not at all
    for _, old in list_checkpoints(ckpt_root)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def clean_tmp(folder: Path, prefix: str = ".") -> None:
    """Remove temporary folders left by a killed process (they never hold anything complete)."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(prefix) and p.name.endswith(".tmp"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def save_final_model(model, folder: Path, tokenizer_file: Path | None = None) -> None:
    """The model as a HF folder (weights, config with ``auto_map``, modeling file) and, given the
    tokenizer file, its tokenizer files with the model's context as ``model_max_length``."""
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_pretrained(model, tmp)
    if tokenizer_file is not None:
        write_tokenizer(tmp, tokenizer_file, model.config.seq_len)
    if folder.exists():  # os.replace cannot replace a non-empty folder: move the old one aside first
        old = folder.with_name(f".{folder.name}.old.{os.getpid()}.tmp")
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


def resume_identity(model_cfg: dict, cfg: dict, seed: int, plan: dict, loader: SequenceLoader) -> dict:
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


def read_resume_state(ckpt_root: Path, identity: dict, out_dir: Path) -> dict | None:
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
