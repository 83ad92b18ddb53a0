"""HTML escaping, numeric ``data-v`` attributes and element ids shared by the leaderboard page's writers
(``html``, ``plots``, ``heatmap``)."""

from __future__ import annotations

import html
import re


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def num(v) -> str:
    return "" if v is None else repr(float(v))


def slug(*parts) -> str:
    """An HTML id from ``parts``: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(str(p) for p in parts)).strip("-")

