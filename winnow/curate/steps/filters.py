"""Built-in document filters: cheap heuristics on length, each drop counted by reason.

Both filters count in Unicode code points (characters) or whitespace-separated words, never in
tokens, so their behaviour does not depend on the scale's tokenizer. Bounds are inclusive: a
document of exactly ``min_chars`` characters is kept.
"""

from __future__ import annotations

from winnow.curate.base import Filter, ParamError


def _check_bounds(lo_name: str, lo: int, hi_name: str, hi: int | None) -> None:
    if lo < 0:
        raise ParamError(lo_name, f"must be >= 0, got {lo}")
    if hi is not None and hi < lo:
        raise ParamError(hi_name, f"must be >= {lo_name} ({lo}), got {hi}")


class LengthFilter(Filter):
    """Keep documents with ``min_chars <= len(text) <= max_chars`` (characters).

    Reasons: ``too_short``, ``too_long``.

    Parameters:

    * ``min_chars``: the fewest characters (``len(text)``) a kept document has
    * ``max_chars``: the most characters a kept document has (null: no upper bound)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, min_chars: int = 0, max_chars: int | None = None):
        _check_bounds("min_chars", min_chars, "max_chars", max_chars)
        self.min_chars = min_chars
        self.max_chars = max_chars

    def keep(self, doc: dict) -> bool | str:
        n = len(doc["text"])
        if n < self.min_chars:
            return "too_short"
        if self.max_chars is not None and n > self.max_chars:
            return "too_long"
        return True


class WordCountFilter(Filter):
    """Keep documents with ``min_words <= words <= max_words``; words = ``text.split()`` tokens.

    Reasons: ``too_few_words``, ``too_many_words``.

    Parameters:

    * ``min_words``: the fewest ``text.split()`` words a kept document has
    * ``max_words``: the most words a kept document has (null: no upper bound)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, min_words: int = 0, max_words: int | None = None):
        _check_bounds("min_words", min_words, "max_words", max_words)
        self.min_words = min_words
        self.max_words = max_words

    def keep(self, doc: dict) -> bool | str:
        n = len(doc["text"].split())
        if n < self.min_words:
            return "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return "too_many_words"
        return True
