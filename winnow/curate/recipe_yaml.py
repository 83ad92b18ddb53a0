"""Strict YAML for recipes: duplicate keys refused, and problems told as ``file:line:col`` with the line.

PyYAML silently keeps the last of two equal keys, so ``StrictLoader`` refuses them; ``yaml_problem``
turns a YAML error into one message that shows the offending line and a caret, with how to fix it;
``yaml_type`` names a value's YAML type for messages, cutting long strings (an id file read as YAML
is never printed whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        except TypeError:
            pass  # unhashable key: construct_mapping reports it
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_problem(path: Path, text: str, e: yaml.YAMLError) -> str:
    """One message for a YAML error in ``path``: where, what, the line with a caret, how to fix it."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    what = problem + (f" ({context})" if context else "")
    if mark is None:
        return f"{path}: malformed YAML: {what}"
    lines = text.splitlines()
    shown = ""
    if 0 <= mark.line < len(lines):
        prefix = f"    {mark.line + 1} | "
        shown = f"\n{prefix}{lines[mark.line]}\n{' ' * (len(prefix) + mark.column)}^"
    fix = ("remove or rename one of the two" if "duplicate key" in what else
           "check the indentation and quoting on or just before that line")
    return f"{path}:{mark.line + 1}:{mark.column + 1}: malformed YAML: {what}{shown}\n    {fix}"


def yaml_type(value: Any) -> str:
    """A value's YAML type for messages (``an integer (3)``); long strings are cut."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):  # a long one (an id file read as YAML) is cut, never printed whole
        return f"a string ({value!r})" if len(value) <= 60 else \
            f"a string ({value[:40]!r}... {len(value):,} characters)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__

