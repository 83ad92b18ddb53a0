"""Run an evaluation suite on a saved model: lm-eval in-process, winnow scoring, results on disk.

`evaluate()` loads any local HF causal-LM folder (winnow's own architecture is registered by
importing winnow.train.model, which callers do), wraps it in WinnowLM, indexes only winnow's
task YAMLs (eval/tasks; lm-eval's ~27 s built-in index is skipped), and for each suite task:

1. picks a fixed seeded subsample of the task's docs (`subsample`: `limit` row numbers drawn by
   `random.Random(f"{seed}/{task}")`, sorted; the same rows for every model and run);
2. cuts the task's eval split to those rows (`cut_to_rows`; few-shot demos still come from the
   whole file) and runs every task in one `lm_eval.simple_evaluate(..., log_samples=True)` call
   with the suite's few-shot counts and every lm-eval seed set to the suite seed (`run_tasks`);
3. scores items by llm-foundry's rules from the logged samples and the adapter's records.

Then held-out bits per byte (model and unigram reference) when held-out texts / training tokens
are given, and, given the training tokens, the contamination of those tokens with the very
items just scored (`winnow.eval.contamination`: 13-token overlap of each item's gold and
context). Outputs, written atomically, results.json last:

- out_dir/samples/<task>.jsonl: one line per item (doc_id, gold, pred, per-option logprob /
  tokens / bytes / greedy, acc, prob);
- out_dir/contamination.json (with training tokens only): the contamination section plus the
  row numbers of the items with overlap, per task;
- out_dir/results.json: only deterministic content (suite, per-task raw values, aggregates,
  held-out, contamination when measured), so two runs on the same model give identical bytes.
  Timings are returned under "stats" and never written there.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from winnow.eval import contamination as contam
from winnow.eval.foundry import ROW
from winnow.eval.generation import max_new_tokens
from winnow.eval.model_io import load_for_eval
from winnow.eval.scoring import aggregate, aggregate_stderr, missing_tasks, score_task
from winnow.eval.taskgen import spec
from winnow.io import atomic_open, write_json
from winnow.paths import conf_dir, data_root, eval_tasks_dir

# The suite seed (subsample rows, few-shot draws, lm-eval's seeds) when a suite names none; every
# committed suite names 1234 (llm-foundry's few-shot seed). Not the run seed: a suite's seed is
# part of its definition, the same for every run it scores.
DEFAULT_SUITE_SEED = 1234

RESULTS_SCHEMA = 1
RESULTS_FILE = "results.json"
SAMPLES_DIR = "samples"


# -------------------------------------------------------------------------------- suites


def load_suite(name_or_path: str | Path) -> dict:
    """A suite dict from conf/suite/<name>.yaml or from a YAML path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = conf_dir() / "suite" / f"{name_or_path}.yaml"
    with open(path, encoding="utf-8") as f:
        suite = yaml.safe_load(f)
    validate_suite(suite)
    return suite


def plain_suite(suite: Any) -> dict:
    """A suite as plain Python containers (Hydra hands over an OmegaConf DictConfig)."""
    if isinstance(suite, dict):
        return suite
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        DictConfig = ()
    if isinstance(suite, DictConfig):
        return OmegaConf.to_container(suite, resolve=True)  # type: ignore[return-value]
    raise TypeError(f"a suite is a mapping, got {type(suite).__name__}")


def validate_suite(suite: dict, known_tasks: Sequence[str] | None = None) -> None:
    """Check a suite's shape (and task names, when `known_tasks` is given); raise ValueError."""
    for key in ("name", "version", "tasks"):
        if key not in suite:
            raise ValueError(f"suite is missing {key!r}")
    if not isinstance(suite["tasks"], list) or not suite["tasks"]:
        raise ValueError("suite.tasks must be a non-empty list of {task, num_fewshot, limit}")
    seen = set()
    for entry in suite["tasks"]:
        if not isinstance(entry, dict) or "task" not in entry:
            raise ValueError(f"suite task entry {entry!r} needs a 'task' key")
        extra = set(entry) - {"task", "num_fewshot", "limit"}
        if extra:
            raise ValueError(f"suite task {entry['task']}: unknown keys {sorted(extra)}")
        if entry["task"] in seen:
            raise ValueError(f"suite lists {entry['task']} twice")
        seen.add(entry["task"])
        if known_tasks is not None and entry["task"] not in known_tasks:
            close = difflib.get_close_matches(entry["task"], known_tasks, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"unknown task {entry['task']!r}{hint}; tasks live in {eval_tasks_dir()}")


def subsample(n_docs: int, limit: int | None, seed: int, task: str) -> list[int]:
    """The fixed seeded subsample of a task: sorted row numbers (all rows if limit is None/≥ n)."""
    if limit is None or limit >= n_docs:
        return list(range(n_docs))
    rng = random.Random(f"{seed}/{task}")
    return sorted(rng.sample(range(n_docs), int(limit)))


def task_manager():
    """lm-eval TaskManager over winnow's task YAMLs only."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(eval_tasks_dir()), include_defaults=False)


# -------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _quiet_lm_eval(level: int = logging.ERROR) -> Iterator[None]:
    """lm-eval warns on every custom dataset load and every default aggregation; mute it."""
    logger = logging.getLogger("lm_eval")
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"[winnow eval] {msg}", file=sys.stderr, flush=True)


def _lm_eval_metrics(task_results: dict) -> dict:
    """lm-eval's own numbers ("acc,none" -> "acc"), numeric values only, for reference."""
    out = {}
    for key, value in sorted(task_results.items()):
        if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
            continue
        metric, filt = key.split(",", 1)
        out[metric if filt == "none" else f"{metric},{filt}"] = float(value)
    return out


# --------------------------------------------------------------------------------- main


def suite_entries(suite: dict) -> list[dict]:
    """The suite's task entries with a suite-level `limit` (if any) capping every task's."""
    cap = suite.get("limit")
    out = []
    for entry in suite["tasks"]:
        e = dict(entry)
        if cap is not None:
            e["limit"] = int(cap) if e.get("limit") is None else min(int(cap), int(e["limit"]))
        out.append(e)
    return out


def _load_task(tm, name: str, lm, shots: int | None):
    """The lm-eval task object, with DCLM's shots unless the suite overrides them, and for
    generation tasks llm-foundry's generation budget for this tokenizer."""
    task = tm.load([name])["tasks"][name]
    t = spec(name)
    shots = t.shots if shots is None else int(shots)
    task.set_config(key="num_fewshot", value=shots)
    if t.kind == "generation":
        # llm-foundry measures the raw (unstripped) rows of the whole file, special tokens included
        with open(data_root() / "eval" / t.file, encoding="utf-8") as f:
            raw = [json.loads(line) for line in f if line.strip()]
        budget = max_new_tokens(raw, lambda text: lm.tok.encode(text, add_special_tokens=True).ids,
                                t.cot_delimiter)
        task.set_config(key="generation_kwargs", value={"max_gen_toks": int(budget)}, update=True)
    return task, shots


def cut_to_rows(task, rows: Sequence[int]) -> None:
    """Make `rows` (row numbers of the task's file) the task's eval docs, in place.

    lm-eval's own `samples=` selection walks every doc of the task and tests membership in a
    list for each (seconds per call on the larger files); cutting the split first costs
    nothing. The few-shot sampler was built from the whole file when the task loaded and keeps
    it, and it draws demos by the doc's `_row`, so prompts are unchanged. A fresh DatasetDict
    is set because the loaded one is shared through utils._load's cache.
    """
    import datasets

    split = task.config.test_split
    full = task.dataset[split]
    task.dataset = datasets.DatasetDict({**task.dataset, split: full.select(list(rows))})
    task.task_docs = task.eval_docs


def run_tasks(lm, tm, entries: Sequence[dict], *, seed: int, progress: bool = False) -> tuple[dict, dict]:
    """Run suite entries on an lm-eval adapter in one `simple_evaluate` call.

    Returns ({task: {"samples", "results", "version", "num_fewshot", "limit", "docs", "rows",
    "seconds"}}, {task: why its data is missing}). Each task's eval split is first cut to its
    fixed seeded subsample (`cut_to_rows`); the logged samples' `doc_id` is mapped back to the
    row number of the task's file. One call for the whole suite: lm-eval's fixed per-call work
    (environment report, result assembly) is paid once. "seconds" is the call's time shared
    out by request count.
    """
    import lm_eval

    tasks, rows, meta, missing = [], {}, {}, {}
    for entry in entries:
        name = entry["task"]
        try:
            task, shots = _load_task(tm, name, lm, entry.get("num_fewshot"))
        except FileNotFoundError as e:
            missing[name] = str(e)
            _say(progress, f"{name}: skipped, data missing ({e})")
            continue
        n_docs = len(task.eval_docs)
        rows[name] = subsample(n_docs, entry.get("limit"), seed, name)
        cut_to_rows(task, rows[name])
        meta[name] = {"num_fewshot": shots, "limit": entry.get("limit"), "docs": n_docs}
        tasks.append(task)
        _say(progress, f"{name}: {len(rows[name])} of {n_docs} docs, {shots}-shot")
    if not tasks:
        return {}, missing
    t0 = time.perf_counter()
    res = lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=tm,
        log_samples=True,
        bootstrap_iters=0,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    seconds = time.perf_counter() - t0
    n_req = {name: sum(len(s["arguments"]) for s in res["samples"][name]) for name in rows}
    total_req = sum(n_req.values()) or 1
    out = {}
    for name, task_rows in rows.items():
        samples = res["samples"][name]
        for s in samples:
            row = task_rows[s["doc_id"]]
            if int(s["doc"][ROW]) != row:
                raise AssertionError(f"{name}: doc {s['doc_id']} is file row {s['doc'][ROW]}, expected {row}")
            s["doc_id"] = row
        out[name] = {
            **meta[name],
            "samples": samples,
            "results": res["results"][name],
            "version": res.get("versions", {}).get(name),
            "rows": task_rows,
            "seconds": seconds * n_req[name] / total_req,
        }
    return out, missing


def evaluate(
    *,
    model_dir: Path,
    suite: dict,
    out_dir: Path,
    tokenizer_file: Path | None = None,
    seq_len: int | None = None,
    heldout_texts: list[str] | None = None,
    train_tokens: Path | None = None,
    suite_seed: int = DEFAULT_SUITE_SEED,
    run_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate the model at `model_dir` (any path `winnow.eval.model_io` understands) on
    `suite`; write results; return them plus "stats".

    `suite_seed` is used only when the suite does not fix one (a suite's seed is part of its
    definition: it fixes the subsample and the few-shot draws for every run). `run_dir`: the
    winnow run the model belongs to, when the caller knows it (``winnow.eval.model_io``). Tasks whose data
    is missing are skipped and listed under "missing" with the reason; aggregates that need
    them are reported as missing (see winnow.eval.scoring.aggregate).
    """
    from winnow.eval.heldout import heldout_bpb, unigram_bpb  # torch, lm_eval
    from winnow.eval.lm import WinnowLM, as_tokenizer  # torch, lm_eval

    t_start = time.perf_counter()
    suite = plain_suite(suite)
    validate_suite(suite)
    if train_tokens is not None and heldout_texts is None:
        raise ValueError("train_tokens needs heldout_texts: the unigram is scored on the held-out tokens")
    suite_seed = int(suite.get("seed", suite_seed))
    out_dir = Path(out_dir)
    stats: dict[str, Any] = {"seconds": {}, "requests": {}}

    t0 = time.perf_counter()
    loaded = load_for_eval(model_dir, tokenizer=tokenizer_file, seq_len=seq_len, run_dir=run_dir)
    model, seq_len = loaded.model, loaded.seq_len
    tokenizer = as_tokenizer(loaded.tokenizer)
    lm = WinnowLM(model, loaded.tokenizer, max_length=seq_len, progress=progress)
    with _quiet_lm_eval():
        tm = task_manager()
    validate_suite(suite, known_tasks=sorted(tm.all_tasks))
    stats["seconds"]["load"] = time.perf_counter() - t0

    with _quiet_lm_eval():
        runs, missing = run_tasks(lm, tm, suite_entries(suite), seed=suite_seed, progress=progress)
    stats["seconds"]["tasks"] = sum(r["seconds"] for r in runs.values())
    per_task: dict[str, dict] = {}
    task_meta: list[dict] = []
    for name, run in runs.items():
        samples = run["samples"]
        values, items = score_task(samples, lm.records, kind=spec(name).kind)
        values = {
            "num_fewshot": run["num_fewshot"],
            **values,
            "lm_eval": _lm_eval_metrics(run["results"]),
            "task_version": run["version"],
        }
        per_task[name] = values
        task_meta.append({"task": name, "num_fewshot": run["num_fewshot"], "limit": run["limit"], "docs": run["docs"]})
        with atomic_open(out_dir / SAMPLES_DIR / f"{name}.jsonl") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        stats["requests"][name] = sum(len(s["arguments"]) for s in samples)
        stats["seconds"][name] = run["seconds"]  # the call's time shared out by request count
        extra = "" if values["prob"] is None else f" prob {values['prob']:+.4f} bpb {values['bpb']:.4f}"
        _say(progress, f"{name}: acc {values['acc']:.4f} ± {values['acc_stderr']:.4f}{extra}")

    contamination = None
    if train_tokens is not None:
        t0 = time.perf_counter()
        items = {name: contam.task_items(run["samples"], spec(name).kind, contam.tokenizer_batch(tokenizer))
                 for name, run in runs.items()}
        contamination = contam.measure_suite(items, Path(train_tokens), out_dir)
        stats["seconds"]["contamination"] = time.perf_counter() - t0
        _say(progress, "contamination: " + contam.format_summary(contamination))

    heldout = None
    if heldout_texts is not None or train_tokens is not None:
        t0 = time.perf_counter()
        max_tokens = int(suite.get("heldout_tokens", 50_000))
        heldout = {
            "seq_len": seq_len,
            "max_tokens": max_tokens,
            "model": heldout_bpb(model, tokenizer, heldout_texts, seq_len, max_tokens, eos_id=lm.eos_id),
        }
        if train_tokens is not None:
            heldout["unigram"] = unigram_bpb(
                train_tokens, tokenizer.get_vocab_size(with_added_tokens=True), tokenizer,
                heldout_texts, seq_len, max_tokens,
            )
        stats["seconds"]["heldout"] = time.perf_counter() - t0
        _say(progress, f"held-out bpb {heldout['model']['bits_per_byte']:.4f}"
             + (f" (unigram {heldout['unigram']['bits_per_byte']:.4f})" if "unigram" in heldout else ""))

    results = {
        "schema": RESULTS_SCHEMA,
        "suite": {
            "name": suite["name"],
            "version": suite["version"],
            "seed": suite_seed,
            "seq_len": seq_len,
            "tasks": task_meta,
        },
        "tasks": per_task,
        "missing": missing,
        "aggregates": aggregate(per_task),
        "aggregates_stderr": aggregate_stderr(per_task),
        "aggregates_missing": missing_tasks(per_task),
        "heldout": heldout,
    }
    if contamination is not None:  # absent, not null, where no training tokens were given
        results["contamination"] = contamination
    write_json(out_dir / RESULTS_FILE, results)
    stats["seconds"]["total"] = time.perf_counter() - t_start
    stats["model"] = loaded.source
    _say(progress, "aggregates " + format_aggregates(results["aggregates"])
         + f" ({stats['seconds']['total']:.1f}s)")
    return {**results, "stats": stats}


def format_aggregates(aggs: dict) -> str:
    """One line of aggregates; missing ones show what they lack."""
    parts = []
    for k, v in aggs.items():
        if isinstance(v, (int, float)):
            parts.append(f"{k} {v:+.4f}")
        elif isinstance(v, dict) and isinstance(v.get("value"), (int, float)):
            parts.append(f"{k} {v['value']:+.4f}")
    return ", ".join(parts)
