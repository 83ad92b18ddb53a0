"""The leaderboard as one self-contained static page (``winnow leaderboard build --html``), read at a glance at 1,400 px.

The page opens with a table of contents, then leads with the CPU leaderboard track (the scale
whose YAML says ``leaderboard: {lead: true}``), newest version first: the primary metric's SNR and
seed-to-seed Kendall tau (``tables.signal_line``, the numbers of ``winnow analyze signal``) with a
sentence on how to read them, then a forest plot (inline SVG: every entry of the scale version as
its mean with its 95% interval bar, grouped by track and ranked as in its table, a dashed line at
baselines/random), then the tables. Other scales follow in ``tables.scale_order`` (training
budget, smallest first), each CPU scale with its SNR line. How the numbers are computed (the
``LEGEND`` the Markdown shares) closes the page instead of opening it.

Choices:

* Tables fit 1,400 px: a table shows rank, submission, the primary with its interval and the
  columns the registry marks ``main`` (held-out bpb, seeds, flags, a targeted entry's held-out
  scores) plus the commit its rows were made at; the other columns are in the DOM, folded
  (``td.fold``) behind a toggle above the table, and an unfolded table scrolls inside its own box,
  never the page. Headers sort (click: descending, again: ascending; ``data-v`` holds the key).
* Per entry: links to its recipe and README (relative to the page's folder, only files that
  exist), and the commit its rows record (``code.commit``) with that commit's date. Rows carry no
  timestamp, so the date is the commit's, read from the repository's git history
  (``commit_dates``; blank where the history lacks the commit); every seed's row file is in the
  cell's title.
* A view by each reported metric (``tables.metric_views``: seed noise, intervals and tie ranks from
  the same ``stats`` code as the primary's): one small table per metric with its intervals drawn as
  bars, a selector showing one at a time (the primary's by default), folded under each table.
* Heatmaps are coloured by the difference from baselines/random (else the median entry) in units of
  the task's seed sd (the table's seed-noise rule; the per-item stderr where no entry has two
  seeds), full colour at ``HEAT_SATURATE`` units, with a legend: a min/max scale painted
  differences of 0.001 full red or green.
* Score against compute: one SVG scatter per track and primary metric (metrics are never mixed on
  one axis), log-x with labelled axes and units, 95% intervals as bars, a colour per scale
  version, each point's entry in its hover ``<title>``.
* Cross-scale agreement (``winnow.leaderboard.agreement``): decision accuracy with its seed-bootstrap
  interval, Kendall tau and flips beyond noise, per metric and per task, of every smaller scale
  against every larger one sharing two entries; a sentence under each table reads it.
* An entry flagged for contamination (``winnow.eval.contamination``) has its row shaded red, in bold.

Everything is inline (CSS, a small script, SVG): the page opens from disk with no network.
Opened with ``#selftest`` the page tests itself: it clicks headers and checks the DOM order of
the rows, follows the contents' links, switches every metric view, measures the page's scroll
width against the viewport with the columns folded and unfolded, and writes a JSON verdict into
``<pre id="selftest">`` (read by the browser test with ``chromium --headless --dump-dom``).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import subprocess
from collections import defaultdict
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

from winnow.io import atomic_open
from winnow.leaderboard import agreement
from winnow.leaderboard.fmt import primary_text, rank_text
from winnow.leaderboard.render import LEGEND
from winnow.leaderboard.rowsets import SignalError
from winnow.leaderboard.stats import INTERVAL_RULE, TIE_RULE, Entry, entry_noise, higher_better
from winnow.leaderboard.tables import (CONTROL, Board, Table, budget, control_entry, entry_flagged, is_lead,
                                      metric_label, scale_order, task_measure)
from winnow.paths import REPO_ROOT, inside, leaderboard_dir

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
h4{font-size:14px;margin:10px 0 4px}
nav.toc{background:#f7f7f7;border:1px solid #ddd;padding:8px 14px;max-width:1100px}
nav.toc ul{margin:4px 0;padding-left:20px}nav.toc li{margin:2px 0}
.wide{max-width:100%;overflow-x:auto}
table.board th{white-space:normal;vertical-align:bottom;max-width:130px;font-size:13px}
table.board .fold{display:none}table.board.all .fold{display:table-cell}
button.cols{font-size:12px;margin:2px 0;cursor:pointer;max-width:100%;white-space:normal;text-align:left}
span.links{font-size:12px;margin-left:6px}span.links a{color:#1f5fa0}
td code,th code{font-size:12px}
.heat th.task{vertical-align:bottom;padding:3px 2px}
.heat th.task span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:11px;max-height:170px;
  overflow:hidden;text-overflow:ellipsis;display:inline-block}
.heat td{min-width:34px;font-size:11px;padding:2px 4px}
p.heatlegend span{display:inline-block;min-width:34px;text-align:center;border:1px solid #ddd;font-size:11px}
details.views,details.heatmap{margin:4px 0 14px}details>summary{cursor:pointer;color:#1f5fa0}
table.view td.bar{position:relative;width:240px;min-width:240px;padding:0}
td.bar span.ci{position:absolute;top:50%;height:2px;background:#1f77b4}
td.bar span.pt{position:absolute;top:calc(50% - 4px);width:8px;height:8px;margin-left:-4px;border-radius:50%;background:#1f77b4}
table.view td.note{font-size:11px;white-space:normal;max-width:380px}
p.read{font-style:italic}
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
function toggleColumns(b){
  const t=document.getElementById(b.dataset.for), on=t.classList.toggle('all');
  if(!b.dataset.label) b.dataset.label=b.textContent;
  b.textContent=on?'hide the extra columns':b.dataset.label;
  b.setAttribute('aria-pressed',on?'true':'false');
}
document.querySelectorAll('button.cols').forEach(b=>b.addEventListener('click',()=>toggleColumns(b)));
function showMetric(sel){
  document.getElementById(sel.dataset.for).querySelectorAll('table.view')
    .forEach(t=>{t.hidden=t.dataset.metric!==sel.value;});
}
document.querySelectorAll('select.metric').forEach(s=>s.addEventListener('change',()=>showMetric(s)));
function layout(){   // what overflows the viewport: the page's scroll width and the widest shown box
  const shown=Array.from(document.querySelectorAll('table,svg,nav,p,pre,h1,h2,h3,button'))
    .filter(x=>x.getClientRects().length>0&&!x.closest('.wide table'));
  const wide=Array.from(document.querySelectorAll('.wide')).filter(x=>x.getClientRects().length>0);
  return {viewport:window.innerWidth,scroll_width:document.documentElement.scrollWidth,
    widest:Math.max(0,...shown.map(x=>x.getBoundingClientRect().right)),
    scrolled:wide.filter(x=>x.scrollWidth>x.clientWidth+1).map(x=>(x.querySelector('table')||{}).id||x.firstChild.className)};
}
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
  // the table of contents: every link lands on an element of the page, the lead scale first
  const toc=Array.from(document.querySelectorAll('nav.toc a'));
  out.toc=toc.map(a=>a.getAttribute('href'));
  out.toc_ok=toc.length>0&&toc.every(a=>{const h=a.getAttribute('href');
    return h.startsWith('#')&&!!document.getElementById(decodeURIComponent(h.slice(1)));});
  // per entry: links to its recipe and README, the commit and date of its rows
  out.links=Array.from(document.querySelectorAll('table.board td span.links a')).map(a=>a.getAttribute('href'));
  out.made=Array.from(document.querySelectorAll('table.board tbody tr')).map(r=>r.lastElementChild.textContent);
  // the view by each metric: every option shows exactly its table, best mean first (ranks are
  // stats' tie ranks: an entry with a wider interval can tie where a better mean does not)
  out.views=[];
  document.querySelectorAll('details.views').forEach(d=>{
    d.open=true;
    const sel=d.querySelector('select.metric');
    for(const o of Array.from(sel.options)){
      sel.value=o.value; sel.dispatchEvent(new Event('change'));
      const shown=Array.from(d.querySelectorAll('table.view')).filter(t=>!t.hidden&&t.getClientRects().length>0);
      const t=shown[0], higher=t&&t.dataset.higher==='1';
      const rs=t?Array.from(t.tBodies[0].rows):[];
      const ranks=rs.map(r=>parseInt(r.dataset.rank)), means=rs.map(r=>parseFloat(r.dataset.mean));
      let ok=shown.length===1&&t.dataset.metric===o.value&&rs.length>0;
      for(let i=1;i<rs.length;i++){
        if(!isNaN(means[i])&&!isNaN(means[i-1])&&(higher?means[i]>means[i-1]:means[i]<means[i-1])) ok=false;
      }
      out.views.push({box:d.id,metric:o.value,rows:rs.length,ranks:ranks,ok:ok});
      if(!ok) out.ok=false;
    }
    sel.selectedIndex=0; sel.dispatchEvent(new Event('change')); d.open=false;
  });
  // nothing overflows the viewport, with the folded columns hidden and shown
  out.layout=layout();
  const first=document.querySelector('button.cols');
  if(first){ first.click(); out.layout_all=layout(); out.unfolded=document.querySelectorAll('table.board.all td.fold').length>0
    &&getComputedStyle(document.querySelector('table.board.all td.fold')).display!=='none'; first.click(); }
  if(!out.toc_ok||out.layout.scroll_width>out.layout.viewport) out.ok=false;
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


def _slug(*parts) -> str:
    """An HTML id from ``parts``: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(str(p) for p in parts)).strip("-")


def commit_dates(commits: set[str]) -> dict[str, str]:
    """{commit: its committer date, YYYY-MM-DD in the committer's zone (git's %cs)} for the commits
    the repository's history holds; {} without git. Rows carry the commit they were made at
    (``code.commit``) and no timestamp, so this is the date a row's code dates from."""
    wanted = sorted(c for c in commits if isinstance(c, str) and re.fullmatch(r"[0-9a-f]{7,64}", c))
    if not wanted:
        return {}
    try:
        res = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "--batch"], input="\n".join(wanted) + "\n",
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    out, text = {}, res.stdout
    for c in wanted:   # each object: "<sha> commit <size>\n<body>"; a missing one: "<name> missing"
        m = re.search(rf"^{c}[0-9a-f]* commit \d+\n(?:.*\n)*?committer .* (\d+) ([+-])(\d\d)(\d\d)$", text, re.M)
        if m:
            secs = int(m.group(1)) + (1 if m.group(2) == "+" else -1) * (int(m.group(3)) * 3600 + int(m.group(4)) * 60)
            out[c] = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%d")
    return out


def _links(submission: str, base: Path) -> str:
    """Links to the submission's recipe and README in the repository, relative to the page's
    folder ``base``; only files that exist (an id-list or outside submission has fewer)."""
    folder = REPO_ROOT / submission
    out = []
    for label, name in (("recipe", "recipe.yaml"), ("README", "README.md")):
        f = folder / name
        if f.is_file() and inside(REPO_ROOT, f):
            out.append(f'<a href="{_e(Path(os.path.relpath(f, base)).as_posix())}">{label}</a>')
    return f' <span class="links">{" · ".join(out)}</span>' if out else ""


def _rows_cell(e: Entry, dates: dict[str, str]) -> str:
    """The commit an entry's rows were made at (the newest, "+k" when its seeds span k more) and
    that code's date; every seed's row file, commit and date in the title."""
    def commit(r: dict) -> str:
        return (r.get("code") or {}).get("commit") or ""
    commits = sorted({commit(r) for r in e.rows if commit(r)}, key=lambda c: (dates.get(c, ""), c))
    title = "; ".join(f"seed {r['seed']}: {Path(r['_path']).name if '_path' in r else 'row'} at "
                      f"{commit(r) or 'no recorded commit'}{' (' + dates[commit(r)] + ')' if commit(r) in dates else ''}"
                      for r in e.rows)
    if not commits:
        return f'<td class="s" data-v="" title="{_e(title)}">–</td>'
    date = dates.get(commits[-1], "")
    more = f" +{len(commits) - 1}" if len(commits) > 1 else ""
    return (f'<td class="s" data-v="{_e(date)}" title="{_e(title)}"><code>{_e(commits[-1][:7])}</code>{more}'
            f'{" " + _e(date) if date else ""}</td>')


def _table(t: Table, tid: str, base: Path, dates: dict[str, str]) -> str:
    """The table of ``t``: rank, submission (with its recipe and README), the primary with its
    interval, the main columns and the rows' commit and date; the other columns are folded (class
    ``fold``) until the toggle above the table shows them."""
    cols = t.columns
    fold = lambda c: "" if c.main else " fold"     # noqa: E731
    head = ['<th class="sortable" data-col="rank" data-type="num">rank</th>',
            '<th class="sortable s" data-col="submission" data-type="str">submission</th>',
            f'<th class="sortable" data-col="{_e(t.primary)}" data-type="num">{_e(t.primary)} (95% CI)</th>']
    head += [f'<th class="sortable{"" if c.numeric else " s"}{fold(c)}" data-col="{_e(c.key)}" '
             f'data-type="{"num" if c.numeric else "str"}">{_e(c.header)}</th>' for c in cols]
    head.append('<th class="sortable s" data-col="made" data-type="str" title="the code commit the rows were made '
                'at (rows carry code.commit, no timestamp) and that commit\'s date">commit, date</th>')
    body = []
    for e in t.entries:
        name = e.first["submission"]
        cells = [f'<td data-v="{e.rank}">{_e(rank_text(e))}</td>',
                 f'<td class="s" data-v="{_e(name)}">{_e(name)}{_links(name, base)}</td>',
                 f'<td data-v="{_num(e.mean)}" title="interval [{e.low}, {e.high}]">{_e(primary_text(e))}</td>']
        for c in cols:
            v = c.get(e)
            key = _num(v) if c.numeric and isinstance(v, (int, float)) else ("" if v is None else str(v))
            cls = ("" if c.numeric else "s") + fold(c)
            cells.append(f'<td class="{cls.strip()}" data-v="{_e(key)}">{_e(c.fmt(v))}</td>')
        cells.append(_rows_cell(e, dates))
        body.append(('<tr class="flagged">' if entry_flagged(e) else "<tr>") + "".join(cells) + "</tr>")
    folded = sum(not c.main for c in cols)
    toggle = (f'<button type="button" class="cols" data-for="{tid}" aria-pressed="false">show all columns '
              f'(+{folded}: {_e(", ".join(c.header for c in cols if not c.main))})</button>' if folded else "")
    return (f'{toggle}<div class="wide"><table class="board" id="{tid}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _views(t: Table, vid: str) -> str:
    """The table ranked by each metric it reports (``tables.metric_views``: each with its own seed
    noise, intervals and tie ranks), one small table per metric, the primary's shown; a selector
    switches between them. Each row draws its interval as a bar on the metric's common axis."""
    opts, blocks = [], []
    for i, (metric, entries) in enumerate(t.views.items()):
        label = metric_label(t, metric)
        higher = higher_better(metric)
        opts.append(f'<option value="{_e(metric)}"{" selected" if i == 0 else ""}>{_e(label)}'
                    f'{" (primary)" if metric == t.primary else ""}</option>')
        xs = [v for e in entries for v in (e.mean, e.low, e.high) if v is not None]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        span = (hi - lo) or 1.0
        pos = lambda v: 100 * (v - lo) / span      # noqa: E731
        rows = []
        for e in entries:
            if e.mean is None:
                bar = ""
            else:
                ci = (f'<span class="ci" style="left:{pos(e.low):.1f}%;width:{pos(e.high) - pos(e.low):.1f}%"></span>'
                      if e.low is not None and e.high is not None and e.high > e.low else "")
                bar = f'{ci}<span class="pt" style="left:{pos(e.mean):.1f}%"></span>'
            n = e.noise
            noise = (f"sd {n.sd:.4g}, {n.df} df ({_e(n.source)})" if n and n.sd is not None
                     else "seed noise not measured: " + ("the aggregate's stderr" if e.high != e.low else "no interval"))
            rows.append(f'<tr data-mean="{_num(e.mean)}" data-rank="{e.rank}"><td>{_e(rank_text(e))}</td>'
                        f'<td class="s">{_e(e.first["submission"])}</td><td>{_e(primary_text(e))}</td>'
                        f'<td class="bar" title="{e.low} – {e.high}">{bar}</td><td>{len(e.rows)}</td>'
                        f'<td class="s note">{noise}</td></tr>')
        blocks.append(f'<table class="view" data-metric="{_e(metric)}" data-higher="{1 if higher else 0}"'
                      f'{"" if i == 0 else " hidden"}><thead><tr><th>rank</th><th class="s">submission</th>'
                      f'<th>{_e(label)} (95% CI)</th><th class="s">interval ({"higher" if higher else "lower"} is '
                      f'better; axis {lo:.4g} to {hi:.4g})</th><th>seeds</th><th class="s">seed noise</th></tr></thead>'
                      f'<tbody>{"".join(rows)}</tbody></table>')
    return (f'<details class="views" id="{vid}"><summary>Rank by another metric ({len(t.views)} reported, each with '
            f'its own 95% intervals and tie ranks: {_e(t.noise_rule)}, {INTERVAL_RULE}, {TIE_RULE})</summary>'
            f'<label>metric <select class="metric" data-for="{vid}">{"".join(opts)}</select></label>'
            f'{"".join(blocks)}</details>')


HEAT_SATURATE = 3.0     # heatmap colour is full at this many seed sds from the reference


def _heat_colour(z: float) -> str:
    """White at 0, full green (better) or red (worse) at ``HEAT_SATURATE`` noise units."""
    z = max(-HEAT_SATURATE, min(HEAT_SATURATE, z)) / HEAT_SATURATE
    if z >= 0:
        return f"rgb({int(255 - 155 * z)},{int(255 - 40 * z)},{int(255 - 155 * z)})"
    return f"rgb(255,{int(255 + 155 * z)},{int(255 + 155 * z)})"


def _heat_legend(unit: str, ref: str) -> str:
    stops = [-HEAT_SATURATE, -HEAT_SATURATE / 2, 0.0, HEAT_SATURATE / 2, HEAT_SATURATE]
    cells = "".join(f'<span style="background:{_heat_colour(z)}">{z:+g}</span>' for z in stops)
    return (f'<p class="note heatlegend">{cells} Colour: the difference from {_e(ref)} on that task in {_e(unit)} '
            f"(full colour at ±{HEAT_SATURATE:g}, green better, red worse); the number is the entry's mean. "
            "Hover a cell for the value, the difference and the noise unit.</p>")


def _heatmap(t: Table) -> str:
    """Per-task values of the table's entries, coloured by their difference from a reference in
    units of the task's noise: the seed sd of that task's value by the table's seed-noise rule
    (``stats.entry_noise`` over the model's rows, as the intervals), else, where no entry has two
    seeds, the task's per-item stderr. The reference: baselines/random when the table has it, else
    the median entry. Colour saturates at ``HEAT_SATURATE`` units, so differences inside the noise
    stay pale (a min/max scale painted differences of 0.001 full red or green)."""
    metric = task_measure(t.primary)
    tasks = sorted({k for e in t.entries for r in e.rows for k in (r.get("tasks") or {})})
    vals: dict[tuple[int, str], float] = {}
    for i, e in enumerate(t.entries):
        for task in tasks:
            xs = [r["tasks"][task].get(metric) for r in e.rows if task in (r.get("tasks") or {})]
            xs = [x for x in xs if isinstance(x, (int, float))]
            if xs:
                vals[(i, task)] = sum(xs) / len(xs)
    ctrl = control_entry(t.entries)
    ci = t.entries.index(ctrl) if ctrl is not None else None
    units, refs, kinds = {}, {}, set()
    for task in tasks:
        col = sorted(vals[(k, task)] for k in range(len(t.entries)) if (k, task) in vals)
        refs[task] = vals.get((ci, task)) if ci is not None else None
        if refs[task] is None and col:
            refs[task] = col[len(col) // 2] if len(col) % 2 else (col[len(col) // 2 - 1] + col[len(col) // 2]) / 2
        noise = entry_noise(t.model_rows, f"tasks.{task}.{metric}", t.noise_rule) if "." not in task else {}
        sds = {n.sd for n in noise.values() if n.sd}
        if sds:
            units[task] = (max(sds), "seed sd")
            kinds.add("seed sds of the task (by the table's seed-noise rule)")
            continue
        errs = [r["tasks"][task].get(f"{metric}_stderr") for e in t.entries for r in e.rows if task in (r.get("tasks") or {})]
        errs = [x for x in errs if isinstance(x, (int, float)) and x > 0]
        if errs:
            units[task] = (sum(errs) / len(errs), "item stderr")
            kinds.add("per-item stderrs of the task (no entry has two seeds)")
    def unit_note(task: str) -> str:
        return f"; noise unit: {units[task][1]} {units[task][0]:.4g}" if task in units else ""
    head = "".join(f'<th class="task" title="{_e(task + unit_note(task))}"><span>{_e(task.replace("dclm_", ""))}</span></th>'
                   for task in tasks)
    rows = []
    for i, e in enumerate(t.entries):
        cells = []
        for task in tasks:
            v = vals.get((i, task))
            if v is None:
                cells.append("<td>–</td>")
                continue
            if task not in units or refs[task] is None:
                cells.append(f'<td title="{_e(task)}: {v:.4f}; noise not measured">{v:.3f}</td>')
                continue
            u, what = units[task]
            z = (v - refs[task]) / u if higher_better(metric) else (refs[task] - v) / u  # green is better either way
            cells.append(f'<td style="background:{_heat_colour(z)}" data-z="{z:.3f}" title="{_e(task)}: {v:.4f}, '
                         f'{z:+.1f} {what} ({u:.4g}) {"better" if z >= 0 else "worse"} than the reference">{v:.3f}</td>')
        rows.append(f'<tr><td class="s">{_e(e.first["submission"])}</td>{"".join(cells)}</tr>')
    ref = f"{CONTROL} (this table's control)" if ci is not None else "the median entry"
    unit = " or ".join(sorted(kinds)) or "noise units (not measured: cells are uncoloured)"
    return (f'<h4>Per-task {metric} ({t.scale} v{t.version} / {t.track})</h4><div class="wide"><table class="heat">'
            f'<thead><tr><th class="s">submission</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            + _heat_legend(unit, ref))


def _unit(metric: str) -> str:
    """The unit of a metric's values on a plot axis."""
    if not higher_better(metric):
        return "bits per byte, lower is better"
    return "probability above chance, higher is better" if "prob" in metric else "score, higher is better"


def _scatter(tables: list[Table], track: str) -> str:
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
    parts = [f'<svg class="plot" data-track="{_e(track)}" data-metric="{_e(primary)}" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img">'
             f"<title>{_e(primary)} against training FLOPs, {_e(track)} track</title>"]
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
    for y in _ticks(y0, y1, 5):
        parts.append(f'<line x1="{left - 4}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end">{y:.4g}</text>')
    parts.append(f'<text class="xlabel" x="{(left + w - right) / 2}" y="{h - 8}" font-size="12" text-anchor="middle">'
                 "training compute (FLOPs, log scale)</text>"
                 f'<text class="ylabel" transform="translate(16 {h / 2}) rotate(-90)" font-size="12" text-anchor="middle">'
                 f"{_e(primary)} ({_e(_unit(primary))})</text>")
    for x, y, lo, hi, s, label in pts:
        colour = PALETTE[series.index(s) % len(PALETTE)]
        if lo is not None and hi is not None and hi > lo:
            parts.append(f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" y2="{py(hi):.1f}" stroke="{colour}"/>')
        parts.append(f'<circle class="pt" cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{colour}" fill-opacity="0.8">'
                     f'<title>{_e(label)}</title></circle>')
    for i, s in enumerate(series):
        parts.append(f'<circle cx="{w - right + 16}" cy="{pad + 16 * i}" r="4" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{w - right + 26}" y="{pad + 16 * i + 4}" font-size="11">{_e(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


AGREEMENT_NOTE = ("How to read it: decision accuracy is the share of pairs of entries that the smaller scale "
                  "orders as the larger one does (ties count one half; 0.5 is chance; DataDecide reports about 0.8 "
                  "from 150M to 1B parameters), each scale at its newest version, the larger scale ranking by its "
                  "primary metric. The interval resamples each entry's seeds (95%, bootstrap). A flip is a pair "
                  "the two scales order differently; 'beyond noise' counts the flips that both scales separate "
                  "beyond their seed noise: those are real disagreements, the rest are coin tosses. "
                  "`winnow analyze agreement --scales A,B --per-task` prints the same numbers and every flip.")


TASK_READING = ("Read each row as the table above, for one task's value at the smaller scale: a task with high "
                "decision accuracy orders the entries as the larger scale's target does.")


def _agreement_reading(rep) -> str:
    """One sentence reading an agreement table through its first metric (the smaller scale's primary)."""
    g = rep.metrics[0]
    if g.decision_accuracy is None:
        return f"How to read it: {g.metric} at {rep.small} could not be compared (no pair of entries differs)."
    chance = ""
    if g.interval:
        lo, hi = g.interval
        side = " (agreement better than chance)" if lo > 0.5 else " (worse than chance)"
        chance = ("; its interval includes 0.5, so the agreement is not distinguishable from chance" if lo <= 0.5 <= hi
                  else "; its interval excludes 0.5" + side)
    return (f"How to read it: of the {g.pairs} pairs of the {g.entries} entries both scales ran, {rep.small}'s "
            f"{g.metric} orders {g.decision_accuracy:.0%} as {rep.large}'s {rep.target} does (0.5 is chance, 1 "
            f"perfect){chance}; {len(g.flips)} pairs flip, {g.real_flips} of them beyond both scales' seed noise "
            "(real disagreements; the rest are within noise). The other rows are the same for other metrics of the "
            "smaller scale.")


def _agreement(rows: list[dict], order: list[str], toc: list[tuple[str, str]] | None = None) -> str:
    """Decision accuracy of every smaller scale against every larger one sharing 2+ entries
    (``winnow.leaderboard.agreement``): the small scale's primary metric and the alternatives,
    each with its bootstrap interval and a sentence reading it; per task in a fold. Appends each
    comparison's (id, title) to ``toc`` when given."""
    toc = [] if toc is None else toc
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
        hid = _slug("agree", rep.small, rep.large)
        blocks.append(f'<h3 id="{hid}">{_e(rep.small)} → {_e(rep.large)}: {len(rep.entries)} entries, '
                      f"target {_e(rep.target)}</h3>" + head + "".join(line(g) for g in rep.metrics) + "</tbody></table>"
                      + f'<p class="note read">{_e(_agreement_reading(rep))}</p>'
                      + (f"<details><summary>per task ({len(rep.tasks)})</summary>{head}"
                         + "".join(line(g) for g in rep.tasks) + "</tbody></table>"
                         + f'<p class="note read">{_e(TASK_READING)}</p></details>' if rep.tasks else ""))
        toc.append((hid, f"{rep.small} → {rep.large}"))
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


SIGNAL_READING = ("How to read the signal line: SNR is the spread of the entries' means over the seed-to-seed sd "
                  "(below 1, reruns of one entry differ more than the entries do); seed-to-seed Kendall tau is how "
                  "alike two seeds rank the entries (1 the same order, 0 unrelated, negative reversed).")


def _toc(items: list[tuple[str, str, list[tuple[str, str, list[tuple[str, str]]]]]]) -> str:
    """The table of contents: sections, their versions, each version's tables."""
    def links(pairs: list[tuple[str, str]]) -> str:
        return " · ".join(f'<a href="#{_e(i)}">{_e(t)}</a>' for i, t in pairs)
    out = []
    for hid, title, subs in items:
        inner = "".join(f'<li><a href="#{_e(i)}">{_e(t)}</a>{": " + links(kids) if kids else ""}</li>'
                        for i, t, kids in subs)
        out.append(f'<li><a href="#{_e(hid)}">{_e(title)}</a>{"<ul>" + inner + "</ul>" if inner else ""}</li>')
    return f'<nav class="toc" id="toc"><b>Contents</b><ul>{"".join(out)}</ul></nav>'


def page(board: Board, base: Path | None = None) -> str:
    """The page's HTML from the board ``winnow leaderboard build`` built; ``base`` is the folder the
    page is written to (links to recipes and READMEs are relative to it; default the leaderboard's)."""
    base = Path(base or leaderboard_dir())
    rows, tables = board.rows, board.tables
    dates = commit_dates({(r.get("code") or {}).get("commit") for r in rows})
    by_track: dict[str, list[Table]] = defaultdict(list)
    for t in tables:
        by_track[t.track].append(t)
    order = scale_order(rows)
    leads = [s for s in order if is_lead(s)]
    intro = (f"{', '.join(leads)} is the CPU leaderboard track (its scale YAML says <code>leaderboard: {{lead: true}}</code>) "
             "and comes first, newest version first; the other scales follow, smallest training budget first."
             if leads else "Scales in order of training budget, smallest first; newest version first.")
    intro += (" Each table shows its main columns (the toggle above it shows the rest), links each entry to its "
              "recipe and README, and gives the code commit its rows were made at with that commit's date (rows "
              "record <code>code.commit</code>, no timestamp; the date is the commit's, from the repository's "
              "history). Under each table: the entries ranked by every other metric they report, and per-task "
              "scores coloured in units of seed noise.")
    toc: list = []
    body = []
    if not tables:
        body.append("<p>No rows yet.</p>")
    n = 0
    for scale in order:
        lead = is_lead(scale)
        sid = _slug("scale", scale)
        body.append(f'<h2 id="{sid}" class="scale{" lead" if lead else ""}" data-scale="{_e(scale)}">{_e(scale)}'
                    f'{" — the CPU leaderboard track" if lead else ""}</h2>')
        subs = []
        for grp in _version_sections([t for t in tables if t.scale == scale]):
            t0 = grp[0]
            vid = _slug(scale, f"v{t0.version}", t0.model_key[2], f"v{t0.model_key[3]}")
            body.append(f'<h3 id="{vid}">{_e(scale)} v{t0.version} (suite {_e(t0.model_key[2])} v{t0.model_key[3]})</h3>')
            if (signal := board.signal(scale, t0.version)) is not None:
                for line in signal.splitlines():
                    text = _e(line)
                    text = text.replace("`winnow analyze", "<code>winnow analyze").replace("`", "</code>")
                    body.append(f'<p class="signal">{text}</p>')
                body.append(f'<p class="note read">{_e(SIGNAL_READING)}</p>')
            if lead:
                body.append(_forest(grp))
            kids = []
            for t in grp:
                tid = _slug(vid, t.track)
                kids.append((tid, f"{t.track} ({len(t.entries)})"))
                body.append(f'<h3 id="{tid}">{_e(t.scale)} v{t.version} / {_e(t.track)} track</h3>'
                            f'<p class="note">{_e(t.versions)}; ranked by <b>{_e(t.primary)}</b>; seeds averaged, '
                            f"{_e(t.noise_rule)}, {INTERVAL_RULE}, {TIE_RULE}; click a header to sort.</p>")
                body.append(_table(t, f"board-{n}", base, dates))
                body.append(_views(t, f"views-{n}"))
                body.append(f'<details class="heatmap"{" open" if lead else ""}><summary>per-task scores '
                            f"({_e(task_measure(t.primary))}), coloured in units of seed noise</summary>{_heatmap(t)}</details>")
                n += 1
            subs.append((vid, f"v{t0.version} (suite {t0.model_key[2]} v{t0.model_key[3]})", kids))
        toc.append((sid, scale + (" — the CPU leaderboard track" if lead else ""), subs))
    plots = []
    body.append('<h2 id="compute">Score against compute</h2>'
                '<p class="note">One plot per track and primary metric: each entry at its mean training FLOPs '
                "(log scale) with its 95% interval, a colour per scale version; hover a point for its entry.</p>")
    for track, ts in sorted(by_track.items()):
        by_metric: dict[str, list[Table]] = defaultdict(list)
        for t in ts:
            by_metric[t.primary].append(t)
        for metric, mts in by_metric.items():
            pid = _slug("compute", track, metric)
            plots.append((pid, f"{track}, {metric}", []))
            body.append(f'<h3 id="{pid}">{_e(track)} track, {_e(metric)}</h3>' + _scatter(mts, track))
    toc.append(("compute", "Score against compute", plots))
    agree: list[tuple[str, str]] = []
    body.append('<h2 id="agreement">Cross-scale agreement</h2>')
    body.append(_agreement(rows, order, agree))
    toc.append(("agreement", "Cross-scale agreement", [(i, t, []) for i, t in agree]))
    body.append(f'<h2 id="legend">How the tables are computed</h2><p class="note">{_e(LEGEND)}</p>')
    toc.append(("legend", "How the tables are computed", []))
    head = ["<h1>winnow leaderboard</h1>", f'<p class="note">{intro}</p>', _toc(toc)]
    data = json.dumps([{k: r.get(k) for k in ("submission", "scale", "track", "seed", "run_id")} for r in rows])
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>winnow leaderboard</title>'
            f"<style>{CSS}</style></head><body>{''.join(head + body)}"
            f'<pre id="selftest"></pre><script type="application/json" id="rows">{_e(data)}</script>'
            f"<script>{SCRIPT}</script></body></html>")


def write_html(board: Board, path: Path) -> Path:
    with atomic_open(path, "wt") as f:
        f.write(page(board, path.parent))
    return path
