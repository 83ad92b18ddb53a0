"""``LineModifier``: the base of the steps that keep or remove whole lines of a page.

A subclass implements ``keep_line(line)``; lines are ``text.split("\\n")``, empty lines are always
kept, kept lines keep their order and are joined with ``\\n`` (so the output is made only of
text from the input: the filtering track's rule), the joined page is stripped unless ``strip``
is False (as DCLM does rule by rule), and a page left empty is dropped with ``empty_reason``.
Used by the RefinedWeb and C4 line rules.
"""

from __future__ import annotations

from winnow.curate.base import Mapper


class LineModifier(Mapper):
    """Base of the line modifiers: keep the lines ``keep_line`` accepts (empty lines always)."""

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone
    strip = True  # strip the joined page (as DCLM does for this rule)
    empty_reason = "empty_after_line_modifier"

    def keep_line(self, line: str) -> bool:
        raise NotImplementedError

    def modify(self, text: str) -> str:
        keep = self.keep_line
        out = "\n".join([line for line in text.split("\n") if not line or keep(line)])
        return out.strip() if self.strip else out

    def __call__(self, doc: dict) -> list[dict]:
        text = self.modify(doc["text"])
        if text == "":
            return self.drop(self.empty_reason)
        if text != doc["text"]:
            doc["text"] = text
        return [doc]
