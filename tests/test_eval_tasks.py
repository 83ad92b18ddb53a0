"""winnow's DCLM task YAMLs load under plain lm-eval and build llm-foundry's request strings."""

from __future__ import annotations

import pytest

from winnow.paths import DataRootError, data_root, eval_tasks_dir

pytest.importorskip("lm_eval")

try:
    data_root()
except DataRootError:  # pragma: no cover - the eval data is present on dev and CI machines
    pytest.skip("no data root with eval/", allow_module_level=True)

REQUIRED = [
    "dclm_arc_easy", "dclm_arc_challenge", "dclm_copa", "dclm_piqa", "dclm_hellaswag_zeroshot",
    "dclm_lambada_openai", "dclm_winograd", "dclm_winogrande",
]


@pytest.fixture(scope="module")
def tm():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(eval_tasks_dir()), include_defaults=False)


def _requests(tm, name, doc_id=0, shots=0):
    task = tm.load([name])["tasks"][name]
    task.set_fewshot_seed(1234)
    doc = task.eval_docs[doc_id]
    ctx = task.fewshot_context(doc, shots)
    reqs = task.construct_requests(doc, ctx, metadata=(name, doc_id, 1))
    return task, [r.args for r in (reqs if isinstance(reqs, list) else [reqs])]


def test_all_tasks_index_under_plain_lm_eval(tm):
    assert set(REQUIRED) <= set(tm.all_tasks)
    assert all(t.startswith("dclm_") for t in tm.all_tasks)


@pytest.mark.parametrize(
    "name, shots, rows",
    [("dclm_arc_easy", 10, 2376), ("dclm_copa", 0, 100), ("dclm_winograd", 0, 273),
     ("dclm_lambada_openai", 0, 5153), ("dclm_hellaswag_zeroshot", 0, 10042)],
)
def test_dclm_fewshot_defaults_and_sizes(tm, name, shots, rows):
    task = tm.load([name])["tasks"][name]
    assert task.config.num_fewshot == shots
    assert len(task.eval_docs) == rows


def test_arc_easy_requests(tm):
    _, args = _requests(tm, "dclm_arc_easy")
    ctx = "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:"
    assert args == [
        (ctx, " Sunlight is the source of energy for nearly all ecosystems."),
        (ctx, " Most ecosystems are found on land instead of in water."),
        (ctx, " Carbon dioxide is more available than other gases."),
        (ctx, " The producers in all ecosystems are plants."),
    ]


def test_arc_easy_fewshot_format(tm):
    task, args = _requests(tm, "dclm_arc_easy", shots=2)
    ctx = args[0][0]
    demos, query = ctx.rsplit("\n", 2)[0], ctx.split("\n")[-2:]
    assert query == ["Question: Which statement best explains why photosynthesis is the foundation of most food webs?",
                     "Answer:"]
    lines = demos.split("\n")
    assert len(lines) == 4 and lines[0].startswith("Question: ") and lines[2].startswith("Question: ")
    golds = {d["query"]: d["choices"][d["gold"]] for d in task.eval_docs}
    for q, a in ((lines[0], lines[1]), (lines[2], lines[3])):
        assert a == "Answer: " + golds[q]  # llm-foundry: "\nAnswer: " + gold answer, demos joined by "\n"


def test_winograd_requests(tm):
    _, args = _requests(tm, "dclm_winograd")
    assert args == [
        ("The city councilmen refused the demonstrators a permit because the city councilmen", " feared violence."),
        ("The city councilmen refused the demonstrators a permit because the demonstrators", " feared violence."),
    ]


def test_lambada_requests(tm):
    _, args = _requests(tm, "dclm_lambada_openai")
    ((ctx, cont),) = args
    assert ctx.startswith("In my palm is a clear stone, and inside it is a small ivory statuette.")
    assert ctx.endswith("his mouth curved in a confident grin, I don't care about")
    assert cont == " signs"


def test_other_kinds_requests(tm):
    _, copa = _requests(tm, "dclm_copa")
    assert copa == [("The man turned on the faucet, therefore", " the toilet filled with water."),
                    ("The man turned on the faucet, therefore", " water flowed from the spout.")]
    _, piqa = _requests(tm, "dclm_piqa")
    assert piqa[0][0] == "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"
    assert piqa[1][1].startswith(" Provide the guinea pig with a cage full")
    _, hella = _requests(tm, "dclm_hellaswag_zeroshot")
    assert hella[0] == ("Roof shingle removal: A man is sitting on a roof. He",
                        " is using wrap to wrap a pair of skis.")
    assert len(hella) == 4
    _, wg = _requests(tm, "dclm_winogrande")
    assert wg == [("Sarah was a much better surgeon than Maria so Sarah", " always got the easier cases."),
                  ("Sarah was a much better surgeon than Maria so Maria", " always got the easier cases.")]


@pytest.mark.parametrize("name", ["debug", "quick"])
def test_suites_name_existing_tasks(tm, name):
    from omegaconf import OmegaConf

    from winnow.eval.runner import load_suite, plain_suite, subsample, validate_suite

    suite = load_suite(name)
    validate_suite(suite, known_tasks=sorted(tm.all_tasks))
    assert plain_suite(OmegaConf.create(suite)) == suite  # what Hydra would hand over
    assert suite["name"] == name and isinstance(suite["version"], int) and "seed" in suite
    assert all(entry["num_fewshot"] == 0 for entry in suite["tasks"])
    if name == "quick":
        assert {e["task"] for e in suite["tasks"]} == set(REQUIRED)
        assert suite["heldout_tokens"] == 50_000
    else:
        kinds = {"dclm_arc_easy", "dclm_winogrande", "dclm_lambada_openai"}
        assert {e["task"] for e in suite["tasks"]} == kinds and suite["heldout_tokens"] == 5_000
    rows = subsample(2376, 20, suite["seed"], "dclm_arc_easy")
    assert rows == sorted(set(rows)) and len(rows) == 20
    assert rows == subsample(2376, 20, suite["seed"], "dclm_arc_easy")  # fixed
    assert rows != subsample(2376, 20, suite["seed"], "dclm_arc_challenge")  # per task
    assert subsample(100, 200, suite["seed"], "dclm_copa") == list(range(100))


def test_unknown_task_gets_a_suggestion(tm):
    from winnow.eval.runner import validate_suite

    suite = {"name": "x", "version": 1, "tasks": [{"task": "dclm_arc_eazy", "num_fewshot": 0, "limit": 5}]}
    with pytest.raises(ValueError, match="dclm_arc_easy"):
        validate_suite(suite, known_tasks=sorted(tm.all_tasks))


def test_more_core_tasks_follow_the_same_rules(tm):
    _, squad = _requests(tm, "dclm_squad")
    ((ctx, cont),) = squad
    assert ctx.startswith("Context: Super Bowl 50 was an American football game")
    assert ctx.endswith("\nQuestion: Which NFL team represented the AFC at Super Bowl 50?\nAnswer:")
    assert cont == " Denver Broncos"
    _, boolq = _requests(tm, "dclm_boolq")
    assert boolq[0][0].endswith("\nAnswer:") and [c for _, c in boolq] == [" no", " yes"]
    _, csqa = _requests(tm, "dclm_commonsense_qa")
    assert csqa[0][0].endswith("\nD. new york\nAnswer:") and [c for _, c in csqa] == [" A", " B", " C", " D"]
    _, dyck = _requests(tm, "dclm_bigbench_dyck_languages")
    assert dyck[0][0].endswith("\nOutput:") and dyck[0][1] == " } ]"
