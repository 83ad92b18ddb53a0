"""Per-item and per-task scores by llm-foundry's rules, and versioned aggregates.

Inputs are lm-eval's logged samples (`simple_evaluate(..., log_samples=True)["samples"][task]`:
doc, arguments) plus WinnowLM's records (per (context, continuation): sum log-probability,
continuation tokens and bytes, greedy flag). lm-eval's own metrics (its `acc` is an argmax of
summed log-likelihoods) are kept beside ours for reference only.

Item rules (eval/README.md has the reasoning):

- multiple choice / schema: the option with the lowest mean per-token cross-entropy of its
  continuation wins, ties to the first option (llm-foundry 0.9.0). Continuous metric: the
  per-token-normalised probability of the gold option among the k options,
  p = exp(l_c/n_c) / sum_o exp(l_o/n_o), centered as (p - 1/k) / (1 - 1/k).
- language modeling: correct only if greedy decoding reproduces every continuation token;
  continuous metric exp(l/n) (mean per-token probability of the gold continuation; its random
  baseline is 0, so it is its own centered value).
- generation: llm-foundry's exact match of the generated text (winnow.eval.generation); no
  continuous metric and no bits per byte (those values are None).
- every other kind: bits per byte of the gold continuation, pooled over the task:
  -sum l / ln 2 / sum bytes.

Task values: n, acc, acc_stderr, prob (the centered continuous metric), prob_stderr, prob_raw
(uncentered), bpb; stderr = sample standard deviation (ddof=1) / sqrt(n). Tasks split by
category (mmlu, jeopardy, bbq) report the unweighted mean over categories, stderr
sqrt(sum se_c^2) / C. `aggregate_stderr` gives the aggregates' standard errors (tasks taken as
independent) and `missing_tasks` what each strict aggregate lacks.

Aggregates are named and versioned and are a pure function of the per-task values
(`aggregate`), so a leaderboard can recompute them under a later definition:

- prob_mean_v1: mean over the tasks that have one of `prob` (the CPU scales' ranking metric today);
- acc_centered_mean_v1: mean over tasks of (acc - b) / (1 - b), b = DCLM's v2 random baseline
  of the task (eval/dclm_tasks.json);
- DCLM's own aggregates from `winnow.eval.aggregates` (`FLAT_AGGREGATES`: core_prob_v1,
  core_v1/v2, extended_v1/v2, their `_partial` forms, mmlu, category means), None where a task
  they need was not evaluated;
- core_gold_bpb_v1 / core_gold_bpb_pooled_v1 (and the v2 pair, which also leaves out
  bigbench_cs_algorithms): gold-continuation bits per byte over the gold-text CORE tasks present
  (`winnow.eval.aggregates.gold_bpb_aggregates`), lower is better.

Targeted submissions (recipe ``targets:``) add `untargeted_values(per_task, targets)`:
``core_heldout_prob_v1``, ``core_heldout_v1``/``_v2`` (and ``_partial``) over CORE minus the
targets and, per gold-text version asked for, ``core_heldout_gold_bpb_v<n>``/``_pooled_v<n>``, for rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from winnow.eval.aggregates import (BASELINE_VERSIONS, CATEGORIES, FLAT_AGGREGATES, GOLD_BPB_AGGREGATES, MMLU_TASK,
                                    UNTARGETED_AGGREGATES, UNTARGETED_GOLD_BPB_AGGREGATES, category_slug, centered,
                                    dclm_aggregates, flat_values, gold_bpb_aggregates,
                                    load_task_table, untargeted_aggregates, untargeted_tasks)
from winnow.eval.generation import score_generation

MULTIPLE_CHOICE = "multiple_choice"
SCHEMA = "schema"
LANGUAGE_MODELING = "language_modeling"
GENERATION = "generation"
KINDS = (MULTIPLE_CHOICE, SCHEMA, LANGUAGE_MODELING, GENERATION)

AGGREGATES = ("prob_mean_v1", "acc_centered_mean_v1", *FLAT_AGGREGATES, *GOLD_BPB_AGGREGATES)
TASK_PREFIX = "dclm_"


# ------------------------------------------------------------------------------ records


def _rec(r: Any) -> tuple[float, int, int, bool]:
    """(logprob, tokens, bytes, greedy) from an LLRecord or a dict with those keys."""
    if isinstance(r, Mapping):
        return float(r["logprob"]), int(r["tokens"]), int(r["bytes"]), bool(r["greedy"])
    return float(r.logprob), int(r.tokens), int(r.bytes), bool(r.greedy)


# --------------------------------------------------------------------------------- items


def score_choice(options: Sequence[Any], gold: int) -> dict:
    """One multiple-choice or schema item: llm-foundry's prediction and the continuous metric."""
    recs = [_rec(o) for o in options]
    k = len(recs)
    if k < 2:
        raise ValueError("a choice item needs at least two options")
    if not 0 <= gold < k:
        raise ValueError(f"gold index {gold} out of range for {k} options")
    mean_lp = np.array([lp / max(n, 1) for lp, n, _, _ in recs], dtype=np.float64)
    pred = int(np.argmax(mean_lp))  # lowest mean cross-entropy; argmax takes the first of ties
    z = mean_lp - mean_lp.max()
    probs = np.exp(z) / np.exp(z).sum()
    p = float(probs[gold])
    lp_gold, n_gold, bytes_gold, _ = recs[gold]
    return {
        "gold": int(gold),
        "pred": pred,
        "acc": float(pred == gold),
        "prob_raw": p,
        "prob": (p - 1.0 / k) / (1.0 - 1.0 / k),
        "gold_logprob": lp_gold,
        "gold_tokens": n_gold,
        "gold_bytes": bytes_gold,
    }


def score_lm(record: Any) -> dict:
    """One language-modeling item: exact greedy match and exp(mean log-probability)."""
    lp, n, n_bytes, greedy = _rec(record)
    p = math.exp(lp / max(n, 1))
    return {
        "acc": float(greedy),
        "prob_raw": p,
        "prob": p,
        "gold_logprob": lp,
        "gold_tokens": n,
        "gold_bytes": n_bytes,
    }


def infer_kind(doc: Mapping, n_requests: int) -> str:
    """The DCLM ICL type of an item from its llm-foundry record fields."""
    if "context_options" in doc:
        return SCHEMA
    if "choices" in doc:
        return MULTIPLE_CHOICE
    if "answer" in doc and "continuation" not in doc:
        return GENERATION
    if n_requests == 1 and "continuation" in doc:
        return LANGUAGE_MODELING
    raise ValueError(f"cannot tell the task kind of a doc with fields {sorted(doc)}")


def score_generated(sample: Mapping) -> dict:
    """One generation item by llm-foundry's exact-match rule (winnow.eval.generation)."""
    doc = sample["doc"]
    resp = sample.get("resps") or [[""]]
    output = resp[0][0] if isinstance(resp[0], (list, tuple)) else resp[0]
    ok = score_generation(output, doc["_answers"], doc.get("_cot_delimiter", ""), doc.get("_stop", []))
    return {"acc": float(ok), "output": output}


def _args(sample: Mapping) -> list[tuple[str, str]]:
    return [tuple(a) for a in sample["arguments"]]  # type: ignore[misc]


def requests_hash(samples: Sequence[Mapping]) -> str:
    """sha256 of every (context, continuation) of a task, in doc order: catches prompt drift."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        h.update(json.dumps([s["doc_id"], _args(s)], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def score_samples(
    samples: Sequence[Mapping], records: Mapping[tuple[str, str], Any], kind: str | None = None
) -> list[dict]:
    """Per-item scores (doc order) from lm-eval logged samples and (context, continuation) records.

    Items of tasks split by category carry it (`category`, from the doc's `_cat`)."""
    items = []
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        args = _args(s)
        k = kind or infer_kind(s["doc"], len(args))
        cat = {"category": s["doc"]["_cat"]} if s["doc"].get("_cat") else {}
        if k == GENERATION:
            items.append({"doc_id": int(s["doc_id"]), **cat, **score_generated(s)})
            continue
        recs = [records[a] for a in args]
        if k == LANGUAGE_MODELING:
            if len(recs) != 1:
                raise ValueError(f"language-modeling item {s['doc_id']} has {len(recs)} requests")
            item = score_lm(recs[0])
        elif k in (MULTIPLE_CHOICE, SCHEMA):
            item = score_choice(recs, int(s["doc"]["gold"]))
        else:
            raise ValueError(f"unknown task kind {k!r}; expected one of {KINDS}")
        opts = [dict(zip(("logprob", "tokens", "bytes", "greedy"), _rec(r))) for r in recs]
        items.append({"doc_id": int(s["doc_id"]), **cat, **item, "options": opts})
    return items


def _mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std / math.sqrt(arr.size)


def _macro_mean_stderr(items: Sequence[Mapping], key: str) -> tuple[float, float]:
    """Mean and stderr of `key`; for items split by category, the unweighted mean over
    categories (DCLM's number for mmlu, jeopardy, bbq) with stderr sqrt(sum se_c^2) / C."""
    cats = sorted({i.get("category", "") for i in items})
    if cats == [""]:
        return _mean_stderr([i[key] for i in items])
    per = [_mean_stderr([i[key] for i in items if i.get("category", "") == c]) for c in cats]
    means = np.array([m for m, _ in per])
    ses = np.array([se for _, se in per])
    return float(means.mean()), float(math.sqrt(float((ses**2).sum())) / len(per))


def task_values(items: Sequence[Mapping], kind: str) -> dict:
    """Raw per-task values from per-item scores (see module docstring).

    Generation tasks have accuracy only (prob, bpb and token counts are None)."""
    acc, acc_se = _macro_mean_stderr(items, "acc")
    values: dict[str, Any] = {"kind": kind, "n": len(items), "acc": acc, "acc_stderr": acc_se}
    cats = sorted({i["category"] for i in items if i.get("category")})
    if cats:
        values["categories"] = len(cats)
    if kind == GENERATION:
        values.update(prob=None, prob_stderr=None, prob_raw=None, bpb=None, gold_tokens=None, gold_bytes=None)
        return values
    prob, prob_se = _macro_mean_stderr(items, "prob")
    prob_raw, _ = _macro_mean_stderr(items, "prob_raw")
    nats = -sum(i["gold_logprob"] for i in items)
    n_bytes = sum(i["gold_bytes"] for i in items)
    values.update(
        prob=prob,
        prob_stderr=prob_se,
        prob_raw=prob_raw,
        bpb=nats / math.log(2) / n_bytes if n_bytes else float("nan"),
        gold_tokens=int(sum(i["gold_tokens"] for i in items)),
        gold_bytes=int(n_bytes),
    )
    return values


def score_task(
    samples: Sequence[Mapping], records: Mapping[tuple[str, str], Any], kind: str | None = None
) -> tuple[dict, list[dict]]:
    """(per-task raw values, per-item scores) for one task."""
    if not samples:
        raise ValueError("no samples to score")
    first = samples[0]
    kind = kind or infer_kind(first["doc"], len(first["arguments"]))
    items = score_samples(samples, records, kind)
    values = task_values(items, kind)
    values["requests_sha256"] = requests_hash(samples)
    return values, items


# ---------------------------------------------------------------------------- aggregates


def load_random_baselines(version: str = "v2", path: Path | None = None) -> dict[str, float]:
    """DCLM random baselines of `version` as fractions in [0, 1], keyed by DCLM task name.

    Read from eval/dclm_tasks.json (or `path`, a table of the same format).
    """
    table = load_task_table(path)
    if version not in ("v1", "v2"):
        raise KeyError(f"random baselines {version!r} not in {table.path} (it has v1 and v2)")
    return {t.name: t.baseline_pct[version] / 100.0 for t in table.tasks}


def dclm_name(task: str) -> str:
    return task[len(TASK_PREFIX) :] if task.startswith(TASK_PREFIX) else task


def _continuous(per_task: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    return {dclm_name(t): float(per_task[t]["prob"]) for t in sorted(per_task)
            if per_task[t].get("prob") is not None and math.isfinite(float(per_task[t]["prob"]))}


def _gold(per_task: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """({task: gold bpb}, {task: gold bytes}) of the tasks that have them (DCLM names)."""
    have = [t for t in sorted(per_task) if per_task[t].get("bpb") is not None and per_task[t].get("gold_bytes")]
    return ({dclm_name(t): float(per_task[t]["bpb"]) for t in have},
            {dclm_name(t): float(per_task[t]["gold_bytes"]) for t in have})


def _combined_se(ses: Mapping[str, float], tasks: Sequence[str], strict: bool) -> float | None:
    present = [t for t in sorted(tasks) if t in ses]
    if not present or (strict and len(present) != len(set(tasks))):
        return None
    return math.sqrt(math.fsum(ses[t] ** 2 for t in present)) / len(present)


def aggregate_stderr(per_task: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Standard errors of the scalar aggregates, treating tasks as independent: a mean of n
    task values has se = sqrt(sum se_t^2) / n; a centered accuracy's se is se_acc / (1 - b)."""
    table = load_task_table()
    se_acc = {dclm_name(t): float(v["acc_stderr"]) for t, v in sorted(per_task.items())
              if v.get("acc_stderr") is not None}
    se_prob = {dclm_name(t): float(v["prob_stderr"]) for t, v in sorted(per_task.items())
               if v.get("prob_stderr") is not None and v.get("prob") is not None}
    out: dict[str, float | None] = {"prob_mean_v1": _combined_se(se_prob, list(se_prob), False),
                                    "core_prob_v1": _combined_se(se_prob, table.core, False)}
    for v in BASELINE_VERSIONS:
        b = table.baselines(v)
        cen = {t: s / (1.0 - b[t]) for t, s in se_acc.items()}
        if v == "v2":
            out["acc_centered_mean_v1"] = _combined_se(cen, list(cen), False)
        for kind, tasks in (("core", table.core), ("extended", table.names)):
            out[f"{kind}_{v}"] = _combined_se(cen, tasks, True)
            out[f"{kind}_{v}_partial"] = _combined_se(cen, tasks, False)
        for c in CATEGORIES:
            out[f"category_{category_slug(c)}_{v}_partial"] = _combined_se(cen, table.by_category(c), False)
    out["mmlu"] = se_acc.get(MMLU_TASK)
    return out


def missing_tasks(per_task: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """For each strict DCLM aggregate that `aggregate` reports as None: the tasks it lacks."""
    acc = {dclm_name(t): float(per_task[t]["acc"]) for t in sorted(per_task)}
    full = dclm_aggregates(acc, _continuous(per_task))
    return {name: list(v["missing"]) for name, v in full.items() if v.get("value") is None and v.get("missing")}


def aggregate(per_task: Mapping[str, Mapping[str, Any]], baselines: Mapping[str, float] | None = None) -> dict:
    """Named, versioned aggregates from per-task raw values (pure; tasks in sorted order).

    `baselines` maps DCLM task names (without `dclm_`) to fractions for acc_centered_mean_v1;
    default: v2 of eval/dclm_tasks.json. DCLM's aggregates always use the table's baselines.
    An empty `per_task` gives None for every aggregate.
    """
    if not per_task:
        return {name: None for name in AGGREGATES}
    b = baselines if baselines is not None else load_random_baselines("v2")
    names = sorted(per_task)
    missing = [t for t in names if dclm_name(t) not in b]
    if missing:
        raise KeyError(f"no random baseline for {missing}")
    cen = [centered(float(per_task[t]["acc"]), float(b[dclm_name(t)])) for t in names]
    acc = {dclm_name(t): float(per_task[t]["acc"]) for t in names}
    prob = _continuous(per_task)
    return {
        # generation tasks have no continuous value; prob_mean_v1 averages the tasks that do
        "prob_mean_v1": float(np.mean(list(prob.values()))) if prob else None,
        "acc_centered_mean_v1": float(np.mean(cen)),
        **flat_values(dclm_aggregates(acc, prob)),
        **gold_bpb_aggregates(*_gold(per_task)),
    }


def untargeted_values(per_task: Mapping[str, Mapping[str, Any]], targets: Sequence[str],
                      gold_versions: Sequence[int] = (1, 2)) -> dict[str, float | None]:
    """{name: value} of `UNTARGETED_AGGREGATES` (CORE over the tasks a targeted submission did not
    target, `untargeted_aggregates`) and of the `UNTARGETED_GOLD_BPB_AGGREGATES` of each gold-text
    version in ``gold_versions`` (the gold-bpb aggregates over the untargeted gold-text tasks; row
    schemas 4-5 carry version 1, schema 6 on both). `per_task` as for `aggregate` (keys
    `dclm_<task>` or bare names); `targets` the recipe's `targets:` list. Pure, like `aggregate`."""
    acc = {dclm_name(t): float(per_task[t]["acc"]) for t in sorted(per_task)}
    names = [dclm_name(t) for t in targets]
    full = untargeted_aggregates(acc, _continuous(per_task), names)
    out: dict[str, float | None] = {n: full[n]["value"] for n in UNTARGETED_AGGREGATES}
    if gold_versions:
        kept, _ = untargeted_tasks(names)
        vals = gold_bpb_aggregates(*_gold(per_task), kept)
        out.update((held, vals[n]) for held, n in zip(UNTARGETED_GOLD_BPB_AGGREGATES, GOLD_BPB_AGGREGATES)
                   if int(n.rsplit("_v", 1)[1]) in gold_versions)
    return out
