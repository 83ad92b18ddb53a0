"""llm-foundry's prompt rules (winnow.eval.foundry) on hand-written rows: no data, no model."""

from __future__ import annotations

import random

import pytest

from winnow.eval import foundry


def test_fewshot_draw_never_contains_the_item_and_has_n_demos():
    rng = random.Random(1234)
    for idx in range(30):
        picks = foundry.fewshot_sample_idxs(30, 5, idx, rng)
        assert len(picks) == 5 and idx not in picks and all(0 <= p < 30 for p in picks)


def test_fewshot_draw_replaces_the_item_with_one_more_draw():
    # find a seed whose first draw hits the item, then check the replacement path by hand
    for seed in range(1000):
        probe = random.Random(seed)
        first = set(probe.sample(range(0, 6), 3))
        if 0 in first:
            break
    rng = random.Random(seed)
    picks = foundry.fewshot_sample_idxs(6, 3, 0, rng)
    again = random.Random(seed)
    expected = set(again.sample(range(0, 6), 3))
    expected.remove(0)
    extra = again.choice(range(0, 6))
    while extra in expected or extra == 0:
        extra = again.choice(range(0, 6))
    expected.add(extra)
    assert picks == expected and 0 not in picks


def test_fewshot_draw_caps_at_dataset_size_minus_one():
    picks = foundry.fewshot_sample_idxs(3, 10, 1, random.Random(0))
    assert picks == {0, 2}


def test_plan_walks_one_rng_over_rows_in_order():
    plan = foundry.fewshot_plan([""] * 8, 2, seed=7)
    rng = random.Random(7)
    expected = [list(foundry.fewshot_sample_idxs(8, 2, i, rng)) for i in range(8)]
    assert plan == expected
    assert foundry.fewshot_plan([""] * 8, 0) == [[] for _ in range(8)]


def test_plan_draws_within_category_with_a_fresh_rng_per_category():
    cats = ["b", "a", "b", "a", "b", "a"]
    plan = foundry.fewshot_plan(cats, 1, seed=3)
    for row, demos in enumerate(plan):
        assert len(demos) == 1 and cats[demos[0]] == cats[row] and demos[0] != row
    # category "a" (rows 1, 3, 5) sees exactly what a 3-row file of its own would see
    alone = foundry.fewshot_plan(["a"] * 3, 1, seed=3)
    assert [[1, 3, 5][d] for d in alone[0]] == plan[1]


def test_multiple_choice_fields():
    row = {"query": "  Question: 2+2?  ", "choices": ["4", " five"], "gold": 0}
    out = foundry.prepare_row(row, 3, kind="multiple_choice", continuation_delimiter="\nAnswer: ")
    assert out["query"] == "Question: 2+2?"  # top-level strings stripped
    assert out["_ctx"] == "Question: 2+2?\nAnswer:"  # test context right-stripped
    assert out["_demo"] == "Question: 2+2?\nAnswer: "  # demo keeps the delimiter's space
    assert out["_demo_answer"] == "4"  # no prefix space inside demos
    assert out["_choices"] == [" 4", " five"]  # prefix space added unless present
    assert out[foundry.ROW] == 3 and out[foundry.CATEGORY] == ""


def test_schema_fields():
    row = {"context_options": ["The cat", "The dog "], "continuation": "barked.", "gold": 1}
    out = foundry.prepare_row(row, 0, kind="schema")
    assert out["_options"] == ["The cat", "The dog "]  # list entries are not stripped
    assert out["_cont"] == " barked."
    assert foundry.demo_text(out) == "The dog  barked."  # gold option + " " + continuation


def test_language_modeling_and_generation_fields():
    lm = foundry.prepare_row({"context": "Capital of France:", "continuation": "Paris"}, 0,
                             kind="language_modeling")
    assert lm["_ctx"] == "Capital of France:" and lm["_cont"] == " Paris"
    assert foundry.demo_text(lm) == "Capital of France: Paris"
    gen = foundry.prepare_row(
        {"context": "Tom has 2 apples.", "answer": "2", "chain_of_thought": "He has 2."}, 0,
        kind="generation", continuation_delimiter="\nA: Let's think step by step. ", prelimiter="Q: ",
        cot_delimiter=" #### ", stop_sequences=["\n\n"],
    )
    assert gen["_ctx"] == "Q: Tom has 2 apples.\nA: Let's think step by step."
    assert foundry.demo_text(gen) == "Q: Tom has 2 apples.\nA: Let's think step by step. He has 2. #### 2"
    assert gen["_answers"] == ["2"] and gen["_stop"] == ["\n\n"]
    trivia = foundry.prepare_row({"context": "Q?", "answer": "A", "aliases": ["a", "A"]}, 0, kind="generation")
    assert trivia["_answers"] == ["A", "a"]


def test_categories_only_when_the_task_splits_by_them():
    row = {"query": "q", "choices": ["x", "y"], "gold": 1, "category": "math"}
    assert foundry.prepare_row(row, 0, kind="multiple_choice")[foundry.CATEGORY] == ""
    assert foundry.prepare_row(row, 0, kind="multiple_choice", has_categories=True)[foundry.CATEGORY] == "math"


def test_preamble_split_is_recorded_for_each_context():
    demos = [foundry.prepare_row({"query": f"Q{i}", "choices": ["a", "b"], "gold": 1}, i,
                                 kind="multiple_choice") for i in range(2)]
    doc = foundry.prepare_row({"query": "Q9", "choices": ["a", "b"], "gold": 0}, 9, kind="multiple_choice")
    foundry.register_preamble(demos, doc)
    full = "Q0 b\nQ1 b\nQ9"
    assert foundry.PREAMBLE_SPLITS[full] == len("Q0 b\nQ1 b")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown task kind"):
        foundry.prepare_row({"query": "q"}, 0, kind="essay")
