"""Built-in document modifiers. They only ever *remove* text (the filtering track forbids adding).

``line_cleanup`` works line by line on ``text.split("\\n")``: every output line is an input line
with trailing whitespace removed, output lines keep their input order, and they are joined with
the ``\\n`` that separated them, so the output is made only of text present in the input.
"""

from __future__ import annotations

from winnow.curate.base import Mapper, ParamError


class LineCleanup(Mapper):
    """Strip trailing whitespace, drop short lines, collapse blank runs, drop emptied documents.

    Reason: ``empty_after_cleanup`` when no non-blank line remains.

    Parameters:

    * ``min_line_chars``: drop non-blank lines whose stripped length is below this (0: keep all)
    * ``max_blank_lines``: blank lines kept between paragraphs (leading and trailing blank lines
      are always removed)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone
    drop_reason = "empty_after_cleanup"

    def __init__(self, min_line_chars: int = 0, max_blank_lines: int = 1):
        if min_line_chars < 0:
            raise ParamError("min_line_chars", f"must be >= 0, got {min_line_chars}")
        if max_blank_lines < 0:
            raise ParamError("max_blank_lines", f"must be >= 0, got {max_blank_lines}")
        self.min_line_chars = min_line_chars
        self.max_blank_lines = max_blank_lines

    def clean(self, text: str) -> str:
        out: list[str] = []
        blanks = 0
        for line in text.split("\n"):
            line = line.rstrip()
            if not line:
                blanks += 1
                continue
            if self.min_line_chars and len(line.strip()) < self.min_line_chars:
                continue  # a dropped short line does not end the current blank run
            if out:
                out.extend([""] * min(blanks, self.max_blank_lines))
            blanks = 0
            out.append(line)
        return "\n".join(out)

    def __call__(self, doc: dict) -> list[dict]:
        text = self.clean(doc["text"])
        if not text:
            return self.drop("empty_after_cleanup")
        doc["text"] = text
        return [doc]
