"""What `winnow eval` prints: the task catalogue (`--list`) and a results summary.

The catalogue joins the three tables that describe DCLM's suite: the prompt settings
(`winnow.eval.taskgen.TASKS`), the task facts (eval/dclm_tasks.json: category, random baselines)
and the data files with their status here (eval/data_files.json via `winnow.eval.data`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from winnow.eval.aggregates import load_task_table
from winnow.eval.data import EvalDataError, files_for_task, task_data_status
from winnow.eval.taskgen import TASKS


def catalog_rows() -> list[dict]:
    """One row per DCLM task, in suite order, with the status of its data on this machine."""
    category = {t.name: t.category for t in load_task_table().tasks}
    rows = []
    for t in TASKS:
        try:
            status = task_data_status(files_for_task(t.name))
        except EvalDataError as e:  # a task the data table does not know: say so, do not hide it
            status = f"unknown ({e})"
        rows.append({
            "task": t.lm_eval_name,
            "category": category.get(t.name, "?"),
            "kind": t.kind,
            "shots": t.shots,
            "core": t.core,
            "file": t.file,
            "status": status,
        })
    return rows


def format_catalog() -> str:
    rows = catalog_rows()
    w = max(len(r["task"]) for r in rows)
    lines = [f"{'task':<{w}}  {'category':<24} {'kind':<17} shots core  {'data':<13} file"]
    for r in rows:
        lines.append(
            f"{r['task']:<{w}}  {r['category']:<24} {r['kind']:<17} {r['shots']:>5} "
            f"{'yes' if r['core'] else '':<4}  {r['status']:<13} {r['file']}"
        )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines.append(f"{len(rows)} tasks: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("missing"):
        lines.append("missing data: `winnow data pull` downloads and verifies it (needs internet)")
    return "\n".join(lines)


def _num(v: Any, fmt: str = "{:.4f}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


def format_results(res: Mapping[str, Any]) -> str:
    """Per-task accuracy and continuous metric with standard errors, then the aggregates."""
    tasks = res["tasks"]
    lines = []
    if tasks:
        w = max(len(t) for t in tasks)
        lines.append(f"{'task':<{w}}  shots     n  {'acc ± se':<17} {'prob ± se':<18} bpb")
        for name, v in tasks.items():
            acc = f"{_num(v['acc'])} ± {_num(v['acc_stderr'])}"
            prob = "-" if v.get("prob") is None else f"{v['prob']:+.4f} ± {_num(v['prob_stderr'])}"
            lines.append(f"{name:<{w}}  {v['num_fewshot']:>5} {v['n']:>5}  {acc:<17} {prob:<18} {_num(v.get('bpb'))}")
    for name, why in (res.get("missing") or {}).items():
        lines.append(f"{name}: not evaluated ({why.splitlines()[0]})")
    lines.append("aggregates:")
    lacking = res.get("aggregates_missing") or {}
    stderr = res.get("aggregates_stderr") or {}
    for name, v in res["aggregates"].items():
        if v is None and name in lacking:
            miss = lacking[name]
            what = ", ".join(miss) if len(miss) <= 5 else f"{len(miss)} tasks (see aggregates_missing in results.json)"
            lines.append(f"  {name:<34} missing: {what}")
            continue
        if isinstance(v, Mapping):
            if v.get("value") is None:
                lines.append(f"  {name:<34} missing: {', '.join(v.get('missing', []))}")
            else:
                se = f" ± {v['stderr']:.4f}" if v.get("stderr") is not None else ""
                omitted = f"  (omits {', '.join(v['omitted'])})" if v.get("omitted") else ""
                lines.append(f"  {name:<34} {v['value']:+.4f}{se}{omitted}")
        elif v is None:
            lines.append(f"  {name:<34} -")
        else:
            se = f" ± {stderr[name]:.4f}" if stderr.get(name) is not None else ""
            lines.append(f"  {name:<34} {v:+.4f}{se}")
    if res.get("heldout"):
        h = res["heldout"]
        uni = f" (unigram {h['unigram']['bits_per_byte']:.4f})" if h.get("unigram") else ""
        lines.append(f"held-out bits per byte {h['model']['bits_per_byte']:.4f}{uni}")
    return "\n".join(lines)
