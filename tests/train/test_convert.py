"""open_lm checkpoint conversion: winnow -> open_lm -> winnow round trips bit for bit.

The debug scale's model (random weights) goes out to an open_lm checkpoint (the layout open_lm's
``main.save_checkpoint`` writes and ``main.load_model`` reads: "epoch", "state_dict" with
"module." keys, persistent rotary ``inv_freq`` buffers) and back; weights and logits must be
identical. A DCLM-shaped toy (FFN width from open_lm's 256 rule) converts without flags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

torch.set_num_threads(1)

from winnow.train.convert import ConvertError, from_open_lm, inv_freq, to_open_lm  # noqa: E402
from winnow.train.model import OpenLMConfig, OpenLMForCausalLM  # noqa: E402
from tests.helpers import REPO

DEBUG_MODEL = yaml.safe_load((REPO / "conf" / "scale" / "debug.yaml").read_text())["model"]


def make_model(folder: Path, **model) -> OpenLMForCausalLM:
    torch.manual_seed(0)
    m = OpenLMForCausalLM(OpenLMConfig.from_scale(model))
    with torch.no_grad():  # gains away from 1, so a swapped norm would show
        for name, p in m.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    m.save_pretrained(folder)
    return m.eval()


def open_lm_load(pt: Path) -> dict[str, torch.Tensor]:
    """open_lm's ``main.load_model`` logic: "epoch" selects the state_dict branch, "module." is stripped."""
    checkpoint = torch.load(pt, map_location="cpu", weights_only=True)
    assert "epoch" in checkpoint
    sd = checkpoint["state_dict"]
    if next(iter(sd.items()))[0].startswith("module"):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def test_debug_model_round_trips_through_open_lm_format(tmp_path):
    original = make_model(tmp_path / "winnow", **DEBUG_MODEL)
    # the debug FFN (multiple of 32) is not one open_lm builds: refused unless asked for
    with pytest.raises(ConvertError, match=r"SwiGLU width 96 \(open_lm builds 256 for d_model 32\)"):
        to_open_lm(tmp_path / "winnow", tmp_path / "debug.pt")
    pt, params = to_open_lm(tmp_path / "winnow", tmp_path / "debug.pt", allow_nonstandard=True)
    assert params == tmp_path / "debug.json"
    spec = json.loads(params.read_text())
    assert spec["hidden_dim"] == 32 and spec["n_layers"] == 2 and spec["ffn_hidden"] == 96 and spec["qk_norm"] is True
    assert spec["model_norm"] == "gain_only_lp_layer_norm" and spec["ffn_type"] == "swiglu_torch"

    raw = torch.load(pt, map_location="cpu", weights_only=True)
    assert all(k.startswith("module.") for k in raw["state_dict"])
    sd = open_lm_load(pt)
    expected = set(original.state_dict()) | {f"layers.{i}.attention.pos_embed.inv_freq" for i in range(2)}
    assert set(sd) == expected
    assert torch.equal(sd["layers.1.attention.pos_embed.inv_freq"], inv_freq(16))
    for k, v in original.state_dict().items():
        assert torch.equal(sd[k], v), k

    back = from_open_lm(pt, tmp_path / "back", params=params)
    loaded = AutoModelForCausalLM.from_pretrained(back).eval()
    assert isinstance(loaded, OpenLMForCausalLM) and loaded.config.ffn_hidden == 96
    for k, v in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    ids = torch.randint(0, DEBUG_MODEL["vocab_size"], (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(original(input_ids=ids).logits, loaded(input_ids=ids).logits)


def test_dclm_shaped_checkpoint_converts_from_partial_params_and_via_cli(tmp_path):
    shape = dict(vocab_size=128, d_model=64, n_layers=2, n_heads=4, ffn_multiple_of=256, seq_len=64)
    original = make_model(tmp_path / "winnow", **shape)
    pt, _ = to_open_lm(tmp_path / "winnow", tmp_path / "ckpt" / "epoch_1.pt")  # open_lm's own FFN rule: no flag
    # a DCLM-style file: FSDP "module." plus torch.compile "_orig_mod." prefixes, extra bookkeeping keys
    raw = torch.load(pt, weights_only=True)
    raw["state_dict"] = {k.replace("module.", "module._orig_mod."): v for k, v in raw["state_dict"].items()}
    raw.update(samples_seen=123, next_shard_per_source=[0])
    torch.save(raw, tmp_path / "dclm.pt")
    tok = REPO / "winnow" / "tokenize" / "assets" / "bpe1k-v1.json"
    cmd = [sys.executable, "-m", "winnow.cli", "convert", "from-open-lm", str(tmp_path / "dclm.pt"), "--out",
           str(tmp_path / "back"), "--n-heads", "4", "--seq-len", "64", "--tokenizer", str(tok)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "back" / "tokenizer.json").read_bytes() == tok.read_bytes()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "back").eval()
    for k, v in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    from winnow.eval.model_io import load_for_eval  # what `winnow eval --model` loads

    ev = load_for_eval(tmp_path / "back")
    assert ev.seq_len == 64 and ev.source["kind"] == "hf-folder" and "tokenizer.json" in str(ev.source["tokenizer"])
    # sizes that cannot be read off the weights must be given
    with pytest.raises(ConvertError, match="must give 'n_heads'"):
        from_open_lm(tmp_path / "dclm.pt", tmp_path / "x", params={"seq_len": 64})


def test_unconvertible_open_lm_models_are_refused_with_the_reason(tmp_path):
    make_model(tmp_path / "winnow", **DEBUG_MODEL)
    pt, params = to_open_lm(tmp_path / "winnow", tmp_path / "m.pt", allow_nonstandard=True)
    spec = json.loads(params.read_text())
    with pytest.raises(ConvertError, match="weight_tying is true"):
        from_open_lm(pt, tmp_path / "x", params={**spec, "weight_tying": True})
    with pytest.raises(ConvertError, match="model_norm 'default_layer_norm' is not a gain-only LayerNorm"):
        from_open_lm(pt, tmp_path / "x", params={**spec, "model_norm": "default_layer_norm"})
    with pytest.raises(ConvertError, match="ffn_type 'gelu' is not SwiGLU"):
        from_open_lm(pt, tmp_path / "x", params={**spec, "ffn_type": "gelu"})
    raw = torch.load(pt, weights_only=True)
    raw["state_dict"]["module.layers.0.attention.pos_embed.inv_freq"] *= 2
    torch.save(raw, tmp_path / "bad_rope.pt")
    with pytest.raises(ConvertError, match="not open_lm's default rotary table"):
        from_open_lm(tmp_path / "bad_rope.pt", tmp_path / "x", params=spec)
    with pytest.raises(ConvertError, match="does not exist"):
        from_open_lm(tmp_path / "missing.pt", tmp_path / "x", params=spec)
    assert not (tmp_path / "x").exists()
