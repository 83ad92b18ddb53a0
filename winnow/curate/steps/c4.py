"""C4's cleaning rules (Raffel et al., 2020) with DCLM's semantics: terminal-punctuation lines,
long-word lines, Wikipedia citation marks, and page-level banned substrings (lorem ipsum, ``{``,
the LDNOOBW bad-words list).

Line rules work on ``text.split("\\n")``, keep empty lines, join the kept lines with ``\\n`` and
do not strip (as DCLM). The JavaScript and policy-line rules are ``substring_line_modifier``
steps (``refinedweb``); the minimum-sentence rule is ``page_length_filter`` with
``length_type: sentence``.

| step                          | what                                               | drop reason |
| ----------------------------- | -------------------------------------------------- | ----------- |
| ``punctuation_line_modifier`` | remove lines not ending in ``. ! ? " …``           | empty_after_punctuation_lines |
| ``word_length_modifier``      | remove lines holding a word longer than max_length | empty_after_long_word_lines |
| ``citation_removal_modifier`` | delete ``[1]``, ``[edit]``, ``[citation needed]``  | empty_after_citation_removal |
| ``substring_filter``          | drop pages containing a banned substring           | the ``reason`` parameter (banned_substring) |

``substring_filter`` takes its list inline (``banlist``), from the data root
(``data_banlist: ldnoobw`` reads ``<data root>/banlists/ldnoobw.txt`` at run time; the list is
never copied into the repository), or from a file beside the recipe (``banlist_file``).
"""

from __future__ import annotations

import re
from typing import Literal

from winnow.curate.base import Filter, Mapper, ParamError
from winnow.curate.common import text as textlib
from winnow.curate.common.banlists import check_banlist_source, load_banlist
from winnow.curate.common.lines import LineModifier

_TERMINAL = re.compile(r'[.!?"\u2026]\s*$')
_ELLIPSIS = re.compile(r"(?:\.\.\.|\u2026)\s*$")
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")


class PunctuationLineModifier(LineModifier):
    """Keep only lines ending in terminal punctuation (``.``, ``!``, ``?``, ``"``, ``…``, then
    optional whitespace) and empty lines; ``remove_ellipses`` (C4's TFDS behaviour) also removes
    lines ending in ``...`` or ``…``.

    Parameters:

    * ``remove_ellipses``: also remove lines ending in an ellipsis (C4's TFDS behaviour)
    """

    strip = False
    empty_reason = "empty_after_punctuation_lines"

    def __init__(self, remove_ellipses: bool = False):
        self.remove_ellipses = remove_ellipses

    def modify(self, text: str) -> str:
        kept = [line for line in text.split("\n") if not line or _TERMINAL.search(line)]
        if self.remove_ellipses:
            kept = [line for line in kept if not _ELLIPSIS.search(line)]
        return "\n".join(kept)


class WordLengthModifier(LineModifier):
    """Remove lines holding a word longer than ``max_length`` characters (C4: 1000). Words are
    DCLM ``split_words`` tokens: ``model`` fasttext (default), uniseg or split.

    Parameters:

    * ``max_length``: the longest word, in characters, a kept line may hold
    * ``model``: how words are split (DCLM ``split_words``): ``fasttext`` tokens, ``uniseg``
      (UAX #29 words) or ``split`` (``str.split``)
    * ``ignore_punctuation``: keep only tokens whose first character is alphanumeric
    * ``ignore_whitespace``: leave out whitespace tokens (DCLM's default)
    """

    strip = False
    empty_reason = "empty_after_long_word_lines"

    def __init__(self, max_length: int = 1000,
                 model: Literal["fasttext", "uniseg", "split"] = "fasttext",
                 ignore_punctuation: bool = False, ignore_whitespace: bool = True):
        if max_length < 0:
            raise ParamError("max_length", f"must be >= 0, got {max_length}")
        if model not in textlib.WORD_MODELS:
            raise ParamError("model", f"must be one of {', '.join(textlib.WORD_MODELS)}")
        self.max_length = max_length
        self.model = model
        self.ignore_punctuation = ignore_punctuation
        self.ignore_whitespace = ignore_whitespace

    def keep_line(self, line: str) -> bool:
        if len(line) <= self.max_length:
            return True  # no word can be longer than its line
        return all(len(w) <= self.max_length for w in textlib.words(
            line, self.model, self.ignore_punctuation, self.ignore_whitespace))


class CitationRemovalModifier(Mapper):
    """Delete Wikipedia-style citation marks: ``[12]``, ``[]``, ``[edit]``, ``[citation
    needed]``. Reason: ``empty_after_citation_removal``."""

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __call__(self, doc: dict) -> list[dict]:
        text = doc["text"]
        if "[" in text:
            text = _CITATION.sub("", text)
            if text == "":
                return self.drop("empty_after_citation_removal")
            doc["text"] = text
        elif text == "":
            return self.drop("empty_after_citation_removal")
        return [doc]


class SubstringFilter(Filter):
    """Drop pages containing any banned substring (DCLM ``substring_filter``).

    Entries are regular expressions joined by ``|`` (literal lists are compiled to a trie, with
    the same matches). ``exact_word`` wraps the alternation in ``\\b``; ``location`` ``prefix``
    / ``suffix`` anchors it to the start / end of the page. Case-insensitive (page and entries
    lower-cased) unless ``case_sensitive``. Reason: ``reason`` (default ``banned_substring``).

    Parameters:

    * ``banlist``: the banned entries inline, a string or a list (give exactly one of the three
      banlist parameters)
    * ``data_banlist``: the name of a banlist under ``<data root>/banlists/<name>.txt``, read at
      run time
    * ``banlist_file``: a banlist file beside the recipe, one entry a line
    * ``location``: ``any`` (anywhere), ``prefix`` (the start of the page) or ``suffix`` (its
      end)
    * ``case_sensitive``: match case as written (false: page and entries lower-cased)
    * ``exact_word``: match entries only as whole words (the alternation wrapped in ``\\b``)
    * ``reason``: the drop reason counted for a matching page
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, banlist: str | list[str] | None = None, data_banlist: str | None = None,
                 banlist_file: str | None = None,
                 location: Literal["any", "prefix", "suffix"] = "any",
                 case_sensitive: bool = False, exact_word: bool = False,
                 reason: str = "banned_substring"):
        check_banlist_source(banlist, data_banlist, banlist_file)
        if location not in ("any", "prefix", "suffix"):
            raise ParamError("location", f"must be 'any', 'prefix' or 'suffix', got {location!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ParamError("reason", "must be a short non-empty string")
        self.banlist = banlist
        self.data_banlist = data_banlist
        self.banlist_file = banlist_file
        self.location = location
        self.case_sensitive = case_sensitive
        self.exact_word = exact_word
        self.reason = reason
        self._pattern = None

    def setup(self) -> None:
        items = load_banlist(self.banlist, self.data_banlist, self.banlist_file)
        if not self.case_sensitive:
            items = [b.lower() for b in items]
        pattern = textlib.alternation(items, escape=False)
        if self.exact_word:
            pattern = rf"\b{pattern}\b"
        if self.location == "prefix":
            pattern = rf"^{pattern}"
        elif self.location == "suffix":
            pattern = rf"{pattern}$"
        self._pattern = re.compile(pattern)

    def keep(self, doc: dict) -> bool | str:
        if self._pattern is None:
            self.setup()
        text = doc["text"] if self.case_sensitive else doc["text"].lower()
        return self.reason if self._pattern.search(text) else True
