"""The step reference, generated from the step registry (``winnow ls steps [NAME]``).

Nothing here is kept by hand: a step's entry is read from its registered class.

* **kind**: Filter, Mapper or GlobalStep (the class's base); **version**: its ``version``.
* **summary**: the first sentence of the class docstring (of the module docstring if the class
  has none).
* **parameters**: the constructor's keyword arguments (what a recipe step may set), with their
  annotation and default (``required`` when there is none), from ``inspect.signature``.
* **meanings**: by the docstring convention the built-in steps follow: a parameter is
  documented where a docstring says ````name````: *meaning* (or ````name: value````: *meaning*),
  as in "``location``: ``any``, ``prefix`` or ``suffix`` of the line". The class docstring is
  searched first, then its ``__init__``'s, then its module's, then those of its base classes
  and their modules (so ``ScoringStep``'s selection parameters are documented once, in
  ``winnow.curate.common.scoring``); the meaning runs to the next
  documented parameter, the end of its sentence or of its paragraph. A parameter nobody
  documented this way shows an empty meaning (no guessing from prose). ``winnow ls steps NAME``
  lists each parameter once, in the table with its whole meaning (docs/steps.md cuts a long one
  at ``MEANING_CHARS``), then the rest of the class docstring (less the summary and the
  ````name````: *meaning* parts the table shows), and names the module whose docstring has more.

* **needs / provides**: the document fields the step reads and writes
  (``winnow.curate.fields``), as the class declares them (``{param}``: the parameter's value).

``markdown()`` writes the same entries for the built-in steps as one Markdown page,
``docs/steps.md`` (``winnow ls steps --markdown > docs/steps.md``; a test fails when the committed
page differs from what the registry gives). Listing the steps imports every step module (to read
the docstrings); the registry itself stays lazy, so running a recipe still imports only the
steps it uses.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

from winnow.curate.base import STEPS, Filter, GlobalStep, Mapper
from winnow.curate.plugins import resolve_step
from winnow.curate.steps import BUILTIN_STEPS

MEANING_CHARS = 160  # docs/steps.md cuts a longer meaning (`ls steps NAME` shows it whole)


@dataclass
class ParamDoc:
    name: str
    type: str
    default: str  # repr of the default, or "required"
    meaning: str = ""


@dataclass
class StepDoc:
    name: str
    target: str  # "module:Class"
    kind: str
    version: Any
    summary: str
    doc: str
    params: list[ParamDoc] = field(default_factory=list)
    needs: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()


def _kind(cls: Any) -> str:
    if isinstance(cls, type):
        for base in (Filter, GlobalStep, Mapper):  # Filter before Mapper: a Filter is a Mapper
            if issubclass(cls, base):
                return base.__name__
    return type(cls).__name__


def _flat(text: str) -> str:
    return " ".join(text.split())


def first_sentence(text: str | None) -> str:
    """The docstring's first sentence (up to a ". " outside ````code````), on one line."""
    if not text:
        return ""
    para = _flat(inspect.cleandoc(text).split("\n\n")[0])
    in_code = False
    for i, ch in enumerate(para):
        if para.startswith("``", i):
            in_code = not in_code
        elif ch == "." and not in_code and para[i + 1:i + 2] in (" ", "") \
                and not para[max(0, i - 3):i + 1].endswith(("e.g.", "i.e.", "vs.")):
            return para[:i + 1]
    return para


def _span(name: str, names: list[str], para: str) -> tuple[int, int, int] | None:
    """Where the flattened paragraph ``para`` documents parameter ``name``: (start of its
    ````name````, start of its meaning, end of its meaning), or None."""
    # ``name``: or ``name: value``: at the start of a paragraph, a sentence, a clause or a bullet
    lead = r"(?:^|(?<=[.;:(]\s)|(?<=\*\s)|(?<=\())"
    own = re.compile(lead + r"``" + re.escape(name) + r"(?::[^`]*)?``(?:\s\([^)]*\))?:\s+")
    others = "|".join(re.escape(n) for n in names if n != name) or r"(?!x)x"
    nxt = re.compile(r"[.;]?\s+(?:\*\s+)?``(?:" + others + r")(?::[^`]*)?``(?:\s\([^)]*\))?:\s"
                     r"|(?<=[.;])\s(?=[A-Z*])|\s\*\s(?=``)")
    m = own.search(para)
    if not m:
        return None
    end = nxt.search(para[m.end():])
    return m.start(), m.end(), m.end() + (end.start() if end else len(para) - m.end())


def _meaning(name: str, names: list[str], docs: list[str]) -> str:
    for text in docs:
        for para in inspect.cleandoc(text).split("\n\n"):
            para = _flat(para)
            if span := _span(name, names, para):
                return para[span[1]:span[2]].strip().rstrip(";,")
    return ""


def _short(meaning: str) -> str:
    """A meaning as docs/steps.md's table cell shows it: cut at ``MEANING_CHARS``."""
    if len(meaning) > MEANING_CHARS:
        return meaning[:MEANING_CHARS - 1].rstrip() + "…"
    return meaning


def _units(para: str) -> list[list[str]]:
    """A paragraph's lines as units: each bullet (``* `` or ``- ``) with its indented continuation
    lines, or the whole paragraph when it has no bullets."""
    units: list[list[str]] = []
    for line in para.strip("\n").splitlines():
        if not units or line.lstrip().startswith(("* ", "- ")) or (
                units[-1][0].lstrip().startswith(("* ", "- ")) and not line.startswith((" ", "\t"))):
            units.append([line])
        else:
            units[-1].append(line)
    return units


def _without_params(doc: str, names: list[str], summary: str) -> str:
    """The docstring as ``winnow ls steps NAME`` prints it below the parameter table: less its
    opening summary (printed above the table) and less every ````name````: *meaning* the table
    already shows, a bullet or a sentence (a heading left with nothing under it goes too)."""
    paras: list[str] = []
    for para in doc.split("\n\n"):
        lines: list[str] = []
        for unit in _units(para):
            flat = _flat(" ".join(unit))
            spans = [s for n in names if (s := _span(n, names, flat))]
            if not spans:
                lines += unit
                continue
            bullet = flat[:2] in ("* ", "- ")
            for start, _, stop in sorted(spans, reverse=True):
                flat = flat[:start] + flat[stop:].lstrip(".;, ")
            flat = re.sub(r"\(\s*\)", "", flat).strip(" ;,")
            flat = flat[2:].strip() if bullet else flat
            if flat and flat != ".":
                lines += textwrap.wrap(("* " if bullet else "") + flat, 96,
                                       subsequent_indent="  " if bullet else "")
        if lines:
            paras.append("\n".join(lines))
    if paras and _flat(paras[0]).startswith(summary):   # printed above the table
        rest = _flat(paras[0])[len(summary):].strip()
        paras[0:1] = [textwrap.fill(rest, 96)] if rest else []
    paras = [p for i, p in enumerate(paras)   # a heading whose list went: "Parameters:" then nothing
             if not (p.endswith(":") and "\n" not in p
                     and (i + 1 == len(paras) or paras[i + 1].endswith(":")))]
    return "\n\n".join(paras)


def _params(cls: Any) -> list[ParamDoc]:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return []
    chain = [c for c in getattr(cls, "__mro__", (cls,)) if c not in (object, Filter, Mapper,
                                                                      GlobalStep)]
    docs = []
    for c in chain:
        for d in (c.__doc__, getattr(c.__init__, "__doc__", None),
                  getattr(sys.modules.get(c.__module__), "__doc__", None)):
            if d and d is not object.__init__.__doc__ and d not in docs:
                docs.append(d)
    out = []
    keyword = [p for p in sig.parameters.values()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [p.name for p in keyword]
    for p in keyword:
        ann = p.annotation
        typ = "" if ann is p.empty else (ann if isinstance(ann, str) else getattr(ann, "__name__",
                                                                                   str(ann)))
        default = "required" if p.default is p.empty else repr(p.default)
        out.append(ParamDoc(p.name, typ, default, _meaning(p.name, names, docs)))
    return out


def describe(name: str, local: dict[str, Any] | None = None) -> StepDoc:
    """The reference entry of a registered step (RegistryError with suggestions if unknown)."""
    cls = resolve_step(name, local)
    module = sys.modules.get(cls.__module__)
    doc = inspect.cleandoc(cls.__doc__ or "") if cls.__doc__ else ""
    return StepDoc(name=name, target=f"{cls.__module__}:{cls.__qualname__}", kind=_kind(cls),
                   version=getattr(cls, "version", None),
                   summary=first_sentence(cls.__doc__) or first_sentence(module.__doc__ if module
                                                                          else None),
                   doc=doc, params=_params(cls), needs=_fields(cls, "needs"),
                   provides=_fields(cls, "provides"))


def _fields(cls: Any, what: str) -> tuple[str, ...]:
    value = getattr(cls, what, ()) or ()
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, (tuple, list)) else ()


def step_table() -> str:
    """``winnow ls steps``: every registered step, its kind and one-line summary."""
    rows = []
    for name in STEPS.names():
        try:
            d = describe(name)
            rows.append((name, d.kind, d.summary))
        except Exception as e:  # a plugin whose module fails to import still gets a line
            rows.append((name, "?", f"could not be loaded: {type(e).__name__}: {e}"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{n:<{w0}}  {k:<{w1}}  {s}" for n, k, s in rows]
    lines.append("")
    lines.append("`winnow ls steps NAME` shows a step's parameters, defaults and meanings.")
    return "\n".join(lines)


def render(d: StepDoc) -> str:
    """``winnow ls steps NAME``: header, the parameter table (each parameter once, with its whole
    meaning), then the class docstring less the parameter bullets the table already shows."""
    out = [f"{d.name}  ({d.kind}, version {d.version}, {d.target})", "", d.summary, ""]
    if d.params:
        w0 = max(len(p.name) for p in d.params)
        w1 = max(len(p.type) for p in d.params)
        w2 = max(len(p.default) for p in d.params)
        out.append("parameters:")
        for p in d.params:
            out.append(f"  {p.name:<{w0}}  {p.type:<{w1}}  {p.default:<{w2}}  {p.meaning}".rstrip())
    else:
        out.append("parameters: none")
    for what, value in (("needs", d.needs), ("provides", d.provides)):
        if value:
            out.append(f"{what}: {', '.join(value)}")
    if doc := _without_params(d.doc, [p.name for p in d.params], d.summary):
        out += ["", doc]
    module = d.target.partition(":")[0]
    out += ["", f"more: the docstring of {module} (python -m pydoc {module})"]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """``docs/steps.md``: every built-in step (not plugins or entry points, which vary by
    installation), a summary table, then per step its parameters with types, defaults and
    meanings and the fields it needs and provides."""
    docs = [describe(name) for name in sorted(BUILTIN_STEPS)]
    out = ["# Step reference", "",
           "<!-- generated from the step registry: `winnow ls steps --markdown > docs/steps.md`; "
           "do not edit (tests/curate/test_registry.py fails when this page is stale) -->", "",
           "Every built-in curation step, read from its class by `winnow.curate.stepdoc`: what "
           "`winnow ls steps` and `winnow ls steps NAME` print. A recipe lists steps as "
           "`- step: NAME` followed by its parameters "
           "([submissions/README.md](../submissions/README.md)); a parameter without a default "
           "is required. *needs* / *provides*: the document fields a step reads and writes; "
           "`winnow validate` refuses a recipe whose step needs a field no earlier step provides.",
           "", "| step | kind | what it does |", "|---|---|---|"]
    out += [f"| [`{d.name}`](#{d.name}) | {d.kind} | {_cell(d.summary)} |" for d in docs]
    for d in docs:
        out += ["", f"## {d.name}", "",
                f"{d.kind}, version {d.version}, `{d.target}`. {_cell(d.summary)}"]
        fields = [f"*{what}* " + ", ".join(f"`{v}`" for v in value)
                  for what, value in (("needs", d.needs), ("provides", d.provides)) if value]
        if fields:
            out += ["", "; ".join(fields) + "."]
        if d.params:
            out += ["", "| parameter | type | default | meaning |", "|---|---|---|---|"]
            out += [f"| `{p.name}` | {_cell(p.type)} | "
                    + ("*required*" if p.default == "required" else f"`{_cell(p.default)}`")
                    + f" | {_cell(_short(p.meaning))} |" for p in d.params]
        else:
            out += ["", "No parameters."]
    return "\n".join(out) + "\n"
