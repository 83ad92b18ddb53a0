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
  exist), and the commit its rows record (``code.commit``) with the day its newest row was written:
  the row's ``created`` (schema 5 on, ``rows.row_date``), else, for older rows that carry no
  timestamp, their commit's date from the repository's git history (``commit_dates``; blank where
  the history lacks the commit); every seed's row file, commit and date is in the cell's title.
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

Everything is inline (CSS, a small script, SVG): the page opens from disk with no network. This module
lays out the page (contents, tables, metric views, agreement); the SVG plots are ``plots``, the
heatmaps ``heatmap``, the stylesheet and script ``html_assets`` and the escaping helpers ``markup``.
Opened with ``#selftest`` the page tests itself: it clicks headers and checks the DOM order of
the rows, follows the contents' links, switches every metric view, measures the page's scroll
width against the viewport with the columns folded and unfolded, and writes a JSON verdict into
``<pre id="selftest">`` (read by the browser test with ``chromium --headless --dump-dom``).
"""

from __future__ import annotations

import json
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
from winnow.leaderboard.heatmap import heatmap
from winnow.leaderboard.html_assets import CSS, SCRIPT
from winnow.leaderboard.markup import esc, num, slug
from winnow.leaderboard.plots import forest, scatter
from winnow.leaderboard.render import LEGEND
from winnow.leaderboard.rows import row_date
from winnow.leaderboard.rowsets import SignalError
from winnow.leaderboard.stats import INTERVAL_RULE, TIE_RULE, Entry, higher_better
from winnow.leaderboard.tables import (Board, Table, budget, entry_flagged, is_lead, metric_label, scale_order,
                                      task_measure)
from winnow.paths import REPO_ROOT, inside, leaderboard_dir


def commit_dates(commits: set[str]) -> dict[str, str]:
    """{commit: its committer date, YYYY-MM-DD in the committer's zone (git's %cs)} for the commits
    the repository's history holds; {} without git. Rows carry the commit they were made at
    (``code.commit``); this dates the rows written before schema 5, which have no ``created``."""
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
            out.append(f'<a href="{esc(Path(os.path.relpath(f, base)).as_posix())}">{label}</a>')
    return f' <span class="links">{" · ".join(out)}</span>' if out else ""


def _rows_cell(e: Entry, dates: dict[str, str]) -> str:
    """The commit an entry's rows were made at (the newest row's, "+k" when its seeds span k more)
    and the day the newest row was written (its ``created``, else its commit's date); every seed's
    row file, commit and date in the title."""
    def commit(r: dict) -> str:
        return (r.get("code") or {}).get("commit") or ""

    def day(r: dict) -> str:
        return row_date(r) or dates.get(commit(r), "")
    commits = {commit(r) for r in e.rows if commit(r)}
    title = "; ".join(f"seed {r['seed']}: {Path(r['_path']).name if '_path' in r else 'row'} at "
                      f"{commit(r) or 'no recorded commit'}"
                      + (f" (written {r['created']})" if row_date(r) else
                         f" (commit of {dates[commit(r)]})" if commit(r) in dates else "")
                      for r in e.rows)
    if not commits:
        date = max((day(r) for r in e.rows), default="")
        return f'<td class="s" data-v="{esc(date)}" title="{esc(title)}">–{" " + esc(date) if date else ""}</td>'
    newest = max((r for r in e.rows if commit(r)), key=lambda r: (day(r), commit(r)))
    date = day(newest)
    more = f" +{len(commits) - 1}" if len(commits) > 1 else ""
    return (f'<td class="s" data-v="{esc(date)}" title="{esc(title)}"><code>{esc(commit(newest)[:7])}</code>{more}'
            f'{" " + esc(date) if date else ""}</td>')


def _table(t: Table, tid: str, base: Path, dates: dict[str, str]) -> str:
    """The table of ``t``: rank, submission (with its recipe and README), the primary with its
    interval, the main columns and the rows' commit and date; the other columns are folded (class
    ``fold``) until the toggle above the table shows them."""
    cols = t.columns
    fold = lambda c: "" if c.main else " fold"     # noqa: E731
    head = ['<th class="sortable" data-col="rank" data-type="num">rank</th>',
            '<th class="sortable s" data-col="submission" data-type="str">submission</th>',
            f'<th class="sortable" data-col="{esc(t.primary)}" data-type="num">{esc(t.primary)} (95% CI)</th>']
    head += [f'<th class="sortable{"" if c.numeric else " s"}{fold(c)}" data-col="{esc(c.key)}" '
             f'data-type="{"num" if c.numeric else "str"}">{esc(c.header)}</th>' for c in cols]
    head.append('<th class="sortable s" data-col="made" data-type="str" title="the code commit the rows were made '
                'at and the day the newest was written (rows before schema 5 carry no timestamp: their commit\'s '
                'date)">commit, date</th>')
    body = []
    for e in t.entries:
        name = e.first["submission"]
        cells = [f'<td data-v="{e.rank}">{esc(rank_text(e))}</td>',
                 f'<td class="s" data-v="{esc(name)}">{esc(name)}{_links(name, base)}</td>',
                 f'<td data-v="{num(e.mean)}" title="interval [{e.low}, {e.high}]">{esc(primary_text(e))}</td>']
        for c in cols:
            v = c.get(e)
            key = num(v) if c.numeric and isinstance(v, (int, float)) else ("" if v is None else str(v))
            cls = ("" if c.numeric else "s") + fold(c)
            cells.append(f'<td class="{cls.strip()}" data-v="{esc(key)}">{esc(c.fmt(v))}</td>')
        cells.append(_rows_cell(e, dates))
        body.append(('<tr class="flagged">' if entry_flagged(e) else "<tr>") + "".join(cells) + "</tr>")
    folded = sum(not c.main for c in cols)
    toggle = (f'<button type="button" class="cols" data-for="{tid}" aria-pressed="false">show all columns '
              f'(+{folded}: {esc(", ".join(c.header for c in cols if not c.main))})</button>' if folded else "")
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
        opts.append(f'<option value="{esc(metric)}"{" selected" if i == 0 else ""}>{esc(label)}'
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
            noise = (f"sd {n.sd:.4g}, {n.df} df ({esc(n.source)})" if n and n.sd is not None
                     else "seed noise not measured: " + ("the aggregate's stderr" if e.high != e.low else "no interval"))
            rows.append(f'<tr data-mean="{num(e.mean)}" data-rank="{e.rank}"><td>{esc(rank_text(e))}</td>'
                        f'<td class="s">{esc(e.first["submission"])}</td><td>{esc(primary_text(e))}</td>'
                        f'<td class="bar" title="{e.low} – {e.high}">{bar}</td><td>{len(e.rows)}</td>'
                        f'<td class="s note">{noise}</td></tr>')
        blocks.append(f'<table class="view" data-metric="{esc(metric)}" data-higher="{1 if higher else 0}"'
                      f'{"" if i == 0 else " hidden"}><thead><tr><th>rank</th><th class="s">submission</th>'
                      f'<th>{esc(label)} (95% CI)</th><th class="s">interval ({"higher" if higher else "lower"} is '
                      f'better; axis {lo:.4g} to {hi:.4g})</th><th>seeds</th><th class="s">seed noise</th></tr></thead>'
                      f'<tbody>{"".join(rows)}</tbody></table>')
    return (f'<details class="views" id="{vid}"><summary>Rank by another metric ({len(t.views)} reported, each with '
            f'its own 95% intervals and tie ranks: {esc(t.noise_rule)}, {INTERVAL_RULE}, {TIE_RULE})</summary>'
            f'<label>metric <select class="metric" data-for="{vid}">{"".join(opts)}</select></label>'
            f'{"".join(blocks)}</details>')


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
            return (f'<tr><td class="s">{esc(g.metric)}</td><td>{f(g.decision_accuracy)}</td><td>{iv}</td>'
                    f"<td>{f(g.kendall_tau, '+.2f')}</td><td>{len(g.flips)}</td><td>{g.real_flips}</td></tr>")
        head = ('<table class="agree"><thead><tr><th class="s">metric at the smaller scale</th><th>decision accuracy</th>'
                "<th>95% interval</th><th>Kendall τ-b</th><th>flips</th><th>beyond noise</th></tr></thead><tbody>")
        hid = slug("agree", rep.small, rep.large)
        blocks.append(f'<h3 id="{hid}">{esc(rep.small)} → {esc(rep.large)}: {len(rep.entries)} entries, '
                      f"target {esc(rep.target)}</h3>" + head + "".join(line(g) for g in rep.metrics) + "</tbody></table>"
                      + f'<p class="note read">{esc(_agreement_reading(rep))}</p>'
                      + (f"<details><summary>per task ({len(rep.tasks)})</summary>{head}"
                         + "".join(line(g) for g in rep.tasks) + "</tbody></table>"
                         + f'<p class="note read">{esc(TASK_READING)}</p></details>' if rep.tasks else ""))
        toc.append((hid, f"{rep.small} → {rep.large}"))
    if not blocks:
        return "<p class=note>no two scales share two entries yet: nothing to compare</p>"
    return f'<p class="note">{esc(AGREEMENT_NOTE)}</p>' + "".join(blocks)


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
        return " · ".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in pairs)
    out = []
    for hid, title, subs in items:
        inner = "".join(f'<li><a href="#{esc(i)}">{esc(t)}</a>{": " + links(kids) if kids else ""}</li>'
                        for i, t, kids in subs)
        out.append(f'<li><a href="#{esc(hid)}">{esc(title)}</a>{"<ul>" + inner + "</ul>" if inner else ""}</li>')
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
              "recipe and README, and gives the code commit its rows were made at and the day they were written "
              "(the rows' <code>created</code>; rows older than schema 5 carry no timestamp and show their "
              "commit's date, from the repository's history). Under each table: the entries ranked by every other metric they report, and per-task "
              "scores coloured in units of seed noise.")
    toc: list = []
    body = []
    if not tables:
        body.append("<p>No rows yet.</p>")
    n = 0
    for scale in order:
        lead = is_lead(scale)
        sid = slug("scale", scale)
        body.append(f'<h2 id="{sid}" class="scale{" lead" if lead else ""}" data-scale="{esc(scale)}">{esc(scale)}'
                    f'{" — the CPU leaderboard track" if lead else ""}</h2>')
        subs = []
        for grp in _version_sections([t for t in tables if t.scale == scale]):
            t0 = grp[0]
            vid = slug(scale, f"v{t0.version}", t0.model_key[2], f"v{t0.model_key[3]}")
            body.append(f'<h3 id="{vid}">{esc(scale)} v{t0.version} (suite {esc(t0.model_key[2])} v{t0.model_key[3]})</h3>')
            if (signal := board.signal(scale, t0.version)) is not None:
                for line in signal.splitlines():
                    text = esc(line)
                    text = text.replace("`winnow analyze", "<code>winnow analyze").replace("`", "</code>")
                    body.append(f'<p class="signal">{text}</p>')
                body.append(f'<p class="note read">{esc(SIGNAL_READING)}</p>')
            if lead:
                body.append(forest(grp))
            kids = []
            for t in grp:
                tid = slug(vid, t.track)
                kids.append((tid, f"{t.track} ({len(t.entries)})"))
                body.append(f'<h3 id="{tid}">{esc(t.scale)} v{t.version} / {esc(t.track)} track</h3>'
                            f'<p class="note">{esc(t.versions)}; ranked by <b>{esc(t.primary)}</b>; seeds averaged, '
                            f"{esc(t.noise_rule)}, {INTERVAL_RULE}, {TIE_RULE}; click a header to sort.</p>")
                body.append(_table(t, f"board-{n}", base, dates))
                body.append(_views(t, f"views-{n}"))
                body.append(f'<details class="heatmap"{" open" if lead else ""}><summary>per-task scores '
                            f"({esc(task_measure(t.primary))}), coloured in units of seed noise</summary>{heatmap(t)}</details>")
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
            pid = slug("compute", track, metric)
            plots.append((pid, f"{track}, {metric}", []))
            body.append(f'<h3 id="{pid}">{esc(track)} track, {esc(metric)}</h3>' + scatter(mts, track))
    toc.append(("compute", "Score against compute", plots))
    agree: list[tuple[str, str]] = []
    body.append('<h2 id="agreement">Cross-scale agreement</h2>')
    body.append(_agreement(rows, order, agree))
    toc.append(("agreement", "Cross-scale agreement", [(i, t, []) for i, t in agree]))
    body.append(f'<h2 id="legend">How the tables are computed</h2><p class="note">{esc(LEGEND)}</p>')
    toc.append(("legend", "How the tables are computed", []))
    head = ["<h1>winnow leaderboard</h1>", f'<p class="note">{intro}</p>', _toc(toc)]
    data = json.dumps([{k: r.get(k) for k in ("submission", "scale", "track", "seed", "run_id")} for r in rows])
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>winnow leaderboard</title>'
            f"<style>{CSS}</style></head><body>{''.join(head + body)}"
            f'<pre id="selftest"></pre><script type="application/json" id="rows">{esc(data)}</script>'
            f"<script>{SCRIPT}</script></body></html>")


def write_html(board: Board, path: Path) -> Path:
    with atomic_open(path, "wt") as f:
        f.write(page(board, path.parent))
    return path
