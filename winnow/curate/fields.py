"""The document fields steps need and provide, checked when a recipe is validated.

A pool document carries ``id``, ``text``, ``url``, ``source`` and ``meta.pool_id``. A step that
reads any other field declares it in ``needs``; a step that writes one declares it in
``provides`` (``winnow.curate.base``). Validation walks the recipe's steps in order: a field a
step needs must be provided by an earlier step, and the order track's ``stages:`` needs
``meta.stage`` from some step. Otherwise the run would fail later (``language_filter`` without
``language_id``: ``meta.lang is missing`` after curation started), so validation refuses the
recipe with one problem naming the step that needs the field, the step that provides it (later
in the recipe, or the registered steps that would) and the fix.

Choices:

* Entries are ``meta.<key>`` names; ``{param}`` in an entry is filled from the step's parameters
  with defaults (``word_counter_enricher`` provides ``meta.{key}``,
  ``word_removal_ratio_filter`` needs ``meta.{prev_word_count_key}``), and a constructor may set
  ``self.needs``/``self.provides`` when a declaration hinges on a parameter (``bloom_dedup``
  annotates only with ``annotate: true``). Declarations are metadata: they are neither in the
  fingerprint nor a reason to bump a step's version.
* winnow's own steps declare every field they write (``tests/curate/test_dependence.py`` runs
  each and compares the ``meta`` keys of its output with its ``provides``). A plugin or
  entry-point Mapper or GlobalStep that declares no ``provides`` may write anything, so a field
  needed after it is taken as provided: validation never refuses a recipe that could run. A
  Filter only keeps or drops, so an undeclared one provides nothing.
* A step with ``stage_labels`` (the order track's labelling steps) provides ``meta.stage``.
"""

from __future__ import annotations

import re
from typing import Any

from winnow.curate.base import Filter, GlobalStep, Mapper, StepError, StepSpec
from winnow.curate.plugins import resolve_step
from winnow.curate.steps import BUILTIN_STEPS

STAGE_FIELD = "meta.stage"
_BASES = (Mapper, Filter, GlobalStep, object)


def _filled(entries: Any, params: dict, what: str) -> tuple[str, ...]:
    if isinstance(entries, str) or not isinstance(entries, (tuple, list, set, frozenset)):
        raise StepError(f"`{what}` must be a tuple of field names such as (\"meta.lang\",), "
                        f"got {entries!r}")
    out = []
    for e in entries:
        if not isinstance(e, str):
            raise StepError(f"`{what}` entries must be strings such as \"meta.lang\", got {e!r}")
        try:
            out.append(e.format_map(params))
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise StepError(f"`{what}` entry {e!r} names no parameter of the step ({err})") from None
    return tuple(sorted(set(out)))


def _declares_provides(step: Any) -> bool:
    cls = step if isinstance(step, type) else type(step)
    if cls.__module__.startswith("winnow.") or (isinstance(cls, type) and issubclass(cls, Filter)):
        return True
    if not isinstance(step, type) and "provides" in getattr(step, "__dict__", {}):
        return True
    return any("provides" in vars(c) for c in getattr(cls, "__mro__", (cls,)) if c not in _BASES)


def declared(step: Any, params: dict) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """``(needs, provides)`` of a step instance (or class) with ``params`` (defaults filled in);
    ``provides`` is None for an undeclared plugin Mapper or GlobalStep. StepError for a
    declaration that is not a tuple of field names."""
    needs = _filled(getattr(step, "needs", ()) or (), params, "needs")
    if not _declares_provides(step):
        return needs, None
    provides = set(_filled(getattr(step, "provides", ()) or (), params, "provides"))
    if callable(getattr(step, "stage_labels", None)):
        provides.add(STAGE_FIELD)
    return needs, tuple(sorted(provides))


def _template_params(template: str, field: str) -> dict | None:
    """The parameters that make ``template`` (``meta.{key}``) read ``field``, or None."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    m = re.fullmatch(pattern, field)
    return m.groupdict() if m else None


def providers(field: str, local: dict[str, Any] | None = None, by_param: bool = True) -> list[str]:
    """How to add a registered step that provides ``field``: ``- step: NAME``, built-in steps
    first, then plugin steps; when no step names the field itself and ``by_param``, the steps
    whose parameter names it (``- step: word_counter_enricher`` with ``key: words_before``)."""
    exact, templated = [], []
    names = list(BUILTIN_STEPS) + sorted(n for n in (local or {}) if n not in BUILTIN_STEPS)
    for name in names:
        try:
            cls = resolve_step(name, local)
        except Exception:  # a step module that fails to import provides nothing we can name
            continue
        templates = getattr(cls, "provides", ()) or ()
        if field == STAGE_FIELD and callable(getattr(cls, "stage_labels", None)):
            templates = (*templates, STAGE_FIELD)
        for t in templates if isinstance(templates, (tuple, list)) else ():
            got = _template_params(t, field) if isinstance(t, str) else None
            if got is None:
                continue
            if got:
                templated.append(f"`- step: {name}` with "
                                 + ", ".join(f"`{k}: {v}`" for k, v in got.items()))
            else:
                exact.append(f"`- step: {name}`")
            break
    return exact or (templated if by_param else [])


def _named_by_param(spec: StepSpec, need: str, local: dict[str, Any] | None) -> bool:
    """Whether ``need`` comes from one of the step's parameters (``meta.{prev_word_count_key}``)."""
    try:
        entries = getattr(resolve_step(spec.name, local), "needs", ()) or ()
    except Exception:
        return True
    return not any(isinstance(e, str) and e == need for e in entries)


def _fix(field: str, where: str, local: dict[str, Any] | None, by_param: bool = False) -> str:
    found = providers(field, local, by_param)
    if not found:
        return (f"no registered step writes {field}: add a step of your own that does (and "
                f"declares `provides = (\"{field}\",)`)")
    if len(found) == 1:
        return f"add {found[0]} {where}"
    return f"add one of {', '.join(found)} {where}"


def field_problems(specs: list[StepSpec], needs_stage: bool = False,
                   local: dict[str, Any] | None = None) -> list[str]:
    """One problem per field a step needs that no earlier step provides, and for ``meta.stage``
    when ``needs_stage`` (an order-track recipe with ``stages:``) and no step provides it."""
    problems = []
    for i, spec in enumerate(specs):
        before = specs[:i]
        if any(s.provides is None for s in before):
            continue  # an undeclared plugin step may have written it
        have = {f for s in before for f in s.provides or ()}
        for need in spec.needs:
            if need in have:
                continue
            later = [s for s in specs[i + 1:] if need in (s.provides or ())]
            if later:
                problems.append(f"{spec.label} needs {need}, which {later[0].label} provides only "
                                f"after it: move {later[0].name} before step {spec.index}")
            else:  # a field the step's own parameter names may come from a parameter elsewhere
                problems.append(f"{spec.label} needs {need}, which no earlier step provides: "
                                + _fix(need, f"before step {spec.index}", local,
                                       _named_by_param(spec, need, local)))
    if needs_stage and not any(s.provides is None or STAGE_FIELD in s.provides for s in specs):
        problems.append(f"the order track's `stages:` needs {STAGE_FIELD} on every document, "
                        "which no step of the recipe provides: "
                        + _fix(STAGE_FIELD, "after the steps that choose the documents", local))
    return problems
