"""The per-task heatmap under each leaderboard table: each entry's value on each task, coloured by its
difference from a reference entry (baselines/random, else the median entry) in units of the task's
seed noise, saturating at ``HEAT_SATURATE`` units so differences inside the noise stay pale."""

from __future__ import annotations

from winnow.leaderboard.markup import esc
from winnow.leaderboard.stats import entry_noise, higher_better
from winnow.leaderboard.tables import CONTROL, Table, control_entry, task_measure

HEAT_SATURATE = 3.0     # heatmap colour is full at this many seed sds from the reference


def heat_colour(z: float) -> str:
    """White at 0, full green (better) or red (worse) at ``HEAT_SATURATE`` noise units."""
    z = max(-HEAT_SATURATE, min(HEAT_SATURATE, z)) / HEAT_SATURATE
    if z >= 0:
        return f"rgb({int(255 - 155 * z)},{int(255 - 40 * z)},{int(255 - 155 * z)})"
    return f"rgb(255,{int(255 + 155 * z)},{int(255 + 155 * z)})"


def heat_legend(unit: str, ref: str) -> str:
    stops = [-HEAT_SATURATE, -HEAT_SATURATE / 2, 0.0, HEAT_SATURATE / 2, HEAT_SATURATE]
    cells = "".join(f'<span style="background:{heat_colour(z)}">{z:+g}</span>' for z in stops)
    return (f'<p class="note heatlegend">{cells} Colour: the difference from {esc(ref)} on that task in {esc(unit)} '
            f"(full colour at ±{HEAT_SATURATE:g}, green better, red worse); the number is the entry's mean. "
            "Hover a cell for the value, the difference and the noise unit.</p>")


def heatmap(t: Table) -> str:
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
    head = "".join(f'<th class="task" title="{esc(task + unit_note(task))}"><span>{esc(task.replace("dclm_", ""))}</span></th>'
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
                cells.append(f'<td title="{esc(task)}: {v:.4f}; noise not measured">{v:.3f}</td>')
                continue
            u, what = units[task]
            z = (v - refs[task]) / u if higher_better(metric) else (refs[task] - v) / u  # green is better either way
            cells.append(f'<td style="background:{heat_colour(z)}" data-z="{z:.3f}" title="{esc(task)}: {v:.4f}, '
                         f'{z:+.1f} {what} ({u:.4g}) {"better" if z >= 0 else "worse"} than the reference">{v:.3f}</td>')
        rows.append(f'<tr><td class="s">{esc(e.first["submission"])}</td>{"".join(cells)}</tr>')
    ref = f"{CONTROL} (this table's control)" if ci is not None else "the median entry"
    unit = " or ".join(sorted(kinds)) or "noise units (not measured: cells are uncoloured)"
    return (f'<h4>Per-task {metric} ({t.scale} v{t.version} / {t.track})</h4><div class="wide"><table class="heat">'
            f'<thead><tr><th class="s">submission</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            + heat_legend(unit, ref))

