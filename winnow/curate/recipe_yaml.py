"""Strict YAML for recipes: duplicate keys refused, and problems told as ``file:line:col`` with the line.

PyYAML silently keeps the last of two equal keys, so ``StrictLoader`` refuses them, as it refuses
anchor/alias bombs and integers of hundreds of digits; ``yaml_problem``
turns a YAML error into one message that shows the offending line and a caret, with how to fix it;
``yaml_type`` names a value's YAML type for messages, cutting long strings (an id file read as YAML
is never printed whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


MAX_VALUES = 50_000      # a recipe holds tens of values (long lists live in files); a bomb, billions
MAX_INT_DIGITS = 100     # beyond any parameter (and Python refuses str -> int past 4,300 digits)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, documents whose anchors and aliases expand
    to more than ``MAX_VALUES`` values (a "billion laughs" bomb: PyYAML shares the aliased
    objects, but every walk over the result, checking or hashing it, visits each copy), and
    integers too long to mean anything (Python's own limit would be a bare ValueError)."""

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        if parent is None:   # the document's root: its size with every alias expanded
            n = expanded_size(node, MAX_VALUES)
            if n > MAX_VALUES:
                raise yaml.composer.ComposerError(
                    None, None, f"the document expands to more than {MAX_VALUES:,} values through its "
                    "anchors and aliases (&name / *name), or an alias sits inside its own anchor; a recipe is a short list of steps: write the "
                    "values out, or use fewer aliases", node.start_mark)
        return node


def expanded_size(root: yaml.Node, limit: int) -> int:
    """Values in the tree under ``root`` with every alias expanded (counted once per node, memoised,
    so a bomb is measured without being expanded); stops early past ``limit``."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()   # nodes whose children are being counted: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        kids = [] if isinstance(node, yaml.ScalarNode) else \
            [x for pair in node.value for x in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not done:
            if id(node) in open_:   # an alias inside its own anchor: infinitely large
                return limit + 1
            open_.add(id(node))
            stack.append((node, True))
            for k in kids:
                if id(k) in open_:
                    return limit + 1
                if id(k) not in sizes:
                    stack.append((k, False))
            continue
        open_.discard(id(node))
        sizes[id(node)] = min(1 + sum(sizes.get(id(k), 1) for k in kids), limit + 1)
    return sizes[id(root)]


def _construct_int(loader: StrictLoader, node: yaml.ScalarNode) -> int:
    digits = sum(ch.isdigit() for ch in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {digits:,} digits; no setting is that large (quote it if it is "
            "a name or an id)", node.start_mark)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)   # merge keys (<<: *base) first, as SafeLoader does
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
        line, col = lines[mark.line], mark.column
        if len(line) > 120:   # a long line is shown around the column, cut
            start = max(0, col - 40)
            line, col = ("..." if start else "") + line[start:start + 100] + "...", col - start + (3 if start else 0)
        shown = f"\n{prefix}{line}\n{' ' * (len(prefix) + col)}^"
    fix = ("remove or rename one of the two" if "duplicate key" in what else
           "" if "anchors and aliases" in what or "digits" in what else
           "check the indentation and quoting on or just before that line")
    return f"{path}:{mark.line + 1}:{mark.column + 1}: malformed YAML: {what}{shown}" + (f"\n    {fix}" if fix else "")


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

