"""DCLM's aggregates (CORE, EXTENDED, MMLU, category means), computed exactly as DCLM computes them.

The task facts come from winnow's versioned table ``eval/dclm_tasks.json`` (DCLM's 53 tasks in
suite order: category, ICL type, shots, random baselines v1/v2, CORE membership, subsets). Every
function here is pure: it maps ``{dclm task name -> accuracy in [0, 1]}`` (names without winnow's
``dclm_`` prefix) to aggregate values, iterating tasks in sorted order and summing with
``math.fsum`` so the result does not depend on the input's order.

DCLM's definitions (mlfoundations/dclm ``eval/aggregated_metrics.py``), with b the task's random
baseline in percent:

- centered accuracy = (acc - 0.01 b) / (1 - 0.01 b);
- Core = mean centered accuracy over the 22 CORE tasks (``low_variance_datasets``);
- Extended = mean centered accuracy over all 53 tasks;
- category mean = mean centered accuracy over the tasks of one "Task Category";
- "MMLU" = the raw accuracy of ``mmlu_fewshot``.

DCLM writes "N/A due to missing tasks: [...]" for a Core or Extended with a task missing, and
takes its category means over whatever tasks are present (pandas skips NaN). Here every
aggregate has a strict form, ``{"value": None, "n": ..., "missing": [...]}`` unless every task is
present, and a ``<name>_partial`` form computed over the present tasks,
``{"value": ..., "n": ..., "omitted": [...]}`` (DCLM's category means are the partial ones).

Aggregate names carry the baseline version (``core_v1`` uses v1 baselines, ``core_v2`` v2);
``AGGREGATES_VERSION`` versions the definitions themselves. ``core_prob_v1`` is winnow's own:
the mean over the CORE tasks present of a per-task continuous centered value (``prob`` of
``winnow.eval.scoring``), the ranking metric meant for CPU scales where accuracies sit at chance.

``core_gold_bpb_v1`` and ``core_gold_bpb_pooled_v1`` are winnow's too: the bits per byte of the
gold continuations (``bpb`` of ``winnow.eval.scoring``), over the CORE tasks whose gold
continuations are text (``gold_text_tasks``: CORE without the six whose gold is a choice letter,
a yes/no, a number or closing brackets, ``GOLD_TEXT_EXCLUDED``, whose gold continuations average
2-4 bytes), as the mean of the per-task values and byte-pooled (all gold bits over all gold
bytes). Lower is better. ``core_gold_bpb_v2`` / ``core_gold_bpb_pooled_v2`` apply the same rule
without v1's omission: bigbench_cs_algorithms, whose gold is "Valid", "Invalid" or one digit (12
distinct answers over 1,320 items), is a label task too (``GOLD_TEXT_EXCLUDED_BY_VERSION``).
They are the continuous likelihood of the tasks' gold text that DataDecide and "Signal and Noise" found predictive at small scale (studies/noise/README.md).
Like ``core_prob_v1`` they are taken over the tasks present (suites with fewer tasks compare
only within themselves).

Targeted submissions (a recipe with ``targets:``, e.g. DsDm-style selection toward LAMBADA and
SQuAD) are also ranked over CORE *minus* their target tasks, the *untargeted* CORE tasks:
``untargeted_aggregates(acc, prob, targets)`` gives ``core_heldout_v1``/``core_heldout_v2`` (strict, centered accuracy with v1/v2
baselines), their ``_partial`` forms and ``core_heldout_prob_v1`` (the ``core_prob_v1``
analogue), each also reporting ``excluded`` (the CORE tasks left out) and ``targets``. For an
untargeted submission they equal ``core_v1``, ``core_v2`` and ``core_prob_v1``. (The names say
"heldout", as rows have recorded them since schema 2; in code "held-out" means only the pool's
held-out sample, ``winnow.eval.heldout``.)

``winnow.eval.dclm_database.check_dclm_database(path)`` recomputes Core and Extended (v1) for the
rows of DCLM's published model database from these definitions and reports which reproduce.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from winnow.paths import REPO_ROOT

AGGREGATES_VERSION = 1
DCLM_TASKS_FILE = REPO_ROOT / "eval" / "dclm_tasks.json"
TABLE_SCHEMA = 1
BASELINE_VERSIONS = ("v1", "v2")
ICL_TYPES = ("multiple_choice", "schema", "language_modeling", "generation")
# Part of the aggregate names below, so fixed here; the table loader checks the table agrees.
CATEGORIES = (
    "commonsense reasoning",
    "language understanding",
    "reading comprehension",
    "safety",
    "symbolic problem solving",
    "world knowledge",
)
CORE_SUBSET = "low_variance_datasets"
MMLU_TASK = "mmlu_fewshot"


class TaskTableError(ValueError):
    """eval/dclm_tasks.json (or a table passed in its place) is malformed."""


class UnknownTaskError(KeyError):
    """A task name that is not one of DCLM's 53 tasks."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------------------------- table


@dataclass(frozen=True)
class DclmTask:
    name: str
    category: str
    icl_type: str
    shots: int
    baseline_pct: Mapping[str, float]
    core: bool
    macro_avg_over_categories: bool

    def baseline(self, version: str) -> float:
        """The random baseline as a fraction, computed as DCLM does (0.01 * percent)."""
        if version not in self.baseline_pct:
            raise KeyError(f"no random baseline version {version!r} for task {self.name}; "
                           f"versions: {sorted(self.baseline_pct)}")
        return 0.01 * float(self.baseline_pct[version])


@dataclass(frozen=True)
class TaskTable:
    version: int
    tasks: tuple[DclmTask, ...]
    subsets: Mapping[str, tuple[str, ...]]
    path: str = ""
    _by_name: Mapping[str, DclmTask] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tasks})

    @property
    def names(self) -> tuple[str, ...]:
        """All task names, in DCLM's suite order."""
        return tuple(t.name for t in self.tasks)

    @property
    def core(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks if t.core)

    def by_category(self, category: str) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks if t.category == category)

    def task(self, name: str) -> DclmTask:
        if name not in self._by_name:
            raise UnknownTaskError(_unknown_message([name], self))
        return self._by_name[name]

    def baselines(self, version: str) -> dict[str, float]:
        """{task: random baseline as a fraction} for baseline `version` ("v1" or "v2")."""
        if version not in BASELINE_VERSIONS:
            raise KeyError(f"unknown random-baseline version {version!r}; expected one of {BASELINE_VERSIONS}")
        return {t.name: t.baseline(version) for t in self.tasks}


def _unknown_message(names: Iterable[str], table: TaskTable) -> str:
    return (f"not DCLM task name(s): {sorted(names)}. Known tasks are the {len(table.tasks)} of "
            f"{table.path or 'the task table'} (names without winnow's 'dclm_' prefix, e.g. 'arc_easy').")


def _parse_table(raw: Mapping, where: str) -> TaskTable:
    def bad(msg: str) -> TaskTableError:
        return TaskTableError(f"{where}: {msg}")

    if raw.get("schema") != TABLE_SCHEMA:
        raise bad(f"schema {raw.get('schema')!r}, expected {TABLE_SCHEMA}")
    tasks = []
    for i, t in enumerate(raw.get("tasks") or []):
        try:
            task = DclmTask(
                name=str(t["name"]),
                category=str(t["category"]),
                icl_type=str(t["icl_type"]),
                shots=int(t["shots"]),
                baseline_pct={v: float(t["random_baseline_pct"][v]) for v in BASELINE_VERSIONS},
                core=bool(t["core"]),
                macro_avg_over_categories=bool(t["macro_avg_over_categories"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise bad(f"task #{i} is missing or has a malformed field ({e!r})") from None
        if task.icl_type not in ICL_TYPES:
            raise bad(f"task {task.name}: icl_type {task.icl_type!r} is not one of {ICL_TYPES}")
        if task.category not in CATEGORIES:
            raise bad(f"task {task.name}: category {task.category!r} is not one of {CATEGORIES}")
        for v, pct in task.baseline_pct.items():
            if not 0.0 <= pct < 100.0:
                raise bad(f"task {task.name}: random baseline {v} = {pct} % is outside [0, 100)")
        tasks.append(task)
    if not tasks:
        raise bad("no tasks")
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise bad(f"duplicate task names {dupes}")
    subsets = {str(k): tuple(v) for k, v in (raw.get("subsets") or {}).items()}
    if CORE_SUBSET not in subsets:
        raise bad(f"no subset {CORE_SUBSET!r} (DCLM's CORE)")
    core = [t.name for t in tasks if t.core]
    if sorted(core) != sorted(subsets[CORE_SUBSET]):
        raise bad(f"tasks marked core {sorted(core)} differ from subset {CORE_SUBSET} {sorted(subsets[CORE_SUBSET])}")
    return TaskTable(version=int(raw.get("version", 0)), tasks=tuple(tasks), subsets=subsets, path=where)


@lru_cache(maxsize=4)
def _load_table(path: str) -> TaskTable:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise TaskTableError(f"DCLM task table not found at {path} (it is part of the checkout: eval/dclm_tasks.json)") from None
    except json.JSONDecodeError as e:
        raise TaskTableError(f"{path}: not valid JSON ({e})") from None
    return _parse_table(raw, path)


def load_task_table(path: Path | str | None = None) -> TaskTable:
    """winnow's table of DCLM's 53 tasks (default eval/dclm_tasks.json), cached per path."""
    return _load_table(str(path or DCLM_TASKS_FILE))


# ------------------------------------------------------------------------------ aggregates


def centered(acc: float, baseline: float) -> float:
    """(acc - b) / (1 - b) for an accuracy and a random baseline, both fractions."""
    return (acc - baseline) / (1.0 - baseline)


def _check_values(values: Mapping[str, float], what: str, table: TaskTable, unit_interval: bool) -> dict[str, float]:
    known = set(table.names)
    unknown = [t for t in values if t not in known]
    if unknown:
        raise UnknownTaskError(_unknown_message(unknown, table))
    out = {}
    for t in sorted(values):
        try:
            v = float(values[t])
        except (TypeError, ValueError):
            raise ValueError(f"{what} of task {t} is {values[t]!r}, not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"{what} of task {t} is {v}; pass only tasks that were evaluated")
        if unit_interval and not 0.0 <= v <= 1.0:
            raise ValueError(f"{what} of task {t} is {v}, outside [0, 1] (accuracies are fractions, not percent)")
        out[t] = v
    return out


def centered_accuracies(acc: Mapping[str, float], version: str = "v2",
                        table: TaskTable | None = None) -> dict[str, float]:
    """{task: centered accuracy} with the `version` random baselines, in sorted task order."""
    table = table or load_task_table()
    b = table.baselines(version)
    values = _check_values(acc, "accuracy", table, unit_interval=True)
    return {t: centered(v, b[t]) for t, v in values.items()}


def fsum_mean(xs: Sequence[float]) -> float:
    """The mean of ``xs``, summed with math.fsum (DCLM's aggregates, order-independent)."""
    return math.fsum(xs) / len(xs)


def strict_mean(values: Mapping[str, float], tasks: Iterable[str]) -> dict:
    """{"value", "n", "missing"}: the mean over `tasks` if all are in `values`, else value None."""
    tasks = sorted(tasks)
    missing = [t for t in tasks if t not in values]
    value = None if missing or not tasks else fsum_mean([values[t] for t in tasks])
    return {"value": value, "n": len(tasks), "missing": missing}


def partial_mean(values: Mapping[str, float], tasks: Iterable[str]) -> dict:
    """{"value", "n", "omitted"}: the mean over the `tasks` present (None if none is)."""
    tasks = sorted(tasks)
    present = [t for t in tasks if t in values]
    value = fsum_mean([values[t] for t in present]) if present else None
    return {"value": value, "n": len(present), "omitted": [t for t in tasks if t not in values]}


def category_slug(category: str) -> str:
    return category.replace(" ", "_")


def aggregate_names() -> tuple[str, ...]:
    """Every name `dclm_aggregates` returns, in its output order."""
    names = [f"{kind}_{v}" for kind in ("core", "extended") for v in BASELINE_VERSIONS]
    names += ["mmlu", "core_prob_v1"]
    names += [f"category_{category_slug(c)}_{v}" for c in CATEGORIES for v in BASELINE_VERSIONS]
    partial = [f"{n}_partial" for n in names if n not in ("mmlu", "core_prob_v1")]
    return tuple(names + partial)


# The scalar subset winnow.eval.scoring.aggregate puts into results.json and leaderboard rows:
# Core/Extended (strict and partial), MMLU, core_prob_v1 and the category means as DCLM takes
# them (over the tasks present, i.e. the partial ones).
FLAT_AGGREGATES = (
    "core_prob_v1",
    *(f"{kind}_{v}{p}" for p in ("", "_partial") for kind in ("core", "extended") for v in BASELINE_VERSIONS),
    "mmlu",
    *(f"category_{category_slug(c)}_{v}_partial" for v in BASELINE_VERSIONS for c in CATEGORIES),
)


def dclm_aggregates(acc: Mapping[str, float], prob: Mapping[str, float] | None = None,
                    table: TaskTable | None = None) -> dict[str, dict]:
    """Every DCLM aggregate (see module docstring) of per-task accuracies; names in `aggregate_names()` order.

    `acc`: {DCLM task name: accuracy in [0, 1]} for the tasks evaluated. `prob`: optional
    {task: continuous centered value} for `core_prob_v1` (mean over the CORE tasks present).
    Strict aggregates are {"value", "n", "missing"}; `_partial` ones {"value", "n", "omitted"}.
    """
    table = table or load_task_table()
    cats = sorted({t.category for t in table.tasks})
    if cats != sorted(CATEGORIES):
        raise TaskTableError(f"{table.path}: categories {cats} differ from the ones aggregate names are built from {list(CATEGORIES)}")
    values = _check_values(acc, "accuracy", table, unit_interval=True)
    probs = _check_values(prob or {}, "prob", table, unit_interval=False)
    cen = {v: {t: centered(a, table.task(t).baseline(v)) for t, a in values.items()} for v in BASELINE_VERSIONS}
    groups: dict[str, tuple[Mapping[str, float], Sequence[str]]] = {}
    for v in BASELINE_VERSIONS:
        groups[f"core_{v}"] = (cen[v], table.core)
        groups[f"extended_{v}"] = (cen[v], table.names)
    groups["mmlu"] = (values, (MMLU_TASK,))
    for c in CATEGORIES:
        for v in BASELINE_VERSIONS:
            groups[f"category_{category_slug(c)}_{v}"] = (cen[v], table.by_category(c))
    out: dict[str, dict] = {}
    for name in aggregate_names():
        if name == "core_prob_v1":
            out[name] = partial_mean(probs, table.core)
        elif name.endswith("_partial"):
            out[name] = partial_mean(*groups[name[: -len("_partial")]])
        else:
            out[name] = strict_mean(*groups[name])
    return out


def flat_values(aggs: Mapping[str, Mapping], names: Sequence[str] = FLAT_AGGREGATES) -> dict[str, float | None]:
    """{name: value} for `names` from `dclm_aggregates` output (the scalars rows and results keep)."""
    return {n: aggs[n]["value"] for n in names}


UNTARGETED_AGGREGATES = ("core_heldout_prob_v1", "core_heldout_v1", "core_heldout_v2",
                      "core_heldout_v1_partial", "core_heldout_v2_partial")
# CORE tasks whose gold continuation is a choice letter (commonsense_qa, language_identification,
# lsat_ar), a yes/no (boolq), a number (operators) or closing brackets (dyck): 2-4 bytes of gold
# per item, whose bpb measures the answer format more than the text (tiny-1x v2 rows: per-task
# SNR 0.8-1.6 against 2.0-3.6 for most gold-text tasks; studies/noise/README.md §1).
GOLD_TEXT_EXCLUDED = ("agi_eval_lsat_ar", "bigbench_dyck_languages", "bigbench_language_identification",
                      "bigbench_operators", "boolq", "commonsense_qa")
# v2 (2026-12-06): bigbench_cs_algorithms joins them. Its gold is "Valid"/"Invalid" or a single
# digit (5.7 bytes an item), so it fits v1's own rule; v1 missed it. The data agree: on the
# tiny-1x v2 rows (16 baselines, made before this choice) its per-task SNR is 1.00, the lowest of
# v1's gold-text tasks and inside the excluded tasks' 0.78-1.57. On the first tiny-1x v3 rows it
# alone moves random's core_gold_bpb_v1 by 0.029 between seeds (studies/noise/README.md).
GOLD_TEXT_EXCLUDED_BY_VERSION = {1: GOLD_TEXT_EXCLUDED, 2: (*GOLD_TEXT_EXCLUDED, "bigbench_cs_algorithms")}
GOLD_BPB_AGGREGATES = ("core_gold_bpb_v1", "core_gold_bpb_pooled_v1", "core_gold_bpb_v2", "core_gold_bpb_pooled_v2")
UNTARGETED_GOLD_BPB_AGGREGATES = ("core_heldout_gold_bpb_v1", "core_heldout_gold_bpb_pooled_v1",
                                  "core_heldout_gold_bpb_v2", "core_heldout_gold_bpb_pooled_v2")


def gold_text_tasks(table: TaskTable | None = None, version: int = 1) -> list[str]:
    """The CORE tasks whose gold continuations are text (CORE minus the excluded label tasks of
    ``version``, ``GOLD_TEXT_EXCLUDED_BY_VERSION``)."""
    table = table or load_task_table()
    excluded = GOLD_TEXT_EXCLUDED_BY_VERSION[version]
    return [t for t in table.core if t not in excluded]


def gold_bpb_aggregates(bpb: Mapping[str, float], gold_bytes: Mapping[str, float],
                        tasks: Sequence[str] | None = None) -> dict[str, float | None]:
    """``core_gold_bpb_v<n>`` (mean of the per-task gold bpb) and ``core_gold_bpb_pooled_v<n>``
    (gold bits over gold bytes) for each version n of ``GOLD_TEXT_EXCLUDED_BY_VERSION``, over its
    gold-text tasks present in ``bpb`` (and, when ``tasks`` is given, among ``tasks``: a targeted
    submission's untargeted ones); None when none is. ``bpb`` and ``gold_bytes`` map DCLM task
    names to the per-task values; tasks are taken in sorted order and summed with fsum."""
    out: dict[str, float | None] = {}
    for v in GOLD_TEXT_EXCLUDED_BY_VERSION:
        text = set(gold_text_tasks(version=v))
        chosen = sorted(text if tasks is None else text & set(tasks))
        present = [t for t in chosen if t in bpb and bpb[t] is not None and math.isfinite(float(bpb[t]))]
        if not present:
            out[f"core_gold_bpb_v{v}"] = out[f"core_gold_bpb_pooled_v{v}"] = None
            continue
        nbytes = math.fsum(float(gold_bytes[t]) for t in present)
        out[f"core_gold_bpb_v{v}"] = math.fsum(float(bpb[t]) for t in present) / len(present)
        out[f"core_gold_bpb_pooled_v{v}"] = (math.fsum(float(bpb[t]) * float(gold_bytes[t]) for t in present) / nbytes
                                            if nbytes else None)
    return out


TARGET_PREFIX = "dclm_"


def untargeted_tasks(targets: Iterable[str], table: TaskTable | None = None) -> tuple[list[str], list[str]]:
    """(CORE tasks kept, CORE tasks excluded) for a submission targeting ``targets``.

    ``targets`` are task names with or without winnow's ``dclm_`` prefix; a name that is not a
    DCLM task raises UnknownTaskError; targets outside CORE exclude nothing.
    """
    table = table or load_task_table()
    names = [t[len(TARGET_PREFIX):] if t.startswith(TARGET_PREFIX) else t for t in targets]
    unknown = [t for t in names if t not in set(table.names)]
    if unknown:
        raise UnknownTaskError(_unknown_message(unknown, table))
    excluded = sorted(set(names) & set(table.core))
    kept = sorted(t for t in table.core if t not in excluded)
    return kept, excluded


def untargeted_aggregates(acc: Mapping[str, float], prob: Mapping[str, float] | None,
                       targets: Iterable[str], table: TaskTable | None = None) -> dict[str, dict]:
    """CORE aggregates over the CORE tasks a targeted submission did not target.

    Same inputs as `dclm_aggregates` plus the recipe's `targets`. Returns the names of
    `UNTARGETED_AGGREGATES`, each {"value", "n", "missing" | "omitted", "excluded", "targets"};
    `excluded` lists the CORE tasks left out (the targets that are in CORE). A recipe without
    targets gets core_v1/core_v2/core_prob_v1's values.
    """
    table = table or load_task_table()
    targets = sorted(targets)
    kept, excluded = untargeted_tasks(targets, table)
    if not kept:
        raise ValueError(f"targets {targets} cover every CORE task; no held-out CORE remains")
    values = _check_values(acc, "accuracy", table, unit_interval=True)
    probs = _check_values(prob or {}, "prob", table, unit_interval=False)
    out: dict[str, dict] = {"core_heldout_prob_v1": partial_mean(probs, kept)}
    for v in BASELINE_VERSIONS:
        cen = {t: centered(a, table.task(t).baseline(v)) for t, a in values.items()}
        out[f"core_heldout_{v}"] = strict_mean(cen, kept)
        out[f"core_heldout_{v}_partial"] = partial_mean(cen, kept)
    for agg in out.values():
        agg["excluded"] = list(excluded)
        agg["targets"] = list(targets)
    return {n: out[n] for n in UNTARGETED_AGGREGATES}
