"""Smoke test of bench/bench_eval.py: WinnowLM and lm-eval's HFLM agree on a tiny random model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from tests.helpers import REPO

pytest.importorskip("lm_eval")
torch = pytest.importorskip("torch")

BENCH = REPO / "bench" / "bench_eval.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_eval", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_eval"] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny():
    """A 1-layer random winnow model over the committed bpe8k tokenizer, and the task manager."""
    from tokenizers import Tokenizer

    from winnow.eval.runner import task_manager
    from winnow.paths import DataRootError, data_root
    from winnow.tokenize.bpe import tokenizer_file
    from winnow.train.model import OpenLMConfig, OpenLMForCausalLM

    try:
        data_root()
    except DataRootError:
        pytest.skip("no data root: the DCLM task files are needed")
    torch.manual_seed(0)
    cfg = dict(vocab_size=8192, d_model=32, n_layers=1, n_heads=2, ffn_multiple_of=32, seq_len=512)
    model = OpenLMForCausalLM(OpenLMConfig.from_scale(cfg)).float().eval()
    tok = Tokenizer.from_file(str(tokenizer_file("bpe8k-v1")))
    return model, tok, task_manager()


@pytest.mark.parametrize("seq_len", [512, 24])
def test_paths_agree(tiny, seq_len):
    model, tok, tm = tiny
    be = _bench()
    # at seq_len 24 the arc_easy requests overflow the context (the truncation rules differ)
    tasks = ["dclm_arc_easy", "dclm_winogrande", "dclm_lambada_openai"] if seq_len == 512 else ["dclm_arc_easy"]
    try:
        rep = be.compare(model, tok, seq_len, tasks, limit=2, repeats=1, hf_batch_size=4, tm=tm)
    except FileNotFoundError as e:
        pytest.skip(f"task data missing: {e}")
    assert set(rep.seconds) == {"winnow", "hflm"} and set(rep.agreement) == set(tasks)
    assert rep.ratio() > 0
    for t in tasks:
        a = rep.agreement[t]
        assert a.requests == rep.requests[t] > 0
        assert a.requests == a.same_input + a.tokenised_differently + a.truncated
        if seq_len == 512:  # short 0-shot requests: both paths feed the model the same ids
            assert a.same_input == a.requests
            assert a.lm_eval_acc_agrees and a.foundry_acc_agrees
        assert a.greedy_mismatch == 0
    assert rep.max_abs_diff < 1e-4
    if seq_len == 24:  # long requests: HFLM keeps one more token, counted apart
        assert sum(a.truncated for a in rep.agreement.values()) > 0
    assert "HFLM/winnow time ratio" in be.format_report(rep)
