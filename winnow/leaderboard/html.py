"""The leaderboard as one self-contained static page (``winnow leaderboard build --html``).

The page leads with the CPU leaderboard track (the scale whose YAML says ``leaderboard: {lead:
true}``), newest version first: the primary metric's SNR and seed-to-seed Kendall tau
(``tables.signal_line``, the numbers of ``winnow analyze signal``), then a forest plot (inline
SVG: every entry of the scale version as its mean with its 95% interval bar, grouped by track and
ranked as in its table, a dashed line at baselines/random), then the tables. Other scales follow in
``tables.scale_order`` (training budget, smallest first), each CPU scale with its SNR line.

Everything is inline (CSS, a small script, SVG): the page opens from disk with no network. It has
one sortable table per scale and track (click a header: descending, click again: ascending; each
cell carries its sort key in ``data-v``), a per-task heatmap per table (cells coloured by the
task's value relative to the other entries), score against training FLOPs (one SVG scatter per
track, log-x, 95% intervals as bars, one colour per scale) and cross-scale agreement (decision
accuracy with its seed-bootstrap interval, Kendall tau and flips beyond noise, per metric and per
task, of every smaller scale against every larger one sharing two entries,
``winnow.leaderboard.agreement``). An entry flagged for
contamination (a task's gold share over the threshold, ``winnow.eval.contamination``) has its
table row shaded red, in bold.

Opened with ``#selftest`` the page tests itself: it clicks headers, checks the DOM order of the
rows and writes a JSON verdict into ``<pre id="selftest">`` (read by the browser test with
``chromium --headless --dump-dom``).
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from winnow.io import atomic_open
from winnow.leaderboard import agreement
from winnow.leaderboard.fmt import primary_text, rank_text
from winnow.leaderboard.render import LEGEND
from winnow.leaderboard.rowsets import SignalError
from winnow.leaderboard.stats import INTERVAL_RULE, TIE_RULE, higher_better
from winnow.leaderboard.tables import (CONTROL, Board, Table, budget, entry_flagged, is_lead, scale_order,
                                      task_measure)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
td.s,th.s{text-align:left}
th.sortable{cursor:pointer;background:#f3f3f3;user-select:none}
th.sortable:hover{background:#e6e6e6}
th[aria-sort=descending]::after{content:" \\25BC"}th[aria-sort=ascending]::after{content:" \\25B2"}
.heat td{min-width:42px;font-size:12px}
.note{color:#555;font-size:12px;max-width:1000px}
svg{background:#fafafa;border:1px solid #ddd}
p.signal{font-size:14px;background:#f4f7fb;border-left:4px solid #1f77b4;padding:6px 10px;max-width:1100px}
h2.lead{border-bottom:2px solid #1f77b4}
svg.forest text{font:12px system-ui,sans-serif}
#selftest{font-size:11px;color:#555}
tr.flagged td{background:#fde0dc;color:#a40000;font-weight:bold}
"""

SCRIPT = r"""
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0];
  const idx=Array.from(th.parentNode.children).indexOf(th);
  const numeric=th.dataset.type==='num';
  const dir=th.getAttribute('aria-sort')==='descending'?'ascending':'descending';
  table.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',dir);
  const key=tr=>{const v=tr.children[idx].dataset.v;
    if(numeric){const x=parseFloat(v);return isNaN(x)?-Infinity:x;} return (v||'').toLowerCase();};
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const ka=key(a),kb=key(b);const c=ka<kb?-1:ka>kb?1:0;return dir==='ascending'?c:-c;});
  rows.forEach(r=>body.appendChild(r));
}
document.querySelectorAll('table.board th.sortable').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
function selftest(){
  const out={tables:0,rows:0,checks:[],ok:true};
  const tables=document.querySelectorAll('table.board');
  out.tables=tables.length;
  tables.forEach(t=>{
    out.rows+=t.tBodies[0].rows.length;
    const ths=Array.from(t.querySelectorAll('th.sortable'));
    for(const th of ths){
      const idx=Array.from(th.parentNode.children).indexOf(th);
      const numeric=th.dataset.type==='num';
      for(const want of ['descending','ascending']){
        th.click();
        const vals=Array.from(t.tBodies[0].rows).map(r=>r.children[idx].dataset.v);
        const keys=vals.map(v=>numeric?(isNaN(parseFloat(v))?-Infinity:parseFloat(v)):(v||'').toLowerCase());
        let sorted=th.getAttribute('aria-sort')===want;
        for(let i=1;i<keys.length;i++){ if(want==='descending'?keys[i-1]<keys[i]:keys[i-1]>keys[i]) sorted=false; }
        const subs=Array.from(t.tBodies[0].rows).map(r=>r.children[1].dataset.v);
        out.checks.push({table:t.id,column:th.dataset.col,order:want,values:vals,submissions:subs,sorted:sorted});
        if(!sorted) out.ok=false;
      }
    }
  });
  out.heatmaps=document.querySelectorAll('table.heat').length;
  out.plots=document.querySelectorAll('svg.plot circle').length;
  const forests=Array.from(document.querySelectorAll('svg.forest'));
  const firstBoard=document.querySelector('table.board');
  out.forests=forests.length;
  out.forest_entries=document.querySelectorAll('svg.forest g.entry').length;
  out.forest_scale=forests.length?forests[0].dataset.scale:null;
  out.forest_first=forests.length>0&&!!firstBoard&&
    (forests[0].compareDocumentPosition(firstBoard)&Node.DOCUMENT_POSITION_FOLLOWING)>0;
  out.forest_ordered=true;
  forests.forEach(f=>{
    const higher=f.dataset.higher==='1';
    f.querySelectorAll('g.track').forEach(g=>{
      const m=Array.from(g.querySelectorAll('g.entry')).map(e=>parseFloat(e.dataset.mean));
      for(let i=1;i<m.length;i++){ if(higher?m[i-1]<m[i]:m[i-1]>m[i]) out.forest_ordered=false; }
      g.querySelectorAll('g.entry').forEach(e=>{   // the point lies on its bar
        const c=e.querySelector('circle'), l=e.querySelector('line.ci');
        if(l){const x=parseFloat(c.getAttribute('cx'));
          if(x<parseFloat(l.getAttribute('x1'))-0.5||x>parseFloat(l.getAttribute('x2'))+0.5) out.forest_ordered=false;}
      });
    });
  });
  out.sections=Array.from(document.querySelectorAll('h2.scale')).map(h=>h.dataset.scale);
  out.signal=Array.from(document.querySelectorAll('p.signal')).map(p=>p.textContent);
  if(!out.forest_ordered) out.ok=false;
  if(out.rows===0) out.ok=false;
  document.getElementById('selftest').textContent=JSON.stringify(out);
  document.title=(out.ok?'SELFTEST PASS':'SELFTEST FAIL')+' '+document.title;
}
if(location.hash==='#selftest') selftest();
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(v) -> str:
    return "" if v is None else repr(float(v))


def _table(t: Table, tid: str) -> str:
    cols = t.columns
    head = ['<th class="sortable" data-col="rank" data-type="num">rank</th>',
            '<th class="sortable s" data-col="submission" data-type="str">submission</th>',
            f'<th class="sortable" data-col="{_e(t.primary)}" data-type="num">{_e(t.primary)} (95% CI)</th>']
    head += [f'<th class="sortable{"" if c.numeric else " s"}" data-col="{_e(c.key)}" '
             f'data-type="{"num" if c.numeric else "str"}">{_e(c.header)}</th>' for c in cols]
    body = []
    for e in t.entries:
        cells = [f'<td data-v="{e.rank}">{_e(rank_text(e))}</td>',
                 f'<td class="s" data-v="{_e(e.first["submission"])}">{_e(e.first["submission"])}</td>',
                 f'<td data-v="{_num(e.mean)}" title="interval [{e.low}, {e.high}]">{_e(primary_text(e))}</td>']
        for c in cols:
            v = c.get(e)
            key = _num(v) if c.numeric and isinstance(v, (int, float)) else ("" if v is None else str(v))
            cells.append(f'<td class="{"" if c.numeric else "s"}" data-v="{_e(key)}">{_e(c.fmt(v))}</td>')
        body.append(('<tr class="flagged">' if entry_flagged(e) else "<tr>") + "".join(cells) + "</tr>")
    return (f'<table class="board" id="{tid}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _heat_colour(z: float) -> str:
    z = max(-2.0, min(2.0, z)) / 2.0
    if z >= 0:
        return f"rgb({int(255 - 155 * z)},{int(255 - 40 * z)},{int(255 - 155 * z)})"
    return f"rgb(255,{int(255 + 155 * z)},{int(255 + 155 * z)})"


def _heatmap(t: Table) -> str:
    metric = task_measure(t.primary)
    tasks = sorted({k for e in t.entries for r in e.rows for k in (r.get("tasks") or {})})
    vals: dict[tuple[int, str], float] = {}
    for i, e in enumerate(t.entries):
        for task in tasks:
            xs = [r["tasks"][task].get(metric) for r in e.rows if task in (r.get("tasks") or {})]
            xs = [x for x in xs if isinstance(x, (int, float))]
            if xs:
                vals[(i, task)] = sum(xs) / len(xs)
    head = "".join(f'<th title="{_e(task)}">{_e(task.replace("dclm_", ""))}</th>' for task in tasks)
    rows = []
    for i, e in enumerate(t.entries):
        cells = []
        for task in tasks:
            col = [vals[(k, task)] for k in range(len(t.entries)) if (k, task) in vals]
            v = vals.get((i, task))
            if v is None:
                cells.append("<td>–</td>")
                continue
            m = sum(col) / len(col)
            sd = math.sqrt(sum((x - m) ** 2 for x in col) / len(col)) or 1.0
            z = (v - m) / sd if higher_better(metric) else (m - v) / sd  # green is better either way
            cells.append(f'<td style="background:{_heat_colour(z)}" title="{_e(task)}: {v:.4f}">{v:.3f}</td>')
        rows.append(f'<tr><td class="s">{_e(e.first["submission"])}</td>{"".join(cells)}</tr>')
    return (f'<h3>Per-task {metric} ({t.scale} / {t.track})</h3><table class="heat"><thead><tr><th class="s">submission</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _scatter(tables: list[Table], track: str) -> str:
    pts = []
    scales = sorted({t.scale for t in tables})
    for t in tables:
        for e in t.entries:
            flops = [r.get("training", {}).get("flops") for r in e.rows]
            flops = [f for f in flops if isinstance(f, (int, float)) and f > 0]
            if e.mean is None or not flops:
                continue
            pts.append((math.log10(sum(flops) / len(flops)), e.mean, e.low, e.high, t.scale,
                        f"{e.first['submission']} @ {t.scale}: {t.primary} {primary_text(e)}"))
    w, h, pad = 640, 340, 50
    parts = [f'<svg class="plot" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">']
    if not pts:
        parts.append(f'<text x="{pad}" y="{h / 2}">no rows with training FLOPs</text></svg>')
        return "".join(parts)
    xs = [p[0] for p in pts]
    ys = [y for p in pts for y in (p[1], p[2], p[3]) if y is not None]
    x0, x1 = min(xs) - 0.3, max(xs) + 0.3
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.01, y1 + 0.01
    px = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)          # noqa: E731
    py = lambda y: h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)      # noqa: E731
    parts.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>'
                 f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>')
    for k in range(math.ceil(x0), math.floor(x1) + 1):
        parts.append(f'<text x="{px(k):.1f}" y="{h - pad + 16}" font-size="11" text-anchor="middle">1e{k}</text>')
    for y in (y0, (y0 + y1) / 2, y1):
        parts.append(f'<text x="{pad - 4}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end">{y:.3f}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 10}" font-size="12" text-anchor="middle">training FLOPs (log)</text>')
    for x, y, lo, hi, scale, label in pts:
        colour = PALETTE[scales.index(scale) % len(PALETTE)]
        if lo is not None and hi is not None and hi > lo:
            parts.append(f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" y2="{py(hi):.1f}" stroke="{colour}"/>')
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{colour}" fill-opacity="0.8">'
                     f'<title>{_e(label)}</title></circle>')
    for i, s in enumerate(scales):
        parts.append(f'<circle cx="{w - pad - 90}" cy="{pad + 14 * i}" r="4" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{w - pad - 80}" y="{pad + 14 * i + 4}" font-size="11">{_e(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


AGREEMENT_NOTE = ("How to read it: decision accuracy is the share of pairs of entries that the smaller scale "
                  "orders as the larger one does (ties count one half; 0.5 is chance; DataDecide reports about 0.8 "
                  "from 150M to 1B parameters), each scale at its newest version, the larger scale ranking by its "
                  "primary metric. The interval resamples each entry's seeds (95%, bootstrap). A flip is a pair "
                  "the two scales order differently; 'beyond noise' counts the flips that both scales separate "
                  "beyond their seed noise: those are real disagreements, the rest are coin tosses. "
                  "`winnow analyze agreement --scales A,B --per-task` prints the same numbers and every flip.")


def _agreement(rows: list[dict], order: list[str]) -> str:
    """Decision accuracy of every smaller scale against every larger one sharing 2+ entries
    (``winnow.leaderboard.agreement``): the small scale's primary metric and the alternatives,
    each with its bootstrap interval; per task in a fold."""
    f = lambda v, spec=".2f": "–" if v is None else format(v, spec)   # noqa: E731
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["scale"]].append(r)
    blocks = []
    for a, b in combinations(sorted(order, key=lambda s: (budget(by[s]), s)), 2):   # smaller scale first
        try:
            rep = agreement.analyze(rows, a, b, per_task="bpb")
        except SignalError:
            continue                       # fewer than two shared entries (or no rows at a version)
        def line(g) -> str:
            iv = f"{g.interval[0]:.2f}–{g.interval[1]:.2f}" if g.interval else "–"
            return (f'<tr><td class="s">{_e(g.metric)}</td><td>{f(g.decision_accuracy)}</td><td>{iv}</td>'
                    f"<td>{f(g.kendall_tau, '+.2f')}</td><td>{len(g.flips)}</td><td>{g.real_flips}</td></tr>")
        head = ('<table class="agree"><thead><tr><th class="s">metric at the smaller scale</th><th>decision accuracy</th>'
                "<th>95% interval</th><th>Kendall τ-b</th><th>flips</th><th>beyond noise</th></tr></thead><tbody>")
        blocks.append(f"<h3>{_e(rep.small)} → {_e(rep.large)}: {len(rep.entries)} entries, "
                      f"target {_e(rep.target)}</h3>" + head + "".join(line(g) for g in rep.metrics) + "</tbody></table>"
                      + (f"<details><summary>per task ({len(rep.tasks)})</summary>{head}"
                         + "".join(line(g) for g in rep.tasks) + "</tbody></table></details>" if rep.tasks else ""))
    if not blocks:
        return "<p class=note>no two scales share two entries yet: nothing to compare</p>"
    return f'<p class="note">{_e(AGREEMENT_NOTE)}</p>' + "".join(blocks)


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round-numbered axis ticks spanning [lo, hi]."""
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _forest(tables: list[Table]) -> str:
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
    parts = [f'<svg class="forest" data-scale="{_e(t0.scale)}" data-version="{t0.version}" '
             f'data-higher="{1 if higher else 0}" width="{w}" height="{height}" viewBox="0 0 {w} {height}" '
             'xmlns="http://www.w3.org/2000/svg" role="img">',
             f"<title>{_e(t0.scale)} v{t0.version}: {_e(t0.primary)} of every entry with its 95% interval</title>",
             f'<text x="8" y="18" font-weight="bold">{_e(t0.primary)} ({"higher" if higher else "lower"} is better; '
             f"95% intervals: {_e(t0.noise_rule)}, {INTERVAL_RULE}; ranks {TIE_RULE}, within each track)</text>"]
    ticks = _ticks(lo, hi)
    top, bottom = 30, height - 30
    for x in ticks:
        parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{bottom}" stroke="#e4e4e4"/>'
                     f'<text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{x:.4g}</text>')
    ctrl = next((e for t in tables for e in t.entries if e.first["submission"] == CONTROL and t.track == "filtering"), None)
    if ctrl is not None and ctrl.mean is not None:
        parts.append(f'<line class="control" x1="{px(ctrl.mean):.1f}" y1="{top}" x2="{px(ctrl.mean):.1f}" y2="{bottom}" '
                     f'stroke="#888" stroke-dasharray="4 3"><title>{_e(CONTROL)}: {ctrl.mean:.4f}</title></line>'
                     f'<text x="{px(ctrl.mean) + 3:.1f}" y="{top + 10}" font-size="10" fill="#666">{_e(CONTROL)}</text>')
    y = 44
    for t in tables:
        colour = palette[t.track]
        parts.append(f'<g class="track" data-track="{_e(t.track)}"><text x="8" y="{y + 14}" font-weight="bold" '
                     f'fill="{colour}">{_e(t.track)} track</text>')
        y += head
        for e in t.entries:
            if e.mean is None:
                continue
            cy = y + row / 2
            name = e.first["submission"]
            seeds = f"{len(e.rows)} seed{'s' if len(e.rows) > 1 else ''}"
            parts.append(f'<g class="entry" data-submission="{_e(name)}" data-mean="{e.mean!r}" data-low="{e.low!r}" '
                         f'data-high="{e.high!r}" data-rank="{e.rank}">'
                         f"<title>{_e(name)} ({_e(t.track)}): {_e(primary_text(e))}, rank {_e(rank_text(e))}, "
                         f"{seeds}; noise: {_e(e.noise.source if e.noise else 'not measured')}</title>"
                         f'<text x="8" y="{cy + 4:.1f}">{_e(rank_text(e))}</text>'
                         f'<text x="40" y="{cy + 4:.1f}">{_e(name)} <tspan fill="#777">({seeds})</tspan></text>')
            if e.low is not None and e.high is not None and e.high > e.low:
                parts.append(f'<line class="ci" x1="{px(e.low):.1f}" y1="{cy:.1f}" x2="{px(e.high):.1f}" y2="{cy:.1f}" '
                             f'stroke="{colour}" stroke-width="2"/>'
                             f'<line x1="{px(e.low):.1f}" y1="{cy - 4:.1f}" x2="{px(e.low):.1f}" y2="{cy + 4:.1f}" stroke="{colour}"/>'
                             f'<line x1="{px(e.high):.1f}" y1="{cy - 4:.1f}" x2="{px(e.high):.1f}" y2="{cy + 4:.1f}" stroke="{colour}"/>')
            parts.append(f'<circle cx="{px(e.mean):.1f}" cy="{cy:.1f}" r="4.5" fill="{colour}"/>'
                         f'<text x="{w - right + 10}" y="{cy + 4:.1f}">{_e(primary_text(e))}</text></g>')
            y += row
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _version_sections(tables: list[Table]) -> list[list[Table]]:
    """The tables grouped by (scale, version, suite), in ``board``'s order."""
    out: dict[tuple, list[Table]] = {}
    for t in tables:
        out.setdefault(t.model_key, []).append(t)
    return list(out.values())


def page(board: Board) -> str:
    """The page's HTML from the board ``winnow leaderboard build`` built."""
    rows, tables = board.rows, board.tables
    by_track: dict[str, list[Table]] = defaultdict(list)
    for t in tables:
        by_track[t.track].append(t)
    order = scale_order(rows)
    leads = [s for s in order if is_lead(s)]
    intro = (f"{', '.join(leads)} is the CPU leaderboard track (its scale YAML says <code>leaderboard: {{lead: true}}</code>) "
             "and comes first, newest version first; the other scales follow, smallest training budget first."
             if leads else "Scales in order of training budget, smallest first; newest version first.")
    body = ["<h1>winnow leaderboard</h1>", f'<p class="note">{intro}</p>', f'<p class="note">{_e(LEGEND)}</p>']
    if not tables:
        body.append("<p>No rows yet.</p>")
    n = 0
    for scale in order:
        lead = is_lead(scale)
        body.append(f'<h2 class="scale{" lead" if lead else ""}" data-scale="{_e(scale)}">{_e(scale)}'
                    f'{" — the CPU leaderboard track" if lead else ""}</h2>')
        for group in _version_sections([t for t in tables if t.scale == scale]):
            t0 = group[0]
            body.append(f"<h3>{_e(scale)} v{t0.version} (suite {_e(t0.model_key[2])} v{t0.model_key[3]})</h3>")
            if (signal := board.signal(scale, t0.version)) is not None:
                for line in signal.splitlines():
                    text = _e(line)
                    text = text.replace("`winnow analyze", "<code>winnow analyze").replace("`", "</code>")
                    body.append(f'<p class="signal">{text}</p>')
            if lead:
                body.append(_forest(group))
            for t in group:
                body.append(f"<h3>{_e(t.scale)} v{t.version} / {_e(t.track)} track</h3>"
                            f'<p class="note">{_e(t.versions)}; ranked by <b>{_e(t.primary)}</b>; seeds averaged, '
                            f"{_e(t.noise_rule)}, {INTERVAL_RULE}, {TIE_RULE}; click a header to sort.</p>")
                body.append(_table(t, f"board-{n}"))
                body.append(_heatmap(t))
                n += 1
    for track, ts in sorted(by_track.items()):
        body.append(f"<h2>Score against compute ({_e(track)} track)</h2>")
        body.append(_scatter(ts, track))
    body.append("<h2>Cross-scale agreement</h2>")
    body.append(_agreement(rows, order))
    data = json.dumps([{k: r.get(k) for k in ("submission", "scale", "track", "seed", "run_id")} for r in rows])
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>winnow leaderboard</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}"
            f'<pre id="selftest"></pre><script type="application/json" id="rows">{_e(data)}</script>'
            f"<script>{SCRIPT}</script></body></html>")


def write_html(board: Board, path: Path) -> Path:
    with atomic_open(path, "wt") as f:
        f.write(page(board))
    return path
