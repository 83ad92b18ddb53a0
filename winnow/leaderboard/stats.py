"""Ranking statistics: rows grouped over seeds, 95% intervals, ties within noise, agreement.

Seeds are official (submissions/README.md "What the seed changes"): rows that differ only in
their seed form one *entry* (same scale and track, submission name and fingerprint, scale version, suite and its
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

Seed noise: which rule applies is a per-table choice (``NOISE_RULES``; a scale's YAML names it
for its versions, ``winnow.leaderboard.tables.noise_rule``), so a published table keeps its
numbers when a newer scale version measures noise another way.

* ``seed_noise_v1`` (tables that name no rule: tiny-1x v1-v2, quickstart v1, 1m-1x v1): one
  pooled standard deviation for the whole scale version and suite, all tracks, over the entries
  with 2+ seeds, s² = Σ (n_i - 1) s_i² / Σ (n_i - 1), with df = Σ (n_i - 1). Two entries' means
  differ beyond the seed noise when |m_1 - m_2| > t(0.975, df) · s · √(1/n_1 + 1/n_2) (a
  two-sample t test with the pooled variance), which lets a one-seed entry be compared with a
  three-seed one. Its flaw: tracks do not share their noise. At tiny-1x v2 the order-track
  controls' seed sd of held-out bpb is 0.11-0.17 against 0.02-0.05 for the filtering controls, so
  one pool widened every filtering interval with the order track's noise.
* ``seed_noise_v2``: each entry's noise is estimated from the seeds of its own track. An entry
  with 2+ seeds (K = 2, the fewest that give an sd) contributes its own variance with weight
  n_i - 1 to its track's pool s_track² = Σ_track (n_i - 1) s_i² / Σ_track (n_i - 1); every entry
  of the track is judged against that pool (df = the track's Σ (n_i - 1)). Why not the entry's
  own sd alone: with the 2-3 seeds an entry has, its sd has 1-2 df, t(0.975, 1) = 12.7, and the
  sd itself is uncertain by a factor of ten (χ² with 1 df), so an entry whose two seeds happen to
  agree would look precise and one whose seeds disagree would tie with everything. The track pool
  is the empirical-Bayes (moderated, Smyth 2004) variance of each entry with the track's other
  entries as its prior at their full df: (d_0 s_0² + d_i s_i²) / (d_0 + d_i) with s_0², d_0 the
  others' pool is exactly s_track². Pooling stops at the track because the track is what changes
  the training procedure (the order track fixes the data order; filtering and mixing tracks
  shuffle), and the measured noise differs by track (above). A track whose entries give fewer
  than ``MIN_TRACK_DF`` (2) df, or none, takes the pooled sd of its scale version (all tracks),
  and says so (``Noise.source``): with 1 df, t is 12.7 and the sd is no estimate. Two entries
  differ beyond noise by the pooled two-sample t test when they share a pool, else by Welch's
  test (Satterthwaite df) with each entry's own (sd, df).

Kendall's tau-b (rank agreement of two lists of values) serves the seed-to-seed tau of
``winnow.leaderboard.signal`` and the cross-scale agreement of ``winnow.leaderboard.agreement``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from winnow.registry import suggest

INTERVAL_RULE = "interval_v2"
TIE_RULE = "ties_overlap_v1"
NOISE_RULE = "seed_noise_v1"      # the default rule: tables whose scale YAML names none
NOISE_V2 = "seed_noise_v2"
MIN_TRACK_DF = 2                  # seed_noise_v2: a track's own pool needs this many df
ENTRY_FIELDS = ("scale", "track", "submission", "fingerprint", "scale_version", "suite", "suite_version")
# Metric names that mean lower is better (bits per byte, losses); every other metric is
# higher-is-better (accuracies, probabilities, CORE).
LOWER_BETTER_MARKS = ("bpb", "bits_per_byte", "loss", "perplexity")
Z95 = 1.959963984540054
# t(0.975, df) for df = 1..30; beyond 30 the normal quantile is within 2%.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else Z95


@dataclass(frozen=True)
class Noise:
    """The seed noise an entry is judged against: pooled sd and its df, and what it pooled."""

    sd: float | None
    df: int
    source: str = "all tracks"

    @property
    def pair(self) -> tuple[float | None, int]:
        return self.sd, self.df


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
    noise: Noise | None = None      # the seed noise its interval was computed from

    @property
    def first(self) -> dict:
        return self.rows[0]

    @property
    def seeds(self) -> list[int]:
        return sorted(r["seed"] for r in self.rows)


def entry_key(row: dict) -> tuple:
    return tuple(row[k] for k in ENTRY_FIELDS)


def higher_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (``LOWER_BETTER_MARKS`` name the others)."""
    return not any(mark in metric for mark in LOWER_BETTER_MARKS)


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


def _values_by_entry(rows: list[dict], metric: str) -> dict[tuple, list[float]]:
    by: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        v = value(r, metric)
        if isinstance(v, (int, float)):
            by[entry_key(r)].append(float(v))
    return by


def seed_noise(rows: list[dict], metric: str) -> tuple[float | None, int]:
    """(pooled sd, df) of ``metric`` over the entries of ``rows`` with 2+ seeds (``seed_noise_v1``);
    give it every row of one scale version and suite, all tracks (they share model and eval)."""
    return pooled_sd(list(_values_by_entry(rows, metric).values()))


def seed_noise_v1(rows: list[dict], metric: str) -> dict[tuple, Noise]:
    """Every entry of ``rows`` (one scale version and suite) gets the one all-tracks pool."""
    noise = Noise(*seed_noise(rows, metric), source="all tracks")
    return {entry_key(r): noise for r in rows}


def seed_noise_v2(rows: list[dict], metric: str) -> dict[tuple, Noise]:
    """Each entry of ``rows`` (one scale version and suite) gets its track's pool, or the scale
    version's (all tracks) where its track has fewer than ``MIN_TRACK_DF`` df (module docstring)."""
    by = _values_by_entry(rows, metric)
    overall = pooled_sd(list(by.values()))
    at = ENTRY_FIELDS.index("track")
    pools = {t: pooled_sd([v for k, v in by.items() if k[at] == t]) for t in {r["track"] for r in rows}}
    # every track short of MIN_TRACK_DF shares one all-tracks pool, which names each track's reason
    whys = sorted(f"the {t} track has {df} df" if df else f"no {t}-track entry has 2+ seeds"
                  for t, (_, df) in pools.items() if df < MIN_TRACK_DF)
    fallback = (Noise(*overall, source=f"all tracks ({', '.join(whys)})") if overall[1]
                else Noise(None, 0, "not measured"))
    out = {}
    for r in rows:
        s, df = pools[r["track"]]
        out[entry_key(r)] = Noise(s, df, f"{r['track']} track") if df >= MIN_TRACK_DF else fallback
    return out


NOISE_RULES = {"seed_noise_v1": seed_noise_v1, NOISE_V2: seed_noise_v2}


def entry_noise(rows: list[dict], metric: str, rule: str = NOISE_RULE) -> dict[tuple, Noise]:
    """{entry key: Noise} of ``metric`` for every entry of ``rows`` under the named rule."""
    if rule not in NOISE_RULES:
        raise ValueError(f"unknown seed-noise rule {rule!r}: {suggest(rule, sorted(NOISE_RULES))}")
    return NOISE_RULES[rule](rows, metric)


def differ(mean_a: float, n_a: int, noise_a: Noise | None, mean_b: float, n_b: int, noise_b: Noise | None) -> bool:
    """Whether two entries' means differ beyond their seed noise: the pooled two-sample t test when
    they share one pool (``beyond_noise``), else Welch's test with the Satterthwaite df."""
    if noise_a is None or noise_b is None or noise_a.sd is None or noise_b.sd is None:
        return False
    if noise_a.pair == noise_b.pair:
        return beyond_noise(mean_a, n_a, mean_b, n_b, noise_a.sd, noise_a.df)
    va, vb = noise_a.sd ** 2 / n_a, noise_b.sd ** 2 / n_b
    if va + vb == 0:
        return mean_a != mean_b
    df = (va + vb) ** 2 / (va ** 2 / noise_a.df + vb ** 2 / noise_b.df)
    return abs(mean_a - mean_b) > t975(max(1, int(df))) * math.sqrt(va + vb)


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
          noise: tuple[float | None, int] | dict[tuple, Noise] = (None, 0)) -> list[Entry]:
    """Entries ranked by the primary metric (best first, ``higher_better``) with ``TIE_RULE`` ranks;
    ``columns`` get seed means; ``noise``: the primary's seed noise for the intervals, either one
    (sd, df) for every entry (``seed_noise``) or {entry key: Noise} (``entry_noise``)."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by[entry_key(r)].append(r)
    entries = []
    for key, rs in by.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        se = (rs[0].get("aggregates_stderr") or {}).get(primary) if len(rs) == 1 else None
        n = noise.get(key, Noise(None, 0, "not measured")) if isinstance(noise, dict) else Noise(*noise)
        mean, low, high = mean_interval([value(r, primary) for r in rs], se, n.pair)
        e = Entry(key=key, rows=rs, primary=primary, mean=mean, low=low, high=high, noise=n)
        for c in columns:
            vals = [value(r, c) for r in rs if isinstance(value(r, c), (int, float))]
            e.means[c] = sum(vals) / len(vals) if vals else None
        entries.append(e)
    sign = -1.0 if higher_better(primary) else 1.0
    entries.sort(key=lambda e: (e.mean is None, sign * (e.mean or 0.0), e.key[2]))
    assign_ranks(entries)
    return entries


def assign_ranks(entries: list[Entry]) -> None:
    """``TIE_RULE``: 1 + the number of entries whose interval lies wholly on the better side."""
    for e in entries:
        if e.mean is None:
            e.rank = len(entries)
            continue
        if higher_better(e.primary):
            e.rank = 1 + sum(1 for o in entries if o is not e and o.low is not None and o.low > e.high)
        else:
            e.rank = 1 + sum(1 for o in entries if o is not e and o.high is not None and o.high < e.low)
    counts = defaultdict(int)
    for e in entries:
        counts[e.rank] += 1
    for e in entries:
        e.tied = counts[e.rank] > 1


# ------------------------------------------------------------------------------ rank agreement
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
