"""URL filters: RefinedWeb's domain and banned-word rules, with DCLM's ``url_substring_filter``
semantics.

One step, ``url_substring_filter``, in two modes (DCLM ``metadata_filters.py``):

* ``exact_domain_match: true``: the URL's host (``urlparse(url).netloc``, lower-cased, every
  ``ignore_chars`` string deleted) is looked up in the banlist. Note DCLM's quirk, kept for
  parity: ``ignore_chars: ['www']`` turns ``www.example.com`` into ``.example.com``, so a
  ``www.`` host never equals a banlist entry, and subdomains (``en.wikipedia.org``) never match
  ``wikipedia.org``.
* otherwise: the whole URL (lower-cased, ``ignore_chars`` deleted) is searched for the banned
  words, as substrings (``match_substrings: true``) or whole words between ``\\b`` boundaries;
  the page is dropped when at least ``num_banned_substrs`` *distinct* words are found (RefinedWeb
  uses 2 for its "soft" list).

The list comes inline (``banlist``), from the data root (``data_banlist:
refinedweb_banned_words_strict_reverse_engineered`` reads ``<data root>/banlists/<name>.txt``
at run time), or from a file beside the recipe (``banlist_file``). A document without a URL is
kept (``missing_url: keep``) or dropped with ``no_url``. Reason: the ``reason`` parameter
(default ``banned_url``).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlparse

from winnow.curate.base import Filter, ParamError
from winnow.curate.common import text as textlib
from winnow.curate.common.banlists import check_banlist_source, load_banlist


class UrlSubstringFilter(Filter):
    """Drop pages whose URL host is banned, or whose URL holds banned words (see module).

    Parameters:

    * ``banlist``: the banned entries inline, a string or a list (give exactly one of the three
      banlist parameters)
    * ``data_banlist``: the name of a banlist under ``<data root>/banlists/<name>.txt``, read at
      run time
    * ``banlist_file``: a banlist file beside the recipe, one entry a line
    * ``ignore_chars``: strings deleted from the url (or host) before matching
    * ``num_banned_substrs``: drop a page when at least this many distinct banned words are
      found
    * ``match_substrings``: match banned words as substrings (false: whole words only)
    * ``case_sensitive``: match case as written (false: url and entries lower-cased)
    * ``reason``: the drop reason counted for a matching page
    * ``missing_url``: ``keep`` or ``drop`` (reason ``no_url``) a document without a url
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone

    def __init__(self, banlist: str | list[str] | None = None, data_banlist: str | None = None,
                 banlist_file: str | None = None, ignore_chars: list[str] | None = None,
                 num_banned_substrs: int = 1, exact_domain_match: bool = False,
                 match_substrings: bool = True, case_sensitive: bool = False,
                 reason: str = "banned_url", missing_url: Literal["keep", "drop"] = "keep"):
        check_banlist_source(banlist, data_banlist, banlist_file)
        if ignore_chars is not None and not (isinstance(ignore_chars, list) and all(
                isinstance(c, str) and c for c in ignore_chars)):
            raise ParamError("ignore_chars", f"must be a list of non-empty strings, "
                             f"got {ignore_chars!r}")
        if num_banned_substrs < 1:
            raise ParamError("num_banned_substrs", f"must be >= 1, got {num_banned_substrs}")
        if not isinstance(reason, str) or not reason.strip():
            raise ParamError("reason", "must be a short non-empty string")
        if missing_url not in ("keep", "drop"):
            raise ParamError("missing_url", f"must be 'keep' or 'drop', got {missing_url!r}")
        self.banlist = banlist
        self.data_banlist = data_banlist
        self.banlist_file = banlist_file
        self.ignore_chars = list(ignore_chars or [])
        self.num_banned_substrs = num_banned_substrs
        self.exact_domain_match = exact_domain_match
        self.match_substrings = match_substrings
        self.case_sensitive = case_sensitive
        self.reason = reason
        self.missing_url = missing_url
        self._domains: frozenset[str] | None = None
        self._pattern: re.Pattern | None = None

    def setup(self) -> None:
        items = load_banlist(self.banlist, self.data_banlist, self.banlist_file)
        if not self.case_sensitive:
            items = [b.lower() for b in items]
        if self.exact_domain_match:
            self._domains = frozenset(items)
        else:
            pattern = textlib.alternation(items, escape=True)  # retrie escapes its keys
            if not self.match_substrings:
                pattern = rf"\b{pattern}\b"
            self._pattern = re.compile(pattern, 0 if self.case_sensitive else re.I)

    def _normalize(self, url: str) -> str:
        if self.exact_domain_match:
            try:
                s = urlparse(url).netloc
            except ValueError:  # malformed (e.g. an unclosed IPv6 bracket): no host
                s = ""
        else:
            s = url
        if not self.case_sensitive:
            s = s.lower()
        for ch in self.ignore_chars:
            s = s.replace(ch, "")
        return s

    def keep(self, doc: dict) -> bool | str:
        if self._domains is None and self._pattern is None:
            self.setup()
        url = doc.get("url")
        if not url:
            return True if self.missing_url == "keep" else "no_url"
        s = self._normalize(url)
        if self._domains is not None:
            return self.reason if s in self._domains else True
        if self.num_banned_substrs == 1:
            return self.reason if self._pattern.search(s) else True
        found = set(self._pattern.findall(s))
        return self.reason if len(found) >= self.num_banned_substrs else True
