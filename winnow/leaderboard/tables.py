"""The leaderboard's tables, built once from the rows: what the Markdown, HTML and README writers show.

``board(rows)`` turns rows into ``Table``s: one per scale, track, scale version and suite (rows
made under another version of a scale, or another suite, are never ranked together), entries
grouped over seeds with ``winnow.leaderboard.stats`` intervals and tie ranks, and the shown
columns, and per table a view by each reported metric (``metric_views``: the same
``stats.entry_noise`` and ``stats.group`` as the primary, so every metric has its own intervals and
tie ranks). ``Board.of(rows)`` is what ``winnow leaderboard build`` computes once and hands to every
writer (``render`` for Markdown, ``html``, ``readmes``): the rows, their tables and each CPU scale
version's signal line. Columns are a registry (``TAIL_COLUMNS`` after the aggregates):
name -> (header, how to read it from an entry, format, whether the HTML page shows it unfolded),
so adding one is one line.

Order: the scale whose YAML says ``leaderboard: {lead: true}`` (the CPU leaderboard track) comes
first, then the other scales by training budget, smallest first (the order of README's scale
table); within a scale, newest version first. Each table's seed-noise rule is the scale YAML's
choice for that version (``noise_rule``). Above each version of a CPU scale, the primary metric's
SNR and seed-to-seed Kendall tau (``signal_line``), computed by ``winnow.leaderboard.signal.measure``:
the numbers ``winnow analyze signal`` prints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from winnow.config import ConfigError, group_file
from winnow.eval.contamination import format_summary
from winnow.eval.scoring import aggregate_stderr
from winnow.leaderboard import fmt as formats
from winnow.leaderboard import rowsets
from winnow.leaderboard import signal as sig
from winnow.leaderboard.rows import curation_times, is_cpu_scale, row_primary, targeted_aggregates
from winnow.leaderboard.stats import NOISE_RULE, NOISE_RULES, Entry, entry_noise, group, value

CATEGORY_PREFIX = "category_"
CONTROL = "baselines/random"        # the uniform sample every entry is read against
# A primary metric's family: the aggregate over CORE without a targeted entry's targets (the
# primary's analogue, winnow.eval.aggregates) and the per-task value the heatmaps show. A new
# primary metric adds one line.
PRIMARY_FAMILIES = {
    "core_prob_v1": ("core_heldout_prob_v1", "prob"),
    "core_gold_bpb_v1": ("core_heldout_gold_bpb_v1", "bpb"),
    "core_gold_bpb_pooled_v1": ("core_heldout_gold_bpb_pooled_v1", "bpb"),
    "core_gold_bpb_v2": ("core_heldout_gold_bpb_v2", "bpb"),
    "core_gold_bpb_pooled_v2": ("core_heldout_gold_bpb_pooled_v2", "bpb"),
}
DEFAULT_FAMILY = "core_prob_v1"


def heldout_name(primary: str) -> str:
    """The CORE-without-targets analogue of ``primary`` (core_prob_v1's for other metrics)."""
    return PRIMARY_FAMILIES.get(primary, PRIMARY_FAMILIES[DEFAULT_FAMILY])[0]


def task_measure(primary: str) -> str:
    """The per-task value shown beside ``primary``: its family's, else prob or acc by name."""
    if primary in PRIMARY_FAMILIES:
        return PRIMARY_FAMILIES[primary][1]
    return "prob" if "prob" in primary else "acc"


def scale_config(scale: str) -> dict:
    """The committed YAML of a scale, or {} for a scale conf/scale/ does not define."""
    try:
        return group_file("scale", scale)
    except ConfigError:
        return {}


def is_lead(scale: str) -> bool:
    """Whether the scale's YAML marks it as the leaderboard track (``leaderboard: {lead: true}``)."""
    return bool((scale_config(scale).get("leaderboard") or {}).get("lead"))


def budget(rows: list[dict]) -> float:
    """The most tokens any of the rows trained on (how scales are ordered)."""
    return max((float((r.get("training") or {}).get("tokens") or 0) for r in rows), default=0.0)


def scale_order(rows: list[dict]) -> list[str]:
    """Scales with rows: the lead scale(s) first, then by training budget, smallest first."""
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["scale"]].append(r)
    return sorted(by, key=lambda s: (not is_lead(s), budget(by[s]), s))


def signal_line(rows: list[dict], scale: str, version: int) -> str:
    """The primary metric's SNR and seed-to-seed tau over the rows of ``scale`` at ``version``,
    from ``signal.measure`` on the same rows ``winnow analyze signal`` reads (one line per suite)."""
    lines = []
    groups = rowsets.groups(rowsets.select(rows, scale, version, "the rows"))
    for g in groups:
        primary = rowsets.primary_of(g.rows) or ""
        s = sig.measure(g.rows, f"aggregates.{primary}")
        how = f"computed by `winnow analyze signal --scale {scale} --version {version}`"
        head = f"{g.label}: " if len(groups) > 1 else ""
        if s.snr is None:
            lines.append(f"{head}primary metric {primary}: SNR not measured yet ({s.entries} "
                         f"entr{'y' if s.entries == 1 else 'ies'}, {s.multi} with 2+ seeds; it needs two); {how}")
            continue
        pairs = ", ".join(f"{k}: {v['tau']:+.2f} over {v['entries']}" for k, v in s.taus.items() if v["tau"] is not None)
        tau = (f"seed-to-seed Kendall tau {s.tau:+.2f} (mean over seed pairs; {pairs})" if s.tau is not None
               else "seed-to-seed Kendall tau not measured (no two entries share two seeds)")
        lines.append(f"{head}primary metric {primary}: SNR {s.snr:.2f} (spread {s.spread:.3g} / seed sd "
                     f"{s.seed_sd:.3g} over {s.multi} entries with 2+ seeds), {tau}; {s.separated} of {s.pairs} "
                     f"entry pairs differ beyond seed noise; {how}")
    return "\n".join(lines)


def noise_rule(scale: str, version: int) -> str:
    """The seed-noise rule of a table of ``scale`` at ``version``, from the scale YAML's
    ``leaderboard.noise``: ``{rule: seed_noise_v2, from_version: 3}`` (or a list of such, the rule
    with the highest ``from_version`` <= ``version`` applies), or a bare rule name, which applies
    from the YAML's own ``version`` on. Versions before any of them, and scales whose YAML says
    nothing, use ``NOISE_RULE`` (seed_noise_v1), so a published table keeps its numbers."""
    cfg = scale_config(scale)
    spec = (cfg.get("leaderboard") or {}).get("noise")
    if not spec:
        return NOISE_RULE
    if isinstance(spec, str):
        spec = {"rule": spec, "from_version": cfg.get("version")}
    steps = spec if isinstance(spec, list) else [spec]
    chosen, since = NOISE_RULE, None
    for step in steps:
        rule, first = (step or {}).get("rule"), (step or {}).get("from_version")
        if rule not in NOISE_RULES or not isinstance(first, int):
            raise ConfigError(f"conf/scale/{scale}.yaml: leaderboard.noise entry {step!r} needs `rule` (one of "
                              f"{', '.join(sorted(NOISE_RULES))}) and an integer `from_version`")
        if first <= version and (since is None or first > since):
            chosen, since = rule, first
    return chosen


def _first_present(rows: list[dict], names: tuple[str, ...]) -> str | None:
    for n in names:
        if any((r.get("aggregates") or {}).get(n) is not None for r in rows):
            return n
    return None


def contamination_text(c: dict | None) -> str:
    """A row's contamination: the shares of evaluated items whose gold / context the trained
    tokens hold (FLAGGED first when over the threshold); rows made before every run measured it
    show the ``decontaminate`` step's document count, or "not measured"."""
    if not c or not c.get("measured"):
        return "not measured"
    if "rule" not in c:   # eval stage < 4: the decontaminate step's own numbers only
        return f"{c.get('contaminated_docs', 0)} docs" + (f", {c['removed']} removed" if c.get("removed") else "")
    return format_summary(c)


def entry_contamination(e: Entry) -> dict | None:
    """The contamination an entry shows: its most contaminated seed's (highest task gold share)."""
    def key(r: dict) -> tuple:
        c = r.get("contamination") or {}
        return (bool(c.get("measured")), "rule" in c, c.get("max_task_gold") or 0.0)
    return max(e.rows, key=key).get("contamination")


def entry_flagged(e: Entry) -> bool:
    return any((r.get("contamination") or {}).get("flagged") for r in e.rows)


def flags_text(row: dict) -> str:
    f = row.get("flags") or {}
    out = [name for key, name in (("plugin_code", "plugin code"), ("targeted", "targeted"),
                                  ("external_data", "external data"), ("ids_list", "id list")) if f.get(key)]
    return ", ".join(out)


@dataclass
class Column:
    key: str
    header: str
    get: Callable[[Entry], object]
    fmt: Callable[[object], str] = formats.fmt
    numeric: bool = True
    main: bool = False     # shown unfolded on the HTML page (the rest sit behind its column toggle)


def _mean_or_none(vals: list) -> float | None:
    """Mean of the numbers among ``vals``; None when there are none."""
    vals = [v for v in vals if isinstance(v, (int, float))]
    return sum(vals) / len(vals) if vals else None


def _row_mean(section: str, field: str) -> Callable[[Entry], object]:
    """Column getter: the seed mean of ``row[section][field]``."""
    return lambda e: _mean_or_none([(r.get(section) or {}).get(field) for r in e.rows])


class CurationSeconds(float):
    """Mean curation seconds of some rows, and whether they are CPU or (only) wall-clock time."""
    kind: str = "cpu"


def curation_seconds(rows: list[dict]) -> CurationSeconds | None:
    """The rows' mean curation CPU seconds when every row measured them, else their mean
    wall-clock seconds marked ``kind = "wall"`` (CPU and wall time are never averaged together)."""
    times = [curation_times(r) for r in rows]
    for kind in ("cpu", "wall"):
        vals = [t[kind] for t in times]
        if vals and all(isinstance(v, (int, float)) for v in vals):
            out = CurationSeconds(sum(vals) / len(vals))
            out.kind = kind
            return out
    return None


def targets_of(e: Entry) -> list[str]:
    return list(e.first.get("targets") or []) if (e.first.get("flags") or {}).get("targeted") else []


def heldout_values(rows: list[dict], targets: list[str], primary: str = DEFAULT_FAMILY) -> list[float]:
    """Each row's ``heldout_name(primary)`` over CORE minus ``targets``, recomputed from its task
    scores, so an untargeted entry (the control) is scored on exactly the tasks a targeted entry is
    ranked on."""
    name = heldout_name(primary)
    vals = [targeted_aggregates(r["tasks"], targets).get(name) for r in rows if targets and r.get("tasks")]
    return [float(v) for v in vals if isinstance(v, (int, float))]


def control_entry(entries: list[Entry]) -> Entry | None:
    return next((e for e in entries if e.first["submission"] == CONTROL and e.first["track"] == "filtering"), None)


def heldout_columns(entries: list[Entry], primary: str = DEFAULT_FAMILY) -> list[Column]:
    """For a table with targeted entries: their CORE without targets, and the control's (random's)
    value of the same aggregate over the same tasks, so a targeted row is never read against the
    untargeted primary metric alone. Empty when no entry is targeted."""
    if not any(targets_of(e) for e in entries):
        return []
    ctrl = control_entry(entries)
    return [
        Column("core_heldout", f"CORE w/o targets ({task_measure(primary)})",
               lambda e: _mean_or_none(heldout_values(e.rows, targets_of(e), primary)), main=True),
        Column("control_heldout", "random, same tasks",
               lambda e: _mean_or_none(heldout_values(ctrl.rows, targets_of(e), primary)) if ctrl else None,
               main=True),
    ]


# Fixed columns after the aggregates (name -> Column). Held-out bits per byte (lower is better)
# separates data recipes at CPU scales where task metrics sit near chance.
TAIL_COLUMNS = {
    "heldout_bpb": Column("heldout_bpb", "held-out bpb", _row_mean("heldout", "bits_per_byte"), lambda v: formats.fmt(v, 3),
                          main=True),
    "unigram_bpb": Column("unigram_bpb", "unigram bpb", _row_mean("heldout", "unigram_bits_per_byte"), lambda v: formats.fmt(v, 3)),
    "tokens": Column("tokens", "train tokens", _row_mean("training", "tokens"), lambda v: formats.fmt(int(v)) if v else "–"),
    "passes": Column("passes", "passes", _row_mean("training", "passes"), lambda v: formats.fmt(v, 2)),
    "train_flops": Column("train_flops", "train FLOPs", _row_mean("training", "flops"), formats.sci),
    "cpu_seconds": Column("cpu_seconds", "curation CPU s", lambda e: curation_seconds(e.rows), formats.seconds_text),
    "curation_flops": Column("curation_flops", "curation FLOPs", _row_mean("curation_cost", "flops"), formats.sci),
    "contamination": Column("contamination", "contamination", lambda e: contamination_text(entry_contamination(e)),
                            str, numeric=False),
    "seeds": Column("seeds", "seeds", lambda e: len(e.rows), str, main=True),
    "flags": Column("flags", "flags", lambda e: flags_text(e.first), str, numeric=False, main=True),
}


@dataclass
class Table:
    scale: str
    track: str
    primary: str
    versions: str
    entries: list[Entry]
    aggregates: list[tuple[str, str]]     # (aggregate name, header)
    noise_rule: str = NOISE_RULE
    model_rows: list[dict] = field(default_factory=list)   # every track's rows of this model and suite
    views: dict[str, list[Entry]] = field(default_factory=dict)   # metric -> entries (``metric_views``)

    @property
    def version(self) -> int:
        return self.entries[0].first["scale_version"]

    @property
    def model_key(self) -> tuple:
        """(scale, version, suite, suite version): the tables sharing a model and evaluation."""
        f = self.entries[0].first
        return self.scale, f["scale_version"], f["suite"], f["suite_version"]

    @property
    def columns(self) -> list[Column]:
        aggs = [Column(n, h, (lambda e, n=n: e.means.get(n))) for n, h in self.aggregates]
        return aggs + heldout_columns(self.entries, self.primary) + list(TAIL_COLUMNS.values())


def _aggregate_columns(rows: list[dict], primary: str) -> list[tuple[str, str]]:
    cols = []
    for label, names in (("CORE", ("core_v2", "core_v2_partial")), ("EXTENDED", ("extended_v2", "extended_v2_partial")),
                         ("MMLU", ("mmlu",))):
        n = _first_present(rows, names)
        if n and n != primary:
            cols.append((n, label + (" (partial)" if n.endswith("_partial") else "")))
    cats = sorted({k for r in rows for k, v in (r.get("aggregates") or {}).items()
                   if k.startswith(CATEGORY_PREFIX) and "_v2" in k and v is not None})
    for k in cats:
        slug = k[len(CATEGORY_PREFIX):].split("_v2")[0]
        cols.append((k, slug.replace("_", " ")))
    return cols


HELDOUT_BPB = "heldout.bits_per_byte"     # a row's held-out bpb, as ``stats.value`` reads a dotted path


def metric_label(t: Table, metric: str) -> str:
    """How the page names a metric of ``t``'s views: its column header, else its own name."""
    if metric == HELDOUT_BPB:
        return "held-out bpb"
    return dict(t.aggregates).get(metric, metric)


def metric_views(t: Table) -> dict[str, list[Entry]]:
    """{metric: entries} for every metric the table reports: the primary (its own entries), the
    other primary-family aggregates its rows carry, its aggregate columns and held-out bpb. Each
    is ranked as the primary is: seed noise of that metric by the table's rule over the model's
    rows (``stats.entry_noise``), intervals and tie ranks by ``stats.group``."""
    rows = [r for e in t.entries for r in e.rows]
    names = [t.primary] + [m for m in PRIMARY_FAMILIES if m != t.primary]
    names += [n for n, _ in t.aggregates] + [HELDOUT_BPB]
    views: dict[str, list[Entry]] = {t.primary: t.entries}
    for m in names[1:]:
        if m in views or not any(isinstance(value(r, m), (int, float)) for r in rows):
            continue
        views[m] = group(rows, m, (), entry_noise(t.model_rows, m, t.noise_rule))
    return views


def with_stderr(row: dict) -> dict:
    """Schema-1 rows carry no ``aggregates_stderr``: derive it from their per-task stderrs."""
    if row.get("aggregates_stderr") or not row.get("tasks"):
        return row
    try:
        return {**row, "aggregates_stderr": aggregate_stderr(row["tasks"])}
    except (KeyError, TypeError, ValueError):
        return row


def board(rows: list[dict]) -> list[Table]:
    """One table per scale, track, scale version and suite: rows made under another version of a
    scale (or another suite) are not comparable and are never ranked together. Scales in
    ``scale_order``, newest version first, then suite and track."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    same_model: dict[tuple, list[dict]] = defaultdict(list)   # all tracks: they share model and eval
    for r in map(with_stderr, rows):
        by[(r["scale"], r["track"], r["scale_version"], r["suite"], r["suite_version"])].append(r)
        same_model[(r["scale"], r["scale_version"], r["suite"], r["suite_version"])].append(r)
    tables = []
    order = {s: i for i, s in enumerate(scale_order(rows))}
    for (scale, track, *vs), rs in sorted(by.items(), key=lambda kv: (order[kv[0][0]], -kv[0][2], kv[0][3:], kv[0][1])):
        primary = row_primary(rs[0])
        aggs = _aggregate_columns(rs, primary)
        rule = noise_rule(scale, vs[0])
        noise = entry_noise(same_model[(scale, *vs)], primary, rule)
        entries = group(rs, primary, tuple(n for n, _ in aggs), noise)
        versions = ", ".join(f"scale v{a}, suite {b} v{c}" for a, b, c in
                             sorted({(r["scale_version"], r["suite"], r["suite_version"]) for r in rs}))
        t = Table(scale, track, primary, versions, entries, aggs, rule, same_model[(scale, *vs)])
        t.views = metric_views(t)
        tables.append(t)
    return tables


@dataclass(frozen=True)
class Board:
    """The leaderboard built once: the rows, their tables and the signal line of each CPU scale
    version (``signal_line``), which every writer reads instead of recomputing them."""

    rows: list[dict]
    tables: list[Table]
    signals: dict[tuple[str, int], str]

    @classmethod
    def of(cls, rows: list[dict]) -> "Board":
        tables = board(rows)
        signals = {}
        for t in tables:
            if (t.scale, t.version) not in signals and is_cpu_scale(scale_config(t.scale)):
                signals[(t.scale, t.version)] = signal_line(rows, t.scale, t.version)
        return cls(rows, tables, signals)

    def signal(self, scale: str, version: int) -> str | None:
        """The signal line above ``scale`` at ``version``; None for a GPU scale (none shown)."""
        return self.signals.get((scale, version))
