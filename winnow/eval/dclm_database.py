"""DCLM's published model database against winnow's aggregates: which rows reproduce, and why not.

``check_dclm_database(path)`` reads DCLM's model database (a CSV of per-task accuracies with the
published Core, Extended and category columns), recomputes Core and Extended with the v1 random
baselines of ``winnow.eval.aggregates`` and reports, per row, whether the published value
reproduces; rows that do not are explained where a known baseline table (pre-v1, or v2)
reproduces them (eval/README.md, "Reproducing DCLM's aggregates"). ``winnow analyze`` prints the
report; nothing here scores a run.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from winnow.eval.aggregates import CATEGORIES, TaskTable, centered, fsum_mean, load_task_table

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
    diff_v1 = fsum_mean([centered(values[t], table.task(t).baseline("v1")) for t in tasks]) - published
    pre = fsum_mean([centered(values[t], 0.01 * PRE_V1_BASELINE_PCT.get(t, table.task(t).baseline_pct["v1"]))
                 for t in tasks]) - published
    if abs(pre) <= tol:
        return f"{PRE_V1}: reproduced with them (|difference| {abs(pre):.2g})"
    v2 = fsum_mean([centered(values[t], table.task(t).baseline("v2")) for t in tasks]) - published
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
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not DCLM's model database CSV ({type(e).__name__}: {e})") from None
    needed = [*table.names, *PUBLISHED, *(CATEGORY_COLUMN.format(c) for c in CATEGORIES)]
    absent = [c for c in needed if c not in header]
    if absent:
        raise ValueError(f"{path}: {len(absent)} of DCLM's columns are missing (first: {absent[:3]}); is this "
                         "DCLM's model database CSV?")

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
            record(core_full, line, model, "Core", row["Core"], fsum_mean([cen[t] for t in table.core]), table.core, acc)
            record(ext_full, line, model, "Extended", row["Extended"], fsum_mean([cen[t] for t in table.names]),
                   table.names, acc)
            cats_full.checked += 1
            worst, bad = 0.0, []
            for c in CATEGORIES:
                tasks = table.by_category(c)
                mine = fsum_mean([cen[t] for t in tasks])
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
            if cen and abs(fsum_mean([cen[t] for t in sorted(cen)]) - published) <= tol:
                ext_present += 1
        if all(t in acc for t in table.core):
            if not row["Core"].strip():
                unpublished += 1
            else:
                record(core_any, line, model, "Core", row["Core"], fsum_mean([cen[t] for t in table.core]),
                       table.core, acc)
        else:
            lacking += 1
    return DatabaseReport(str(path), len(rows), full, core_full, ext_full, cats_full, core_any,
                          unpublished, lacking, ext_orphans, ext_present)
