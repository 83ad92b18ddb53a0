"""DCLM's ``url_removal_modifier``: delete URLs and IPv4 addresses from the page text.

Reproduces DCLM's ``baselines/mappers/modifiers.py`` behaviour exactly, quirks included:

* **The TLD gate uses ``re.match``.** DCLM builds a case-insensitive regex of every top-level
  domain (retrie ``Blacklist(..., match_substrings=True)``) and only runs the URL regex when
  ``tlds_regex.match(text)`` succeeds, i.e. when the page *begins* with a string that starts
  with a TLD (``"The ..."`` starts with ``th``, Thailand's TLD; ``"Hello ..."`` starts with no
  TLD). Pages that do not begin that way keep their domain-style URLs. The IPv4 regex runs on
  every page.
* **The URL regex is case-sensitive.** DCLM pastes the TLD regex's *pattern* (without its
  ``IGNORECASE`` flag) into the URL regex, so ``example.com`` is removed and ``EXAMPLE.COM``
  is not.
* Each match also eats up to 10 whitespace characters before it; the text is not stripped;
  an empty result drops the page (reason ``empty_after_url_removal``).

The TLD alternation is sorted longest first, which tries alternatives in the same order as
retrie's trie pattern (a deeper branch before a shorter key), so the matches are the same.

**TLD list.** DCLM reads ``baselines/mappers/iana_tlds.txt`` (IANA's root zone, lower-case,
Unicode IDNs). winnow takes the top-level labels of the ICANN section of the Public Suffix
List snapshot that the pinned ``tldextract`` package ships (read offline:
``TLDExtract(suffix_list_urls=())``, nothing is downloaded). It is the same kind of list
(lower-case, Unicode), but newer: TLDs IANA has retired since DCLM's snapshot (``an``,
``aigo``, ...) are not in it and newer ones are. The tldextract version is part of the step's
``version``, so upgrading it changes the recipe fingerprint.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version as _pkg_version

from winnow.curate.base import Mapper, StepError

try:
    _TLDEXTRACT_VERSION = _pkg_version("tldextract")
except PackageNotFoundError:  # reported when the step is set up
    _TLDEXTRACT_VERSION = "missing"

_IPV4 = re.compile(
    r"\s{0,10}\b((https?|ftp)://)?(?:[0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}"
    r"[-a-zA-Z0-9()@:%_\+.~#?&//=]*")


def iana_tlds() -> list[str]:
    """Top-level domains (lower-case, Unicode) from tldextract's bundled PSL snapshot."""
    try:
        import tldextract
    except ImportError as e:  # a core dependency; only a broken install lands here
        raise StepError("url_removal_modifier needs the tldextract package "
                        "(pip install tldextract)") from e
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                      include_psl_private_domains=False)
    return sorted({suffix.rsplit(".", 1)[-1] for suffix in extractor.tlds})


def compile_patterns(tlds: list[str]) -> tuple[re.Pattern, re.Pattern]:
    """(gate, url): DCLM's case-insensitive TLD regex and its case-sensitive URL regex."""
    alternation = "|".join(re.escape(t) for t in sorted(set(tlds), key=lambda t: (-len(t), t)))
    tld_pattern = f"(?:{alternation})"
    gate = re.compile(tld_pattern, re.IGNORECASE)
    url = re.compile(
        rf"\s{{0,10}}(?:((https?|ftp)://))?[-a-zA-Z0-9@:%._\+~#=]{{1,256}}\.({tld_pattern})\b"
        r"([-a-zA-Z0-9()@:%_\+.~#?&//=]*)")
    return gate, url


class UrlRemovalModifier(Mapper):
    """Remove URLs (TLD-based, only when the page begins with a TLD-like string, as DCLM) and
    IPv4 addresses. Reason: ``empty_after_url_removal``."""

    version = f"1+tldextract-{_TLDEXTRACT_VERSION}"
    seed_dependent = budget_dependent = False  # a function of the document alone
    drop_reason = "empty_after_url_removal"

    def __init__(self):
        self._gate: re.Pattern | None = None
        self._url: re.Pattern | None = None

    def setup(self) -> None:
        if self._gate is None:
            self._gate, self._url = compile_patterns(iana_tlds())

    def __getstate__(self):  # compiled patterns are rebuilt by setup() in each worker
        state = dict(self.__dict__)
        state["_gate"] = state["_url"] = None
        return state

    def __call__(self, doc: dict) -> list[dict]:
        if self._gate is None:
            self.setup()
        text = doc["text"]
        if self._gate.match(text):  # DCLM's quirk: match at the start of the page only
            text = self._url.sub("", text)
        text = _IPV4.sub("", text)
        if text == "":
            return self.drop("empty_after_url_removal")
        doc["text"] = text
        return [doc]
