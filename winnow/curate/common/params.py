"""Argument checks shared by the steps: each raises ``ParamError`` naming the parameter.

A step's constructor keyword arguments are its YAML parameters, and ``winnow validate`` builds
every step, so these checks are what a participant sees for a bad value: the message says what
is allowed and what was given. ``bool`` is refused where a number is meant (YAML ``yes`` is not 1).
"""

from __future__ import annotations

import math

from winnow.curate.base import ParamError
from winnow.curate.reference import REFERENCE_CORPORA
from winnow.registry import suggest


def check_positive_int(name: str, v, minimum: int = 1) -> None:
    """An integer >= ``minimum`` (1 unless given)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ParamError(name, f"must be an integer >= {minimum}, got {v!r}")


def check_seed(seed) -> None:
    """A step's ``seed:``: an integer, or None for the run seed."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")


def check_ratio(name: str, value: float, lo: float = 0.0, hi: float | None = None) -> float:
    """A number in ``[lo, hi]`` (``>= lo`` without ``hi``), returned as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ParamError(name, f"must be a number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        span = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ParamError(name, f"must be {span}, got {value}")
    return float(value)


def check_tokens(name: str, value) -> None:
    """None, a positive integer, or ``"budget"`` (the scale's training tokens)."""
    if value is None:
        return
    if isinstance(value, bool) or not (value == "budget" or (isinstance(value, int) and value > 0)):
        raise ParamError(name, f"must be a positive integer or 'budget' (the scale's training "
                               f"tokens), got {value!r}")


def check_budget(tokens, fraction, multiplier) -> None:
    """The selection steps' shared size parameters: exactly one of ``tokens`` (a positive
    integer, or "budget" = the scale's training tokens) and ``fraction`` (in (0, 1]);
    ``multiplier`` > 0. Raises ParamError naming the parameter."""
    if (tokens is None) == (fraction is None):
        raise ParamError("tokens", "give exactly one of `tokens` (an integer or 'budget') and `fraction`")
    if isinstance(tokens, str) and tokens != "budget":
        raise ParamError("tokens", f"must be a positive integer or 'budget', got {tokens!r}")
    if isinstance(tokens, int) and tokens <= 0:
        raise ParamError("tokens", f"must be > 0, got {tokens}")
    if fraction is not None and not 0 < fraction <= 1:
        raise ParamError("fraction", f"must be in (0, 1], got {fraction}")
    if multiplier <= 0:
        raise ParamError("multiplier", f"must be > 0, got {multiplier}")


def check_source(corpus: str | None, corpus_file: str | None, name: str) -> None:
    """At most one of ``<name>`` (a reference corpus name, ``winnow.curate.reference``) and
    ``<name>_file`` (a local file); a corpus name must be known."""
    if corpus is not None and corpus_file is not None:
        raise ParamError(name, f"give either `{name}` (a reference corpus name) or "
                               f"`{name}_file` (a local file), not both")
    if corpus is not None and corpus not in REFERENCE_CORPORA:
        raise ParamError(name, f"unknown reference corpus {corpus!r}: "
                               f"{suggest(corpus, sorted(REFERENCE_CORPORA))}")
