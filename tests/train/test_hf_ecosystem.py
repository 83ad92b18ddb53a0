"""A winnow model folder outside winnow: plain transformers (no winnow importable) and plain lm-eval.

The model is a debug-scale model trained for a few steps by ``train_model`` with the debug
scale's tokenizer, so its folder is exactly what the train stage writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

torch.set_num_threads(1)

from winnow.tokenize.bpe import tokenizer_file  # noqa: E402
from winnow.train import modeling_openlm, plan  # noqa: E402
from winnow.train.hf_folder import MODELING_FILE, export_hf  # noqa: E402
from winnow.train.loop import train_model  # noqa: E402
from winnow.train.model import OpenLMForCausalLM  # noqa: E402
from tests.helpers import NO_WINNOW_GUARD, REPO

DEBUG = yaml.safe_load((REPO / "conf/scale/debug.yaml").read_text(encoding="utf-8"))
# The debug shape with a 512-token window (the quickstart's): the debug window (128 tokens) is
# shorter than many evaluation items in bpe1k-v1 tokens, and truncated items are scored by
# lm-eval's rule there, not llm-foundry's.
MODEL = {**DEBUG["model"], "seq_len": 512}
TEXT = "The quick brown fox jumps over the lazy dog. A second sentence follows it."



@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A debug-shape model trained 12 steps on random tokens; its folder as training writes it."""
    tmp = tmp_path_factory.mktemp("hf")
    model, train = MODEL, dict(DEBUG["train"])
    seq, batch = model["seq_len"], train["batch_size"]
    rows = np.random.default_rng(0).integers(0, model["vocab_size"], size=(12 * batch, seq + 1), dtype=np.uint16)
    np.save(tmp / "tokens.npy", rows)
    train.update(tokens=12 * batch * seq, warmup=2, checkpoint_every=100)
    tok = tokenizer_file(DEBUG["tokenizer"]["name"], DEBUG["tokenizer"]["sha256"])
    train_model(model_cfg=model, train_cfg=train, tokens_path=tmp / "tokens.npy", out_dir=tmp / "train",
                seed=0, progress=False, tokenizer_file=tok)
    return tmp / "train" / "model"


def child_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_MODULES_CACHE=str(tmp / "hf_modules"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    return env


def winnow_logits(model_dir: Path, ids: list[int]) -> torch.Tensor:
    model = OpenLMForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


def test_folder_holds_code_tokenizer_and_context(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["config.json", "generation_config.json", "model.safetensors", MODELING_FILE,
                     "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    config = json.loads((model_dir / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "modeling_openlm.OpenLMConfig",
                                  "AutoModelForCausalLM": "modeling_openlm.OpenLMForCausalLM"}
    assert (model_dir / MODELING_FILE).read_bytes() == Path(modeling_openlm.__file__).read_bytes()
    # the scale's tokenizer byte for byte (its pinned sha256), with eos/bos/pad and the context
    assert (model_dir / "tokenizer.json").read_bytes() == tokenizer_file("bpe1k-v1").read_bytes()
    tc = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert (tc["eos_token"], tc["bos_token"], tc["pad_token"]) == ("<|endoftext|>",) * 3
    assert tc["model_max_length"] == MODEL["seq_len"] == config["seq_len"]


def test_modeling_file_agrees_with_the_plan():
    """The two rules written twice (the modeling file travels without winnow) agree."""
    for d in range(8, 4200, 8):
        for m in (32, 64, 256):
            assert modeling_openlm.swiglu_hidden(d, m) == plan.swiglu_hidden(d, m)
    shape = plan.ModelShape()
    config = modeling_openlm.OpenLMConfig()
    for name in ("vocab_size", "d_model", "n_layers", "n_heads", "ffn_multiple_of", "ffn_hidden", "seq_len", "qk_norm"):
        assert getattr(config, name) == getattr(shape, name), name


def test_plain_transformers_without_winnow_loads_generates_and_matches(model_dir, tmp_path):
    """AutoModelForCausalLM / AutoTokenizer in a Python where winnow cannot be imported: same
    token ids, logits equal to winnow's own model's (same code, fp32), and generate() works."""
    script = NO_WINNOW_GUARD + textwrap.dedent(f"""
        import json, sys
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        d = {str(model_dir)!r}
        tok = AutoTokenizer.from_pretrained(d, trust_remote_code=True)
        # no trust flag: the tokenizer needs no code (transformers 5 still asks about the config's
        # code first; a non-interactive process answers no and the tokenizer loads all the same)
        plain = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d, trust_remote_code=True, dtype=torch.float32).eval()
        enc = tok({TEXT!r}, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0]
        gen = model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
        batch = tok([{TEXT!r}, "Short one."], return_tensors="pt", padding=True)
        gen2 = model.generate(**batch, max_new_tokens=3, do_sample=False)
        json.dump({{"ids": enc["input_ids"][0].tolist(), "plain_ids": plain({TEXT!r})["input_ids"],
                   "logits": logits.tolist(), "gen": gen[0].tolist(), "gen2_shape": list(gen2.shape),
                   "eos": [tok.eos_token, tok.bos_token, tok.pad_token], "max_len": tok.model_max_length,
                   "cls": type(model).__module__, "winnow": [m for m in sys.modules if m.startswith("winnow")]}},
                  open("out.json", "w"))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=child_env(tmp_path), stdin=subprocess.DEVNULL, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["winnow"] == [] and out["cls"].startswith("transformers_modules.")
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(TEXT, add_special_tokens=False).ids
    assert out["ids"] == out["plain_ids"] == ids
    assert out["eos"] == ["<|endoftext|>"] * 3 and out["max_len"] == MODEL["seq_len"]
    ours = winnow_logits(model_dir, ids)
    theirs = torch.tensor(out["logits"])
    assert theirs.shape == ours.shape
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-5), (theirs - ours).abs().max()
    # greedy continuation = argmax of winnow's own model, step by step
    seq = list(ids)
    for _ in range(6):
        seq.append(int(winnow_logits(model_dir, seq)[-1].argmax()))
    assert out["gen"] == seq
    assert out["gen2_shape"][0] == 2


def test_export_completes_a_folder_written_before_the_extras(model_dir, tmp_path):
    """An older folder (weights + config only) stays as it is; export_hf writes a complete copy."""
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (old / name).write_bytes((model_dir / name).read_bytes())
    config = json.loads((old / "config.json").read_text())
    del config["auto_map"]
    (old / "config.json").write_text(json.dumps(config))
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    out = export_hf(old, tmp_path / "hf", tokenizer_json=tokenizer_file("bpe1k-v1"))
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in model_dir.iterdir())
    assert json.loads((out / "config.json").read_text())["auto_map"] == json.loads(
        (model_dir / "config.json").read_text())["auto_map"]
    assert (out / "tokenizer_config.json").read_bytes() == (model_dir / "tokenizer_config.json").read_bytes()
    assert torch.equal(winnow_logits(out, [5, 6, 7]), winnow_logits(model_dir, [5, 6, 7]))


def _have_eval_data(tasks) -> bool:
    from winnow.eval.taskgen import spec
    from winnow.paths import data_root

    try:
        return all((Path(data_root()) / "eval" / spec(t).file).is_file() for t in tasks)
    except Exception:  # noqa: BLE001 - no data root at all
        return False


@pytest.mark.slow  # lm-eval's CLI indexes its ~10k built-in tasks first: about a minute on 2 cores
def test_plain_lm_eval_cli_matches_winnow_eval(model_dir, tmp_path):
    """The README's lm_eval command (lm-eval's own entry point, `hf` model, trust_remote_code,
    `--include_path eval/tasks`, `--num_fewshot 0` as the debug/quick/cpu suites) on the rows
    winnow's debug suite scores: the same per-task accuracy (lm-eval's acc, which winnow records
    beside llm-foundry's; and llm-foundry's acc recomputed from lm-eval's log-likelihoods), the
    same log-likelihood per option, and no truncation warning."""
    import winnow.train.model  # noqa: F401
    from winnow.eval.runner import evaluate, load_suite

    # the debug suite's MC and schema tasks; some of its lambada passages exceed the 512-token
    # window (bpe1k-v1), where lm-eval keeps one context token more than llm-foundry
    suite = load_suite("debug")
    suite["tasks"] = [e for e in suite["tasks"] if e["task"] != "dclm_lambada_openai"]
    tasks = [e["task"] for e in suite["tasks"]]
    if not _have_eval_data([t.removeprefix("dclm_") for t in tasks]):
        pytest.skip("the debug suite's evaluation data is not in the data root")
    # winnow's own eval from the folder alone: tokenizer and context come from its files
    evaluate(model_dir=model_dir, suite=suite, out_dir=tmp_path / "winnow", progress=False)
    ours = json.loads((tmp_path / "winnow" / "results.json").read_text())["tasks"]
    items = {t: [json.loads(line) for line in (tmp_path / "winnow" / "samples" / f"{t}.jsonl").open()] for t in tasks}
    rows = {t: [s["doc_id"] for s in items[t]] for t in tasks}
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", "hf",
           "--model_args", f"pretrained={model_dir},trust_remote_code=True,dtype=float32",
           "--include_path", str(REPO / "eval" / "tasks"), "--tasks", ",".join(tasks), "--num_fewshot", "0",
           "--samples", json.dumps(rows), "--batch_size", "8", "--device", "cpu",
           "--output_path", str(tmp_path / "lm_eval"), "--log_samples"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=child_env(tmp_path),
                         stdin=subprocess.DEVNULL, timeout=900)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert "truncat" not in log.lower(), [line for line in log.splitlines() if "runcat" in line][:3]
    (results_file,) = (tmp_path / "lm_eval").rglob("results_*.json")
    theirs = json.loads(results_file.read_text())["results"]
    for t in tasks:
        assert theirs[t]["acc,none"] == pytest.approx(ours[t]["lm_eval"]["acc"], abs=1e-12), t
        (samples_file,) = (tmp_path / "lm_eval").rglob(f"samples_{t}_*.jsonl")
        by_doc = {s["doc_id"]: s for s in map(json.loads, samples_file.open())}
        assert sorted(by_doc) == rows[t]
        for item in items[t]:
            lls = [float(r[0][0]) for r in by_doc[item["doc_id"]]["resps"]]
            mine = [o["logprob"] for o in item["options"]] if "options" in item else [item["gold_logprob"]]
            assert lls == pytest.approx(mine, abs=2e-4), (t, item["doc_id"])
    # llm-foundry's rule (winnow's acc) from lm-eval's own log-likelihoods and winnow's token counts
    for t in tasks:
        if "options" not in items[t][0]:
            continue
        acc = []
        for item in items[t]:
            lls = [float(r[0][0]) for r in by_doc_for(tmp_path, t)[item["doc_id"]]["resps"]]
            ce = [-ll / o["tokens"] for ll, o in zip(lls, item["options"])]
            acc.append(float(ce.index(min(ce)) == item["gold"]))
        assert sum(acc) / len(acc) == pytest.approx(ours[t]["acc"]), t


def by_doc_for(tmp_path: Path, task: str) -> dict:
    (samples_file,) = (tmp_path / "lm_eval").rglob(f"samples_{task}_*.jsonl")
    return {s["doc_id"]: s for s in map(json.loads, samples_file.open())}
