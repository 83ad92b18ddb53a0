"""How the leaderboard writes numbers: one set of formats shared by the Markdown, HTML and README writers.

``fmt`` is a table cell (4 decimals, thousands separators for counts, "–" for a missing value,
"yes" for a true flag), ``sci`` a FLOP count, ``seconds_text`` a curation time (marked "(wall)"
when only wall-clock time was measured), ``primary_text`` an entry's mean ± half its 95%
interval, ``rank_text`` its rank (``=k`` when tied), ``mean_sd`` a seed mean ± sd.
"""

from __future__ import annotations

from winnow.leaderboard.stats import Entry, sd


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def sci(v) -> str:
    return "–" if v is None else f"{float(v):.2e}"


def seconds_text(v) -> str:
    """Seconds of a ``tables.CurationSeconds`` (or None), marked "(wall)" for wall-clock time."""
    if v is None:
        return "–"
    return fmt(float(v), 1) + (" (wall)" if v.kind == "wall" else "")


def primary_text(e: Entry) -> str:
    if e.mean is None:
        return "–"
    if e.low is None or e.low == e.high:
        return f"{e.mean:.4f}"
    return f"{e.mean:.4f} ± {(e.high - e.low) / 2:.4f}"


def rank_text(e: Entry) -> str:
    return f"={e.rank}" if e.tied else str(e.rank)


def mean_sd(vals: list) -> str:
    """The mean of the numbers among ``vals``, ± their sd with two or more."""
    vals = [float(v) for v in vals if isinstance(v, (int, float))]
    if not vals:
        return "–"
    m = sum(vals) / len(vals)
    return f"{m:.4f} ± {sd(vals):.4f}" if len(vals) >= 2 else f"{m:.4f}"
