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
bytes). Lower is better. They are the continuous likelihood of the tasks' gold text that
DataDecide and "Signal and Noise" found predictive at small scale (studies/noise/README.md).
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

``check_dclm_database(path)`` recomputes Core and Extended (v1) for the rows of DCLM's published
model database and reports which reproduce (eval/README.md, "Reproducing DCLM's aggregates").
"""

from __future__ import annotations

import csv
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


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def strict_mean(values: Mapping[str, float], tasks: Iterable[str]) -> dict:
    """{"value", "n", "missing"}: the mean over `tasks` if all are in `values`, else value None."""
    tasks = sorted(tasks)
    missing = [t for t in tasks if t not in values]
    value = None if missing or not tasks else _mean([values[t] for t in tasks])
    return {"value": value, "n": len(tasks), "missing": missing}


def partial_mean(values: Mapping[str, float], tasks: Iterable[str]) -> dict:
    """{"value", "n", "omitted"}: the mean over the `tasks` present (None if none is)."""
    tasks = sorted(tasks)
    present = [t for t in tasks if t in values]
    value = _mean([values[t] for t in present]) if present else None
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
# SNR 0.8-1.6 against 2.4-3.6 for the gold-text tasks; studies/noise/README.md).
GOLD_TEXT_EXCLUDED = ("agi_eval_lsat_ar", "bigbench_dyck_languages", "bigbench_language_identification",
                      "bigbench_operators", "boolq", "commonsense_qa")
GOLD_BPB_AGGREGATES = ("core_gold_bpb_v1", "core_gold_bpb_pooled_v1")
UNTARGETED_GOLD_BPB_AGGREGATES = ("core_heldout_gold_bpb_v1", "core_heldout_gold_bpb_pooled_v1")


def gold_text_tasks(table: TaskTable | None = None) -> list[str]:
    """The CORE tasks whose gold continuations are text (CORE minus ``GOLD_TEXT_EXCLUDED``)."""
    table = table or load_task_table()
    return [t for t in table.core if t not in GOLD_TEXT_EXCLUDED]


def gold_bpb_aggregates(bpb: Mapping[str, float], gold_bytes: Mapping[str, float],
                        tasks: Sequence[str] | None = None) -> dict[str, float | None]:
    """``core_gold_bpb_v1`` (mean of the per-task gold bpb) and ``core_gold_bpb_pooled_v1`` (gold
    bits over gold bytes) over the tasks of ``tasks`` (default ``gold_text_tasks()``) present in
    ``bpb``; None when none is. ``bpb`` and ``gold_bytes`` map DCLM task names to the per-task
    values; tasks are taken in sorted order and summed with fsum."""
    tasks = sorted(set(gold_text_tasks() if tasks is None else tasks))
    present = [t for t in tasks if t in bpb and bpb[t] is not None and math.isfinite(float(bpb[t]))]
    if not present:
        return dict.fromkeys(GOLD_BPB_AGGREGATES)
    nbytes = math.fsum(float(gold_bytes[t]) for t in present)
    return {"core_gold_bpb_v1": math.fsum(float(bpb[t]) for t in present) / len(present),
            "core_gold_bpb_pooled_v1": (math.fsum(float(bpb[t]) * float(gold_bytes[t]) for t in present) / nbytes
                                        if nbytes else None)}
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


# ----------------------------------------------------------------- DCLM's model database

# Random baselines that reproduce the published Core of the database rows that the v1 table does
# not reproduce (found by fitting those rows exactly; only these four tasks differ from v1, each
# being 1/k for its k answer options). Used only to explain such rows, never to score.
PRE_V1_BASELINE_PCT = {
    "commonsense_qa": 25.0,
    "agi_eval_lsat_ar": 25.0,
    "boolq": 50.0,
    "bigbench_language_identification": 25.0,
}
PRE_V1 = "pre-v1 random baselines"
V2 = "v2 random baselines"
UNEXPLAINED = "unexplained"
EXPLAINED = (PRE_V1, V2)
PUBLISHED = {"Core": "core", "Extended": "extended"}
CATEGORY_COLUMN = "aggregated_task_categories_centered.{}"


@dataclass
class RowMismatch:
    line: int            # line of the CSV file (the header is line 1)
    model: str           # the row's "Model JSON" (or "model") cell
    aggregate: str       # "Core" or "Extended"
    published: str       # the cell as written
    recomputed: float
    reason: str


@dataclass
class AggregateCheck:
    name: str
    checked: int = 0
    reproduced: int = 0
    max_abs_diff: float = 0.0           # over every checked row with a numeric published value
    max_abs_diff_reproduced: float = 0.0
    mismatches: list[RowMismatch] = field(default_factory=list)


@dataclass
class DatabaseReport:
    path: str
    rows: int
    full_rows: int                       # rows with a value for all 53 tasks
    core_full: AggregateCheck            # Core v1 on the full rows
    extended_full: AggregateCheck        # Extended v1 on the full rows
    categories_full: AggregateCheck      # the 6 category means (v1) on the full rows, per row
    core_any: AggregateCheck             # Core v1 on every row with all CORE tasks and a published Core
    core_unpublished: int                # rows with all CORE tasks but an empty Core cell
    core_tasks_missing: int              # rows lacking a CORE task
    extended_without_all_tasks: int      # rows publishing an Extended although a suite task is missing
    extended_over_present: int           # ... of which it equals the mean over the tasks present (v1)

    @property
    def ok(self) -> bool:
        """Every full row reproduces Core, Extended and the category means, and every other
        non-reproducing Core is explained by a known baseline table."""
        full = all(c.checked == c.reproduced for c in (self.core_full, self.extended_full, self.categories_full))
        return full and all(m.reason.startswith(EXPLAINED) for m in self.core_any.mismatches)

    def lines(self, list_rows: bool = True) -> list[str]:
        def fmt(c: AggregateCheck, what: str) -> str:
            return (f"{what}: {c.name} reproduced {c.reproduced}/{c.checked} "
                    f"(largest |difference| {c.max_abs_diff:.3g}; among reproduced {c.max_abs_diff_reproduced:.3g})")

        out = [f"DCLM model database {self.path}: {self.rows} rows, {self.full_rows} with all 53 tasks",
               fmt(self.core_full, "rows with all 53 tasks"),
               fmt(self.extended_full, "rows with all 53 tasks"),
               fmt(self.categories_full, "rows with all 53 tasks"),
               fmt(self.core_any, "rows with all 22 CORE tasks and a published Core"),
               f"rows with all CORE tasks but no published Core: {self.core_unpublished}; "
               f"rows lacking a CORE task: {self.core_tasks_missing}; rows publishing an Extended "
               f"without all 53 tasks: {self.extended_without_all_tasks} (of which {self.extended_over_present} "
               "equal the v1 mean over the tasks present, DCLM's aggregated_centered_results)"]
        mismatches = [m for c in (self.core_full, self.extended_full, self.categories_full, self.core_any)
                      for m in c.mismatches]
        if mismatches:
            reasons: dict[str, int] = {}
            for m in mismatches:
                key = m.reason.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            out.append(f"non-reproducing: {len(mismatches)}")
            out += [f"  {n} x {r}" for r, n in sorted(reasons.items())]
            if PRE_V1 in reasons:
                out.append(f"  ({PRE_V1}: the v1 table except "
                           + ", ".join(f"{t} {p:g} %" for t, p in sorted(PRE_V1_BASELINE_PCT.items())) + ")")
            if list_rows:
                out += [f"  line {m.line} {m.aggregate}: published {m.published}, recomputed "
                        f"{m.recomputed:.10f}: {m.reason} | {m.model}" for m in mismatches]
        return out


def _number(cell: str | None) -> float | None:
    try:
        x = float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _explain(published: float, values: Mapping[str, float], tasks: Sequence[str], table: TaskTable, tol: float) -> str:
    diff_v1 = _mean([centered(values[t], table.task(t).baseline("v1")) for t in tasks]) - published
    pre = _mean([centered(values[t], 0.01 * PRE_V1_BASELINE_PCT.get(t, table.task(t).baseline_pct["v1"]))
                 for t in tasks]) - published
    if abs(pre) <= tol:
        return f"{PRE_V1}: reproduced with them (|difference| {abs(pre):.2g})"
    v2 = _mean([centered(values[t], table.task(t).baseline("v2")) for t in tasks]) - published
    if abs(v2) <= tol:
        return f"{V2}: reproduced with them (|difference| {abs(v2):.2g})"
    return f"{UNEXPLAINED}: differs by {diff_v1:+.3g} with v1 baselines, {pre:+.3g} with the pre-v1 ones"


def check_dclm_database(path: Path | str, tol: float = 1e-6, table: TaskTable | None = None) -> DatabaseReport:
    """Recompute Core, Extended and category means (v1) for every row of DCLM's model database.

    Task columns carry DCLM's meta task names (gsm8k_cot etc. are the `*_cot` columns; the plain
    gsm8k/agi_eval_sat_math/aqua/svamp columns belong to an older suite). A row is "full" when all
    53 task cells hold numbers.
    """
    table = table or load_task_table()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DCLM model database not found at {path} "
                                "(expected <data root>/reference/dclm_model_database.csv)")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        needed = [*table.names, *PUBLISHED, *(CATEGORY_COLUMN.format(c) for c in CATEGORIES)]
        absent = [c for c in needed if c not in header]
        if absent:
            raise ValueError(f"{path}: columns {absent} are missing; is this DCLM's model database CSV?")
        rows = list(reader)

    core_full, ext_full = AggregateCheck("Core (v1)"), AggregateCheck("Extended (v1)")
    cats_full, core_any = AggregateCheck("category means (v1)"), AggregateCheck("Core (v1)")
    unpublished = lacking = ext_orphans = ext_present = full = 0

    def record(check: AggregateCheck, line: int, model: str, label: str, cell: str, recomputed: float,
               tasks: Sequence[str], values: Mapping[str, float]) -> None:
        check.checked += 1
        pub = _number(cell)
        if pub is None:
            check.mismatches.append(RowMismatch(line, model, label, cell, recomputed,
                                                "published value is not a number"))
            return
        d = abs(recomputed - pub)
        check.max_abs_diff = max(check.max_abs_diff, d)
        if d <= tol:
            check.reproduced += 1
            check.max_abs_diff_reproduced = max(check.max_abs_diff_reproduced, d)
        else:
            check.mismatches.append(RowMismatch(line, model, label, cell, recomputed,
                                                _explain(pub, values, tasks, table, tol)))

    for i, row in enumerate(rows):
        line = i + 2
        model = row.get("Model JSON") or row.get("model") or ""
        values = {t: x for t in table.names if (x := _number(row.get(t))) is not None}
        acc = {t: v for t, v in values.items() if 0.0 <= v <= 1.0}
        cen = {t: centered(v, table.task(t).baseline("v1")) for t, v in acc.items()}
        is_full = len(acc) == len(table.names)
        if is_full:
            full += 1
            record(core_full, line, model, "Core", row["Core"], _mean([cen[t] for t in table.core]), table.core, acc)
            record(ext_full, line, model, "Extended", row["Extended"], _mean([cen[t] for t in table.names]),
                   table.names, acc)
            cats_full.checked += 1
            worst, bad = 0.0, []
            for c in CATEGORIES:
                tasks = table.by_category(c)
                mine = _mean([cen[t] for t in tasks])
                pub = _number(row[CATEGORY_COLUMN.format(c)])
                d = math.inf if pub is None else abs(mine - pub)
                worst = max(worst, d)
                if d > tol:
                    bad.append(f"{c} published {row[CATEGORY_COLUMN.format(c)]!r} vs {mine:.10f}")
            if worst < math.inf:
                cats_full.max_abs_diff = max(cats_full.max_abs_diff, worst)
            if bad:
                cats_full.mismatches.append(RowMismatch(line, model, "categories", "", 0.0,
                                                     "category means differ: " + "; ".join(bad)))
            else:
                cats_full.reproduced += 1
                cats_full.max_abs_diff_reproduced = max(cats_full.max_abs_diff_reproduced, worst)
        elif (published := _number(row["Extended"])) is not None:
            ext_orphans += 1
            if cen and abs(_mean([cen[t] for t in sorted(cen)]) - published) <= tol:
                ext_present += 1
        if all(t in acc for t in table.core):
            if not row["Core"].strip():
                unpublished += 1
            else:
                record(core_any, line, model, "Core", row["Core"], _mean([cen[t] for t in table.core]),
                       table.core, acc)
        else:
            lacking += 1
    return DatabaseReport(str(path), len(rows), full, core_full, ext_full, cats_full, core_any,
                          unpublished, lacking, ext_orphans, ext_present)
