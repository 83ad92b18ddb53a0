"""Compile one recipe step: resolve its name, check its parameters, build it once, canonicalise it.

``compile_step`` is what ``load_recipe`` runs for each item of ``steps:`` (and for an ``ids:``
file's ``select_ids``); it appends every problem it finds to the caller's list instead of raising,
so a recipe's problems are reported together. The checks, in order: NaN, infinities and absurd
magnitudes (``MAX_MAGNITUDE``) anywhere in a value; the step's name (did-you-mean via the
registry); unknown and missing parameters against the constructor's signature; each value
against the constructor's annotations (int, float, str, bool, list, dict, Literal, unions; an
annotation it cannot read is not checked); paths of ``*_file``/``*_path`` parameters, resolved
inside the recipe's folder, or remote files pinned as ``{url, sha256}`` (fetched and verified; an
unpinned URL is refused); then the constructor itself (``ParamError``/``ValueError``), the
class's ``version`` and its field declarations. The canonical step (the fingerprint's input) has
defaults filled in, ``added_params`` at their default left out, and referenced files replaced by
their sha256.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any

from winnow.curate.base import ParamError, StepError, StepSpec, step_dependence, step_kind
from winnow.curate.plugins import resolve_step
from winnow.curate.fields import declared
from winnow.curate.external import ExternalError, fetch_pinned, pinned_entry
from winnow.curate.recipe_yaml import yaml_type
from winnow.io import sha256_file
from winnow.manifest import hash_obj
from winnow.paths import LocationError, inside, local_path, outside_message
from winnow.registry import RegistryError, suggest


def is_file_param(name: str) -> bool:
    """A parameter naming a file or folder relative to the recipe: ``*_file`` or ``*_path``."""
    return name.endswith("_file") or name.endswith("_path")


def looks_like_url(value: str) -> bool:
    """A value with a scheme (``compile_step`` has made every file parameter a local path: a
    ``file://`` URL is its path, a pinned ``{url, sha256}`` its verified download, and any other
    URL is refused)."""
    return "://" in value


def _file_param(k: str, v: Any, folder: Path, label: str, problems: list[str]) -> str | None:
    """The local path a ``*_file``/``*_path`` value names: a path (or ``file://`` URL) resolved
    inside ``folder``, or a pinned remote file ``{url: <URL>, sha256: <64 hex>}`` fetched and
    verified into ``$WINNOW_HOME/external/<sha256>`` (so its canonical form, the sha256, is that
    of a local copy). None, with a problem appended, for anything else."""
    where = f"parameter {k!r}"
    if isinstance(v, dict):
        try:
            pin = pinned_entry(v)
            if pin is None:
                problems.append(f"{label}: {where} is a mapping with keys {sorted(map(str, v))}; a remote "
                                "file is pinned as {url: <URL>, sha256: <64 hex digits>} (exactly those keys), "
                                "a local one is a path inside the submission folder")
                return None
            return str(fetch_pinned(*pin, what=f"{where}: file"))
        except ExternalError as e:
            problems.append(f"{label}: {where}: {e}")
            return None
    try:
        given = local_path(v)   # a path, or a file:// URL's path: confined alike
    except LocationError as e:
        problems.append(f"{label}: {where}: {e}")
        return None
    if given is None:
        problems.append(f"{label}: {where} names the URL {v!r}, which is not pinned: write "
                        f"`{k}: {{url: {v}, sha256: <its sha256sum>}}` so the recipe names its bytes "
                        "(it is fetched and verified), or copy the file into the submission folder")
        return None
    if not str(v).strip():
        problems.append(f"{label}: {where} is empty; give a file inside the submission folder")
        return None
    p = (folder / given).resolve()
    if not inside(folder, p):
        problems.append(f"{label}: " + outside_message(where, v, p, folder))
    elif not p.exists():
        problems.append(f"{label}: {where} names {v!r}, but {p} does not exist "
                        "(paths are relative to the recipe's folder)")
    elif not (p.is_file() or (p.is_dir() and k.endswith("_path"))):   # a fifo or device could block
        problems.append(f"{label}: {where} names {v!r}, which is "
                        f"{'a folder' if p.is_dir() else 'not a regular file'}; give a file"
                        f"{'' if k.endswith('_file') else ' or folder'} inside the submission folder")
    return str(p)


def _hash_ref(path: Path) -> str:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return hash_obj([(p.relative_to(path).as_posix(), sha256_file(p)) for p in files])
    return sha256_file(path)


_UNION_TYPES = (typing.Union, types.UnionType)


def _hint_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in _UNION_TYPES:
        return " or ".join(_hint_name(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean (true/false)",
             list: "a list", dict: "a mapping", type(None): "null"}
    if origin in (list, dict):
        return names[origin]
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _type_ok(value: Any, hint: Any) -> bool | None:
    """True/False when ``hint`` is a checkable type, None when it is not (then not checked)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in _UNION_TYPES:
        verdicts = [_type_ok(value, a) for a in typing.get_args(hint)]
        if any(v is True for v in verdicts):
            return True
        return None if any(v is None for v in verdicts) else False
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is list or origin is list:
        if not isinstance(value, list):
            return False
        args = typing.get_args(hint)
        if args:
            inner = [_type_ok(v, args[0]) for v in value]
            return False if any(v is False for v in inner) else True
        return True
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return None


def _constructor_hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations in third-party code: skip type checks
        return {}


MAX_MAGNITUDE = 1e15  # no step parameter is meaningfully larger (a 7B run's budget is ~3e11 tokens)


def _number_problems(value: Any, where: str) -> list[str]:
    """NaN, infinities and absurd magnitudes anywhere in a parameter value: a step would compare
    with them silently (``multiplier: .nan`` kept everything), so they are refused here."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return [f"{where} is {value!r}; give a finite number"]
        if abs(value) > MAX_MAGNITUDE:
            return [f"{where} is {value:g}, beyond any meaningful setting (|x| <= {MAX_MAGNITUDE:g})"]
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _number_problems(v, f"{where}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _number_problems(v, f"{where}[{i}]")]
    return []


def compile_step(index: int, name: str, params: dict, label: str, folder: Path,
                 local: dict[str, Any], problems: list[str]) -> StepSpec | None:
    """Step ``index`` (1-based) of a recipe in ``folder``, compiled; None, with its problems appended to
    ``problems`` (each prefixed with ``label``), when it does not compile. ``local`` holds the plugins' steps."""
    if bad := [p for k, v in params.items() for p in _number_problems(v, f"parameter {k!r}")]:
        problems.extend(f"{label}: {p}" for p in bad)
        return None
    try:
        cls = resolve_step(name, local)
    except RegistryError as e:
        problems.append(f"{label}: {e} (`winnow ls steps` lists the registered steps)")
        return None
    except Exception as e:  # the module behind a lazy target failed to import
        problems.append(f"{label}: step {name!r} could not be loaded: {type(e).__name__}: {e}")
        return None
    try:
        kind = step_kind(cls)
    except StepError as e:
        problems.append(f"{label}: {e}")
        return None

    n_before = len(problems)
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    accepted: dict[str, inspect.Parameter] = {}
    takes_any = False
    if sig is not None:
        for pname, p in sig.parameters.items():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                accepted[pname] = p
            elif p.kind == p.VAR_KEYWORD:
                takes_any = True
    listing = ", ".join(accepted) if accepted else "no parameters"
    if sig is not None and not takes_any:
        for k in params:
            if k not in accepted:
                close = suggest(k, list(accepted)) if accepted else ""
                hint = f" ({close})" if close.startswith("did you mean") else ""
                problems.append(f"{label}: unknown parameter {k!r}{hint}; {name} takes: {listing}")
    for pname, p in accepted.items():
        if p.default is p.empty and pname not in params:
            problems.append(f"{label}: missing required parameter {pname!r}; add "
                            f"`{pname}: <value>` to the step ({name} takes: {listing})")
    hints = _constructor_hints(cls)
    for k, v in params.items():
        if is_file_param(k) and isinstance(v, dict):   # a pinned URL: _file_param checks it
            continue
        if k in hints and _type_ok(v, hints[k]) is False:
            extra = ""
            if isinstance(v, str) and (_type_ok(1.5, hints[k]) or _type_ok(1, hints[k])):
                try:
                    float(v)
                    extra = " (YAML reads 1e5 as a string: write 1.0e+5 or 100000)"
                except ValueError:
                    pass
            problems.append(f"{label}: parameter {k!r} must be {_hint_name(hints[k])}, "
                            f"got {yaml_type(v)}{extra}")

    resolved = dict(params)
    for k, v in params.items():
        if is_file_param(k) and isinstance(v, (str, dict)):
            resolved[k] = _file_param(k, v, folder, label, problems)
    if len(problems) > n_before:
        return None

    try:
        instance = cls(**resolved)  # constructors validate values; they must be cheap
    except ParamError as e:
        problems.append(f"{label}: parameter {e.param!r}: {e.message}")
        return None
    except (ValueError, TypeError, StepError) as e:
        problems.append(f"{label}: invalid parameters: {e}")
        return None
    except Exception as e:  # a constructor doing more than it should; still name the step
        problems.append(f"{label}: the step's constructor failed: {type(e).__name__}: {e}")
        return None

    version = getattr(cls, "version", None)
    if version is None:
        problems.append(f"{label}: step class {cls.__name__} has no `version` attribute; add "
                        "`version = 1` and bump it whenever its output changes")
        return None
    canonical_params = {}
    for pname, p in accepted.items():
        if p.default is not p.empty:
            canonical_params[pname] = p.default
    canonical_params.update(resolved)
    for pname in getattr(cls, "added_params", ()):  # see base.py: earlier recipes keep their hash
        if pname in canonical_params and pname in accepted \
                and canonical_params[pname] == accepted[pname].default:
            del canonical_params[pname]
    for k, v in list(canonical_params.items()):
        if is_file_param(k) and isinstance(v, str) and not looks_like_url(v):
            canonical_params[k] = {"sha256": _hash_ref(Path(v))}
    canonical = {"step": name, "version": version, "params": dict(sorted(canonical_params.items()))}
    seeded, budgeted = step_dependence(instance)
    try:
        needs, provides = declared(instance, {**{k: p.default for k, p in accepted.items()
                                                 if p.default is not p.empty}, **resolved})
    except StepError as e:
        problems.append(f"{label}: the step's field declaration is wrong: {e}")
        return None
    return StepSpec(index=index, name=name, params=resolved, kind=kind, version=version,
                    canonical=canonical, seed_dependent=seeded, budget_dependent=budgeted,
                    needs=needs, provides=provides)

