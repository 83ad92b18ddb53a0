"""Ranking statistics: rows grouped over seeds, 95% intervals, ties within noise, agreement.

Seeds are official (DESIGN.md Scale tracks): rows that differ only in their seed form one
*entry* (same scale and track, submission name and fingerprint, scale version, suite and its
version). An entry's score is the mean of its seeds' values of the table's primary metric.

Interval (``INTERVAL_RULE``): the noise a rerun would show. Where the seed noise of the table's
scale version and suite is measured (``NOISE_RULE``: some entry there has 2+ seeds), an entry of
n seeds gets mean ± t(0.975, df) · s / sqrt(n) with the pooled sd s and its df, one seed or many.
Otherwise: with n >= 2 seeds, mean ± t(0.975, n-1) · sd / sqrt(n) over its own seeds; with one
seed, value ± 1.96 · the aggregate's standard error from the per-task stderrs
(``aggregates_stderr`` in the results), when the row has it; otherwise no interval (the point
itself). (interval_v1 used the per-task stderr for every one-seed entry even where seeds had
been measured; that stderr is item-sampling noise only, and at tiny-1x it was less than half the
seed sd, so one-seed entries looked separated when reruns would not separate them.)

Ties (``TIE_RULE``): an entry's rank is 1 + the number of entries whose interval lies wholly
above its own (their lower end exceeds its upper end). Entries whose intervals overlap therefore
share a rank, shown as ``=k``; a better mean alone never separates two entries.

Seed noise (``NOISE_RULE``): the pooled standard deviation over seeds of the entries with 2+
seeds, s² = Σ (n_i - 1) s_i² / Σ (n_i - 1), with df = Σ (n_i - 1). Two entries' means differ
beyond the seed noise when |m_1 - m_2| > t(0.975, df) · s · √(1/n_1 + 1/n_2) (a two-sample t
test with the pooled variance), which lets a one-seed entry be compared with a three-seed one.

Cross-scale agreement (DataDecide): over the submissions run at both scales, the decision
accuracy is the fraction of pairs that the two scales order the same way (a pair tied at either
scale counts one half), with Spearman's rho and Kendall's tau-b between the two scales' scores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

INTERVAL_RULE = "interval_v2"
TIE_RULE = "ties_overlap_v1"
NOISE_RULE = "seed_noise_v1"
Z95 = 1.959963984540054
# t(0.975, df) for df = 1..30; beyond 30 the normal quantile is within 2%.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else Z95


@dataclass
class Entry:
    """One submission at one scale and track: its seeds' rows and their summary."""

    key: tuple
    rows: list[dict]
    primary: str
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    rank: int = 0
    tied: bool = False
    means: dict = field(default_factory=dict)

    @property
    def first(self) -> dict:
        return self.rows[0]

    @property
    def seeds(self) -> list[int]:
        return sorted(r["seed"] for r in self.rows)


def entry_key(row: dict) -> tuple:
    return (row["scale"], row["track"], row["submission"], row["fingerprint"], row["scale_version"],
            row["suite"], row["suite_version"])


def sd(values: list[float]) -> float:
    """Sample standard deviation (n - 1); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def pooled_sd(groups: list[list[float]]) -> tuple[float | None, int]:
    """(pooled sd, df) over the groups with 2+ values, by ``NOISE_RULE``; (None, 0) without any."""
    groups = [g for g in groups if len(g) >= 2]
    df = sum(len(g) - 1 for g in groups)
    if not df:
        return None, 0
    return math.sqrt(sum((len(g) - 1) * sd(g) ** 2 for g in groups) / df), df


def beyond_noise(mean_a: float, n_a: int, mean_b: float, n_b: int, pooled: float, df: int) -> bool:
    """Whether two means of n_a and n_b seeds differ beyond the seed noise (``NOISE_RULE``)."""
    return abs(mean_a - mean_b) > t975(df) * pooled * math.sqrt(1 / n_a + 1 / n_b)


def seed_noise(rows: list[dict], metric: str) -> tuple[float | None, int]:
    """(pooled sd, df) of ``metric`` over the entries of ``rows`` with 2+ seeds (``NOISE_RULE``);
    give it every row of one scale version and suite, all tracks (they share model and eval)."""
    by: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        v = value(r, metric)
        if isinstance(v, (int, float)):
            by[entry_key(r)].append(float(v))
    return pooled_sd(list(by.values()))


def mean_interval(values: list[float], stderr: float | None = None,
                  noise: tuple[float | None, int] = (None, 0)) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) by ``INTERVAL_RULE``; ``noise`` is ``seed_noise``'s (sd, df)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None, None
    m = sum(vals) / len(vals)
    s, df = noise
    if s is not None:
        h = t975(df) * s / math.sqrt(len(vals))
        return m, m - h, m + h
    if len(vals) >= 2:
        h = t975(len(vals) - 1) * sd(vals) / math.sqrt(len(vals))
        return m, m - h, m + h
    if stderr is not None:
        return m, m - Z95 * stderr, m + Z95 * stderr
    return m, m, m


def value(row: dict, name: str):
    """A row's number by column name: an aggregate, or ``training.tokens``-style dotted paths."""
    if "." in name:
        cur = row
        for part in name.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur
    return (row.get("aggregates") or {}).get(name)


def group(rows: list[dict], primary: str, columns: tuple[str, ...] = (),
          noise: tuple[float | None, int] = (None, 0)) -> list[Entry]:
    """Entries ranked by the primary metric with ``TIE_RULE`` ranks; ``columns`` get seed means;
    ``noise``: the primary's ``seed_noise`` over the scale version and suite, for the intervals."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by[entry_key(r)].append(r)
    entries = []
    for key, rs in by.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        se = (rs[0].get("aggregates_stderr") or {}).get(primary) if len(rs) == 1 else None
        mean, low, high = mean_interval([value(r, primary) for r in rs], se, noise)
        e = Entry(key=key, rows=rs, primary=primary, mean=mean, low=low, high=high)
        for c in columns:
            vals = [value(r, c) for r in rs if isinstance(value(r, c), (int, float))]
            e.means[c] = sum(vals) / len(vals) if vals else None
        entries.append(e)
    entries.sort(key=lambda e: (e.mean is None, -(e.mean or 0.0), e.key[2]))
    assign_ranks(entries)
    return entries


def assign_ranks(entries: list[Entry]) -> None:
    for e in entries:
        if e.mean is None:
            e.rank = len(entries)
            continue
        e.rank = 1 + sum(1 for o in entries if o is not e and o.low is not None and o.low > e.high)
    counts = defaultdict(int)
    for e in entries:
        counts[e.rank] += 1
    for e in entries:
        e.tied = counts[e.rank] > 1


# ------------------------------------------------------------------------------ agreement
def _ranks(xs: list[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(a: list[float], b: list[float]) -> float | None:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb)


def spearman(a: list[float], b: list[float]) -> float | None:
    return _pearson(_ranks(a), _ranks(b)) if len(a) >= 2 else None


def kendall_tau_b(a: list[float], b: list[float]) -> float | None:
    conc = disc = ties_a = ties_b = 0
    for i, j in combinations(range(len(a)), 2):
        da, db = a[i] - a[j], b[i] - b[j]
        if da == 0 and db == 0:
            continue
        if da == 0:
            ties_a += 1
        elif db == 0:
            ties_b += 1
        elif (da > 0) == (db > 0):
            conc += 1
        else:
            disc += 1
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom else None


def decision_accuracy(a: list[float], b: list[float]) -> float | None:
    pairs = list(combinations(range(len(a)), 2))
    if not pairs:
        return None
    score = 0.0
    for i, j in pairs:
        da, db = a[i] - a[j], b[i] - b[j]
        if da == 0 or db == 0:
            score += 0.5
        elif (da > 0) == (db > 0):
            score += 1.0
    return score / len(pairs)


@dataclass
class Agreement:
    scale_a: str
    scale_b: str
    metric_a: str
    metric_b: str
    submissions: list[str]
    a: list[float]
    b: list[float]

    @property
    def n(self) -> int:
        return len(self.submissions)

    @property
    def pairs(self) -> int:
        return self.n * (self.n - 1) // 2

    def summary(self) -> dict:
        return {"scales": [self.scale_a, self.scale_b], "metrics": [self.metric_a, self.metric_b],
                "submissions": self.n, "pairs": self.pairs,
                "decision_accuracy": decision_accuracy(self.a, self.b),
                "spearman": spearman(self.a, self.b), "kendall_tau_b": kendall_tau_b(self.a, self.b)}


def agreement(rows: list[dict], scale_a: str, scale_b: str, track: str = "filtering") -> Agreement:
    """Agreement of two scales over the submissions (by name and fingerprint) run at both; each
    scale ranks by its own primary metric, seeds averaged."""
    from winnow.leaderboard.rows import row_primary

    scores = {}
    metrics = {}
    for scale in (scale_a, scale_b):
        rs = [r for r in rows if r["scale"] == scale and r["track"] == track]
        if not rs:
            scores[scale], metrics[scale] = {}, None
            continue
        newest = max(r["scale_version"] for r in rs)
        rs = [r for r in rs if r["scale_version"] == newest]
        metrics[scale] = row_primary(rs[0])
        scores[scale] = {(e.first["submission"], e.first["fingerprint"]): e.mean
                         for e in group(rs, metrics[scale]) if e.mean is not None}
    common = sorted(set(scores[scale_a]) & set(scores[scale_b]))
    return Agreement(scale_a, scale_b, metrics[scale_a], metrics[scale_b], [c[0] for c in common],
                     [scores[scale_a][c] for c in common], [scores[scale_b][c] for c in common])
