"""The leaderboard page's SVG plots: the forest plot of a scale version's entries (mean and 95%
interval per entry, grouped by track, a dashed line at the control) and the score-against-compute
scatter (log FLOPs, a colour per scale version). Both are inline SVG strings with a ``<title>`` per
point, so the page needs no plotting library and no network."""

from __future__ import annotations

import math

from winnow.leaderboard.fmt import primary_text, rank_text
from winnow.leaderboard.markup import esc
from winnow.leaderboard.stats import INTERVAL_RULE, TIE_RULE, higher_better
from winnow.leaderboard.tables import CONTROL, Table

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def unit(metric: str) -> str:
    """The unit of a metric's values on a plot axis."""
    if not higher_better(metric):
        return "bits per byte, lower is better"
    return "probability above chance, higher is better" if "prob" in metric else "score, higher is better"


def axis_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round-numbered axis ticks spanning [lo, hi]."""
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def scatter(tables: list[Table], track: str) -> str:
    """Score against training FLOPs for one track and one primary metric: a point per entry (its
    95% interval as a bar), a colour per scale version, labelled axes, each point's entry in its
    hover title."""
    pts = []
    series = [f"{s} v{v}" for s, v in sorted({(t.scale, t.version) for t in tables})]
    primary = tables[0].primary
    for t in tables:
        for e in t.entries:
            flops = [r.get("training", {}).get("flops") for r in e.rows]
            flops = [f for f in flops if isinstance(f, (int, float)) and f > 0]
            if e.mean is None or not flops:
                continue
            pts.append((math.log10(sum(flops) / len(flops)), e.mean, e.low, e.high, f"{t.scale} v{t.version}",
                        f"{e.first['submission']} @ {t.scale} v{t.version}: {t.primary} {primary_text(e)}, "
                        f"rank {rank_text(e)}, {sum(flops) / len(flops):.3g} FLOPs"))
    w, h, left, pad = 760, 360, 80, 44
    parts = [f'<svg class="plot" data-track="{esc(track)}" data-metric="{esc(primary)}" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img">'
             f"<title>{esc(primary)} against training FLOPs, {esc(track)} track</title>"]
    if not pts:
        parts.append(f'<text x="{left}" y="{h / 2}">no rows with training FLOPs</text></svg>')
        return "".join(parts)
    series = [s for s in series if any(p[4] == s for p in pts)]    # versions without FLOPs draw nothing
    xs = [p[0] for p in pts]
    ys = [y for p in pts for y in (p[1], p[2], p[3]) if y is not None]
    x0, x1 = min(xs) - 0.3, max(xs) + 0.3
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.01, y1 + 0.01
    right = 150     # the legend
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)      # noqa: E731
    py = lambda y: h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)        # noqa: E731
    parts.append(f'<line x1="{left}" y1="{h - pad}" x2="{w - right}" y2="{h - pad}" stroke="#888"/>'
                 f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{h - pad}" stroke="#888"/>')
    for k in range(math.floor(x0), math.ceil(x1) + 1):     # 1, 2 and 5 of each decade in range
        for m in (1, 2, 5) if x1 - x0 < 3 else (1,):
            if x0 <= k + math.log10(m) <= x1:
                x = px(k + math.log10(m))
                parts.append(f'<line x1="{x:.1f}" y1="{h - pad}" x2="{x:.1f}" y2="{h - pad + 4}" stroke="#888"/>'
                             f'<text x="{x:.1f}" y="{h - pad + 16}" font-size="11" text-anchor="middle">{m}e{k}</text>')
    for y in axis_ticks(y0, y1, 5):
        parts.append(f'<line x1="{left - 4}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end">{y:.4g}</text>')
    parts.append(f'<text class="xlabel" x="{(left + w - right) / 2}" y="{h - 8}" font-size="12" text-anchor="middle">'
                 "training compute (FLOPs, log scale)</text>"
                 f'<text class="ylabel" transform="translate(16 {h / 2}) rotate(-90)" font-size="12" text-anchor="middle">'
                 f"{esc(primary)} ({esc(unit(primary))})</text>")
    for x, y, lo, hi, s, label in pts:
        colour = PALETTE[series.index(s) % len(PALETTE)]
        if lo is not None and hi is not None and hi > lo:
            parts.append(f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" y2="{py(hi):.1f}" stroke="{colour}"/>')
        parts.append(f'<circle class="pt" cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{colour}" fill-opacity="0.8">'
                     f'<title>{esc(label)}</title></circle>')
    for i, s in enumerate(series):
        parts.append(f'<circle cx="{w - right + 16}" cy="{pad + 16 * i}" r="4" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{w - right + 26}" y="{pad + 16 * i + 4}" font-size="11">{esc(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def forest(tables: list[Table]) -> str:
    """One scale version's entries, every track, as points with their 95% interval bars: a track
    per block, entries in their table's order (rank, then mean), best at the top."""
    entries = [(t, e) for t in tables for e in t.entries if e.mean is not None]
    if not entries:
        return ""
    t0 = tables[0]
    higher = higher_better(t0.primary)
    xs = [v for _, e in entries for v in (e.mean, e.low, e.high) if v is not None]
    lo, hi = min(xs), max(xs)
    pad_ = (hi - lo) * 0.05 or 0.01
    lo, hi = lo - pad_, hi + pad_
    left, right, row, head = 330, 150, 20, 24
    w = 1000
    plot_w = w - left - right
    px = lambda x: left + (x - lo) / (hi - lo) * plot_w        # noqa: E731
    height = 44 + sum(head + row * len(t.entries) for t in tables) + 36
    palette = {t.track: PALETTE[i % len(PALETTE)] for i, t in enumerate(sorted(tables, key=lambda t: t.track))}
    parts = [f'<svg class="forest" data-scale="{esc(t0.scale)}" data-version="{t0.version}" '
             f'data-higher="{1 if higher else 0}" width="{w}" height="{height}" viewBox="0 0 {w} {height}" '
             'xmlns="http://www.w3.org/2000/svg" role="img">',
             f"<title>{esc(t0.scale)} v{t0.version}: {esc(t0.primary)} of every entry with its 95% interval</title>",
             f'<text x="8" y="18" font-weight="bold">{esc(t0.primary)} ({"higher" if higher else "lower"} is better; '
             f"95% intervals: {esc(t0.noise_rule)}, {INTERVAL_RULE}; ranks {TIE_RULE}, within each track)</text>"]
    ticks = axis_ticks(lo, hi)
    top, bottom = 30, height - 30
    for x in ticks:
        parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{bottom}" stroke="#e4e4e4"/>'
                     f'<text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{x:.4g}</text>')
    ctrl = next((e for t in tables for e in t.entries if e.first["submission"] == CONTROL and t.track == "filtering"), None)
    if ctrl is not None and ctrl.mean is not None:
        parts.append(f'<line class="control" x1="{px(ctrl.mean):.1f}" y1="{top}" x2="{px(ctrl.mean):.1f}" y2="{bottom}" '
                     f'stroke="#888" stroke-dasharray="4 3"><title>{esc(CONTROL)}: {ctrl.mean:.4f}</title></line>'
                     f'<text x="{px(ctrl.mean) + 3:.1f}" y="{top + 10}" font-size="10" fill="#666">{esc(CONTROL)}</text>')
    y = 44
    for t in tables:
        colour = palette[t.track]
        parts.append(f'<g class="track" data-track="{esc(t.track)}"><text x="8" y="{y + 14}" font-weight="bold" '
                     f'fill="{colour}">{esc(t.track)} track</text>')
        y += head
        for e in t.entries:
            if e.mean is None:
                continue
            cy = y + row / 2
            name = e.first["submission"]
            seeds = f"{len(e.rows)} seed{'s' if len(e.rows) > 1 else ''}"
            parts.append(f'<g class="entry" data-submission="{esc(name)}" data-mean="{e.mean!r}" data-low="{e.low!r}" '
                         f'data-high="{e.high!r}" data-rank="{e.rank}">'
                         f"<title>{esc(name)} ({esc(t.track)}): {esc(primary_text(e))}, rank {esc(rank_text(e))}, "
                         f"{seeds}; noise: {esc(e.noise.source if e.noise else 'not measured')}</title>"
                         f'<text x="8" y="{cy + 4:.1f}">{esc(rank_text(e))}</text>'
                         f'<text x="40" y="{cy + 4:.1f}">{esc(name)} <tspan fill="#777">({seeds})</tspan></text>')
            if e.low is not None and e.high is not None and e.high > e.low:
                parts.append(f'<line class="ci" x1="{px(e.low):.1f}" y1="{cy:.1f}" x2="{px(e.high):.1f}" y2="{cy:.1f}" '
                             f'stroke="{colour}" stroke-width="2"/>'
                             f'<line x1="{px(e.low):.1f}" y1="{cy - 4:.1f}" x2="{px(e.low):.1f}" y2="{cy + 4:.1f}" stroke="{colour}"/>'
                             f'<line x1="{px(e.high):.1f}" y1="{cy - 4:.1f}" x2="{px(e.high):.1f}" y2="{cy + 4:.1f}" stroke="{colour}"/>')
            parts.append(f'<circle cx="{px(e.mean):.1f}" cy="{cy:.1f}" r="4.5" fill="{colour}"/>'
                         f'<text x="{w - right + 10}" y="{cy + 4:.1f}">{esc(primary_text(e))}</text></g>')
            y += row
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)

