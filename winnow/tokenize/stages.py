"""The order track's ``stages:``: which documents train when, and with what share of the budget.

An order-track recipe declares ``stages:``, an ordered list of training stages. Documents say
which stage *label* they belong to with an integer ``meta.stage`` (set by a curation step, e.g.
``curriculum_stages``); a training stage is a set of labels plus a share of the scale's
sequences. Two spellings, both compiled to the same ``Stage`` list (and so the same fingerprint):

* compact, generated::

      stages: {count: 20, cumulative: true, shares: equal}

  ``count`` stages; stage ``k`` (0-based) holds the documents with ``meta.stage == k``, or with
  ``meta.stage <= k`` when ``cumulative: true`` (the growing-training-set curricula: stage k
  trains on everything up to difficulty k). ``shares``: ``equal`` (the default, ``1/count``
  each) or a list of ``count`` numbers.

* explicit::

      stages:
        - {stages: [0], share: 0.5}
        - {stages: [0, 1], share: 0.5}

  each item names the labels it trains on and its share of the sequences.

Rules, checked when the recipe is loaded: ``count`` is an integer from 1 to ``MAX_STAGES``; labels are integers
>= 0, listed once per stage; shares are positive numbers summing to 1 (within 1e-6). Checked at
pack time (``assign``), against the curated documents with non-empty text: each carries an
integer ``meta.stage``; every label a stage names is carried by at least one document; every
label a document carries is used by some stage (data that would never train is an error, not a
silent drop); hence every stage is non-empty.

Rows: with ``n`` sequences, stage ``k`` gets ``floor(C_k n + 1/2) - floor(C_{k-1} n + 1/2)``
rows, ``C_k`` being the cumulative share of stages ``0..k`` in exact rational arithmetic (each
share read from its decimal form): that is ``round(share x n)`` rows per stage, rounded on the
cumulative boundaries so the counts always add up to ``n`` and the last stage takes the
remainder. A tiny ``n`` may give a stage 0 rows (it is recorded in ``order.json``).

``STAGED_PACK_VERSION`` versions the staged packing (``winnow.tokenize.pack``); it is part of
the tokenize stage's input key for recipes with stages only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

META_KEY = "stage"
STAGED_PACK_VERSION = 1
SHARE_TOLERANCE = 1e-6
COMPACT_KEYS = ("count", "cumulative", "shares")
MAX_STAGES = 10_000   # more stages than any data order needs (count: 1e11 was a MemoryError)
EXPLICIT_KEYS = ("stages", "share")


class StageError(ValueError):
    """The curated documents do not fit the recipe's stages (raised at pack time)."""


@dataclass(frozen=True)
class Stage:
    """One training stage: the ``meta.stage`` labels it trains on and its share of sequences."""

    labels: tuple[int, ...]
    share: float

    def to_dict(self) -> dict:
        return {"stages": list(self.labels), "share": self.share}


# --------------------------------------------------------------------------- parsing

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _labels(raw: Any, where: str, problems: list[str]) -> tuple[int, ...] | None:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: `stages` must be a non-empty list of meta.stage labels "
                        f"(integers >= 0), got {raw!r}")
        return None
    bad = [v for v in raw if not _is_int(v) or v < 0]
    if bad:
        problems.append(f"{where}: meta.stage labels are integers >= 0, got {bad!r}")
        return None
    if len(set(raw)) != len(raw):
        problems.append(f"{where}: label(s) {sorted({v for v in raw if raw.count(v) > 1})} "
                        "listed twice")
        return None
    return tuple(sorted(raw))


def _compact(raw: dict, problems: list[str]) -> list[Stage]:
    unknown = [k for k in raw if k not in COMPACT_KEYS]
    if unknown:
        problems.append(f"`stages:` mapping has unknown key(s) {unknown!r}; the compact form takes "
                        f"{', '.join(COMPACT_KEYS)} (e.g. {{count: 20, cumulative: true, "
                        "shares: equal}), the explicit form is a list of {stages: [...], "
                        "share: ...} items")
        return []
    count = raw.get("count")
    if not _is_int(count) or not 1 <= count <= MAX_STAGES:
        problems.append(f"`stages: count` must be an integer >= 1 and <= {MAX_STAGES:,} (the number of stages, "
                        f"labels 0..count-1), got {count!r}")
        return []
    cumulative = raw.get("cumulative", False)
    if not isinstance(cumulative, bool):
        problems.append(f"`stages: cumulative` must be true or false, got {cumulative!r}")
        return []
    shares = raw.get("shares", "equal")
    if shares == "equal":
        values = [1.0 / count] * count
    elif isinstance(shares, list):
        if len(shares) != count:
            problems.append(f"`stages: shares` lists {len(shares)} numbers for count {count}; "
                            "give one share per stage (or `shares: equal`)")
            return []
        values = shares
    else:
        problems.append(f"`stages: shares` must be `equal` or a list of {count} numbers, "
                        f"got {shares!r}")
        return []
    stages = [Stage(tuple(range(k + 1)) if cumulative else (k,), v) for k, v in enumerate(values)]
    return stages if _check_shares(stages, "`stages: shares`", problems) else []


def _explicit(raw: list, problems: list[str]) -> list[Stage]:
    if not raw:
        problems.append("`stages:` is an empty list; give at least one {stages: [...], "
                        "share: ...} item")
        return []
    stages: list[Stage] = []
    n_before = len(problems)
    for i, item in enumerate(raw, 1):
        where = f"`stages:` item {i}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping {{stages: [labels], share: number}}, "
                            f"got {item!r}")
            continue
        unknown = [k for k in item if k not in EXPLICIT_KEYS]
        missing = [k for k in EXPLICIT_KEYS if k not in item]
        if unknown or missing:
            problems.append(f"{where}: takes exactly the keys {', '.join(EXPLICIT_KEYS)}"
                            + (f"; unknown: {unknown!r}" if unknown else "")
                            + (f"; missing: {missing!r}" if missing else ""))
            continue
        labels = _labels(item["stages"], where, problems)
        if labels is not None:
            stages.append(Stage(labels, item["share"]))
    if len(problems) > n_before:
        return []
    return stages if _check_shares(stages, "`stages:` shares", problems) else []


def _check_shares(stages: list[Stage], what: str, problems: list[str]) -> bool:
    bad = [s.share for s in stages if not _is_number(s.share) or s.share <= 0]
    if bad:
        problems.append(f"{what}: every share must be a number > 0, got {bad!r}")
        return False
    total = sum(_exact(s.share) for s in stages)
    if abs(float(total) - 1.0) > SHARE_TOLERANCE:
        problems.append(f"{what}: shares sum to {float(total):.6g}; they must sum to 1")
        return False
    return True


# How each YAML shape of ``stages:`` is read (a registry keyed by the value's type).
FORMS: dict[type, Callable[[Any, list[str]], list[Stage]]] = {dict: _compact, list: _explicit}


def parse_stages(raw: Any) -> tuple[list[Stage], list[str]]:
    """The recipe's ``stages:`` value as ``Stage``s, and the problems found (empty when valid)."""
    problems: list[str] = []
    form = FORMS.get(type(raw))
    if form is None:
        return [], [f"`stages:` must be a mapping {{count: N, cumulative: true|false, shares: "
                    f"equal}} or a list of {{stages: [labels], share: number}} items, got {raw!r}"]
    stages = form(raw, problems)
    return (stages if not problems else []), problems


def canonical(stages: list[Stage]) -> list[dict]:
    """What fingerprints and input keys hash: the explicit form, whichever form was written."""
    return [s.to_dict() for s in stages]


# --------------------------------------------------------------------------- rows and members

def _exact(share: float) -> Fraction:
    """A share as the rational its decimal spelling names (0.05 -> 1/20)."""
    return Fraction(repr(float(share)))


def stage_rows(stages: list[Stage], n_sequences: int) -> list[int]:
    """Rows per stage: ``round(share x n)`` on cumulative boundaries, summing to ``n``."""
    bounds = [0]
    cum = Fraction(0)
    for s in stages[:-1]:
        cum += _exact(s.share)
        bounds.append(min(n_sequences, max(bounds[-1], math.floor(cum * n_sequences
                                                                  + Fraction(1, 2)))))
    bounds.append(n_sequences)
    return [b - a for a, b in zip(bounds, bounds[1:])]


def assign(stages: list[Stage], labels: list[Any], ids: list[str]) -> list[np.ndarray]:
    """Document positions (into ``labels``/``ids``) of every stage; StageError when they misfit."""
    missing = [i for i, v in enumerate(labels) if not _is_int(v)]
    if missing:
        shown = ", ".join(f"{ids[i]!r} ({labels[i]!r})" for i in missing[:3])
        raise StageError(f"{len(missing)} of {len(labels)} curated documents carry no integer "
                         f"meta.{META_KEY} (e.g. {shown}); an order-track recipe with `stages:` "
                         f"needs a step that labels every document (e.g. curriculum_stages)")
    arr = np.asarray(labels, dtype=np.int64)
    present = set(np.unique(arr).tolist())
    used = {v for s in stages for v in s.labels}
    unused = sorted(present - used)
    if unused:
        raise StageError(f"curated documents carry meta.{META_KEY} label(s) {unused[:10]} that no "
                         f"stage uses (stages use {sorted(used)[:10]}...); drop those documents "
                         "during curation or add the labels to a stage")
    absent = sorted(used - present)
    if absent:
        raise StageError(f"the stages use meta.{META_KEY} label(s) {absent[:10]} that no curated "
                         "document carries; every label a stage names must exist")
    members = []
    for k, s in enumerate(stages):
        idx = np.flatnonzero(np.isin(arr, np.asarray(s.labels, dtype=np.int64)))
        if len(idx) == 0:  # unreachable after the checks above; kept as the stated contract
            raise StageError(f"stage {k} (labels {list(s.labels)}) holds no curated document")
        members.append(idx)
    return members
