"""RefinedWeb line modifiers and the word-removal-ratio filter, with DCLM's semantics.

RefinedWeb (Penedo et al., 2023) cleans pages line by line and drops pages that lost too many
words to the cleaning. Each step mirrors the DCLM function of the same name (``modifiers.py``,
``enrichers.py``, ``content_filters.py``): lines are ``text.split("\\n")``, a removed line is
removed whole (or only its banned substring, ``remove_substring_only``), kept lines keep their
order and are joined with ``\\n``, so the output is made only of text from the input (the
filtering track's rule). Where DCLM strips the joined page, so do these steps. A page left empty
is dropped with ``empty_after_<rule>``.

| step                            | removes                                          | drop reason |
| ------------------------------- | ------------------------------------------------ | ----------- |
| ``uppercase_ratio_line_modifier`` | lines with uppercase share > max_ratio (0.5)   | empty_after_uppercase_lines |
| ``numeric_ratio_line_modifier`` | lines with digit share > max_ratio (1.0)         | empty_after_numeric_lines |
| ``counter_line_modifier``       | counter lines ("3 likes", "1.2K views")          | empty_after_counter_lines |
| ``line_length_modifier``        | lines whose word count is outside [min, max]     | empty_after_short_lines |
| ``substring_line_modifier``     | lines (or substrings) matching a banlist         | empty_after_substring_lines |
| ``newline_removal_modifier``    | newlines beyond ``max_consecutive`` in a row      | (never drops) |
| ``word_counter_enricher``       | nothing: ``meta[key]`` = fastText word count      | (never drops) |
| ``word_removal_ratio_filter``   | pages that lost > max_removed_ratio of words      | too_many_words_removed, no_words_before |
"""

from __future__ import annotations

import math
import re
from typing import Literal

import regex

from winnow.curate.base import Filter, Mapper, ParamError, StepError
from winnow.curate.common import text as textlib
from winnow.curate.common.banlists import banlist_arg
from winnow.curate.common.lines import LineModifier
from winnow.curate.common.params import check_ratio

_UPPER = regex.compile(r"\p{Uppercase}")  # == str.isupper per character
_DIGIT = regex.compile(r"[\p{Numeric_Type=Digit}\p{Numeric_Type=Decimal}]")  # == str.isdigit
_COUNTER = re.compile(
    r"^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|shares|comments|retweets|reposts|quotes|"
    r"bookmarks|upvotes|downvotes|downloads|views|followers)\W*$")


class UppercaseRatioLineModifier(LineModifier):
    """Remove lines whose share of uppercase characters exceeds ``max_ratio``.

    Parameters:

    * ``max_ratio``: the largest share of uppercase characters a kept line may have
    """

    empty_reason = "empty_after_uppercase_lines"

    def __init__(self, max_ratio: float = 0.5):
        self.max_ratio = check_ratio("max_ratio", max_ratio)

    def keep_line(self, line: str) -> bool:
        return len(_UPPER.findall(line)) / len(line) <= self.max_ratio


class NumericRatioLineModifier(LineModifier):
    """Remove lines whose share of digits (``str.isdigit``) exceeds ``max_ratio``; RefinedWeb's
    "all digits" rule is ``max_ratio: 0.999999``.

    Parameters:

    * ``max_ratio``: the largest share of digit characters a kept line may have
    """

    empty_reason = "empty_after_numeric_lines"

    def __init__(self, max_ratio: float = 1.0):
        self.max_ratio = check_ratio("max_ratio", max_ratio)

    def keep_line(self, line: str) -> bool:
        return len(_DIGIT.findall(line)) / len(line) <= self.max_ratio


class CounterLineModifier(LineModifier):
    """Remove counter lines: a number (``1,234``, ``2.5K``) then likes, shares, comments,
    retweets, reposts, quotes, bookmarks, upvotes, downvotes, downloads, views or followers."""

    empty_reason = "empty_after_counter_lines"

    def keep_line(self, line: str) -> bool:
        return not _COUNTER.search(line.lower())


class LineLengthModifier(LineModifier):
    """Remove non-empty lines whose word count (``line.split()``) is outside ``[min_length,
    max_length]``. Like DCLM, the joined page is not stripped.

    Parameters:

    * ``min_length``: the fewest ``line.split()`` words a kept non-empty line has
    * ``max_length``: the most words a kept line has (null: no upper bound)
    """

    strip = False
    empty_reason = "empty_after_short_lines"

    def __init__(self, min_length: int = 0, max_length: float | None = None):
        if min_length < 0:
            raise ParamError("min_length", f"must be >= 0, got {min_length}")
        if max_length is not None and max_length < min_length:
            raise ParamError("max_length", f"must be >= min_length ({min_length}), "
                             f"got {max_length}")
        self.min_length = min_length
        self.max_length = math.inf if max_length is None else max_length

    def keep_line(self, line: str) -> bool:
        return self.min_length <= len(line.split()) <= self.max_length


class SubstringLineModifier(Mapper):
    """Remove lines containing a banned substring, or only the substring.

    ``banlist``: a string or list; entries are regular expressions, as in DCLM (``Read more...``
    matches any three characters after "more"). ``location``: ``any``, ``prefix`` or ``suffix``
    of the line. ``max_length``: only lines of at most this many words (``line.split()``) are
    touched. ``remove_substring_only``: delete the match (with one adjacent whitespace) instead of
    the line; a line left blank is removed. Case-insensitive unless ``case_sensitive``.
    Reason: ``empty_after_substring_lines``.

    Parameters:

    * ``case_sensitive``: match case as written (false: line and entries lower-cased)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, banlist: str | list[str], case_sensitive: bool = False,
                 location: Literal["any", "prefix", "suffix"] = "any",
                 max_length: int | None = None, remove_substring_only: bool = False):
        self.banlist = banlist_arg("banlist", banlist)
        if location not in ("any", "prefix", "suffix"):
            raise ParamError("location", f"must be 'any', 'prefix' or 'suffix', got {location!r}")
        if max_length is not None and max_length < 0:
            raise ParamError("max_length", f"must be >= 0, got {max_length}")
        self.case_sensitive = case_sensitive
        self.location = location
        self.max_length = max_length
        self.remove_substring_only = remove_substring_only
        items = self.banlist if case_sensitive else [b.lower() for b in self.banlist]
        # joined in the given order, not as a trie: with remove_substring_only the order
        # decides which of two overlapping entries is deleted, as in DCLM
        pattern = "(?:" + "|".join(items) + ")"
        if location == "prefix":
            pattern = rf"^{pattern}\s?"
        elif location == "suffix":
            pattern = rf"\s?{pattern}$"
        else:
            pattern = rf"\s?{pattern}"
        try:
            self._pattern = re.compile(pattern, 0 if case_sensitive else re.I)
        except re.error as e:
            raise ParamError("banlist", f"is not a valid regular expression: {e}") from None

    def modify(self, text: str) -> str:
        pat, max_len, only = self._pattern, self.max_length, self.remove_substring_only
        out = []
        for line in text.split("\n"):
            if max_len is None or len(line.split()) <= max_len:
                if only:
                    new = pat.sub("", line)
                    if line and (not new or new.isspace()):
                        continue
                    line = new
                elif pat.search(line):
                    continue
            out.append(line)
        return "\n".join(out).strip()

    def __call__(self, doc: dict) -> list[dict]:
        text = self.modify(doc["text"])
        if text == "":
            return self.drop("empty_after_substring_lines")
        if text != doc["text"]:
            doc["text"] = text
        return [doc]


class NewlineRemovalModifier(Mapper):
    """Collapse every run of more than ``max_consecutive`` newlines to ``max_consecutive``.

    Parameters:

    * ``max_consecutive``: the longest run of newlines kept
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_consecutive: int = 2):
        if max_consecutive < 1:
            raise ParamError("max_consecutive", f"must be >= 1, got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self._pattern = re.compile(r"\n{%d,}" % (max_consecutive + 1))

    def __call__(self, doc: dict) -> list[dict]:
        text = doc["text"]
        if "\n" * (self.max_consecutive + 1) in text:
            doc["text"] = self._pattern.sub("\n" * self.max_consecutive, text)
        return [doc]


def _word_count(text: str, ignore_punctuation: bool, model: str) -> int:
    if ignore_punctuation and model == "fasttext":
        return len(textlib.analysis(text).ft_words)
    return len(textlib.words(text, model, ignore_punctuation))


class WordCounterEnricher(Mapper):
    """Store the page's word count (DCLM ``split_words``; fastText tokens, alphanumeric-led with
    ``ignore_punctuation``) in ``meta[key]``, for ``word_removal_ratio_filter``.

    Parameters:

    * ``key``: the ``meta`` field the count is written to
    * ``overwrite``: replace an existing ``meta[key]`` (false: a page that has one is an error)
    * ``ignore_punctuation``: keep only tokens whose first character is alphanumeric
    * ``model``: how words are split (DCLM ``split_words``): ``fasttext`` tokens, ``uniseg``
      (UAX #29 words) or ``split`` (``str.split``)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone
    provides = ("meta.{key}",)

    def __init__(self, key: str = "word_count", overwrite: bool = False,
                 ignore_punctuation: bool = True,
                 model: Literal["fasttext", "uniseg", "split"] = "fasttext"):
        if not isinstance(key, str) or not key or key == "pool_id":
            raise ParamError("key", f"must be a meta key other than pool_id, got {key!r}")
        if model not in textlib.WORD_MODELS:
            raise ParamError("model", f"must be one of {', '.join(textlib.WORD_MODELS)}")
        self.key = key
        self.overwrite = overwrite
        self.ignore_punctuation = ignore_punctuation
        self.model = model

    def __call__(self, doc: dict) -> list[dict]:
        if not self.overwrite and self.key in doc["meta"]:
            raise StepError(f"meta[{self.key!r}] already exists; set overwrite: true or use "
                            "another key")
        doc["meta"][self.key] = _word_count(doc["text"], self.ignore_punctuation, self.model)
        return [doc]


class WordRemovalRatioFilter(Filter):
    """Drop pages that lost more than ``max_removed_ratio`` of their words since
    ``word_counter_enricher`` stored ``meta[prev_word_count_key]`` (RefinedWeb: 5%).

    The current count is ``meta[new_word_count_key]`` if given and present, else counted like
    the enricher. Reasons: ``too_many_words_removed``, ``no_words_before``.

    Parameters:

    * ``prev_word_count_key``: the ``meta`` field holding the count stored earlier by
      ``word_counter_enricher``
    * ``new_word_count_key``: a ``meta`` field holding the current count (null, or absent: the
      words are counted again)
    * ``max_removed_ratio``: the largest share of words a kept page may have lost
    * ``ignore_punctuation``: keep only tokens whose first character is alphanumeric when
      counting again
    * ``model``: how words are split (DCLM ``split_words``): ``fasttext`` tokens, ``uniseg``
      (UAX #29 words) or ``split`` (``str.split``), when counting again
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone
    needs = ("meta.{prev_word_count_key}",)  # new_word_count_key is optional: absent, it counts

    def __init__(self, prev_word_count_key: str, new_word_count_key: str | None = None,
                 max_removed_ratio: float = 0.05, ignore_punctuation: bool = True,
                 model: Literal["fasttext", "uniseg", "split"] = "fasttext"):
        if not isinstance(prev_word_count_key, str) or not prev_word_count_key:
            raise ParamError("prev_word_count_key", "must name the meta key that "
                             "word_counter_enricher wrote")
        if model not in textlib.WORD_MODELS:
            raise ParamError("model", f"must be one of {', '.join(textlib.WORD_MODELS)}")
        self.prev_word_count_key = prev_word_count_key
        self.new_word_count_key = new_word_count_key
        self.max_removed_ratio = check_ratio("max_removed_ratio", max_removed_ratio)
        self.ignore_punctuation = ignore_punctuation
        self.model = model

    def keep(self, doc: dict) -> bool | str:
        meta = doc["meta"]
        if self.prev_word_count_key not in meta:
            raise StepError(f"meta[{self.prev_word_count_key!r}] is missing: put a "
                            f"word_counter_enricher step with key: {self.prev_word_count_key} "
                            "before the modifiers this filter checks")
        prev = meta[self.prev_word_count_key]
        if prev == 0:
            return "no_words_before"
        if self.new_word_count_key and self.new_word_count_key in meta:
            new = meta[self.new_word_count_key]
        else:
            new = _word_count(doc["text"], self.ignore_punctuation, self.model)
        return "too_many_words_removed" if (prev - new) / prev > self.max_removed_ratio else True
