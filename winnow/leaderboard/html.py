"""The leaderboard as one self-contained static page (``winnow leaderboard build --html``).

Everything is inline (CSS, a small script, SVG): the page opens from disk with no network. It has
one sortable table per scale and track (click a header: descending, click again: ascending; each
cell carries its sort key in ``data-v``), a per-task heatmap per table (cells coloured by the
task's value relative to the other entries), score against training FLOPs (one SVG scatter per
track, log-x, 95% intervals as bars, one colour per scale) and cross-scale agreement (decision
accuracy, Spearman, Kendall for every pair of scales sharing submissions).

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
from winnow.leaderboard.render import LEGEND, Table, board, primary_text, rank_text
from winnow.leaderboard.stats import agreement

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
#selftest{font-size:11px;color:#555}
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
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="board" id="{tid}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _task_metric(primary: str) -> str:
    return "prob" if "prob" in primary else "acc"


def _heat_colour(z: float) -> str:
    z = max(-2.0, min(2.0, z)) / 2.0
    if z >= 0:
        return f"rgb({int(255 - 155 * z)},{int(255 - 40 * z)},{int(255 - 155 * z)})"
    return f"rgb(255,{int(255 + 155 * z)},{int(255 + 155 * z)})"


def _heatmap(t: Table) -> str:
    metric = _task_metric(t.primary)
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
            cells.append(f'<td style="background:{_heat_colour((v - m) / sd)}" title="{_e(task)}: {v:.4f}">{v:.3f}</td>')
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


def _agreement(rows: list[dict], track: str) -> str:
    scales = sorted({r["scale"] for r in rows if r["track"] == track})
    lines = []
    for a, b in combinations(scales, 2):
        ag = agreement(rows, a, b, track)
        if ag.n < 2:
            lines.append(f'<tr><td class="s">{_e(a)} vs {_e(b)}</td><td>{ag.n}</td><td colspan="3">'
                         "fewer than 2 common submissions</td></tr>")
            continue
        s = ag.summary()
        f = lambda v: "–" if v is None else f"{v:.3f}"   # noqa: E731
        lines.append(f'<tr><td class="s">{_e(a)} vs {_e(b)}</td><td>{ag.n}</td><td>{f(s["decision_accuracy"])}</td>'
                     f'<td>{f(s["spearman"])}</td><td>{f(s["kendall_tau_b"])}</td></tr>')
    if not lines:
        return "<p class=note>one scale only: nothing to compare</p>"
    return ('<table class="agree"><thead><tr><th class="s">scales</th><th>common submissions</th>'
            "<th>decision accuracy</th><th>Spearman</th><th>Kendall τ-b</th></tr></thead><tbody>"
            + "".join(lines) + "</tbody></table>")


def page(rows: list[dict]) -> str:
    tables = board(rows)
    by_track: dict[str, list[Table]] = defaultdict(list)
    for t in tables:
        by_track[t.track].append(t)
    body = ["<h1>winnow leaderboard</h1>", f'<p class="note">{_e(LEGEND)}</p>']
    if not tables:
        body.append("<p>No rows yet.</p>")
    for n, t in enumerate(tables):
        body.append(f"<h2>{_e(t.scale)} / {_e(t.track)} track</h2>"
                    f'<p class="note">{_e(t.versions)}; ranked by <b>{_e(t.primary)}</b>; click a header to sort.</p>')
        body.append(_table(t, f"board-{n}"))
        body.append(_heatmap(t))
    for track, ts in sorted(by_track.items()):
        body.append(f"<h2>Score against compute ({_e(track)} track)</h2>")
        body.append(_scatter(ts, track))
        body.append(f"<h2>Cross-scale agreement ({_e(track)} track)</h2>")
        body.append(_agreement(rows, track))
    data = json.dumps([{k: r.get(k) for k in ("submission", "scale", "track", "seed", "run_id")} for r in rows])
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>winnow leaderboard</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}"
            f'<pre id="selftest"></pre><script type="application/json" id="rows">{_e(data)}</script>'
            f"<script>{SCRIPT}</script></body></html>")


def write_html(rows: list[dict], path: Path) -> Path:
    with atomic_open(path, "wt") as f:
        f.write(page(rows))
    return path
