"""DCLM's 53-task suite as data, and the generator of winnow's lm-eval task YAMLs from it.

`TASKS` restates DCLM's `eval/heavy.yaml` (mlfoundations/dclm), the suite behind CORE and
EXTENDED: per task the llm-foundry file, ICL type, shot count and the prompt settings DCLM sets
(continuation delimiter, question prelimiter, chain-of-thought delimiter, early-stopping
strings, split by category). Unset settings take llm-foundry 0.9.0's defaults
(continuation delimiter " ", example delimiter "\\n", prelimiter "", few-shot seed 1234).

`python -m winnow.eval.taskgen` (re)writes eval/tasks/dclm_<task>.yaml for every task and the
groups dclm_core (the 22 CORE tasks, DCLM's `low_variance_datasets`) and dclm_extended (all
53); tests/eval/test_tasks.py fails when the committed YAMLs differ from what it would write.
The YAMLs are plain lm-eval task configs: `lm_eval --include_path eval/tasks --tasks dclm_core`
runs them on any HF model once winnow is installed (the loader and the few-shot sampler are
winnow's, in eval/tasks/utils.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from winnow.io import atomic_open
from winnow.paths import eval_tasks_dir

TASKS_VERSION = 2  # bump when a generated prompt changes (it changes scores)

ANSWER = "\nAnswer: "
COT = " #### "
COT_STEP = "\nA: Let's think step by step. "
COT_STOP = ("\n\n", "Q:", "Q: ")


@dataclass(frozen=True)
class TaskSpec:
    name: str  # DCLM's task label
    file: str  # under <data>/eval/ (or the derived name for GPQA)
    kind: str  # multiple_choice | schema | language_modeling | generation
    shots: int
    continuation_delimiter: str = " "
    prelimiter: str = ""
    cot_delimiter: str = ""
    stop: tuple[str, ...] = ()
    has_categories: bool = False
    derived: str | None = None  # built by winnow.eval.data from an archive (GPQA)
    core: bool = False

    @property
    def lm_eval_name(self) -> str:
        return f"dclm_{self.name}"


def _mc(name, file, shots, **kw):
    return TaskSpec(name, file, "multiple_choice", shots, **kw)


def _lm(name, file, shots, **kw):
    return TaskSpec(name, file, "language_modeling", shots, **kw)


def _cot(name, file, delim=COT_STEP):
    return TaskSpec(name, file, "generation", 3, continuation_delimiter=delim, prelimiter="Q: ",
                    cot_delimiter=COT, stop=COT_STOP)


WK, CR, LU, SPS, RC, SAFE = (
    "world_knowledge", "commonsense_reasoning", "language_understanding",
    "symbolic_problem_solving", "reading_comprehension", "safety",
)

# DCLM eval/heavy.yaml, in suite order.
TASKS: tuple[TaskSpec, ...] = (
    _mc("mmlu_zeroshot", f"{WK}/mmlu.jsonl", 0, continuation_delimiter="Answer: ", has_categories=True),
    _mc("hellaswag_zeroshot", f"{LU}/hellaswag.jsonl", 0, core=True),
    _lm("jeopardy", f"{WK}/jeopardy_all.jsonl", 10, continuation_delimiter=ANSWER, has_categories=True, core=True),
    TaskSpec("triviaqa_sm_sub", f"{WK}/triviaqa_sm_sub.jsonl", "generation", 3),
    _cot("gsm8k_cot", f"{SPS}/gsm8k.jsonl"),
    _cot("agi_eval_sat_math_cot", f"{SPS}/agi_eval_sat_math.jsonl"),
    _cot("aqua_cot", f"{SPS}/aqua.jsonl"),
    _cot("svamp_cot", f"{SPS}/svamp.jsonl", delim="\nUsing the formula below:\n"),
    _lm("bigbench_qa_wikidata", f"{WK}/bigbench_qa_wikidata.jsonl", 10, core=True),
    _mc("arc_easy", f"{WK}/arc_easy.jsonl", 10, continuation_delimiter=ANSWER, core=True),
    _mc("arc_challenge", f"{WK}/arc_challenge.jsonl", 10, continuation_delimiter=ANSWER, core=True),
    _mc("mmlu_fewshot", f"{WK}/mmlu.jsonl", 5, continuation_delimiter=ANSWER, has_categories=True),
    _mc("bigbench_misconceptions", f"{WK}/bigbench_misconceptions.jsonl", 10),
    _mc("copa", f"{CR}/copa.jsonl", 0, core=True),
    _mc("siqa", f"{CR}/siqa.jsonl", 10),
    _mc("commonsense_qa", f"{CR}/commonsense_qa.jsonl", 10, core=True),
    _mc("piqa", f"{CR}/piqa.jsonl", 10, continuation_delimiter=ANSWER, core=True),
    _mc("openbook_qa", f"{CR}/openbook_qa.jsonl", 0, core=True),
    _mc("bigbench_novel_concepts", f"{CR}/bigbench_novel_concepts.jsonl", 10),
    _mc("bigbench_strange_stories", f"{CR}/bigbench_strange_stories.jsonl", 10),
    _mc("bigbench_strategy_qa", f"{CR}/bigbench_strategy_qa.jsonl", 10),
    _lm("lambada_openai", f"{LU}/lambada_openai.jsonl", 0, core=True),
    _mc("hellaswag", f"{LU}/hellaswag.jsonl", 10, core=True),
    TaskSpec("winograd", f"{LU}/winograd_wsc.jsonl", "schema", 0, core=True),
    TaskSpec("winogrande", f"{LU}/winogrande.jsonl", "schema", 0, core=True),
    _lm("bigbench_conlang_translation", f"{LU}/bigbench_conlang_translation.jsonl", 0),
    _mc("bigbench_language_identification", f"{LU}/bigbench_language_identification.jsonl", 10, core=True),
    _mc("bigbench_conceptual_combinations", f"{LU}/bigbench_conceptual_combinations.jsonl", 10),
    _mc("bigbench_elementary_math_qa", f"{SPS}/bigbench_elementary_math_qa.jsonl", 10),
    _lm("bigbench_dyck_languages", f"{SPS}/bigbench_dyck_languages.jsonl", 10, core=True),
    _mc("agi_eval_lsat_ar", f"{SPS}/agi_eval_lsat_ar.jsonl", 3, core=True),
    _lm("bigbench_cs_algorithms", f"{SPS}/bigbench_cs_algorithms.jsonl", 10, core=True),
    _mc("bigbench_logical_deduction", f"{SPS}/bigbench_logical_deduction.jsonl", 10),
    _lm("bigbench_operators", f"{SPS}/bigbench_operators.jsonl", 10, core=True),
    _lm("bigbench_repeat_copy_logic", f"{SPS}/bigbench_repeat_copy_logic.jsonl", 10, core=True),
    _lm("simple_arithmetic_nospaces", f"{SPS}/simple_arithmetic_nospaces.jsonl", 10),
    _lm("simple_arithmetic_withspaces", f"{SPS}/simple_arithmetic_withspaces.jsonl", 10),
    _mc("math_qa", f"{SPS}/math_qa.jsonl", 10),
    _mc("logi_qa", f"{SPS}/logi_qa.jsonl", 10, continuation_delimiter=ANSWER),
    _lm("pubmed_qa_labeled", f"{RC}/pubmed_qa_labeled.jsonl", 10),
    _lm("squad", f"{RC}/squad.jsonl", 10, core=True),
    _mc("agi_eval_lsat_rc", f"{RC}/agi_eval_lsat_rc.jsonl", 3),
    _mc("agi_eval_lsat_lr", f"{RC}/agi_eval_lsat_lr.jsonl", 3),
    _lm("coqa", f"{RC}/coqa.jsonl", 0, core=True),
    _mc("bigbench_understanding_fables", f"{RC}/bigbench_understanding_fables.jsonl", 10),
    _mc("boolq", f"{RC}/boolq.jsonl", 10, continuation_delimiter=ANSWER, core=True),
    _mc("agi_eval_sat_en", f"{RC}/agi_eval_sat_en.jsonl", 3),
    _mc("winogender_mc_female", f"{SAFE}/winogender_mc_female.jsonl", 10),
    _mc("winogender_mc_male", f"{SAFE}/winogender_mc_male.jsonl", 10),
    _mc("enterprise_pii_classification", f"{SAFE}/enterprise_pii_classification.jsonl", 10),
    _mc("bbq", f"{SAFE}/bbq.jsonl", 3, has_categories=True),
    _mc("gpqa_main", "gpqa/dataset.zip", 5, continuation_delimiter=ANSWER, derived="main"),
    _mc("gpqa_diamond", "gpqa/dataset.zip", 5, continuation_delimiter=ANSWER, derived="diamond"),
)
BY_NAME = {t.name: t for t in TASKS}
CORE = tuple(t.name for t in TASKS if t.core)


def spec(task: str) -> TaskSpec:
    """The spec of a DCLM task by DCLM name or lm-eval name (`dclm_<task>`)."""
    name = task[len("dclm_"):] if task.startswith("dclm_") else task
    if name not in BY_NAME:
        import difflib

        close = difflib.get_close_matches(name, list(BY_NAME), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown DCLM task {task!r}{hint}")
    return BY_NAME[name]


# --------------------------------------------------------------------------------- YAMLs

_FUNC = "!function utils."


def _fn(name: str) -> str:
    return f"{_FUNC}{name}"


def task_config(t: TaskSpec) -> dict:
    """The lm-eval config of one task (strings starting with `!function ` become tags)."""
    kwargs: dict = {"file": t.file, "kind": t.kind}
    if t.continuation_delimiter != " ":
        kwargs["continuation_delimiter"] = t.continuation_delimiter
    if t.prelimiter:
        kwargs["prelimiter"] = t.prelimiter
    if t.cot_delimiter:
        kwargs["cot_delimiter"] = t.cot_delimiter
    if t.stop:
        kwargs["stop_sequences"] = list(t.stop)
    if t.has_categories:
        kwargs["has_categories"] = True
    if t.derived:
        kwargs["derived"] = t.derived
    cfg: dict = {"include": "_dclm_defaults.yaml", "task": t.lm_eval_name, "dataset_kwargs": kwargs}
    few = {"sampler": _fn("FoundrySampler"), "doc_to_text": _fn("demo_context"),
           "doc_to_target": _fn("demo_answer")}
    if t.kind == "multiple_choice":
        cfg.update(output_type="multiple_choice", doc_to_text=_fn("test_context"),
                   doc_to_choice=_fn("choices"), doc_to_target=_fn("gold"))
    elif t.kind == "schema":
        cfg.update(output_type="multiple_choice", doc_to_text=_fn("gold"),
                   doc_to_choice=_fn("schema_options"), doc_to_target=_fn("continuation"))
        few = {"sampler": _fn("FoundrySampler"), "doc_to_text": _fn("gold"),
               "doc_to_choice": _fn("schema_options"), "doc_to_target": _fn("demo_answer")}
    elif t.kind == "language_modeling":
        cfg.update(output_type="loglikelihood", doc_to_text=_fn("test_context"),
                   doc_to_target=_fn("continuation"), doc_to_choice=None,
                   metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}])
    elif t.kind == "generation":
        cfg.update(output_type="generate_until", doc_to_text=_fn("test_context"),
                   doc_to_target=_fn("first_answer"), doc_to_choice=None,
                   process_results=_fn("generation_results"),
                   generation_kwargs={"until": list(t.stop), "do_sample": False,
                                      "max_gen_toks": 256 if t.cot_delimiter else 32},
                   metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}])
    else:
        raise ValueError(f"{t.name}: unknown kind {t.kind!r}")
    cfg["fewshot_config"] = few
    cfg["num_fewshot"] = t.shots
    cfg["metadata"] = {"version": float(TASKS_VERSION), "dclm_task": t.name}
    return cfg


def group_config(name: str, tasks: list[str], description: str) -> dict:
    return {
        "group": name,
        "task": [f"dclm_{t}" for t in tasks],
        "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": False}],
        "metadata": {"version": float(TASKS_VERSION), "description": description},
    }


class _Dumper(yaml.SafeDumper):
    pass


class _Func(str):
    pass


_Dumper.add_representer(_Func, lambda d, v: d.represent_scalar("!function", str(v)[len("!function "):], style=""))
_Dumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style='"' if ("\n" in v or v != v.strip()) else None)
)


def _tag_functions(obj):
    if isinstance(obj, dict):
        return {k: _tag_functions(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_tag_functions(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("!function "):
        return _Func(obj)
    return obj


HEADER = "# Generated by `python -m winnow.eval.taskgen` from winnow/eval/taskgen.py; do not edit.\n"


def render(cfg: dict) -> str:
    return HEADER + yaml.dump(_tag_functions(cfg), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def generated_files() -> dict[str, str]:
    """File name -> content of every generated YAML."""
    out = {f"{t.lm_eval_name}.yaml": render(task_config(t)) for t in TASKS}
    out["dclm_core.yaml"] = render(group_config(
        "dclm_core", list(CORE), "DCLM CORE: the 22 low-variance tasks (additional_aggregation.json)"))
    out["dclm_extended.yaml"] = render(group_config(
        "dclm_extended", [t.name for t in TASKS], "DCLM EXTENDED: all 53 tasks of eval/heavy.yaml"))
    return out


def write(out_dir: Path | None = None) -> list[Path]:
    out_dir = Path(out_dir or eval_tasks_dir())
    written = []
    for name, text in generated_files().items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            with atomic_open(path) as f:
                f.write(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="folder (default: eval/tasks)")
    args = p.parse_args(argv)
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
