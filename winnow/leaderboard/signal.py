"""Signal of ranking metrics, from rows alone (``winnow analyze signal``; studies/noise/README.md
measures why it matters).

An *entry* is the rows that differ only in their seed (``stats.ENTRY_FIELDS``); its value of a
metric is the mean over its seeds. Per metric, over the rows of one scale version and suite:

* **spread**: the sample sd (n - 1) of the entries' means, over the entries with 2+ seeds (the
  same entries the noise comes from, so SNR compares like with like); ``spread_all`` is the same
  over every entry, one-seed entries included.
* **seed sd**: the pooled within-entry sd, s² = Σ (n_i - 1) s_i² / Σ (n_i - 1), with
  df = Σ (n_i - 1) (``stats.pooled_sd``).
* **SNR** = spread / seed sd.
* **tau**: for every pair of seeds (a, b), Kendall's tau-b between the entries' values at seed a
  and at seed b, over the entries having both (2 at least); ``tau`` is the plain mean over the
  seed pairs, each pair's tau and entry count are reported too.
* **separated**: of all pairs of entries (one-seed entries included), those whose means differ
  beyond the seed noise, |m_1 - m_2| > t(0.975, df) · s · √(1/n_1 + 1/n_2) (``stats.beyond_noise``).
* **paired** (secondary; common random numbers): entries that share seeds share the seed's
  arbitrary choices, so over the entries with 2+ seeds value = overall + entry effect + seed
  effect + residual, fitted by least squares (unbalanced seed sets allowed). Reported: the
  residual sd and its df (N - rank of the design), paired SNR = spread / residual sd, and the
  pairs of entries (sharing k >= 1 seeds) whose mean per-seed difference exceeds
  t(0.975, df) · residual sd · √(2/k). The headline SNR stays the plain one: rankings are
  judged against runs that differ in everything arbitrary, and an outside checker recomputes
  plain SNR, tau and separated pairs from ``aggregates[primary_metric]`` and the seeds.

Metrics are a registry of families (``METRIC_FAMILIES``), each building ``Metric``s (a name, a
direction, a getter from a row) from the rows: every aggregate (``aggregates.<name>``), held-out
bits per byte (``heldout.bits_per_byte``), per-task ``bpb``, ``prob`` and ``acc``
(``task.<task>.<measure>``) and derived candidates over the tasks whose gold continuation has
>= ``MIN_GOLD_BYTES`` bytes per item (``gold_bytes / n``) in every row: their mean gold bpb,
their byte-pooled gold bpb (Σ bpb · gold_bytes / Σ gold_bytes), the mean of their z-scored bpb
(z over the entries' means of each task) and the mean prob over all tasks with one. Direction:
``stats.higher_better`` (bits per byte: lower is better); tau and SNR do not depend on it.

The leaderboard page's SNR line calls ``measure`` on the same rows, so the page and the command
print the same numbers.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Callable

import numpy as np

from winnow.leaderboard.rows import load_rows, rows_root
from winnow.leaderboard.rowsets import (Group, SignalError, duplicate_seeds, entry_key, groups, primary_of,
                                        read_rows, row_problems, select)
from winnow.leaderboard.stats import beyond_noise, higher_better, kendall_tau_b, pooled_sd, sd, t975, value
from winnow.registry import suggest

MIN_GOLD_BYTES = 5.0      # a task is "informative" when its gold continuations average this many bytes


# ------------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class Metric:
    name: str
    higher_better: bool
    get: Callable[[dict], float | None]
    kind: str                      # "aggregate", "heldout", "derived" or "task"
    about: str = ""


def _num(v) -> float | None:
    """A finite float, else None (missing, text, NaN)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _task(row: dict, task: str, measure: str) -> float | None:
    return _num(((row.get("tasks") or {}).get(task) or {}).get(measure))


def _aggregates(rows: list[dict]) -> list[Metric]:
    names = sorted({k for r in rows for k, v in (r.get("aggregates") or {}).items() if _num(v) is not None})
    return [Metric(f"aggregates.{n}", higher_better(n), (lambda r, n=n: _num(value(r, n))), "aggregate")
            for n in names]


def _heldout(rows: list[dict]) -> list[Metric]:
    if not any(_num((r.get("heldout") or {}).get("bits_per_byte")) is not None for r in rows):
        return []
    return [Metric("heldout.bits_per_byte", False, lambda r: _num(value(r, "heldout.bits_per_byte")), "heldout",
                   "bits per byte of the held-out pool sample")]


def _task_names(rows: list[dict]) -> list[str]:
    return sorted({t for r in rows for t in (r.get("tasks") or {})})


def _tasks(rows: list[dict]) -> list[Metric]:
    out = []
    for t in _task_names(rows):
        for measure in ("bpb", "prob", "acc"):
            if any(_task(r, t, measure) is not None for r in rows):
                out.append(Metric(f"task.{t}.{measure}", higher_better(measure),
                                  (lambda r, t=t, m=measure: _task(r, t, m)), "task"))
    return out


def gold_tasks(rows: list[dict]) -> list[str]:
    """Tasks present in every row with a finite bpb and >= ``MIN_GOLD_BYTES`` gold bytes per item."""
    out = []
    for t in _task_names(rows):
        ok = True
        for r in rows:
            v = (r.get("tasks") or {}).get(t) or {}
            n, gb = _num(v.get("n")), _num(v.get("gold_bytes"))
            if _num(v.get("bpb")) is None or not n or gb is None or gb / n < MIN_GOLD_BYTES:
                ok = False
                break
        if ok:
            out.append(t)
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _derived(rows: list[dict]) -> list[Metric]:
    gold = gold_tasks(rows)
    out = []
    if gold:
        def gold_mean(r: dict) -> float | None:
            return _mean([_task(r, t, "bpb") for t in gold])

        def gold_pooled(r: dict) -> float | None:
            b = [(_task(r, t, "bpb"), _num(r["tasks"][t]["gold_bytes"])) for t in gold]
            total = sum(w for _, w in b)
            return sum(x * w for x, w in b) / total if total else None

        # z over the entries' means of each task, so every task weighs the same
        per_entry: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            per_entry[entry_key(r)].append(r)
        centre = {}
        for t in gold:
            means = [_mean([_task(r, t, "bpb") for r in rs]) for rs in per_entry.values()]
            spread = sd(means)
            if spread > 0:
                centre[t] = (sum(means) / len(means), spread)

        def gold_z(r: dict) -> float | None:
            return _mean([(_task(r, t, "bpb") - m) / s for t, (m, s) in centre.items()])

        about = f"{len(gold)} tasks with >= {MIN_GOLD_BYTES:g} gold bytes per item"
        out += [Metric("derived.gold_bpb_mean", False, gold_mean, "derived", f"mean gold bpb over {about}"),
                Metric("derived.gold_bpb_bytes", False, gold_pooled, "derived", f"byte-pooled gold bpb over {about}")]
        if centre:
            out.append(Metric("derived.gold_bpb_z", False, gold_z, "derived",
                              f"mean z-scored gold bpb over {len(centre)} of the {about}"))

    def prob_mean(r: dict) -> float | None:
        return _mean([x for t in (r.get("tasks") or {}) if (x := _task(r, t, "prob")) is not None])

    if any(prob_mean(r) is not None for r in rows):
        out.append(Metric("derived.prob_mean", True, prob_mean, "derived", "mean prob over the tasks with one"))
    return out


# family name -> builder of its metrics from the rows; the order is the report's order
METRIC_FAMILIES: dict[str, Callable[[list[dict]], list[Metric]]] = {
    "heldout": _heldout,
    "derived": _derived,
    "aggregates": _aggregates,
    "tasks": _tasks,
}


def metrics_of(rows: list[dict]) -> list[Metric]:
    return [m for build in METRIC_FAMILIES.values() for m in build(rows)]


def select_metrics(metrics: list[Metric], patterns: list[str] | None) -> list[Metric]:
    """The metrics matching any pattern (fnmatch): the full name, its last parts (``core_prob_v1``
    for ``aggregates.core_prob_v1``, ``bpb`` for every ``task.*.bpb``) or a prefix (``task.dclm_copa``)."""
    if not patterns:
        return metrics
    out = []
    for p in patterns:
        hit = [m for m in metrics if fnmatch.fnmatchcase(m.name, p) or fnmatch.fnmatchcase(m.name, "*." + p)
               or fnmatch.fnmatchcase(m.name, p + ".*")]
        if not hit:
            names = [m.name for m in metrics]
            short = sorted({n.split(".", 1)[1] for n in names if n.startswith("aggregates.")} | set(names))
            raise SignalError(f"no metric matches {p!r} in these rows: {suggest(p, short)} "
                              "(`winnow analyze signal ... --json` lists every metric)")
        out += [m for m in hit if m not in out]
    return out


# ------------------------------------------------------------------------------- statistics
@dataclass
class Paired:
    """The secondary, paired (common-random-numbers) figures of one metric."""

    resid_sd: float | None
    df: int
    snr: float | None
    separated: int
    pairs: int


@dataclass
class Signal:
    metric: str
    higher_better: bool
    entries: int                     # entries with a value
    multi: int                       # of which with 2+ seeds
    spread: float | None             # sd of the means of the entries with 2+ seeds
    spread_all: float | None         # sd of the means of every entry
    seed_sd: float | None
    df: int
    snr: float | None
    taus: dict[str, dict] = field(default_factory=dict)   # "a~b" -> {"tau", "entries"}
    tau: float | None = None
    separated: int = 0
    pairs: int = 0
    paired: Paired | None = None
    about: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return math.inf if a > 0 else None
    return a / b


def _paired(values: dict[tuple, dict[int, float]], spread: float | None) -> Paired:
    multi = {k: v for k, v in values.items() if len(v) >= 2}
    obs = [(k, s, y) for k, v in multi.items() for s, y in v.items()]
    keys, seeds = sorted(multi, key=str), sorted({s for _, s, _ in obs})
    resid_sd, df = None, 0
    if obs and len(seeds) >= 2:
        x = np.zeros((len(obs), len(keys) + len(seeds) - 1))
        for i, (k, s, _) in enumerate(obs):
            x[i, keys.index(k)] = 1.0                    # entry effects (they carry the overall mean)
            if seeds.index(s):
                x[i, len(keys) + seeds.index(s) - 1] = 1.0   # seed effects, the first seed as reference
        y = np.array([o[2] for o in obs])
        beta, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
        df = len(obs) - int(rank)
        if df > 0:
            resid_sd = float(math.sqrt(float(np.sum((y - x @ beta) ** 2)) / df))
    separated = pairs = 0
    for a, b in combinations(sorted(values, key=str), 2):
        common = sorted(set(values[a]) & set(values[b]))
        if not common:
            continue
        pairs += 1
        d = sum(values[a][s] - values[b][s] for s in common) / len(common)
        if resid_sd is not None and abs(d) > t975(df) * resid_sd * math.sqrt(2 / len(common)):
            separated += 1
    return Paired(resid_sd, df, _ratio(spread, resid_sd), separated, pairs)


def signal(values: dict[tuple, dict[int, float]], metric: str = "", lower_better: bool = False) -> Signal:
    """The module docstring's figures from {entry: {seed: value}}."""
    values = {k: v for k, v in values.items() if v}
    means = {k: sum(v.values()) / len(v) for k, v in values.items()}
    multi = [k for k, v in values.items() if len(v) >= 2]
    spread = sd([means[k] for k in multi]) if len(multi) >= 2 else None
    spread_all = sd(list(means.values())) if len(means) >= 2 else None
    seed_sd, df = pooled_sd([list(v.values()) for v in values.values()])
    taus = {}
    seeds = sorted({s for v in values.values() for s in v})
    for a, b in combinations(seeds, 2):
        both = sorted((k for k, v in values.items() if a in v and b in v), key=str)
        if len(both) >= 2:
            taus[f"{a}~{b}"] = {"tau": kendall_tau_b([values[k][a] for k in both], [values[k][b] for k in both]),
                                "entries": len(both)}
    defined = [t["tau"] for t in taus.values() if t["tau"] is not None]
    separated = pairs = 0
    for a, b in combinations(sorted(values, key=str), 2):
        pairs += 1
        if seed_sd is not None and beyond_noise(means[a], len(values[a]), means[b], len(values[b]), seed_sd, df):
            separated += 1
    return Signal(metric=metric, higher_better=not lower_better, entries=len(values), multi=len(multi),
                  spread=spread, spread_all=spread_all, seed_sd=seed_sd, df=df, snr=_ratio(spread, seed_sd),
                  taus=taus, tau=sum(defined) / len(defined) if defined else None, separated=separated,
                  pairs=pairs, paired=_paired(values, spread))


def values_of(rows: list[dict], metric: Metric) -> dict[tuple, dict[int, float]]:
    """{entry: {seed: value}} of ``metric``; rows without a value are left out."""
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        v = metric.get(r)
        if v is not None:
            out[entry_key(r)][int(r["seed"])] = v
    return dict(out)


def measure(rows: list[dict], metric: str | Metric) -> Signal:
    """The signal of one metric (a ``Metric`` or its name, e.g. ``aggregates.core_prob_v1``) over
    the rows of one scale version and suite: what ``winnow analyze signal`` prints for it."""
    if isinstance(metric, str):
        found = [m for m in metrics_of(rows) if m.name == metric]
        if not found:
            return signal({}, metric, not higher_better(metric))
        metric = found[0]
    s = signal(values_of(rows, metric), metric.name, not metric.higher_better)
    s.about = metric.about
    return s


# ------------------------------------------------------------------------------- report
@dataclass
class Report:
    group: Group
    primary: str | None
    signals: list[Signal]              # the metrics that two entries with 2+ seeds have
    entries: list[dict]
    unmeasured: list[str] = field(default_factory=list)   # the others

    def to_json(self) -> dict:
        return {"group": self.group.fields, "label": self.group.label, "rows": len(self.group.rows),
                "primary_metric": self.primary, "entries": self.entries,
                "metrics": [s.to_json() for s in self.signals], "unmeasured": self.unmeasured}


def analyze(group: Group, patterns: list[str] | None = None) -> Report:
    rows = group.rows
    dup = duplicate_seeds(rows)
    if dup:
        raise SignalError(f"{group.label}: two rows of one entry share a seed, so its mean is ambiguous: "
                          + "; ".join(dup[:5]) + " (remove one, or give each run its own seed)")
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by[entry_key(r)].append(r)
    multi = sum(len(rs) >= 2 for rs in by.values())
    if multi < 2:
        raise SignalError(f"{group.label}: {len(by)} entr{'y' if len(by) == 1 else 'ies'}, {multi} with 2+ seeds; "
                          "the spread and seed noise need at least two entries with 2+ seeds (run more seeds: "
                          "`winnow run submission=<folder> scale=<scale> seed=1 --submit`)")
    primary = primary_of(rows)
    metrics = select_metrics(metrics_of(rows), patterns)
    if primary:
        metrics.sort(key=lambda m: m.name != f"aggregates.{primary}")   # stable: the primary first
    entries = [{"submission": rs[0].get("submission"), "track": rs[0].get("track"),
                "seeds": sorted(r["seed"] for r in rs)} for rs in by.values()]
    signals = [measure(rows, m) for m in metrics]
    return Report(group, primary, [s for s in signals if s.multi >= 2], entries,
                  [s.metric for s in signals if s.multi < 2])


def _f(v: float | None, spec: str = ".3g") -> str:
    if v is None:
        return "–"
    if math.isinf(v):
        return "inf"
    return format(v, spec)


def _pairs_cols(reports_signals: list[Signal]) -> list[str]:
    return sorted({k for s in reports_signals for k in s.taus}, key=lambda k: tuple(map(int, k.split("~"))))


def format_report(rep: Report) -> str:
    sig = rep.signals
    if not sig:
        return f"{rep.group.label}: no metric that two entries with 2+ seeds have" + (
            f" (without: {', '.join(rep.unmeasured)})" if rep.unmeasured else "")
    n_entries = len(rep.entries)
    multi = sum(len(e["seeds"]) >= 2 for e in rep.entries)
    seeds = sorted({s for e in rep.entries for s in e["seeds"]})
    primary = f"aggregates.{rep.primary}" if rep.primary else None
    lines = [f"{rep.group.label}: {len(rep.group.rows)} rows, {n_entries} entries ({multi} with 2+ seeds), "
             f"seeds {','.join(map(str, seeds))}; primary metric {rep.primary or '(none recorded)'}"
             + (" (marked *)" if primary and any(s.metric == primary for s in sig) else ""),
             f"spread: sd of the entries' seed means over the entries with 2+ seeds (all: over all {n_entries}); "
             "seed sd: pooled within-entry sd, df = Σ(n-1); SNR = spread / seed sd;",
             "tau a~b (k): Kendall tau-b of the rankings at seeds a and b over the k entries having both; "
             "tau: their mean; separated: entry pairs whose means differ beyond",
             "t(0.975, df) · seed sd · √(1/n1 + 1/n2), of all pairs. Lower is better for bpb, higher for the rest.",
             ""]
    main = [s for s in sig if not s.metric.startswith("task.")]
    tasks = [s for s in sig if s.metric.startswith("task.")]
    pair_cols = _pairs_cols(sig)
    counts = {k: max(s.taus[k]["entries"] for s in sig if k in s.taus) for k in pair_cols}
    width = max(len(s.metric) for s in sig) + 2

    def table(rows: list[Signal]) -> list[str]:
        head = (f"  {'metric':<{width}}{'better':<7}{'spread':>9}{'all':>9}{'seed sd':>9}{'df':>4}{'SNR':>7}"
                + "".join(f"{f'{k} ({counts[k]})':>11}" for k in pair_cols) + f"{'tau':>7}{'separated':>11}")
        out = [head]
        for s in rows:
            mark = "*" if s.metric == primary else " "
            cells = (f"{mark} {s.metric:<{width}}{'higher' if s.higher_better else 'lower':<7}{_f(s.spread):>9}"
                     f"{_f(s.spread_all):>9}{_f(s.seed_sd):>9}{s.df:>4}{_f(s.snr, '.2f'):>7}"
                     + "".join(f"{_f(s.taus.get(k, {}).get('tau'), '+.2f'):>11}" for k in pair_cols)
                     + f"{_f(s.tau, '+.2f'):>7}{f'{s.separated}/{s.pairs}':>11}")
            out.append(cells)
        return out

    if main:
        lines += table(main)
    abouts = [f"  {s.metric}: {s.about}" for s in main if s.about and s.metric.startswith("derived.")]
    if abouts:
        lines += ["", *abouts]
    if rep.unmeasured:
        lines += ["", f"  not measurable here (fewer than two entries with 2+ seeds have them): {', '.join(rep.unmeasured)}"]
    if main:
        lines += ["", "Secondary, paired (common random numbers; NOT the headline SNR): value = entry effect + seed "
                  "effect + residual over the entries with 2+ seeds, least squares;",
                  "paired SNR = spread / residual sd; paired separated: entry pairs whose mean per-seed difference "
                  "over their k shared seeds exceeds t(0.975, df) · residual sd · √(2/k).", "",
                  f"  {'metric':<{width}}{'resid sd':>9}{'df':>4}{'paired SNR':>12}{'separated':>11}"]
        for s in main:
            p = s.paired
            mark = "*" if s.metric == primary else " "
            lines.append(f"{mark} {s.metric:<{width}}{_f(p.resid_sd):>9}{p.df:>4}{_f(p.snr, '.2f'):>12}"
                         f"{f'{p.separated}/{p.pairs}':>11}")
    if tasks:
        lines += ["", "Per task:", *table(tasks)]
    return "\n".join(lines)


def run(scale: str | None, version: int | None = None, sources: list[str] | None = None,
        patterns: list[str] | None = None, group_by: str | None = None) -> list[Report]:
    """What ``winnow analyze signal`` computes: the leaderboard rows of ``scale`` (or the row files
    of ``sources``), split into ``groups``, one ``Report`` each."""
    if sources:
        rows, where = read_rows(sources), "--rows " + " ".join(sources)
    else:
        if scale is None:
            raise SignalError("give --scale S (a scale with leaderboard rows) or --rows DIR")
        rows, where = load_rows(), str(rows_root())
        bad = [p for r in rows for p in row_problems(r, r.get("_path"))]
        if bad:
            raise SignalError("leaderboard rows that are not usable:\n  " + "\n  ".join(bad[:10]))
    rows = select(rows, scale, version, where, newest=not sources)
    parts = groups(rows, group_by)
    if len(parts) == 1:
        return [analyze(parts[0], patterns)]
    # several groups (a study's protocols): one still short of seeds is reported as such, and
    # does not hide the others
    reports, short = [], []
    for g in parts:
        try:
            reports.append(analyze(g, patterns))
        except SignalError as e:
            short.append(str(e))
            reports.append(Report(group=g, primary=primary_of(g.rows), signals=[], entries=[]))
    if not any(r.signals for r in reports):
        raise SignalError("\n".join(short))
    return reports
