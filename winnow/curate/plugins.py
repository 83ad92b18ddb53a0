"""Finding a step's class and building it: plugin files, name resolution, instantiation.

``load_plugins`` imports a recipe's plugin files by path, under a module name derived from their
content hash (never via ``sys.path``), into a scoped collector (``STEPS.collecting()``), so a
plugin's steps are visible to its recipe only and a file with the same content is imported once
per process. ``resolve_step`` looks a name up in the recipe's plugin steps first, then in the
registry ``STEPS``; ``build_step`` instantiates a compiled step, gives it ``step_name``/``ctx``
(and ``counters`` to a GlobalStep written without the base class) and calls ``setup()``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from winnow.curate.base import STEPS, Counters, PluginError, StepContext, StepSpec
from winnow.io import sha256_file
from winnow.registry import RegistryError, suggest


_PLUGINS: dict[tuple[str, str], dict[str, Any]] = {}  # (path, sha256) -> steps it registered


def load_plugins(paths: list[str | Path]) -> dict[str, Any]:
    """Import plugin files by path and return ``{step name: target}`` of what they register.

    Files are imported with ``importlib.util.spec_from_file_location`` under a module name
    derived from their content hash (never via ``sys.path``); a file with the same content is
    imported once per process. Registrations are scoped to the returned dict.
    """
    steps: dict[str, Any] = {}
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            raise PluginError(f"plugin file {path} does not exist")
        digest = sha256_file(path)
        key = (str(path), digest)
        if key not in _PLUGINS:
            modname = f"winnow_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest[:12]}"
            spec = importlib.util.spec_from_file_location(modname, path)
            if spec is None or spec.loader is None:
                raise PluginError(f"plugin file {path} cannot be imported (is it a .py file?)")
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module  # dataclasses and pickle look classes up here
            try:
                with STEPS.collecting() as found:
                    spec.loader.exec_module(module)
            except RegistryError as e:
                sys.modules.pop(modname, None)
                raise PluginError(f"plugin file {path}: {e}") from None
            except (Exception, SystemExit) as e:  # SystemExit: a script's argparse or sys.exit()
                sys.modules.pop(modname, None)
                raise PluginError(f"plugin file {path} failed to import: "
                                  f"{type(e).__name__}: {e}") from e
            _PLUGINS[key] = found
        for name, target in _PLUGINS[key].items():
            if name in steps:
                raise PluginError(f"step {name!r} is registered by two plugin files of the recipe")
            steps[name] = target
    return steps


def resolve_step(name: str, local: dict[str, Any] | None = None) -> Any:
    """The class registered as ``name``: a recipe's plugin steps first, then ``STEPS``."""
    if local and name in local:
        target = local[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            target = local[name] = obj
        return target
    if local:
        try:
            return STEPS.get(name)
        except RegistryError:
            known = sorted(set(STEPS.names()) | set(local))
            raise RegistryError(f"unknown step {name!r}: {suggest(name, known)}") from None
    return STEPS.get(name)


def build_step(spec: StepSpec, local: dict[str, Any] | None = None,
               ctx: StepContext | None = None, setup: bool = True) -> Any:
    """Instantiate a compiled step, give it ``step_name``/``ctx`` and call ``setup()``."""
    cls = resolve_step(spec.name, local)
    step = cls(**spec.params)
    if spec.kind == "global" and getattr(step, "counters", None) is None:
        step.counters = Counters()   # a duck-typed GlobalStep (no base class) counts like a subclass
    step.step_name = spec.name
    step.step_index = spec.index
    step.ctx = ctx
    if setup and callable(getattr(step, "setup", None)):
        step.setup()
    return step
