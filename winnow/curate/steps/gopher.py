"""Gopher quality and repetition filters (Rae et al., 2021) with DCLM's semantics and defaults.

Each filter mirrors a function of DCLM's ``baselines/mappers/filters/content_filters.py`` of the
same name, with the same parameters, defaults and comparisons (strict ``>`` against a maximum,
``<`` against a minimum), and decides from ``text`` only. Splits follow DCLM (see ``winnow.curate.common.text``):
``text.split()`` for the word-length, symbol, alphabetic and stop-word rules, fastText tokens
for ``page_length_filter`` words, UAX #29 words for the repetition n-grams, stripped non-empty
lines / paragraphs for the line rules. A page's splits are computed once and shared by the
filters of a segment (``textlib.analysis``).

| step                             | DCLM default                   | drop reasons                 |
| -------------------------------- | ------------------------------ | ---------------------------- |
| ``page_length_filter``           | (required) length_type, min 1  | too_few_<unit>s, too_many_<unit>s |
| ``line_length_filter``           | max line length 1000 chars     | long_lines, empty            |
| ``word_length_filter``           | mean word length in [0, inf]   | mean_word_length_too_short, mean_word_length_too_long, no_words |
| ``symbol_ratio_filter``          | (# + ellipses) / words <= 0.1  | symbol_to_word_ratio, no_words |
| ``bullet_count_filter``          | bullet-led lines <= 90%        | bullet_lines                 |
| ``ellipsis_count_filter``        | ellipsis-ended lines <= 30%    | ellipsis_lines               |
| ``alphabetic_word_ratio_filter`` | words without a letter <= 20%  | non_alphabetic_words, no_words |
| ``alphanumeric_char_ratio_filter`` | alphanumeric chars >= 25%    | low_alphanumeric_ratio, empty |
| ``stop_word_filter``             | >= 2 stop words                | few_stop_words               |
| ``repetition_filter``            | one granularity, one maximum   | see ``massive_web_repetition_filters`` |
| ``massive_web_repetition_filters`` | Gopher's 13 thresholds       | dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac, top_<n>gram_char_frac (n=2..4), dup_<n>gram_char_frac (n=5..10), empty |

One module of ~630 lines on purpose: the eleven filters are one family (DCLM's Gopher section of
``content_filters.py``) sharing one page analysis, and reading them side by side is how their
comparisons are checked against DCLM's.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import accumulate, compress
from typing import Literal

import numpy as np

from winnow.curate.base import Filter, ParamError
from winnow.curate.common import text as textlib
from winnow.curate.common.params import check_ratio

LENGTH_TYPES = ("char", "word", "sentence", "line", "paragraph")


def _bounds(lo_name: str, lo: float, hi_name: str, hi: float | None) -> float:
    check_ratio(lo_name, lo)
    if hi is None:
        return math.inf
    check_ratio(hi_name, hi)
    if hi < lo:
        raise ParamError(hi_name, f"must be >= {lo_name} ({lo}), got {hi}")
    return hi


# --------------------------------------------------------------------------- length filters

class PageLengthFilter(Filter):
    """Keep pages whose length in ``length_type`` units is within ``[min_length, max_length]``.

    ``length_type``: ``char`` (code points), ``word`` (DCLM ``split_words``: ``model`` fasttext,
    uniseg or split; ``ignore_punctuation`` keeps only alphanumeric-led tokens), ``sentence``
    (NLTK Punkt, English), ``line`` or ``paragraph`` (stripped non-empty pieces between ``\\n``
    or ``\\n\\n``). Reasons: ``too_few_<unit>s``, ``too_many_<unit>s``.

    Parameters:

    * ``min_length``: the fewest ``length_type`` units a kept page has
    * ``max_length``: the most units a kept page has (null: no upper bound)
    * ``model``: how words are split (DCLM ``split_words``): ``fasttext`` tokens, ``uniseg``
      (UAX #29 words) or ``split`` (``str.split``), for ``length_type: word``
    * ``ignore_punctuation``: keep only tokens whose first character is alphanumeric
      (``length_type: word``)
    * ``ignore_whitespace``: leave out whitespace tokens (DCLM's default) (``length_type:
      word``)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, length_type: Literal["char", "word", "sentence", "line", "paragraph"],
                 min_length: float = 1, max_length: float | None = None,
                 ignore_punctuation: bool = False, model: Literal["fasttext", "uniseg", "split"]
                 = "fasttext", ignore_whitespace: bool = True):
        if length_type not in LENGTH_TYPES:
            raise ParamError("length_type", f"must be one of {', '.join(LENGTH_TYPES)}, "
                             f"got {length_type!r}")
        if model not in textlib.WORD_MODELS:
            raise ParamError("model", f"must be one of {', '.join(textlib.WORD_MODELS)}, "
                             f"got {model!r}")
        self.length_type = length_type
        self.min_length = min_length
        self.max_length = _bounds("min_length", min_length, "max_length", max_length)
        self.ignore_punctuation = ignore_punctuation
        self.model = model
        self.ignore_whitespace = ignore_whitespace
        self._few = f"too_few_{length_type}s"
        self._many = f"too_many_{length_type}s"

    def setup(self) -> None:
        if self.length_type == "sentence":
            textlib.load_sentence_splitter()  # importing NLTK takes ~2 s: once per worker

    def length(self, text: str) -> int:
        t = self.length_type
        if t == "char":
            return len(text)
        if t == "word":
            if self.ignore_punctuation and self.ignore_whitespace:
                a = textlib.analysis(text)
                return len(a.ft_words if self.model == "fasttext" else
                           a.uax_words if self.model == "uniseg" else
                           [w for w in a.split if w[0].isalnum()])
            return len(textlib.words(text, self.model, self.ignore_punctuation,
                                   self.ignore_whitespace))
        if t == "sentence":  # stop counting once both bounds are decided
            return textlib.count_sentences(text, None if self.max_length < math.inf
                                         else self.min_length)
        if t == "line":
            return len(textlib.analysis(text).lines)
        return len(textlib.analysis(text).paragraphs)

    def keep(self, doc: dict) -> bool | str:
        n = self.length(doc["text"])
        if n < self.min_length:
            return self._few
        if n > self.max_length:
            return self._many
        return True


class LineLengthFilter(Filter):
    """Drop pages whose longest (``length_type: max``) or mean (``avg``) line, in characters over
    ``text.splitlines()``, exceeds ``max_length`` (RedPajama's code rule). Reasons: ``long_lines``,
    ``empty``.

    Parameters:

    * ``length_type``: ``max`` (the longest line) or ``avg`` (the mean line length) is compared
    * ``max_length``: the most characters that line length may reach in a kept page
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, length_type: Literal["max", "avg"] = "max", max_length: float = 1000):
        if length_type not in ("max", "avg"):
            raise ParamError("length_type", f"must be 'max' or 'avg', got {length_type!r}")
        self.length_type = length_type
        self.max_length = check_ratio("max_length", max_length)

    def keep(self, doc: dict) -> bool | str:
        text = doc["text"]
        if not text:
            return "empty"
        ls = text.splitlines()
        if self.length_type == "max":
            n = max(len(line) for line in ls)
        else:
            n = sum(len(line) for line in ls) / len(ls)
        return "long_lines" if n > self.max_length else True


class WordLengthFilter(Filter):
    """Keep pages whose mean word length (``text.split()``) is within ``[min_length,
    max_length]`` (Gopher: 3 to 10). Reasons: ``mean_word_length_too_short``,
    ``mean_word_length_too_long``, ``no_words``.

    Parameters:

    * ``min_length``: the smallest mean word length (characters) a kept page has
    * ``max_length``: the largest mean word length a kept page has (null: no upper bound)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, min_length: float = 0, max_length: float | None = None):
        self.min_length = min_length
        self.max_length = _bounds("min_length", min_length, "max_length", max_length)

    def keep(self, doc: dict) -> bool | str:
        ws = textlib.analysis(doc["text"]).split
        if not ws:
            return "no_words"
        mean = sum(map(len, ws)) / len(ws)
        if mean < self.min_length:
            return "mean_word_length_too_short"
        if mean > self.max_length:
            return "mean_word_length_too_long"
        return True


# --------------------------------------------------------------------------- ratio filters

SYMBOLS = ("#", "...", ". . .", "\u2026")
BULLETS = ("\u25cf", "\u2022", "*", "-")
ELLIPSES = ("...", ". . .", "\u2026")


class SymbolRatioFilter(Filter):
    """Drop pages whose count of ``#``, ``...``, ``. . .`` and ``…`` (``str.count`` each) per
    word (``text.split()``) exceeds ``max_symbol_to_word_ratio``. Reasons:
    ``symbol_to_word_ratio``, ``no_words``.

    Parameters:

    * ``max_symbol_to_word_ratio``: the most hash and ellipsis symbols per word a kept page may
      have
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_symbol_to_word_ratio: float = 0.1):
        self.max_symbol_to_word_ratio = check_ratio("max_symbol_to_word_ratio",
                                               max_symbol_to_word_ratio)

    def keep(self, doc: dict) -> bool | str:
        text = doc["text"]
        n_words = len(textlib.analysis(text).split)
        if n_words == 0:
            return "no_words"
        n_sym = sum(text.count(s) for s in SYMBOLS)
        return "symbol_to_word_ratio" if n_sym / n_words > self.max_symbol_to_word_ratio else True


class BulletCountFilter(Filter):
    """Drop pages where more than ``max_bullet_start_ratio`` of the (stripped, non-empty) lines
    start with ``●``, ``•``, ``*`` or ``-``. Reason: ``bullet_lines``.

    Parameters:

    * ``max_bullet_start_ratio``: the largest share of lines starting with a bullet a kept page
      may have
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_bullet_start_ratio: float = 0.9):
        self.max_bullet_start_ratio = check_ratio("max_bullet_start_ratio", max_bullet_start_ratio)

    def keep(self, doc: dict) -> bool | str:
        ls = textlib.analysis(doc["text"]).lines
        n = sum(1 for line in ls if line.startswith(BULLETS))
        return "bullet_lines" if n > self.max_bullet_start_ratio * len(ls) else True


class EllipsisCountFilter(Filter):
    """Drop pages where more than ``max_ellipsis_end_ratio`` of the (stripped, non-empty) lines
    end with ``...``, ``. . .`` or ``…``. Reason: ``ellipsis_lines``.

    Parameters:

    * ``max_ellipsis_end_ratio``: the largest share of lines ending with an ellipsis a kept page
      may have
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_ellipsis_end_ratio: float = 0.3):
        self.max_ellipsis_end_ratio = check_ratio("max_ellipsis_end_ratio", max_ellipsis_end_ratio)

    def keep(self, doc: dict) -> bool | str:
        ls = textlib.analysis(doc["text"]).lines
        n = sum(1 for line in ls if line.endswith(ELLIPSES))
        return "ellipsis_lines" if n > self.max_ellipsis_end_ratio * len(ls) else True


class AlphabeticWordRatioFilter(Filter):
    """Drop pages where more than ``max_ratio`` of the words (``text.split()``) contain no
    alphabetic character (Gopher: 20%). Reasons: ``non_alphabetic_words``, ``no_words``.

    Parameters:

    * ``max_ratio``: the largest share of words without an alphabetic character a kept page may
      have
    """

    # 2: ``str.isalpha`` per character, as DCLM; ``regex``'s ``\p{L}`` follows a newer Unicode
    # than Python's and called ~26k more code points letters (e.g. CJK extension H)
    version = 2
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_ratio: float = 0.2):
        self.max_ratio = check_ratio("max_ratio", max_ratio)

    def keep(self, doc: dict) -> bool | str:
        ws = textlib.analysis(doc["text"]).split
        if not ws:
            return "no_words"
        non_alpha = sum(1 for w in ws if not w[0].isalpha() and not any(map(str.isalpha, w)))
        return "non_alphabetic_words" if non_alpha / len(ws) > self.max_ratio else True


class AlphanumericCharRatioFilter(Filter):
    """Drop pages whose share of alphanumeric characters is below ``max_alnum_ratio`` (DCLM's
    name for a minimum; RedPajama's code rule, 0.25). Reasons: ``low_alphanumeric_ratio``,
    ``empty``.

    Parameters:

    * ``max_alnum_ratio``: despite its DCLM name, the smallest share of alphanumeric characters
      a kept page has
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, max_alnum_ratio: float = 0.25):
        self.max_alnum_ratio = check_ratio("max_alnum_ratio", max_alnum_ratio, 0.0, 1.0)

    def keep(self, doc: dict) -> bool | str:
        text = doc["text"]
        if not text:
            return "empty"
        n = sum(map(str.isalnum, text))
        return "low_alphanumeric_ratio" if n / len(text) < self.max_alnum_ratio else True


STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})


class StopWordFilter(Filter):
    """Keep pages with at least ``min_stop_word`` of Gopher's stop words (the, be, to, of, and,
    that, have, with; a word is a ``text.split()`` token, lower-cased, matched exactly);
    ``count_unique`` counts distinct ones. Reason: ``few_stop_words``. ``min_stop_word: 0`` keeps
    every page (DCLM's loop only returns a page after seeing a stop word, so there 0 acts as 1).

    Parameters:

    * ``count_unique``: count distinct stop words instead of every occurrence
    * ``min_stop_word``: the fewest stop words a kept page has
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, count_unique: bool = False, min_stop_word: int = 2):
        if min_stop_word < 0:
            raise ParamError("min_stop_word", f"must be >= 0, got {min_stop_word}")
        self.count_unique = count_unique
        self.min_stop_word = min_stop_word

    def keep(self, doc: dict) -> bool | str:
        need = self.min_stop_word
        if need <= 0:
            return True
        if self.count_unique:
            seen: set[str] = set()
            for w in textlib.analysis(doc["text"]).split:
                lw = w.lower()
                if lw in STOP_WORDS:
                    seen.add(lw)
                    if len(seen) >= need:
                        return True
        else:
            n = 0
            for w in textlib.analysis(doc["text"]).split:
                if w.lower() in STOP_WORDS:
                    n += 1
                    if n >= need:
                        return True
        return "few_stop_words"


# --------------------------------------------------------------------------- repetition

# DCLM's massive_web_repetition_filters, in its order: (granularity, max_fraction, chars?)
GOPHER_REPETITION = (
    ("line", 0.3, False), ("paragraph", 0.3, False), ("line", 0.2, True),
    ("paragraph", 0.2, True),
    (2, 0.2, True), (3, 0.18, True), (4, 0.16, True), (5, 0.15, True), (6, 0.14, True),
    (7, 0.13, True), (8, 0.12, True), (9, 0.11, True), (10, 0.10, True),
)


def _reason(granularity, count_characters: bool, mode: str | None = None) -> str:
    if isinstance(granularity, str):
        short = "line" if granularity == "line" else "para"
        return f"dup_{short}_char_frac" if count_characters else f"dup_{short}_frac"
    mode = mode or ("most_common" if granularity <= 4 else "all")
    return (f"top_{granularity}gram_char_frac" if mode == "most_common"
            else f"dup_{granularity}gram_char_frac")


NUMPY_MIN_WORDS = 100  # longer pages count n-grams with numpy (same numbers, 2-6x faster)


class _Repetition:
    """The repetition measures of one text, computed lazily and reused across thresholds."""

    __slots__ = ("a", "text", "_seg", "_words", "_prefix", "_total", "_np")

    def __init__(self, text: str, ignore_case: bool = False):
        self.text = text.lower() if ignore_case else text
        self.a = textlib.analysis(self.text)
        self._seg: dict[str, tuple] = {}
        self._words = None
        self._np = None

    def segment_fraction(self, granularity: str, count_characters: bool) -> float | None:
        """Repeated share of lines/paragraphs; None: one segment (kept); nan: none (dropped)."""
        info = self._seg.get(granularity)
        if info is None:
            segs = self.a.lines if granularity == "line" else self.a.paragraphs
            if len(segs) <= 1:
                info = (len(segs), 0, 0, 0)
            else:
                counts = Counter(segs)
                dup_n = dup_chars = 0
                for s, c in counts.items():
                    if c > 1:
                        dup_n += c
                        dup_chars += len(s) * c
                info = (len(segs), sum(map(len, segs)), dup_n, dup_chars)
            self._seg[granularity] = info
        n, total_chars, dup_n, dup_chars = info
        if n == 1:
            return None
        if n == 0:
            return math.nan
        return dup_chars / total_chars if count_characters else dup_n / n

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = self.a.uax_words
            self._prefix = list(accumulate(map(len, self._words), initial=0))
            self._total = self._prefix[-1]
        return self._words

    def ngram_fraction(self, n: int, mode: str) -> float:
        """DCLM's n-gram character fraction: ``most_common`` (the most repeated n-gram, longest
        among ties, times its count) or ``all`` (characters of words inside repeated n-grams);
        0.0 when no n-gram repeats."""
        ws = self.words
        if len(ws) < n:
            return 0.0
        if len(ws) >= NUMPY_MIN_WORDS:
            return self._np_fraction(n, mode)
        grams = list(zip(*[ws[i:] for i in range(n)]))
        counts = Counter(grams)
        top = max(counts.values())
        if top == 1:
            return 0.0
        if mode == "most_common":
            tied = compress(counts.keys(), map(top.__eq__, counts.values()))
            return max(sum(map(len, g)) for g in tied) * top / self._total
        prefix = self._prefix
        repeated = compress(range(len(grams)), map((1).__lt__, map(counts.__getitem__, grams)))
        covered_to = 0
        chars = 0
        for i in repeated:
            start = i if i > covered_to else covered_to
            stop = i + n
            chars += prefix[stop] - prefix[start]
            covered_to = stop
        return chars / self._total

    def _np_fraction(self, n: int, mode: str) -> float:
        """``ngram_fraction`` with numpy: n-gram ids built level by level from (n-1)-gram ids
        and word ids with ``np.unique``; exact integer arithmetic, so the same fractions."""
        ws = self.words
        size = len(ws)
        state = self._np
        if state is None or state[0] > n:
            first: dict[str, int] = {}
            ids = np.fromiter(map(first.setdefault, ws, range(size)), np.int64, size)
            state = (1, ids, None, ids)
        level, cur, cnt, ids = state
        if cnt is None and n == 1:  # unigrams: the word ids themselves, counted
            _, cur, cnt = np.unique(ids, return_inverse=True, return_counts=True)
            cur = cur.reshape(-1)
        while level < n:
            level += 1
            key = cur[:-1] * (size + 1) + ids[level - 1:]
            _, cur, cnt = np.unique(key, return_inverse=True, return_counts=True)
            cur = cur.reshape(-1)
        self._np = (level, cur, cnt, ids)
        top = int(cnt.max())
        if top == 1:
            return 0.0
        prefix = np.asarray(self._prefix, dtype=np.int64)
        per_gram = cnt[cur]
        if mode == "most_common":
            at = np.flatnonzero(per_gram == top)
            return int((prefix[at + n] - prefix[at]).max()) * top / self._total
        starts = np.flatnonzero(per_gram > 1)
        edges = np.zeros(size + 1, np.int64)
        edges[starts] += 1
        edges[starts + n] -= 1
        covered = np.cumsum(edges[:-1]) > 0
        lens = np.diff(prefix)
        return int(lens[covered].sum()) / self._total


def _ngram_mode(n: int, mode: str | None) -> str:
    if mode is not None:
        return mode
    if 2 <= n <= 4:
        return "most_common"
    if 5 <= n <= 10:
        return "all"
    raise ParamError("ngram_char_ratio", "without ngram_char_ratio the n-gram size must be in "
                     f"2..10 (Gopher's defaults), got {n}")


class RepetitionFilter(Filter):
    """DCLM's ``repetition_filter``: drop pages whose repetition at one ``granularity``
    (``line``, ``paragraph`` or an n-gram size) exceeds ``max_fraction``.

    Lines/paragraphs: share of segments (``count_characters: false``) or of characters in
    segments that occur more than once, every occurrence counted (DCLM's definition). N-grams of
    UAX #29 words: ``ngram_char_ratio`` ``most_common`` or ``all`` (default by size, as Gopher).
    A page with one segment passes the segment rules; an empty page is dropped (``empty``).

    Parameters:

    * ``granularity``: ``line``, ``paragraph`` or an n-gram size (an integer)
    * ``max_fraction``: the largest repeated share a kept page may have
    * ``count_characters``: measure the share in characters (true, DCLM's definition) or in
      segments (false), for lines and paragraphs
    * ``ngram_char_ratio``: for n-grams, ``most_common`` (the most common n-gram's characters)
      or ``all`` (characters in repeated n-grams); null picks by size, as Gopher
    * ``ignore_case``: lower-case the page before comparing
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, granularity: str | int, max_fraction: float,
                 count_characters: bool = True,
                 ngram_char_ratio: Literal["most_common", "all"] | None = None,
                 ignore_case: bool = False):
        if isinstance(granularity, bool) or not (
                granularity in ("line", "paragraph") or
                (isinstance(granularity, int) and granularity >= 1)):
            raise ParamError("granularity", f"must be 'line', 'paragraph' or an n-gram size >= 1, "
                             f"got {granularity!r}")
        if ngram_char_ratio not in (None, "most_common", "all"):
            raise ParamError("ngram_char_ratio", f"must be 'most_common' or 'all', "
                             f"got {ngram_char_ratio!r}")
        self.granularity = granularity
        self.max_fraction = check_ratio("max_fraction", max_fraction, hi=1.0)   # a share of the page
        self.count_characters = count_characters
        self.mode = None if isinstance(granularity, str) else _ngram_mode(granularity,
                                                                          ngram_char_ratio)
        self.ignore_case = ignore_case
        self._reason = _reason(granularity, count_characters, self.mode)

    def keep(self, doc: dict) -> bool | str:
        text = doc["text"]
        if not text:
            return "empty"
        rep = _Repetition(text, self.ignore_case)
        if isinstance(self.granularity, str):
            f = rep.segment_fraction(self.granularity, self.count_characters)
            if f is None:
                return True
            if math.isnan(f):
                return "empty"
        else:
            f = rep.ngram_fraction(self.granularity, self.mode)
        return self._reason if f > self.max_fraction else True


class MassiveWebRepetitionFilters(Filter):
    """Gopher's repetition rules as DCLM's ``massive_web_repetition_filters`` applies them, in
    order, first failure wins:

    duplicate lines > 30% (``dup_line_frac``), duplicate paragraphs > 30% (``dup_para_frac``),
    characters in duplicate lines > 20% (``dup_line_char_frac``), in duplicate paragraphs > 20%
    (``dup_para_char_frac``), characters of the most common 2/3/4-gram > 20/18/16%
    (``top_<n>gram_char_frac``), characters in repeated 5..10-grams > 15..10%
    (``dup_<n>gram_char_frac``). ``skip_paragraph`` skips the paragraph rules (for extractions
    without blank-line paragraphs). Thresholds are DCLM's and fixed; use ``repetition_filter``
    steps for others. Empty pages are dropped (``empty``).

    Speed: the n-gram share of repeated n-grams never grows with n, so once it is under every
    remaining threshold the larger sizes are not computed.

    Parameters:

    * ``skip_paragraph``: skip the duplicate-paragraph rules (for extractions without blank-line
      paragraphs)
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, skip_paragraph: bool = False):
        self.skip_paragraph = skip_paragraph
        self.rules = [r for r in GOPHER_REPETITION
                      if not (skip_paragraph and r[0] == "paragraph")]

    def reason(self, text: str) -> str | None:
        if not text:
            return "empty"
        rep = _Repetition(text)
        rules = self.rules
        for k, (g, max_fraction, chars) in enumerate(rules):
            if isinstance(g, str):
                f = rep.segment_fraction(g, chars)
                if f is None:
                    continue
                if math.isnan(f):
                    return "empty"
            else:
                mode = "most_common" if g <= 4 else "all"
                f = rep.ngram_fraction(g, mode)
                if g == 2 and f == 0.0:
                    return None  # no repeated bigram: no repeated n-gram of any larger size
                if f > max_fraction:
                    return _reason(g, chars, mode)
                if mode == "all" and all(f <= m for _, m, _ in rules[k + 1:]):
                    return None
                continue
            if f > max_fraction:
                return _reason(g, chars)
        return None

    def keep(self, doc: dict) -> bool | str:
        return self.reason(doc["text"]) or True
