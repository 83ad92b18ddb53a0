"""winnow eval finds model, tokenizer and context length from one path (winnow.eval.model_io)."""

from __future__ import annotations

import json

import pytest
import torch

from winnow.eval.model_io import ModelLoadError, find_run_dir, load_for_eval
from winnow.tokenize.bpe import tokenizer_file


def _tiny_gpt2(folder, n_positions=64):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=1024, n_positions=n_positions, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def test_any_hf_folder_with_a_tokenizer_json(tmp_path):
    folder = _tiny_gpt2(tmp_path / "gpt2")
    (folder / "tokenizer.json").write_bytes(tokenizer_file("bpe1k-v1").read_bytes())
    m = load_for_eval(folder)
    assert m.seq_len == 64 and m.source["kind"] == "hf-folder"
    assert m.source["tokenizer"].endswith("tokenizer.json")
    assert load_for_eval(folder, seq_len=32).seq_len == 32


def test_hf_folder_without_tokenizer_needs_one(tmp_path):
    folder = _tiny_gpt2(tmp_path / "gpt2")
    with pytest.raises(ModelLoadError, match="--tokenizer"):
        load_for_eval(folder)
    m = load_for_eval(folder, tokenizer=tokenizer_file("bpe1k-v1"))
    assert m.tokenizer.get_vocab_size() == 1024


def test_winnow_checkpoint_takes_its_shape_from_the_run(tmp_path):
    from safetensors.torch import save_file

    from winnow.train.model import OpenLMConfig, OpenLMForCausalLM

    scale = {"model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 48, "vocab_size": 1024},
             "tokenizer": {"name": "bpe1k-v1"}}
    run = tmp_path / "run"
    ckpt = run / "train" / "checkpoints" / "step_00000010"
    ckpt.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"scale": scale}}))
    torch.manual_seed(0)
    model = OpenLMForCausalLM(OpenLMConfig.from_scale(scale["model"]))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt / "model.safetensors"))
    torch.save({"step": 10}, ckpt / "state.pt")
    assert find_run_dir(ckpt) == run
    m = load_for_eval(ckpt)
    assert m.source["kind"] == "winnow-checkpoint" and m.seq_len == 48
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(m.model(input_ids=x).logits, model.eval()(input_ids=x).logits)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="holds no model"):
        load_for_eval(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_for_eval(tmp_path / "nope")
