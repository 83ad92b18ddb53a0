"""winnow's DCLM task YAMLs load under plain lm-eval and build llm-foundry's request strings."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import NO_WINNOW_GUARD
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
    from winnow.eval.taskgen import TASKS

    assert set(REQUIRED) <= set(tm.all_tasks)
    assert {t.lm_eval_name for t in TASKS} | {"dclm_core", "dclm_extended"} == set(tm.all_tasks)
    assert len(TASKS) == 53


def test_committed_yamls_are_what_taskgen_writes():
    from winnow.eval.taskgen import generated_files

    for name, text in generated_files().items():
        path = eval_tasks_dir() / name
        assert path.is_file() and path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `python -m winnow.eval.taskgen`")


def test_taskgen_agrees_with_the_dclm_task_table():
    from winnow.eval.aggregates import load_task_table
    from winnow.eval.taskgen import TASKS

    facts = {t.name: t for t in load_task_table().tasks}
    assert [t.name for t in TASKS] == [t.name for t in load_task_table().tasks]
    for t in TASKS:
        f = facts[t.name]
        assert (t.kind, t.shots, t.core) == (f.icl_type, f.shots, f.core), t.name
        assert t.has_categories == f.macro_avg_over_categories, t.name


@pytest.mark.parametrize(
    "name, shots, rows",
    [("dclm_arc_easy", 10, 2376), ("dclm_copa", 0, 100), ("dclm_winograd", 0, 273),
     ("dclm_lambada_openai", 0, 5153), ("dclm_hellaswag_zeroshot", 0, 10042), ("dclm_jeopardy", 10, 2117),
     ("dclm_mmlu_fewshot", 5, 14042), ("dclm_gsm8k_cot", 3, 1319), ("dclm_gpqa_diamond", 5, 198)],
)
def test_dclm_fewshot_defaults_and_sizes(tm, name, shots, rows):
    task = tm.load([name])["tasks"][name]
    assert task.config.num_fewshot == shots
    assert len(task.eval_docs) == rows


def test_fewshot_demos_are_llm_foundrys_draw(tm):
    from winnow.eval import foundry

    task, args = _requests(tm, "dclm_arc_easy", doc_id=5, shots=3)
    docs = task.eval_docs
    plan = foundry.fewshot_plan([""] * len(docs), 3, seed=1234)
    demos = "\n".join(docs[i]["_demo"] + docs[i]["_demo_answer"] for i in plan[5])
    ctx = args[0][0]
    assert ctx == demos + "\n" + docs[5]["_ctx"]  # demos in set order, then the test context
    assert foundry.PREAMBLE_SPLITS[ctx] == len(demos)  # the adapter tokenises the parts apart
    assert 5 not in plan[5]


def test_category_tasks_draw_demos_within_the_category(tm):
    task, args = _requests(tm, "dclm_jeopardy", doc_id=0, shots=4)
    cat = task.eval_docs[0]["_cat"]
    assert cat
    lines = args[0][0].split("\n")
    questions = lines[0::2][:-1]  # demo questions (context lines), the test's last
    prefix = cat.replace("_", " ").upper() + ":"  # jeopardy rows: category "world_history"
    assert len(questions) == 4 and all(q.startswith(prefix) for q in questions)


def test_schema_fewshot_contexts_match_the_recorded_split(tm):
    from winnow.eval import foundry

    _, args = _requests(tm, "dclm_winogrande", doc_id=2, shots=2)
    for ctx, cont in args:
        k = foundry.PREAMBLE_SPLITS[ctx]
        assert ctx[k] == "\n" and cont.startswith(" ")


def test_generation_task_requests(tm):
    _, args = _requests(tm, "dclm_gsm8k_cot", doc_id=0, shots=0)
    ((ctx, kwargs),) = args
    assert ctx.startswith("Q: ") and ctx.endswith("\nA: Let's think step by step.")
    assert kwargs["until"] == ["\n\n", "Q:", "Q: "] and kwargs["do_sample"] is False


def test_arc_easy_requests(tm):
    _, args = _requests(tm, "dclm_arc_easy")
    ctx = "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:"
    assert args == [
        (ctx, " Sunlight is the source of energy for nearly all ecosystems."),
        (ctx, " Most ecosystems are found on land instead of in water."),
        (ctx, " Carbon dioxide is more available than other gases."),
        (ctx, " The producers in all ecosystems are plants."),
    ]


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


def test_tasks_run_under_stock_lm_eval_on_any_hf_model(tm, tmp_path):
    """Plain lm-eval (its HFLM, not winnow's adapter) runs the tasks, generation included."""
    import lm_eval
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from winnow.tokenize.bpe import tokenizer_file

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=1024, n_positions=256, n_embd=16, n_layer=1, n_head=2)).save_pretrained(tmp_path)
    PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file("bpe1k-v1")), eos_token="<|endoftext|>",
                            pad_token="<|endoftext|>").save_pretrained(tmp_path)
    res = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={tmp_path},max_length=256", tasks=["dclm_copa", "dclm_triviaqa_sm_sub"],
        task_manager=tm, limit=2, batch_size=2, device="cpu", bootstrap_iters=0)
    assert 0.0 <= res["results"]["dclm_copa"]["acc,none"] <= 1.0
    assert res["results"]["dclm_triviaqa_sm_sub"]["exact_match,none"] == 0.0  # random model


# ------------------------------------------------------------ eval/tasks/utils.py without winnow



def _utils_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dclm_task_utils", eval_tasks_dir() / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_task_utils_copies_agree_with_winnow():
    """eval/tasks/utils.py carries its own copy of the prompt, generation and GPQA rules (plain
    lm-eval loads it without winnow): each copied function has winnow's source, each constant
    winnow's value, and the few-shot splits go to winnow's dict when winnow is importable."""
    import inspect

    from winnow.eval import data, foundry, generation

    utils = _utils_module()
    copies = {
        foundry: ("strip_row", "prefix_space", "fewshot_sample_idxs", "fewshot_plan", "split_preamble",
                  "demo_text", "register_preamble", "_answer_text", "prepare_row", "prepare_rows"),
        generation: ("normalize_answer", "early_stop", "extract_answer", "score_generation"),
        data: ("_cell", "_as_numpy_list", "gpqa_records", "_read_gpqa_member"),
    }
    for module, names in copies.items():
        for name in names:
            assert inspect.getsource(getattr(utils, name)) == inspect.getsource(getattr(module, name)), (
                f"eval/tasks/utils.py's {name} differs from {module.__name__}.{name}: copy the change")
    constants = {
        foundry: ("KINDS", "DEFAULT_CONTINUATION_DELIMITER", "EXAMPLE_DELIMITER", "FEWSHOT_SEED", "ROW", "CATEGORY"),
        generation: ("_PUNCTUATION",),
        data: ("GPQA_ZIP", "GPQA_PASSWORD", "_PANDAS_NA", "_GPQA_COLUMNS"),
    }
    for module, names in constants.items():
        for name in names:
            assert getattr(utils, name) == getattr(module, name), name
    assert utils._ARTICLES.pattern == generation._ARTICLES.pattern
    assert utils.PREAMBLE_SPLITS is foundry.PREAMBLE_SPLITS
    assert utils.data_root() == data_root()


def test_gpqa_rows_match_winnows_derived_file():
    from winnow.eval.data import gpqa_jsonl

    utils = _utils_module()
    want = [json.loads(line) for line in gpqa_jsonl("diamond").read_text(encoding="utf-8").splitlines()]
    got = utils._rows(None, "diamond")
    assert json.dumps(got) == json.dumps(want) and len(got) == 198


def test_plain_lm_eval_loads_the_tasks_without_winnow(tm, tmp_path):
    """The README's `lm_eval --include_path eval/tasks` in a Python where `import winnow` fails:
    the tasks index and load, and build the same request strings as in winnow's own process."""
    import subprocess
    import sys

    names = ["dclm_arc_easy", "dclm_winogrande", "dclm_gsm8k_cot", "dclm_jeopardy", "dclm_gpqa_diamond"]
    script = NO_WINNOW_GUARD + f"""
import json, sys
from lm_eval.tasks import TaskManager
tm = TaskManager(include_path={str(eval_tasks_dir())!r}, include_defaults=False)
out = {{}}
for name, doc_id, shots in {[(n, 1, 3) for n in names]!r}:
    task = tm.load([name])["tasks"][name]
    task.set_fewshot_seed(1234)
    doc = task.eval_docs[doc_id]
    reqs = task.construct_requests(doc, task.fewshot_context(doc, shots), metadata=(name, doc_id, 1))
    out[name] = [list(r.args) for r in (reqs if isinstance(reqs, list) else [reqs])]
out["winnow"] = [m for m in sys.modules if m == "winnow" or m.startswith("winnow.")]
json.dump(out, open("out.json", "w"))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", WINNOW_DATA=str(data_root()))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=env, stdin=subprocess.DEVNULL, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out.pop("winnow") == []
    for name in names:
        _, args = _requests(tm, name, doc_id=1, shots=3)
        assert out[name] == json.loads(json.dumps([list(a) for a in args])), name
