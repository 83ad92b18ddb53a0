"""``winnow import-dclm``: turn a DCLM ``baselines_configs`` YAML into a winnow recipe.

A DCLM config (mlfoundations/dclm, ``baselines/baselines_configs/*.yaml``) is a list of sources,
each ``{source, weight, steps: [{func: <mapper>, <param>: <value>, ...}]}``. winnow's built-in
steps reuse DCLM's mapper names and parameter names, so most steps carry over as they are; this
module knows the exceptions:

* **Renamed or reshaped**: ``detect_lang_whole_page_enricher`` becomes ``language_id`` (winnow
  writes ``meta.lang`` / ``meta.lang_score``, so ``language_filter``'s ``key`` is checked against
  the enricher before it and dropped); ``exact_dedup`` on ``url`` becomes ``url_dedup``, on whole
  page texts ``exact_dedup``, on lines (between ``split_lines_modifier`` and
  ``join_lines_modifier``, C4's corpus-wide line dedup) ``line_dedup`` (first copy in pool order
  kept, where DCLM's ``selection_key: url`` picks a copy by URL hash);
  ``url_removal_modifier`` keeps its name but reads its TLDs from tldextract's Public Suffix
  List snapshot (only DCLM's default ``tlds_filepath`` is accepted); ``random_sampling_filter``
  becomes ``random_sample fraction:`` (a seeded exact fraction instead of DCLM's unseeded coin
  flips); ``banlist_from_fname`` becomes ``data_banlist: <name>`` when
  ``<data root>/banlists/<name>.txt`` exists.
* **Not needed** (winnow documents always have ``text`` and ``url`` as strings):
  ``move_url_modifier``, ``key_name_modifier`` (content -> text), ``split_lines_modifier`` /
  ``join_lines_modifier`` (``line_dedup`` splits and joins lines itself).
* **Parameters with a fixed value in winnow** are dropped when the DCLM value is that value
  (``page_length_filter tokenizer: nltk, tokenizer_lang: english``; ``_aggregate`` blocks,
  which only feed DCLM's statistics).
* **Lacking**: everything else winnow has no step for (``quality_filter``, the fastText/KenLM
  quality enrichers, a banlist file the data root does not have, a parameter value winnow
  cannot honour, ...). These are left out; the output names each one, with DCLM's function name and parameters, in comments at the
  top and at its place in the step list, and ``ImportResult.lacking`` lists them.

Step order is kept. ``reason:`` labels are added to banlist filters (they name the drop reason
in the stats, and do not change which documents are kept). The result is a *filtering* recipe;
run ``winnow validate`` on it (``import_dclm`` does so when asked, the CLI always).
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from winnow.curate.base import STEPS
from winnow.curate.common.banlists import BANLISTS_DIR
from winnow.curate.recipe import validate_recipe
from winnow.paths import DataRootError, data_root

IMPORTER_VERSION = 2


class DclmImportError(ValueError):
    """The file is not a DCLM baselines config, or names no source that could be chosen."""


@dataclass
class Lacking:
    """A DCLM step left out of the recipe: its 1-based position, function, params and why."""

    position: int
    func: str
    params: dict
    why: str

    def line(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"DCLM step {self.position}: {self.func}({shown}): {self.why}"


@dataclass
class ImportResult:
    name: str
    source: str | None
    origin: str
    steps: list[dict] = field(default_factory=list)  # winnow steps, in order
    entries: list[tuple[str, Any]] = field(default_factory=list)  # ("step", (dict, comment)) | ("note", str)
    lacking: list[Lacking] = field(default_factory=list)
    not_needed: list[Lacking] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def recipe(self) -> dict:
        return {"name": self.name, "track": "filtering", "steps": [dict(s) for s in self.steps]}

    def to_yaml(self) -> str:
        """The recipe as YAML, with every lacking or unneeded DCLM step named in comments."""
        out = [f"# Imported by `winnow import-dclm` (importer v{IMPORTER_VERSION}) from DCLM's "
               f"{self.origin}" + (f" (source: {self.source})" if self.source else "") + "."]
        if self.lacking:
            out.append(f"# DCLM steps winnow LACKS ({len(self.lacking)}), left out of this recipe:")
            out += [f"#   - {x.line()}" for x in self.lacking]
        if self.not_needed:
            out.append("# DCLM steps not needed in winnow (documents always carry text and url):")
            out += [f"#   - {x.line()}" for x in self.not_needed]
        for n in self.notes:
            out.append(f"# note: {n}")
        out += [f"name: {_scalar(self.name)}", "track: filtering", "steps:" + ("" if self.steps else " []")]
        for kind, item in self.entries:
            if kind == "note":
                out.append(f"  # {item}")
                continue
            step, comment = item
            out.append(f"  - step: {step['step']}" + (f"  # {comment}" if comment else ""))
            for k, v in step.items():
                if k != "step":
                    out.append(f"    {k}: {_scalar(v)}")
        return "\n".join(out) + "\n"


def _scalar(v: Any) -> str:
    text = yaml.safe_dump(v, default_flow_style=True, width=10_000, allow_unicode=True,
                          sort_keys=False)
    lines = text.rstrip("\n").split("\n")
    if len(lines) > 1 and lines[-1] == "...":  # YAML's end-of-document marker after a scalar
        lines.pop()
    if len(lines) > 1:  # a multi-line scalar: JSON is one line and valid YAML
        return json.dumps(v, ensure_ascii=False)
    return lines[0].strip()


# --------------------------------------------------------------------------- conversion rules

class _Lack(Exception):
    """Raised by a converter: the DCLM step cannot be expressed in winnow (message says why)."""


class _NotNeeded(Exception):
    """Raised by a converter: the DCLM step is a no-op for winnow documents."""


# DCLM parameters that winnow's step fixes to one value: dropped when the DCLM value equals it.
_FIXED_PARAMS: dict[tuple[str, str], tuple[Any, str]] = {
    ("page_length_filter", "tokenizer"): ("nltk", "winnow splits sentences with NLTK Punkt"),
    ("page_length_filter", "tokenizer_lang"): ("english", "winnow's Punkt model is English"),
}

# Functions whose winnow step has DCLM's name and parameter names.
_SAME_NAME = (
    "page_length_filter", "line_length_filter", "word_length_filter", "symbol_ratio_filter",
    "bullet_count_filter", "ellipsis_count_filter", "alphabetic_word_ratio_filter",
    "alphanumeric_char_ratio_filter", "stop_word_filter", "repetition_filter",
    "massive_web_repetition_filters", "uppercase_ratio_line_modifier",
    "numeric_ratio_line_modifier", "counter_line_modifier", "line_length_modifier",
    "substring_line_modifier", "newline_removal_modifier", "word_counter_enricher",
    "word_removal_ratio_filter", "punctuation_line_modifier", "word_length_modifier",
    "citation_removal_modifier", "within_page_dedup", "substring_filter", "url_substring_filter",
)

# Drop-reason labels for well-known banlists (the stats then say what was removed).
_KNOWN_REASONS = {"{": "curly_brace", "ldnoobw": "bad_words", "lorem ipsum": "lorem_ipsum"}
# RefinedWeb's curated high-quality domains (left out of RefinedWeb to be added separately).
_RW_HIGH_QUALITY_DOMAINS = frozenset((
    "arxiv.org", "askubuntu.com", "stackoverflow.com", "stackapps.com", "stackexchange.com",
    "mathoverflow.net", "exporter.nih.gov", "ncbi.nlm.nih.gov", "github.com", "irclogs.ubuntu.com",
    "news.ycombinator.com", "courtlistener.com", "reddit.com", "statmt.org", "uspto.gov",
    "wikipedia.org"))

_LACK_WHY = {
    "quality_filter": "winnow has no model-score threshold filter yet (model-based selection)",
    "classify_fasttext_hq_prob_enricher": "winnow has no fastText quality classifier enricher",
    "ppl_kenlm_enricher": "winnow has no KenLM perplexity enricher",
    "detect_lang_paragraph_enricher": "winnow's language_id classifies whole pages only",
    "html_content_extraction_modifier": "extraction happens when the pool is built "
                                        "(resiliparse), not in recipes",
}


def _signature(step: str) -> dict[str, inspect.Parameter]:
    cls = STEPS.get(step)
    return {n: p for n, p in inspect.signature(cls).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _data_banlist(fname: str) -> str | None:
    """The data-root banlist name for DCLM's ``banlist_from_fname``, or None if absent."""
    stem = Path(fname).name
    stem = stem[:-4] if stem.endswith(".txt") else stem
    try:
        root = data_root() / BANLISTS_DIR
    except DataRootError:
        return None
    return stem if (root / f"{stem}.txt").is_file() else None


def _banlist_params(func: str, params: dict) -> dict:
    """``banlist_from_fname`` -> ``data_banlist`` (or lacking), plus a ``reason`` label."""
    params = dict(params)
    label = None
    if "banlist_from_fname" in params:
        fname = params.pop("banlist_from_fname")
        if str(fname).endswith((".pkl", ".pickle")):
            raise _Lack(f"pickled regex banlist {fname!r}: winnow reads text banlists only")
        name = _data_banlist(str(fname))
        if name is None:
            raise _Lack(f"banlist file {Path(str(fname)).name!r} is not in <data root>/banlists/; "
                        "put it beside the recipe and add this step with `banlist_file: <file>`")
        params["data_banlist"] = name
        label = _KNOWN_REASONS.get(name)
        if label is None:
            m = re.fullmatch(r"refinedweb_banned_words_(\w+?)_reverse_engineered", name)
            label = f"banned_words_{m.group(1)}" if m else re.sub(r"\W+", "_", name).strip("_")
    elif "banlist" in params:
        bl = params["banlist"]
        items = [bl] if isinstance(bl, str) else list(bl or [])
        if len(items) == 1:
            label = _KNOWN_REASONS.get(items[0]) or (re.sub(r"\W+", "_", items[0].lower()).strip("_")
                                                     or None)
        elif func == "url_substring_filter" and params.get("exact_domain_match"):
            label = ("high_quality_domain" if set(items) == _RW_HIGH_QUALITY_DOMAINS
                     else "banned_domain")
    if func == "url_substring_filter":
        if params.get("exact_domain_match") and "match_substrings" in params:
            params.pop("match_substrings")  # DCLM ignores it with exact_domain_match
        label = f"url_{label}" if label else None
    if label and "reason" not in params:
        params["reason"] = label
    return params


def _same_name(func: str, params: dict, state: dict) -> dict:
    if func in ("substring_filter", "url_substring_filter"):
        params = _banlist_params(func, params)
    accepted = _signature(func)
    out: dict = {}
    for k, v in params.items():
        fixed = _FIXED_PARAMS.get((func, k))
        if fixed is not None:
            if v == fixed[0]:
                continue
            raise _Lack(f"{k}={v!r} is not supported ({fixed[1]}; only {fixed[0]!r})")
        if k not in accepted:
            raise _Lack(f"winnow's {func} has no parameter {k!r} (it takes: {', '.join(accepted)})")
        if isinstance(v, float) and v == float("inf"):
            if accepted[k].default is None:
                continue  # DCLM's "no bound" is winnow's None default
            raise _Lack(f"{k}=inf is not supported")
        out[k] = v
    return {"step": func, **out}


def _language_id(func: str, params: dict, state: dict) -> dict:
    model = params.get("model")
    if model not in ("fasttext", "langdetect"):
        raise _Lack(f"model {model!r}: winnow's language_id has fasttext and langdetect")
    extra = set(params) - {"model", "key_prefix", "overwrite", "seed"}
    if extra:
        raise _Lack(f"parameters {sorted(extra)} are not supported")
    state["lang_key"] = f"{params.get('key_prefix', 'language_id_whole_page')}_{model}"
    step: dict = {"step": "language_id", "model": model}
    seed = params.get("seed")
    if seed is not None:
        if model != "langdetect":
            raise _Lack("seed is only meaningful with model: langdetect")
        step["seed"] = seed
    return step


def _language_filter(func: str, params: dict, state: dict) -> dict:
    key = params.get("key", "language_id_whole_page_langdetect")
    if state.get("lang_key") != key:
        raise _Lack(f"it reads {key!r}, which no earlier converted language enricher wrote")
    extra = set(params) - {"key", "keep_languages", "threshold"}
    if extra:
        raise _Lack(f"parameters {sorted(extra)} are not supported")
    step: dict = {"step": "language_filter", "keep_languages": params.get("keep_languages")}
    if "threshold" in params:
        step["threshold"] = params["threshold"]
    return step


def _exact_dedup(func: str, params: dict, state: dict) -> dict:
    key = params.get("content_key", "text")
    norm = params.get("normalize")
    if state.get("split_lines") and key == "text":
        # C4's corpus-wide line dedup (lines split by split_lines_modifier)
        if state.get("split_delimiter", "\n") != "\n":
            raise _Lack(f"lines split on {state['split_delimiter']!r}: winnow's line_dedup "
                        "splits on newlines")
        if norm not in (None, "normalize_whitespace_and_lowercase"):
            raise _Lack(f"line normalize {norm!r} is not supported")
        sel = params.get("selection_key")
        if sel not in (None, "url"):
            raise _Lack(f"selection_key {sel!r}: winnow keeps the first copy in pool order")
        if sel is not None:
            state["notes"].append(
                "line-level exact_dedup became line_dedup: winnow keeps each line's first copy "
                "in pool order, DCLM the copy chosen by the hash of the page URL (selection_key: "
                "url); the same distinct lines survive, on possibly different pages")
        return {"step": "line_dedup", "normalize": norm is not None}
    if params.get("selection_key") not in (None,):
        raise _Lack(f"selection_key {params.get('selection_key')!r}: winnow keeps the first copy "
                    "in pool order")
    if key == "url":
        if norm not in (None, "normalize_url"):
            raise _Lack(f"url normalize {norm!r} is not supported")
        state["notes"].append("exact_dedup on url became url_dedup: winnow's URL normalisation "
                              "(scheme/host case, fragment) is lighter than C4's normalize_url")
        return {"step": "url_dedup", "normalize": norm is not None}
    if key == "text":
        if norm not in (None, "normalize_whitespace_and_lowercase"):
            raise _Lack(f"text normalize {norm!r} is not supported")
        return {"step": "exact_dedup", "normalize": norm is not None}
    raise _Lack(f"content_key {key!r}: winnow dedups text or url")


_DCLM_TLDS_FILE = "baselines/mappers/iana_tlds.txt"


def _url_removal(func: str, params: dict, state: dict) -> dict:
    extra = set(params) - {"tlds_filepath"}
    if extra:
        raise _Lack(f"winnow's url_removal_modifier has no parameter(s) {sorted(extra)}")
    fname = params.get("tlds_filepath", _DCLM_TLDS_FILE)
    if str(fname) != _DCLM_TLDS_FILE:
        raise _Lack(f"tlds_filepath {fname!r}: winnow's url_removal_modifier reads the TLDs "
                    "of the Public Suffix List snapshot tldextract ships")
    state["notes"].append("url_removal_modifier takes its TLDs from tldextract's Public Suffix "
                          "List snapshot instead of DCLM's iana_tlds.txt (a newer list of the "
                          "same kind)")
    return {"step": "url_removal_modifier"}


def _random_sampling(func: str, params: dict, state: dict) -> dict:
    p = params.get("keep_probability", 0.1)
    state["notes"].append("random_sampling_filter became random_sample: a seeded exact fraction "
                          "of the documents instead of DCLM's unseeded coin flip per document")
    return {"step": "random_sample", "fraction": p}


def _key_name(func: str, params: dict, state: dict) -> dict:
    if (params.get("old_key", "content"), params.get("new_key", "text")) == ("content", "text"):
        raise _NotNeeded("winnow documents already keep their text in `text`")
    raise _Lack(f"renaming {params.get('old_key')!r} to {params.get('new_key')!r}: winnow "
                "documents have fixed fields")


def _split_lines(func: str, params: dict, state: dict) -> dict:
    state["split_lines"] = True
    state["split_delimiter"] = params.get("delimiter", "\n")
    raise _NotNeeded("winnow keeps `text` a string (line_dedup splits lines itself)")


def _join_lines(func: str, params: dict, state: dict) -> dict:
    state["split_lines"] = False
    raise _NotNeeded("winnow keeps `text` a string (line_dedup joins lines itself)")


def _move_url(func: str, params: dict, state: dict) -> dict:
    raise _NotNeeded("pool documents carry `url`")


CONVERTERS = {f: _same_name for f in _SAME_NAME}
CONVERTERS.update({
    "detect_lang_whole_page_enricher": _language_id,
    "language_filter": _language_filter,
    "exact_dedup": _exact_dedup,
    "url_removal_modifier": _url_removal,
    "random_sampling_filter": _random_sampling,
    "key_name_modifier": _key_name,
    "split_lines_modifier": _split_lines,
    "join_lines_modifier": _join_lines,
    "move_url_modifier": _move_url,
})


# --------------------------------------------------------------------------- entry points

def _pick_source(data: Any, source: str | None, origin: str) -> dict:
    if not isinstance(data, list) or not data or not all(isinstance(s, dict) for s in data):
        raise DclmImportError(f"{origin}: not a DCLM baselines config (expected a list of "
                              "`- source: <name>` entries with `steps:`)")
    names = [str(s.get("source")) for s in data]
    if source is not None:
        if source not in names:
            raise DclmImportError(f"{origin}: no source {source!r} (sources: {', '.join(names)})")
        return data[names.index(source)]
    if len(data) > 1:
        raise DclmImportError(f"{origin}: {len(data)} sources ({', '.join(names)}); choose one "
                              "with --source")
    return data[0]


def import_dclm(config: str | Path | list, name: str | None = None,
                source: str | None = None) -> ImportResult:
    """Convert a DCLM config (a path, or already-parsed YAML) into an ``ImportResult``."""
    if isinstance(config, (str, Path)):
        path = Path(config)
        origin = f"baselines_configs/{path.name}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise DclmImportError(f"{path}: malformed YAML: {e}") from None
        except UnicodeDecodeError as e:
            raise DclmImportError(f"{path}: not a text file (byte {e.start} is not UTF-8); give a DCLM "
                                  "baselines_configs/*.yaml file") from None
        except OSError as e:
            raise DclmImportError(f"{path}: cannot be read ({e.strerror or e})") from None
        default_name = path.stem
    else:
        data, origin, default_name = config, "config", "imported"
    src = _pick_source(data, source, origin)
    steps = src.get("steps")
    if not isinstance(steps, list):
        raise DclmImportError(f"{origin}: source {src.get('source')!r} has no `steps:` list")
    res = ImportResult(name=name or default_name, source=src.get("source"), origin=origin)
    state: dict = {"notes": res.notes}
    for i, item in enumerate(steps, 1):
        if not isinstance(item, dict) or "func" not in item:
            res.lacking.append(Lacking(i, str(item), {}, "not a `func:` step"))
            res.entries.append(("note", f"DCLM step {i}: LACKING {item!r}: not a `func:` step"))
            continue
        func = str(item["func"])
        params = {k: v for k, v in item.items() if k != "func" and not str(k).startswith("_")}
        if any(str(k).startswith("_") for k in item):
            res.notes.append(f"DCLM step {i} ({func}): `_aggregate`-style keys only feed DCLM's "
                             "statistics and were dropped")
        conv = CONVERTERS.get(func)
        try:
            if conv is None:
                raise _Lack(_LACK_WHY.get(func, "winnow has no step for this DCLM function"))
            step = conv(func, params, state)
        except _NotNeeded as e:
            res.not_needed.append(Lacking(i, func, params, str(e)))
            res.entries.append(("note", f"DCLM step {i}: {func}: not needed ({e})"))
            continue
        except _Lack as e:
            res.lacking.append(Lacking(i, func, params, str(e)))
            res.entries.append(("note", f"DCLM step {i}: LACKING {func}: {e}"))
            continue
        res.steps.append(step)
        res.entries.append(("step", (step, f"DCLM step {i}: {func}")))
    return res


def check_result(res: ImportResult) -> list[str]:
    """Validate the imported recipe as ``winnow validate`` would; the problems, if any."""
    import tempfile

    if not res.steps:
        return ["no DCLM step could be converted"]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "recipe.yaml"
        p.write_text(res.to_yaml(), encoding="utf-8")
        return validate_recipe(p)
