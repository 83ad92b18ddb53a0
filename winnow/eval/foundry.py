"""llm-foundry 0.9.0's prompt rules (the evaluator DCLM ran), as data that lm-eval can consume.

DCLM scores its 53 tasks with llm-foundry's in-context-learning datasets. This module restates
the parts of them that decide *which text* a model sees, so that winnow's lm-eval tasks
(eval/tasks/dclm_*.yaml) build the same strings:

* **Stripping.** Every top-level string field of a row is stripped; list entries are not.
* **Test context.** ``prelimiter + context + continuation_delimiter``, right-stripped (so
  ``"\\nAnswer: "`` ends as ``"\\nAnswer:"``). Schema tasks: each context option as is.
* **Answers** scored after it carry one leading space, added unless present (llm-foundry's
  prefix space for GPT-2-style BPE tokenizers, which DCLM's GPT-NeoX tokenizer is).
* **Demonstrations** (few-shot) are ``prelimiter + context + continuation_delimiter + answer``
  with the delimiter *not* stripped and *no* prefix space added to the answer; generation tasks
  with a chain of thought use ``chain_of_thought + cot_delimiter + answer``; schema demos are
  ``gold option + continuation_delimiter + continuation``. Demos and the test context are
  joined by the example delimiter ``"\\n"`` (lm-eval's ``fewshot_delimiter``).
* **Which demos.** One ``random.Random(seed)`` per file (per category for tasks split by
  category) walks the rows in order; for each row it draws the shots from the other rows
  (:func:`fewshot_sample_idxs`, llm-foundry's ``get_fewshot_sample_idxs``) and the demos come
  out in the iteration order of the Python set that holds them. The walk covers every row even
  when only a subsample is evaluated, so row k always gets the same demos.
* **Categories.** mmlu, jeopardy and bbq are split by their ``category`` field (categories in
  sorted order, rows in file order within each); shots come from the same category and the
  task's score is the unweighted mean over categories (done in winnow.eval.scoring).

lm-eval composes ``demo + fewshot_delimiter + ... + test context``; the fields built by
:func:`prepare_rows` give it exactly llm-foundry's pieces and :class:`FoundrySampler` picks the
demos. Everything here is pure Python over plain dicts (no lm-eval import), so it is cheap to
test; the lm-eval sampler subclass lives in eval/tasks/utils.py, which carries a copy of this
module's functions so that plain lm-eval runs without winnow (tests/eval/test_tasks.py fails
until a change here is copied there).
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Mapping, Sequence

KINDS = ("multiple_choice", "schema", "language_modeling", "generation")
DEFAULT_CONTINUATION_DELIMITER = " "  # llm-foundry's default (get_icl_task_dataloader)
EXAMPLE_DELIMITER = "\n"
FEWSHOT_SEED = 1234  # llm-foundry's default fewshot_random_seed

ROW = "_row"  # row number in the file
CATEGORY = "_cat"  # category ("" when the task is not split by category)


def strip_row(row: Mapping[str, Any]) -> dict:
    """llm-foundry's strip_data: strip top-level strings, leave lists alone."""
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def prefix_space(text: str) -> str:
    """llm-foundry's prefix space for answers scored after a context."""
    return text if text.startswith(" ") else " " + text


def fewshot_sample_idxs(dataset_size: int, num_fewshot: int, example_idx: int, rng: random.Random) -> set[int]:
    """llm-foundry's get_fewshot_sample_idxs, operation for operation (the rng sequence and the
    set's iteration order both decide the demos, so the calls must be the same calls)."""
    num_fewshot = min(dataset_size - 1, num_fewshot)
    idxs = set(rng.sample(range(0, dataset_size), num_fewshot))
    if example_idx in idxs:
        idxs.remove(example_idx)
        if len(idxs) >= dataset_size - 1:
            return idxs
        replacement = rng.choice(range(0, dataset_size))
        while replacement in idxs or replacement == example_idx:
            replacement = rng.choice(range(0, dataset_size))
        idxs.add(replacement)
    return idxs


def fewshot_plan(categories: Sequence[str], num_fewshot: int, seed: int = FEWSHOT_SEED) -> list[list[int]]:
    """For each row (given its category, "" for none), the row numbers of its demos, in order.

    One rng per category, walking that category's rows in file order, as llm-foundry does after
    partitioning a file by category (each partition is its own dataset with its own rng).
    """
    by_cat: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        by_cat.setdefault(cat, []).append(i)
    plan: list[list[int]] = [[] for _ in categories]
    if num_fewshot <= 0:
        return plan
    for cat in sorted(by_cat):
        rows = by_cat[cat]
        rng = random.Random(seed)
        for j, row in enumerate(rows):
            picks = fewshot_sample_idxs(len(rows), num_fewshot, j, rng)
            plan[row] = [rows[p] for p in picks]  # set iteration order, as llm-foundry
    return plan


# ----------------------------------------------------------------------- tokenisation split

# llm-foundry tokenises the few-shot block ("preamble") and the test context separately and
# concatenates the ids; lm-eval hands a model one context string. The few-shot sampler records
# here, for every context it helps build, where the preamble ends, so that winnow's adapter
# (winnow.eval.lm.WinnowLM) can tokenise the two parts separately as llm-foundry does.
PREAMBLE_SPLITS: dict[str, int] = {}


def split_preamble(context: str) -> tuple[str, ...]:
    """(few-shot block, test context) of a context the few-shot sampler built; (context,) when
    it built none (0-shot, or a context it never saw). llm-foundry tokenises the parts apart."""
    k = PREAMBLE_SPLITS.get(context)
    return (context[:k], context[k:]) if k else (context,)


def demo_text(doc: Mapping[str, Any]) -> str:
    """One demonstration as lm-eval writes it from the prepared fields (target delimiter "")."""
    if "_options" in doc:  # schema: the gold option, then delimiter + continuation
        return doc["_options"][int(doc["gold"])] + doc["_demo_answer"]
    return doc["_demo"] + doc["_demo_answer"]


def register_preamble(demos: Sequence[Mapping[str, Any]], doc: Mapping[str, Any]) -> None:
    """Record the preamble / test-context split of the contexts built for `doc` with `demos`."""
    if not demos:
        return
    preamble = EXAMPLE_DELIMITER.join(demo_text(d) for d in demos)
    tests = doc["_options"] if "_options" in doc else [doc["_ctx"]]
    for t in tests:
        PREAMBLE_SPLITS[preamble + EXAMPLE_DELIMITER + t] = len(preamble)


# ------------------------------------------------------------------------------- row fields


def _answer_text(row: Mapping, kind: str, cot_delimiter: str) -> str:
    """The gold answer as a demo shows it (llm-foundry get_answer_from_example, in context)."""
    if kind == "multiple_choice":
        return row["choices"][int(row["gold"])]
    if kind == "language_modeling":
        return row["continuation"]
    if kind == "generation":
        if "chain_of_thought" in row:
            return f"{row['chain_of_thought']}{cot_delimiter}{row['answer']}"
        return row["answer"]
    raise ValueError(f"no demo answer for kind {kind!r}")


def prepare_row(
    row: Mapping[str, Any],
    index: int,
    *,
    kind: str,
    continuation_delimiter: str = DEFAULT_CONTINUATION_DELIMITER,
    prelimiter: str = "",
    cot_delimiter: str = "",
    stop_sequences: Sequence[str] = (),
    has_categories: bool = False,
) -> dict:
    """One stripped row plus the prompt pieces lm-eval needs (fields starting with ``_``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {KINDS}")
    out = strip_row(row)
    out[ROW] = index
    out[CATEGORY] = str(out.get("category", "")) if has_categories else ""
    if kind == "schema":
        options = [f"{prelimiter}{c}" for c in out["context_options"]]
        out["_options"] = options
        out["_cont"] = prefix_space(out["continuation"])
        out["_demo"] = ""  # unused: the demo is the gold option (lm-eval indexes _options)
        out["_demo_answer"] = f"{continuation_delimiter}{out['continuation']}"
        return out
    key = "query" if kind == "multiple_choice" else "context"
    demo = f"{prelimiter}{out[key]}{continuation_delimiter}"
    out["_demo"] = demo
    out["_ctx"] = demo.rstrip()
    out["_demo_answer"] = _answer_text(out, kind, cot_delimiter)
    if kind == "multiple_choice":
        out["_choices"] = [prefix_space(c) for c in out["choices"]]
    elif kind == "language_modeling":
        out["_cont"] = prefix_space(out["continuation"])
    else:  # generation: every accepted answer (llm-foundry: set([answer] + aliases))
        out["_answers"] = sorted(set([out["answer"]] + list(out.get("aliases", []) or [])))
        out["_cot_delimiter"] = cot_delimiter
        out["_stop"] = list(stop_sequences)
    return out


def prepare_rows(rows: Iterable[Mapping[str, Any]], **settings) -> list[dict]:
    """:func:`prepare_row` over a file's rows (row numbers in file order)."""
    return [prepare_row(r, i, **settings) for i, r in enumerate(rows)]
