"""Within-page deduplication: remove repeated lines or paragraphs inside one page (DCLM's
``within_page_dedup``), keeping the first occurrence of each.

Lines are ``text.split("\\n")``, paragraphs ``text.split("\\n\\n")`` (as DCLM's
``split_paragraphs`` with ``remove_empty=False``); with ``normalize`` two pieces are equal when
equal after stripping and lower-casing. Empty pieces are always kept (blank lines separate
paragraphs). The kept pieces are joined with the separator they were split on, so the output
only removes text. A page that was empty or whitespace-only and ends up empty is dropped
(``empty_after_within_page_dedup``).
"""

from __future__ import annotations

from typing import Literal

from winnow.curate.base import Mapper, ParamError


class WithinPageDedup(Mapper):
    """Keep the first copy of each line (``granularity: line``) or paragraph of a page.

    Parameters:

    * ``granularity``: ``line`` or ``paragraph`` pieces are deduplicated
    * ``normalize``: compare pieces stripped and lower-cased
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, granularity: Literal["line", "paragraph"] = "line", normalize: bool = True):
        if granularity not in ("line", "paragraph"):
            raise ParamError("granularity", f"must be 'line' or 'paragraph', got {granularity!r}")
        self.granularity = granularity
        self.normalize = normalize
        self._sep = "\n" if granularity == "line" else "\n\n"

    def dedup(self, text: str) -> str:
        seen: set[str] = set()
        out: list[str] = []
        norm = self.normalize
        for piece in text.split(self._sep):
            key = piece.strip().lower() if norm else piece
            if not key or key not in seen:
                out.append(piece)
                seen.add(key)
        return self._sep.join(out)

    def __call__(self, doc: dict) -> list[dict]:
        text = self.dedup(doc["text"])
        if not text.strip():
            return self.drop("empty_after_within_page_dedup")
        if text != doc["text"]:
            doc["text"] = text
        return [doc]
