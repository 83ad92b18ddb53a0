"""Does a small scale decide like a larger one? Decision accuracy between two scales, from rows
alone (``winnow analyze agreement``; DataDecide, arXiv 2504.11393).

The small scale A is judged against the large scale B. An *entry* is a submission (its track,
name and recipe fingerprint; the same entry at both scales), its value the mean over its seeds.
For each metric m measured at A, against B's *target* metric (by default B's primary metric, the
ranking the larger run would publish), over the entries present at both scales:

* **decision accuracy**: of all pairs of entries, the share that A (by m) orders the same way as B
  (by the target); a pair tied at either scale counts one half. Each metric is oriented by its
  direction (``stats.higher_better``: bits per byte, lower is better), so "better" means the same
  at both scales whatever the metrics.
* **interval**: a percentile bootstrap over seeds (``BOOTSTRAP`` resamples, a fixed generator
  seed so every run prints the same interval): each entry's seeds are drawn with replacement at
  each scale, the means recomputed, the decision accuracy recomputed; the 2.5% and 97.5%
  quantiles. An entry with one seed at a scale keeps its one value (its noise is not measured,
  and the interval is then too narrow: the command says which entries these are).
* **Kendall tau-b** between A's oriented values and B's.
* **flips**: the pairs ordered differently, each marked with whether its difference is within the
  seed noise at A and at B (``stats.beyond_noise`` with that scale's pooled seed sd of the
  metric, ``signal.signal``). A flip within noise at either scale is a coin the rows cannot call;
  a flip beyond noise at both is a real disagreement.

Per task (``--per-task``): the same decision accuracy for every task's own measure at A (``bpb``
by default, ``task.<task>.<measure>``) against B's target, so tasks that predict the larger scale
badly are visible.

Metrics are ``signal``'s registry (aggregates, held-out bpb, per-task measures, derived
candidates), chosen with the same patterns; by default A's primary metric and the alternatives
of ``ALTERNATIVES`` that the rows have.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np

from winnow.leaderboard.rowsets import SignalError, duplicate_seeds, primary_of, select
from winnow.leaderboard.signal import Metric, metrics_of, select_metrics
from winnow.leaderboard.stats import beyond_noise, kendall_tau_b, pooled_sd

BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
# What a metric is compared with besides the primary: DCLM's CORE accuracy, the continuous
# correct-choice probability, the gold-text likelihood and the held-out pool likelihood.
ALTERNATIVES = ("aggregates.core_gold_bpb_v2", "aggregates.core_gold_bpb_pooled_v2",
                "aggregates.core_gold_bpb_v1", "aggregates.core_gold_bpb_pooled_v1", "aggregates.core_prob_v1",
                "aggregates.core_v2", "aggregates.core_v2_partial", "heldout.bits_per_byte")
ENTRY = ("track", "submission", "fingerprint")
FLIPS_SHOWN = 12          # flips printed (the real ones first); --json has them all


def entry_of(row: dict) -> tuple:
    """The identity of an entry across scales: track, submission name, recipe fingerprint."""
    return tuple(row.get(k) for k in ENTRY)


def values_by_entry(rows: list[dict], metric: Metric) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        v = metric.get(r)
        if v is not None:
            out[entry_of(r)][int(r["seed"])] = v
    return dict(out)


def _orient(x: float, metric: Metric) -> float:
    return x if metric.higher_better else -x


def decision_accuracy(a: list[float], b: list[float]) -> float | None:
    """Share of pairs ordered the same way by ``a`` and ``b`` (already oriented: larger is
    better); a pair tied in either counts one half."""
    pairs = list(combinations(range(len(a)), 2))
    if not pairs:
        return None
    score = 0.0
    for i, j in pairs:
        da, db = a[i] - a[j], b[i] - b[j]
        score += 0.5 if da == 0 or db == 0 else float((da > 0) == (db > 0))
    return score / len(pairs)


@dataclass
class Flip:
    better_at_a: str
    better_at_b: str
    within_noise_a: bool | None      # None: that scale's seed noise is not measured
    within_noise_b: bool | None


@dataclass
class Agreement:
    metric: str
    target: str
    entries: int
    pairs: int
    decision_accuracy: float | None
    interval: tuple[float, float] | None
    kendall_tau: float | None
    flips: list[Flip] = field(default_factory=list)
    one_seed: list[str] = field(default_factory=list)   # entries with one seed at a scale

    @property
    def real_flips(self) -> int:
        """Flips beyond the seed noise at both scales."""
        return sum(f.within_noise_a is False and f.within_noise_b is False for f in self.flips)

    def to_json(self) -> dict:
        d = asdict(self)
        d["real_flips"] = self.real_flips
        return d


def _name(key: tuple) -> str:
    return str(key[1])


def _noise(values: dict[tuple, dict[int, float]]) -> tuple[float | None, int]:
    """The pooled seed sd and its df over the entries (``signal``'s seed sd)."""
    return pooled_sd([list(v.values()) for v in values.values()])


def _within(values: dict[tuple, dict[int, float]], a: tuple, b: tuple, noise: tuple[float | None, int]) -> bool | None:
    sd, df = noise
    if sd is None:
        return None
    ma, mb = (sum(values[k].values()) / len(values[k]) for k in (a, b))
    return not beyond_noise(ma, len(values[a]), mb, len(values[b]), sd, df)


def compare(small: dict[tuple, dict[int, float]], metric: Metric, large: dict[tuple, dict[int, float]],
            target: Metric, boot: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> Agreement:
    """The module docstring's figures for one metric at the small scale against the target at the
    large one, from {entry: {seed: value}} at each."""
    keys = sorted(set(small) & set(large), key=str)
    mean = lambda v: sum(v.values()) / len(v)  # noqa: E731
    a = [_orient(mean(small[k]), metric) for k in keys]
    b = [_orient(mean(large[k]), target) for k in keys]
    da = decision_accuracy(a, b)
    interval = None
    if da is not None and boot > 0:
        rng = np.random.default_rng(seed)
        sa = [np.array(list(small[k].values())) for k in keys]
        sb = [np.array(list(large[k].values())) for k in keys]
        draws = []
        for _ in range(boot):
            ra = [_orient(float(x[rng.integers(0, len(x), len(x))].mean()), metric) for x in sa]
            rb = [_orient(float(x[rng.integers(0, len(x), len(x))].mean()), target) for x in sb]
            draws.append(decision_accuracy(ra, rb))
        interval = (float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975)))
    noise_a, noise_b = _noise(small), _noise(large)
    flips = []
    for i, j in combinations(range(len(keys)), 2):
        d1, d2 = a[i] - a[j], b[i] - b[j]
        if d1 != 0 and d2 != 0 and (d1 > 0) != (d2 > 0):
            flips.append(Flip(_name(keys[i] if d1 > 0 else keys[j]), _name(keys[i] if d2 > 0 else keys[j]),
                              _within(small, keys[i], keys[j], noise_a), _within(large, keys[i], keys[j], noise_b)))
    one = sorted({_name(k) for k in keys if len(small[k]) < 2 or len(large[k]) < 2})
    return Agreement(metric.name, target.name, len(keys), len(keys) * (len(keys) - 1) // 2, da, interval,
                     kendall_tau_b(a, b) if len(keys) >= 2 else None, flips, one)


@dataclass
class Report:
    small: str                 # "tiny-1x v3" labels
    large: str
    target: str
    entries: list[str]
    missing: dict[str, list[str]]     # entries at one scale only
    metrics: list[Agreement]
    tasks: list[Agreement]

    def to_json(self) -> dict:
        return {"small": self.small, "large": self.large, "target": self.target, "entries": self.entries,
                "missing": self.missing, "metrics": [m.to_json() for m in self.metrics],
                "tasks": [t.to_json() for t in self.tasks]}


def _label(rows: list[dict]) -> str:
    r = rows[0]
    return f"{r.get('scale')} v{r.get('scale_version')}"


def _metric(rows: list[dict], name: str, where: str) -> Metric:
    found = [m for m in metrics_of(rows) if m.name == name]
    if not found:
        raise SignalError(f"{where} rows have no metric {name!r} (`winnow analyze signal --json` lists them)")
    return found[0]


def analyze(rows: list[dict], small: str, large: str, versions: tuple[int | None, int | None] = (None, None),
            patterns: list[str] | None = None, target: str | None = None, track: str | None = None,
            per_task: str | None = None, where: str = "the leaderboard", boot: int = BOOTSTRAP) -> Report:
    """Agreement of scale ``small`` with scale ``large`` over ``rows`` (each at its newest version
    unless ``versions`` says), one ``Agreement`` per metric (and per task with ``per_task``, the
    task measure, e.g. ``bpb``)."""
    if small == large:
        raise SignalError(f"--scales {small},{large}: give two different scales, the small one first")
    if track:
        rows = [r for r in rows if r.get("track") == track]
    ra, rb = select(rows, small, versions[0], where), select(rows, large, versions[1], where)
    for rs in (ra, rb):
        dup = duplicate_seeds(rs)
        if dup:
            raise SignalError(f"{_label(rs)}: two rows of one entry share a seed: " + "; ".join(dup[:5])
                              + " (remove one, or give each run its own seed)")
    tgt = _metric(rb, target if target and "." in target else f"aggregates.{target or primary_of(rb)}", _label(rb))
    primary_a = primary_of(ra)
    if patterns:
        chosen = select_metrics(metrics_of(ra), patterns)
    else:
        have = {m.name: m for m in metrics_of(ra)}
        names = [f"aggregates.{primary_a}"] if primary_a else []
        names += [n for n in ALTERNATIVES if n not in names]
        chosen = [have[n] for n in names if n in have]
    ka, kb = {entry_of(r) for r in ra}, {entry_of(r) for r in rb}
    common = sorted(ka & kb, key=str)
    if len(common) < 2:
        raise SignalError(f"{_label(ra)} and {_label(rb)} share {len(common)} entr{'y' if len(common) == 1 else 'ies'} "
                          f"(same track, submission and fingerprint); decision accuracy needs two at least: run "
                          f"the same baselines at both scales")
    large_vals = values_by_entry(rb, tgt)
    out = []
    for m in chosen:
        out.append(compare(values_by_entry(ra, m), m, large_vals, tgt, boot))
    tasks = []
    if per_task:
        for m in metrics_of(ra):
            if m.kind == "task" and m.name.endswith("." + per_task):
                tasks.append(compare(values_by_entry(ra, m), m, large_vals, tgt, boot))
        tasks.sort(key=lambda g: (g.decision_accuracy is None, -(g.decision_accuracy or 0)))
    return Report(_label(ra), _label(rb), tgt.name, [_name(k) for k in common],
                  {_label(ra): sorted(_name(k) for k in ka - kb), _label(rb): sorted(_name(k) for k in kb - ka)},
                  out, tasks)


def _f(v, spec=".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def format_report(rep: Report) -> str:
    lines = [f"{rep.small} against {rep.large} (target: {rep.target} at {rep.large}), "
             f"{len(rep.entries)} entries at both, {len(rep.entries) * (len(rep.entries) - 1) // 2} pairs",
             "decision accuracy: share of entry pairs the small scale orders as the large one does (ties 1/2); "
             f"interval: 95% bootstrap over seeds ({BOOTSTRAP} resamples); flips: pairs ordered differently, "
             "'real' when beyond t(0.975, df) · pooled seed sd · √(1/n1 + 1/n2) at both scales.", ""]
    for label, names in rep.missing.items():
        if names:
            lines.append(f"at {label} only (left out): {', '.join(names)}")
    width = max([len(m.metric) for m in rep.metrics + rep.tasks] + [6])
    head = f"  {'metric at ' + rep.small:<{width + 10}} {'accuracy':>8}  {'95% interval':>13}  {'tau':>6}  flips (real)"
    def table(items: list[Agreement]) -> list[str]:
        rows = [head]
        for g in items:
            iv = f"{g.interval[0]:.2f}-{g.interval[1]:.2f}" if g.interval else "–"
            rows.append(f"  {g.metric:<{width + 10}} {_f(g.decision_accuracy):>8}  {iv:>13}  {_f(g.kendall_tau, '+.2f'):>6}"
                        f"  {len(g.flips)} ({g.real_flips})")
        return rows
    lines += table(rep.metrics)
    first = rep.metrics[0] if rep.metrics else None
    if first and first.flips:
        mark = {None: "unmeasured", True: "within noise", False: "beyond noise"}
        count = defaultdict(int)
        for fl in first.flips:
            count[(mark[fl.within_noise_a], mark[fl.within_noise_b])] += 1
        lines += ["", f"Flips under {first.metric}, by the noise at {rep.small} / at {rep.large}: "
                  + ", ".join(f"{n} {a} / {b}" for (a, b), n in sorted(count.items(), key=lambda kv: -kv[1]))]
        shown = sorted(first.flips, key=lambda fl: (fl.within_noise_a is not False) + (fl.within_noise_b is not False))
        for fl in shown[:FLIPS_SHOWN]:
            lines.append(f"  {fl.better_at_a} > {fl.better_at_b} at {rep.small}, the reverse at {rep.large}: "
                         f"{mark[fl.within_noise_a]} / {mark[fl.within_noise_b]}")
        if len(shown) > FLIPS_SHOWN:
            lines.append(f"  ... and {len(shown) - FLIPS_SHOWN} more (--json lists every flip)")
    one = sorted({n for g in rep.metrics for n in g.one_seed})
    if one:
        lines += ["", f"One seed at a scale (their noise is not in the interval): {', '.join(one)}"]
    if rep.tasks:
        lines += ["", "Per task (the task's own measure at the small scale against the target):", *table(rep.tasks)]
    return "\n".join(lines)
