"""One Registry type for every extension point (curation steps, engines, scales' tokenizers...).

Targets are registered eagerly (a decorator) or lazily as ``"module:attr"`` strings, so listing
names never imports heavy code. Third-party packages add entries through the entry-point group
``winnow.<kind>``. Unknown names raise an error with did-you-mean suggestions (difflib).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known: " + ", ".join(sorted(known)) if known else "none are registered"


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T] | None:
        """``reg.register("x", "pkg.mod:Cls")`` or ``@reg.register("x")`` on a class/function."""
        if target is not None:
            self._add(name, target)
            return None

        def deco(obj: T) -> T:
            self._add(name, obj)
            return obj

        return deco

    def _add(self, name: str, target: T | str) -> None:
        old = self._entries.get(name)
        if old is not None and old is not target and old != target and not isinstance(old, str):
            raise RegistryError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = target

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=f"winnow.{self.kind}"):
            self._entries.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} {name!r}: {suggest(name, list(self._entries))}")
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._entries[name] = obj
            target = obj
        return target  # type: ignore[return-value]
