"""Hand-computed scores for made-up items of each task kind, from a stub model with known outputs.

The stub ignores its context: every position predicts the same distribution, log p(t) = w[t] -
logsumexp(w). So every score below can be written down from w and the tokenizer alone, and the
whole path (WinnowLM tokenisation and batching -> records -> winnow.eval.scoring) must match it.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Tokenizer

from winnow.eval.lm import WinnowLM
from winnow.eval.scoring import score_samples, task_values
from winnow.tokenize.bpe import tokenizer_file


class UnigramStub(torch.nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w.clone(), requires_grad=False)

    def forward(self, input_ids, **_):
        b, t = input_ids.shape
        return SimpleNamespace(logits=self.w.expand(b, t, -1))


@pytest.fixture(scope="module")
def setup():
    tok = Tokenizer.from_file(str(tokenizer_file("bpe1k-v1")))
    v = tok.get_vocab_size()
    w = torch.linspace(0.0, 1.0, v)
    the = tok.encode(" the", add_special_tokens=False).ids
    assert len(the) == 1
    w[the[0]] = 5.0  # the stub's favourite token: greedy decoding says " the" forever
    lm = WinnowLM(UnigramStub(w), tok, max_length=64, eos_id=0, progress=False)
    logp = (w - torch.logsumexp(w, 0)).double()
    return tok, lm, logp


def _lp(tok, logp, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    return sum(float(logp[i]) for i in ids), len(ids)


def _samples(requests_per_doc, docs):
    return [{"doc_id": i, "doc": d, "arguments": reqs} for i, (reqs, d) in enumerate(zip(requests_per_doc, docs))]


def test_multiple_choice_item_by_hand(setup):
    tok, lm, logp = setup
    choices = [" the", " cat sat", " dog"]
    reqs = [("Question: which?\nAnswer:", c) for c in choices]
    lm.loglikelihood(reqs)
    (item,) = score_samples(_samples([reqs], [{"choices": choices, "gold": 1}]), lm.records, "multiple_choice")
    means = []
    for c in choices:
        lp, n = _lp(tok, logp, c)
        means.append(lp / n)
    expected_pred = max(range(3), key=lambda k: (means[k], -k))
    z = [math.exp(m - max(means)) for m in means]
    p = z[1] / sum(z)
    assert item["pred"] == expected_pred == 0  # " the" has the highest mean log-prob
    assert item["acc"] == 0.0
    assert item["prob_raw"] == pytest.approx(p, rel=1e-9)
    assert item["prob"] == pytest.approx((p - 1 / 3) / (1 - 1 / 3), rel=1e-9)


def test_schema_item_by_hand(setup):
    tok, lm, logp = setup
    reqs = [("The man", " the the"), ("The woman", " the the")]
    lm.loglikelihood(reqs)
    (item,) = score_samples(_samples([reqs], [{"context_options": ["The man", "The woman"],
                                               "continuation": "the the", "gold": 1}]), lm.records, "schema")
    # a context-blind model scores both options the same: tie -> first option, p = 1/2, centered 0
    assert item["pred"] == 0 and item["acc"] == 0.0
    assert item["prob"] == pytest.approx(0.0, abs=1e-12)
    lp, n = _lp(tok, logp, " the the")
    assert item["gold_logprob"] == pytest.approx(lp, rel=1e-9) and item["gold_tokens"] == n


def test_language_modeling_items_by_hand(setup):
    tok, lm, logp = setup
    reqs = [[("Once upon a time", " the the")], [("Once upon a time", " cat")]]
    lm.loglikelihood([r for rs in reqs for r in rs])
    docs = [{"context": "Once upon a time", "continuation": "the the"},
            {"context": "Once upon a time", "continuation": "cat"}]
    items = score_samples(_samples(reqs, docs), lm.records, "language_modeling")
    assert [i["acc"] for i in items] == [1.0, 0.0]  # greedy reproduces " the the", not " cat"
    lp0, n0 = _lp(tok, logp, " the the")
    lp1, n1 = _lp(tok, logp, " cat")
    assert items[0]["prob"] == pytest.approx(math.exp(lp0 / n0), rel=1e-9)
    values = task_values(items, "language_modeling")
    assert values["acc"] == 0.5
    assert values["bpb"] == pytest.approx(-(lp0 + lp1) / math.log(2) / len(" the the cat".encode()), rel=1e-9)


def test_category_task_is_the_unweighted_mean_over_categories(setup):
    items = [{"acc": 1.0, "prob": 0.5, "prob_raw": 0.5, "gold_logprob": -1.0, "gold_bytes": 2, "gold_tokens": 1,
              "category": "a"}] + [
             {"acc": 0.0, "prob": 0.0, "prob_raw": 0.0, "gold_logprob": -1.0, "gold_bytes": 2, "gold_tokens": 1,
              "category": "b"}] * 3
    values = task_values(items, "multiple_choice")
    assert values["acc"] == pytest.approx(0.5)  # (1 + 0) / 2, not 1/4
    assert values["categories"] == 2
