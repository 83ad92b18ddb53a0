"""Scoring rules on hand-computed items (no model): llm-foundry's MC rule, continuous metrics,
bits per byte, stderr, aggregates, random baselines and the unigram reference."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from winnow.eval.heldout import HeldoutTargets, unigram_bpb_from_counts, unigram_counts
from winnow.eval.scoring import (
    aggregate,
    load_random_baselines,
    score_choice,
    score_lm,
    score_task,
    task_values,
)
from winnow.paths import DataRootError, data_root


def rec(logprob, tokens, n_bytes=10, greedy=False):
    return {"logprob": logprob, "tokens": tokens, "bytes": n_bytes, "greedy": greedy}


def test_foundry_rule_differs_from_sum_loglik_argmax():
    # mean log-prob per token: A -2.0, B -3.0, C -2.5 -> A has the lowest mean cross-entropy;
    # summed log-likelihood prefers B (-3.0 > -6.0 > -10.0), which is lm-eval's `acc`.
    options = [rec(-6.0, 3), rec(-3.0, 1), rec(-10.0, 4)]
    item = score_choice(options, gold=0)
    assert item["pred"] == 0 and item["acc"] == 1.0
    assert int(np.argmax([o["logprob"] for o in options])) == 1
    assert score_choice(options, gold=1)["acc"] == 0.0


def test_centered_probability_by_hand():
    options = [rec(-6.0, 3), rec(-3.0, 1), rec(-10.0, 4)]
    p = math.exp(-2.0) / (math.exp(-2.0) + math.exp(-3.0) + math.exp(-2.5))
    item = score_choice(options, gold=0)
    assert item["prob_raw"] == pytest.approx(p, rel=1e-12)
    assert item["prob"] == pytest.approx((p - 1 / 3) / (1 - 1 / 3), rel=1e-12)
    # two equal options: p = 1/2, centered 0
    even = score_choice([rec(-4.0, 2), rec(-2.0, 1)], gold=1)
    assert even["prob_raw"] == pytest.approx(0.5) and even["prob"] == pytest.approx(0.0)


def test_ties_go_to_first_option():
    item = score_choice([rec(-4.0, 2), rec(-2.0, 1)], gold=1)  # both mean -2.0
    assert item["pred"] == 0 and item["acc"] == 0.0


def test_language_modeling_item_and_bpb():
    good = score_lm(rec(-2.0, 2, n_bytes=5, greedy=True))
    assert good["acc"] == 1.0 and good["prob"] == pytest.approx(math.exp(-1.0))
    bad = score_lm(rec(-1.0, 1, n_bytes=3, greedy=False))
    assert bad["acc"] == 0.0
    values = task_values([good, bad], "language_modeling")
    assert values["bpb"] == pytest.approx(3.0 / math.log(2) / 8)  # -(sum l) / ln 2 / sum bytes
    assert values["prob"] == pytest.approx((math.exp(-1.0) + math.exp(-1.0)) / 2)


def test_task_stderr_is_sample_std_over_sqrt_n():
    items = [{"acc": a, "prob": a, "prob_raw": a, "gold_logprob": -1.0, "gold_tokens": 1, "gold_bytes": 1}
             for a in (1.0, 0.0, 1.0, 1.0)]
    values = task_values(items, "multiple_choice")
    assert values["n"] == 4 and values["acc"] == 0.75
    assert values["acc_stderr"] == pytest.approx(0.5 / 2)  # std (ddof 1) 0.5, sqrt(4) = 2


def _sample(doc_id, doc, arguments):
    return {"doc_id": doc_id, "doc": doc, "arguments": arguments}


def test_score_task_from_logged_samples_each_kind():
    mc = [
        _sample(3, {"query": "Q", "choices": ["a", "b"], "gold": 1}, [("Q:", " a"), ("Q:", " b")]),
        _sample(1, {"query": "R", "choices": ["c", "d"], "gold": 0}, [("R:", " c"), ("R:", " d")]),
    ]
    records = {
        ("Q:", " a"): rec(-4.0, 2, 2), ("Q:", " b"): rec(-3.0, 1, 2),  # means -2, -3: pred a (wrong)
        ("R:", " c"): rec(-1.0, 1, 2), ("R:", " d"): rec(-6.0, 3, 2),  # means -1, -2: pred c (right)
    }
    values, items = score_task(mc, records)
    assert values["kind"] == "multiple_choice" and values["n"] == 2
    assert [i["doc_id"] for i in items] == [1, 3]  # doc order
    assert [i["pred"] for i in items] == [0, 0] and values["acc"] == 0.5
    assert values["bpb"] == pytest.approx((1.0 + 3.0) / math.log(2) / 4)  # gold options only
    assert len(values["requests_sha256"]) == 64

    schema = [_sample(0, {"context_options": ["A x", "B x"], "continuation": "y", "gold": 1},
                      [("A x", " y"), ("B x", " y")])]
    values, items = score_task(schema, {("A x", " y"): rec(-2.0, 1), ("B x", " y"): rec(-1.0, 1)})
    assert values["kind"] == "schema" and items[0]["pred"] == 1 and values["acc"] == 1.0

    lm = [_sample(0, {"context": "c", "continuation": "w"}, [("c", " w")])]
    values, _ = score_task(lm, {("c", " w"): rec(-0.5, 1, 2, greedy=True)})
    assert values["kind"] == "language_modeling" and values["acc"] == 1.0
    assert values["prob"] == pytest.approx(math.exp(-0.5))


def test_aggregate_is_a_pure_function_of_raw_values():
    per_task = {
        "dclm_arc_easy": {"acc": 0.5, "prob": 0.10},         # baseline 25 % -> (0.5-0.25)/0.75
        "dclm_copa": {"acc": 0.6, "prob": 0.20},              # baseline 50 % -> 0.2
        "dclm_lambada_openai": {"acc": 0.1, "prob": 0.30},    # baseline 0 -> 0.1
    }
    agg = aggregate(per_task)
    assert agg["prob_mean_v1"] == pytest.approx(0.2)
    assert agg["acc_centered_mean_v1"] == pytest.approx((1 / 3 + 0.2 + 0.1) / 3)
    assert aggregate(per_task) == agg
    empty = aggregate({})
    assert {"prob_mean_v1", "acc_centered_mean_v1", "core_v2"} <= set(empty)
    assert all(v is None for v in empty.values())
    with pytest.raises(KeyError):
        aggregate({"dclm_no_such_task": {"acc": 0.0, "prob": 0.0}})


def test_random_baselines_match_dclm_metadata():
    v1, v2 = load_random_baselines("v1"), load_random_baselines("v2")
    assert len(v1) == len(v2) == 53
    assert v1["commonsense_qa"] == pytest.approx(0.20) and v2["commonsense_qa"] == pytest.approx(0.403)
    assert v2["hellaswag_zeroshot"] == 0.25 and v2["winograd"] == 0.5 and v2["lambada_openai"] == 0.0
    try:
        meta = data_root() / "eval" / "meta"
    except DataRootError:
        pytest.skip("no data root")
    for version, table in (("v1", v1), ("v2", v2)):
        with open(meta / f"eval_meta_data_{version}.csv", encoding="utf-8") as f:
            rows = {r["Eval Task"]: float(r["Random baseline"]) / 100 for r in csv.DictReader(f)}
        assert rows == pytest.approx(table)


def test_unigram_bpb_by_hand(tmp_path):
    np.save(tmp_path / "train.npy", np.array([0, 0, 1, 1, 1, 2], dtype=np.uint16))
    counts = unigram_counts(tmp_path / "train.npy", vocab_size=4)
    assert counts.tolist() == [2, 3, 1, 0]
    # add-one: p = (c + 1) / (6 + 4) = [.3, .4, .2, .1]; held-out tokens [1, 3] over 4 bytes
    targets = HeldoutTargets(docs=[[1], [3]], n_bytes=4, n_docs_seen=2)
    result = unigram_bpb_from_counts(counts, targets)
    assert result["bits_per_byte"] == pytest.approx(-(math.log2(0.4) + math.log2(0.1)) / 4)
    assert result["tokens"] == 2 and result["bytes"] == 4
    # a folder of shards counts the same as the concatenation
    (tmp_path / "shards").mkdir()
    np.save(tmp_path / "shards" / "a.npy", np.array([0, 0, 1], dtype=np.uint32))
    np.save(tmp_path / "shards" / "b.npy", np.array([1, 1, 2], dtype=np.uint32))
    assert unigram_counts(tmp_path / "shards", 4).tolist() == [2, 3, 1, 0]


def test_aggregate_stderr_by_hand():
    from winnow.eval.scoring import aggregate_stderr

    per_task = {
        "dclm_copa": {"acc": 0.6, "acc_stderr": 0.04, "prob": 0.1, "prob_stderr": 0.02},  # b = 0.5
        "dclm_arc_easy": {"acc": 0.3, "acc_stderr": 0.03, "prob": 0.05, "prob_stderr": 0.01},  # b = 0.25
        "dclm_gsm8k_cot": {"acc": 0.0, "acc_stderr": 0.0, "prob": None, "prob_stderr": None},
    }
    se = aggregate_stderr(per_task)
    assert se["core_prob_v1"] == pytest.approx(math.sqrt(0.02**2 + 0.01**2) / 2)
    assert se["prob_mean_v1"] == pytest.approx(math.sqrt(0.02**2 + 0.01**2) / 2)  # gsm8k has no prob
    assert se["core_v2_partial"] == pytest.approx(math.sqrt((0.04 / 0.5) ** 2 + (0.03 / 0.75) ** 2) / 2)
    assert se["core_v2"] is None and se["extended_v1"] is None  # strict: tasks missing
    assert se["mmlu"] is None
