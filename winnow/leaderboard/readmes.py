"""Results sections of submission READMEs, generated from the leaderboard rows so they cannot drift.

A submission's README (``baselines/<name>/README.md``) may hold a block between ``<!-- results -->``
and ``<!-- /results -->``. ``winnow leaderboard build`` fills it from the board it built
(``tables.Board``): for every table
(scale, track, scale version, suite) where the submission has rows, its rank, each seed's row
(primary metric, CORE, held-out bits per byte, curation cost, row file) and, with 2+ seeds, the
mean ± standard deviation. ``baselines/README.md`` holds a ``<!-- baselines:summary -->`` block:
per scale (newest version; all tracks in one table, since they share model, budget and suite),
every ``baselines/*`` entry with its seed spread and its difference from ``baselines/random``,
marked where it exceeds the seed noise (``stats.NOISE_RULE``), and a line reading the scale's
order of DCLM's four reference recipes against DCLM's published one (``DCLM_ORDER``).

``winnow leaderboard check`` reports a block that differs from what ``build`` would write, so a
README's numbers are always its rows' numbers. Blocks are written with ``atomic_open``.
"""

from __future__ import annotations

from pathlib import Path

from winnow.io import atomic_open
from winnow.leaderboard.fmt import fmt, mean_sd, primary_text, rank_text, sci, seconds_text
from winnow.leaderboard.render import replace_marked
from winnow.leaderboard.rows import row_primary
from winnow.leaderboard.stats import (NOISE_RULE, TIE_RULE, Entry, Noise, beyond_noise, differ, entry_noise, group,
                                      higher_better, kendall_tau_b, pooled_sd, value)
from winnow.leaderboard.tables import (DEFAULT_FAMILY, Board, Table, budget, control_entry, curation_seconds,
                                       heldout_name, heldout_values, noise_rule, targets_of, task_measure, with_stderr)
from winnow.paths import REPO_ROOT

RESULTS = ("<!-- results -->", "<!-- /results -->")
SUMMARY = ("<!-- baselines:summary -->", "<!-- /baselines:summary -->")
BPB = "heldout.bits_per_byte"
# DCLM's published order of its reference recipes at the 1B scale, worst to best (Li et al. 2024:
# random pool sample < C4 < RefinedWeb < RefinedWeb heuristics + fastText OH-2.5+ELI5, i.e.
# DCLM-Baseline), as winnow's baselines reproduce them. A CPU track that ranks curation the way
# larger runs do should order them the same way.
DCLM_ORDER = ("random", "c4", "refinedweb", "dclm_baseline")


def _table_title(t: Table) -> str:
    return f"**{t.scale}** / {t.track} track ({t.versions}; ranked by {t.primary})"


def _core_column(t: Table) -> tuple[str, str] | None:
    return next(((n, h) for n, h in t.aggregates if h.startswith("CORE")), None)


def entry_section(t: Table, e: Entry) -> str:
    """One table's rows of one submission: a line per seed, then the seed mean ± sd."""
    core = _core_column(t)
    name = heldout_name(t.primary)
    heldout = name if any(value(r, name) is not None for r in e.rows) else None
    metrics = [(t.primary, f"**{t.primary}**")]
    metrics += [(heldout, f"CORE without targets ({task_measure(t.primary)})")] if heldout else []
    metrics += [core] if core else []
    metrics += [(BPB, "held-out bpb"), ("heldout.unigram_bits_per_byte", "unigram bpb")]
    head = ["seed", *(h for _, h in metrics), "curation CPU s", "curation FLOPs", "row"]
    lines = [f"{_table_title(t)}: rank {rank_text(e)} of {len(t.entries)}, "
             f"{t.primary} {primary_text(e)} (95% interval).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in e.rows:
        cost = r.get("curation_cost") or {}
        cells = [str(r["seed"]), *(fmt(value(r, n)) for n, _ in metrics),
                 seconds_text(curation_seconds([r])), sci(cost.get("flops")), f"`{Path(r.get('_path', '')).name}`"]
        lines.append("| " + " | ".join(cells) + " |")
    if len(e.rows) >= 2:
        cells = [f"mean ± sd ({len(e.rows)})", *(mean_sd([value(r, n) for r in e.rows]) for n, _ in metrics),
                 "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    ctrl = control_entry(t.entries)
    targets = targets_of(e)
    if heldout and targets and ctrl is not None and ctrl is not e:
        vals = heldout_values(ctrl.rows, targets, t.primary)
        lines += ["", f"baselines/random on the same tasks (CORE without {', '.join(targets)}; {heldout} "
                  f"from its rows' task scores): {mean_sd(vals)} over seeds {','.join(map(str, ctrl.seeds))}."]
    return "\n".join(lines)


def results_block(submission: str, tables: list[Table]) -> str:
    mine = [(t, e) for t in tables for e in t.entries if e.first["submission"] == submission]
    mine.sort(key=lambda te: (budget(te[1].rows), te[0].scale, -te[1].first["scale_version"]))
    parts = [entry_section(t, e) for t, e in mine]
    if not parts:
        return f"No leaderboard rows of `{submission}` yet (`winnow leaderboard build` fills this from them)."
    head = (f"Generated by `winnow leaderboard build` from the rows of `{submission}` under "
            "`leaderboard/rows/`; `winnow leaderboard check` fails when this differs from them.")
    return "\n\n".join([head, *parts])


def _noise(entries: list[Entry], metric: str, rule: str = NOISE_RULE) -> dict[tuple, Noise]:
    """Each entry's seed noise of ``metric`` under ``rule`` (``stats.NOISE_RULES``)."""
    return entry_noise([r for e in entries for r in e.rows], metric, rule)


def _mean(e: Entry, metric: str) -> float | None:
    """The seed mean ``group`` computed: the primary's, or a column's it was given."""
    return e.mean if metric == e.primary else e.means.get(metric)


def _delta(e: Entry, ctrl: Entry | None, metric: str, noise: dict[tuple, Noise]) -> str:
    if ctrl is None or e is ctrl:
        return "–"
    a, b = _mean(e, metric), _mean(ctrl, metric)
    if a is None or b is None:
        return "–"
    differs = differ(a, len(e.rows), noise.get(e.key), b, len(ctrl.rows), noise.get(ctrl.key))
    return f"{a - b:+.4f}{' *' if differs else ''}"


def _pools(noise: dict[tuple, Noise]) -> list[Noise]:
    """The distinct pools of a {entry: Noise} map, in a stable order."""
    return sorted(set(noise.values()), key=lambda n: n.source)


def summary_table(title: str, primary: str, entries: list[Entry], rule: str = NOISE_RULE) -> str:
    """Every baseline of one scale version and suite, all tracks together (they share the model,
    budget and evaluation), with its seed spread and difference from ``CONTROL``."""
    ctrl = control_entry(entries)
    noise_p, noise_b = _noise(entries, primary, rule), _noise(entries, BPB, rule)
    head = ["rank", "baseline", "track", "seeds", f"**{primary}** mean ± seed sd", "Δ vs random",
            "held-out bpb mean ± seed sd", "Δ bpb vs random", "curation CPU s", "flags"]
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        flags = ", ".join(k for k in ("targeted", "external_data") if (e.first.get("flags") or {}).get(k))
        lines.append("| " + " | ".join([
            rank_text(e), e.first["submission"].split("/", 1)[1], e.first["track"], ",".join(map(str, e.seeds)),
            mean_sd([value(r, primary) for r in e.rows]), _delta(e, ctrl, primary, noise_p),
            mean_sd([value(r, BPB) for r in e.rows]), _delta(e, ctrl, BPB, noise_b),
            seconds_text(curation_seconds(e.rows)), flags]) + " |")

    def noise_text(name: str, n: Noise | None) -> str:
        return f"{name} {n.sd:.4f} ({n.df} df)" if n is not None and n.sd is not None else f"{name}: not measured"

    lines += targeted_lines(entries, ctrl, rule, primary)
    lines += dclm_order_lines(entries, noise_p, primary)
    better = f"Higher {primary} is better" if higher_better(primary) else f"Lower {primary} is better"
    if all(n.sd is None for n in noise_p.values()):
        lines += ["", "Seed noise: not measured yet (no baseline here has 2+ seeds); no difference is marked."]
    elif rule == NOISE_RULE:
        (p_,), (b_,) = _pools(noise_p), _pools(noise_b)
        lines += ["", f"Seed noise ({NOISE_RULE}): pooled seed sd {noise_text(primary, p_)}; "
                  f"{noise_text('held-out bpb', b_)}; over the baselines with 2+ seeds. `*`: the "
                  "difference from random exceeds t(0.975, df) · pooled sd · √(1/n₁ + 1/n₂). "
                  f"{better}, lower bpb is better. Ranks: {TIE_RULE} over each entry's interval."]
    else:
        pools = "; ".join(f"{n.source}: {noise_text(primary, n)}" for n in _pools(noise_p))
        pools_b = "; ".join(f"{n.source}: {noise_text('held-out bpb', n)}" for n in _pools(noise_b))
        lines += ["", f"Seed noise ({rule}): each entry against the pooled seed sd of its track (the "
                  f"baselines with 2+ seeds there; a track with under 2 df takes all tracks'): {pools}; "
                  f"{pools_b}. `*`: the difference from random exceeds t(0.975, df) · pooled sd · "
                  "√(1/n₁ + 1/n₂) within one pool, Welch's t across pools. "
                  f"{better}, lower bpb is better. Ranks: {TIE_RULE} over each entry's interval."]
    return "\n".join(lines)


def targeted_lines(entries: list[Entry], ctrl: Entry | None, rule: str = NOISE_RULE,
                   primary: str = DEFAULT_FAMILY) -> list[str]:
    """For each targeted entry, its CORE without its targets against random's value of the same
    aggregate over the same tasks, marked ``*`` beyond the seed noise of that aggregate (pooled over
    the baselines with 2+ seeds, each scored on the same tasks; under seed_noise_v2 those of the
    entry's own track)."""
    out = []
    for e in entries:
        targets = targets_of(e)
        if not targets or ctrl is None:
            continue
        mine, theirs = heldout_values(e.rows, targets, primary), heldout_values(ctrl.rows, targets, primary)
        if not mine or not theirs:
            continue
        pool = [x for x in entries if rule == NOISE_RULE or x.first["track"] == e.first["track"]]
        s, df = pooled_sd([heldout_values(x.rows, targets, primary) for x in pool])
        a, b = sum(mine) / len(mine), sum(theirs) / len(theirs)
        mark = " *" if s is not None and beyond_noise(a, len(mine), b, len(theirs), s, df) else ""
        noise = (f"seed noise of this aggregate: pooled sd {s:.4f}, {df} df" if s is not None
                 else "its seed noise is not measured yet")
        out.append(f"- {e.first['submission'].split('/', 1)[1]} (targeted at {', '.join(targets)}): "
                   f"{heldout_name(primary)} {mean_sd(mine)} against random's {mean_sd(theirs)} on the same tasks, "
                   f"Δ {a - b:+.4f}{mark} ({noise})")
    return ["", "Targeted entries on CORE without their targets:", *out] if out else []


def dclm_order_lines(entries: list[Entry], noise: dict[tuple, Noise], primary: str) -> list[str]:
    """How this table orders DCLM's reference recipes (``DCLM_ORDER``) against DCLM's own order:
    winnow's order of those present, the Kendall tau between the two, and each step of DCLM's
    order with its difference here, marked ``*`` beyond the seed noise (as the Δ column is)."""
    by = {e.first["submission"].split("/", 1)[1]: e for e in entries}
    present = [n for n in DCLM_ORDER if n in by and by[n].mean is not None]
    if len(present) < 2:
        return []
    sign = 1 if higher_better(primary) else -1   # "better" as a larger number, for the tau
    tau = kendall_tau_b(list(range(len(present))), [sign * by[n].mean for n in present])
    ours = sorted(present, key=lambda n: -sign * by[n].mean)
    steps = []
    for lo, hi in zip(present, present[1:]):
        a, b = by[hi], by[lo]
        mark = " *" if differ(a.mean, len(a.rows), noise.get(a.key), b.mean, len(b.rows), noise.get(b.key)) else ""
        better = (a.mean - b.mean) * sign > 0
        steps.append(f"{hi} − {lo} {a.mean - b.mean:+.4f}{mark} ({'as DCLM' if better else 'reversed'})")
    return ["", f"Against DCLM's published order at 1B ({' < '.join(DCLM_ORDER)}; the "
            f"{len(present)} with rows here): {primary} orders them {' > '.join(ours)}, Kendall tau "
            f"{tau:+.2f} against DCLM's order. DCLM's steps here: {'; '.join(steps)}. "
            "`*`: beyond the seed noise, as in the Δ column."]


def summary_block(rows: list[dict]) -> str:
    """Per scale, the baselines' rows of its newest version (and that version's suite)."""
    rows = [with_stderr(r) for r in rows if str(r.get("submission", "")).startswith("baselines/")]
    if not rows:
        return "No baseline rows yet."
    parts = ["Generated by `winnow leaderboard build` from `leaderboard/rows/` (each scale's newest version)."]
    for scale in sorted({r["scale"] for r in rows}, key=lambda sc: (budget([r for r in rows if r["scale"] == sc]), sc)):
        rs = [r for r in rows if r["scale"] == scale]
        newest = max((r["scale_version"], r["suite"], r["suite_version"]) for r in rs)
        rs = [r for r in rs if (r["scale_version"], r["suite"], r["suite_version"]) == newest]
        primary = row_primary(rs[0])
        title = f"**{scale}** (scale v{newest[0]}, suite {newest[1]} v{newest[2]}; ranked by {primary})"
        rule = noise_rule(scale, newest[0])
        entries = group(rs, primary, (BPB,), entry_noise(rs, primary, rule))
        parts.append(summary_table(title, primary, entries, rule))
    return "\n\n".join(parts)


def readme_blocks(board: Board, root: Path = REPO_ROOT) -> dict[Path, list[tuple[tuple[str, str], str]]]:
    """{README path: [(markers, body)]} for every submission README under ``root/baselines``
    that has a results block, and the baselines summary."""
    tables = board.tables
    out: dict[Path, list] = {}
    for readme in sorted((root / "baselines").glob("*/README.md")):
        if RESULTS[0] in readme.read_text():
            sub = readme.parent.relative_to(root).as_posix()
            out[readme] = [(RESULTS, results_block(sub, tables))]
    index = root / "baselines" / "README.md"
    if index.exists() and SUMMARY[0] in index.read_text():
        out[index] = [(SUMMARY, summary_block(board.rows))]
    return out


def _filled(text: str, blocks: list[tuple[tuple[str, str], str]]) -> str:
    for markers, body in blocks:
        text = replace_marked(text, markers, body)
    return text


def write_readmes(board: Board, root: Path = REPO_ROOT) -> list[Path]:
    written = []
    for path, blocks in readme_blocks(board, root).items():
        text = path.read_text()
        new = _filled(text, blocks)
        if new != text:
            with atomic_open(path, "wt") as f:
                f.write(new)
            written.append(path)
    return written


def stale_readmes(board: Board, root: Path = REPO_ROOT) -> list[str]:
    """A problem line for each README whose generated block differs from the rows."""
    stale = []
    for path, blocks in readme_blocks(board, root).items():
        text = path.read_text()
        if _filled(text, blocks) != text:
            stale.append(f"{path.relative_to(root)}: its results block differs from the leaderboard rows "
                         "(run `winnow leaderboard build`)")
    return stale
