"""Sets of row-shaped files for the analyses (``winnow analyze signal|agreement``): reading them
from folders, files or globs with one clear message per unusable file, grouping them by scale
version and suite (rows are never compared across those), choosing a scale's version, naming the
entry a row belongs to (``stats.ENTRY_FIELDS``: the rows that differ only in their seed) and the
metric the rows rank by.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from glob import glob
from pathlib import Path

from winnow.config import ConfigError, group_file
from winnow.io import loads_json
from winnow.leaderboard.rows import row_primary
from winnow.leaderboard.stats import ENTRY_FIELDS
from winnow.paths import conf_dir
from winnow.registry import suggest

REQUIRED = ("submission", "seed")


class SignalError(ValueError):
    """Bad input to an analysis of rows; the message says what, where and how to fix it."""


def entry_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in ENTRY_FIELDS)


def read_rows(sources: list[str]) -> list[dict]:
    """Row-shaped JSON files from folders (every ``*.json`` under them but evidence bundles), globs
    or files; every problem is named with its file."""
    def expand(p: Path) -> list[Path]:
        if p.is_dir():
            return [q for q in sorted(p.rglob("*.json")) if not q.name.endswith(".bundle.json")]
        return [p] if p.is_file() and not p.name.endswith(".bundle.json") else []

    paths: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir() or p.is_file():
            paths += expand(p)
        else:
            hits = [q for hit in sorted(glob(src, recursive=True)) for q in expand(Path(hit))]
            if not hits:
                raise SignalError(f"--rows {src}: no such folder or file, and no file matches it as a glob "
                                  "(give a folder of row JSON files, a file, or a pattern such as 'rows/**/*.json')")
            paths += hits
    if not paths:
        raise SignalError(f"--rows {' '.join(sources)}: no *.json files there")
    rows, problems = [], []
    for p in dict.fromkeys(paths):
        try:
            r = loads_json(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{p}: not readable JSON ({e})")
            continue
        if not isinstance(r, dict):
            problems.append(f"{p}: a row is a JSON object, this holds a {type(r).__name__}")
            continue
        problems += row_problems(r, p)
        r["_path"] = str(p)
        rows.append(r)
    if problems:
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise SignalError("these files are not usable rows:\n  " + "\n  ".join(problems[:10]) + more)
    return rows


def row_problems(row: dict, where) -> list[str]:
    out = [f"{where}: lacks the field {k!r}" for k in REQUIRED if k not in row]
    if "seed" in row and (isinstance(row["seed"], bool) or not isinstance(row["seed"], int)):
        out.append(f"{where}: seed must be an integer, not {row['seed']!r}")
    for k in ("aggregates", "tasks", "heldout"):
        if k in row and not isinstance(row[k], dict):
            out.append(f"{where}: {k!r} must be an object")
    return out


@dataclass
class Group:
    """The rows one analysis covers: one scale version and suite (and ``--group-by`` value)."""

    label: str
    rows: list[dict]
    fields: dict


def _version_label(fields: dict) -> str:
    parts = []
    if fields.get("scale") is not None:
        parts.append(f"{fields['scale']}" + (f" v{fields['scale_version']}" if fields.get("scale_version") is not None else ""))
    if fields.get("suite") is not None:
        parts.append(f"suite {fields['suite']}" + (f" v{fields['suite_version']}" if fields.get("suite_version") is not None else ""))
    for k, v in fields.items():
        if k not in ("scale", "scale_version", "suite", "suite_version"):
            parts.append(f"{k} {v}")
    return ", ".join(parts) or "all rows"


def groups(rows: list[dict], group_by: str | None = None) -> list[Group]:
    """Rows split by scale, scale version and suite (never comparable across them) and by the
    ``group_by`` field when given (rows without it form their own group)."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        key = tuple(r.get(k) for k in ("scale", "scale_version", "suite", "suite_version"))
        by[key + ((r.get(group_by, "(none)"),) if group_by else ())].append(r)
    out = []
    for key, rs in sorted(by.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        fields = dict(zip(("scale", "scale_version", "suite", "suite_version"), key[:4]))
        if group_by:
            fields[group_by] = key[4]
        out.append(Group(_version_label(fields), rs, fields))
    return out


def duplicate_seeds(rows: list[dict]) -> list[str]:
    """Two rows of one entry with the same seed cannot both be averaged: name them."""
    seen: dict[tuple, str] = {}
    out = []
    for r in rows:
        k = (entry_key(r), r.get("seed"))
        where = r.get("_path", r.get("run_id", "?"))
        if k in seen:
            out.append(f"{r.get('submission')} seed {r.get('seed')}: {seen[k]} and {where}")
        else:
            seen[k] = where
    return out


def primary_of(rows: list[dict]) -> str | None:
    """The metric the rows rank by (``primary_metric``; schema-1 leaderboard rows: ``row_primary``)."""
    names = []
    for r in rows:
        if isinstance(r.get("schema"), int) and r["schema"] < 2 and r.get("scale"):
            names.append(row_primary(r))      # schema 1 recorded an older default
        elif r.get("primary_metric"):
            names.append(r["primary_metric"])
    return max(set(names), key=names.count) if names else None


def select(rows: list[dict], scale: str | None, version: int | None, where: str,
           newest: bool = True) -> list[dict]:
    """The rows of ``scale`` at ``version`` (default: the newest version among its rows, or every
    version when ``newest`` is false: a study's row files span versions, each its own group)."""
    if scale is not None:
        known = sorted({str(r.get("scale")) for r in rows if r.get("scale") is not None})
        rows = [r for r in rows if r.get("scale") == scale]
        if not rows:
            try:
                group_file("scale", scale)
                defined = True
            except ConfigError:
                defined = False
            if not defined and scale not in known:
                conf = sorted(p.stem for p in (conf_dir() / "scale").glob("*.yaml"))
                raise SignalError(f"unknown scale {scale!r}: {suggest(scale, sorted(set(conf) | set(known)))} "
                                  f"(scales with rows in {where}: {', '.join(known) or 'none'})")
            raise SignalError(f"no rows of scale {scale!r} in {where} (scales with rows there: "
                              f"{', '.join(known) or 'none'}); run and submit its baselines, or pass --rows")
    versions = sorted({r["scale_version"] for r in rows if isinstance(r.get("scale_version"), int)})
    if version is None:
        return [r for r in rows if r.get("scale_version") == versions[-1]] if versions and newest else rows
    picked = [r for r in rows if r.get("scale_version") == version]
    if not picked:
        raise SignalError(f"no rows of {scale or 'these rows'} at version {version} in {where} "
                          f"(versions with rows: {', '.join(map(str, versions)) or 'none'})")
    return picked
