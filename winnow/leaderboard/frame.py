"""Leaderboard rows as one pandas DataFrame, and its export to CSV or parquet (``winnow leaderboard
export``), the way DCLM publishes its model database: one row per leaderboard row, one column per
number.

``leaderboard_frame()`` reads the rows with the leaderboard's own reader (``rows.load_rows``, the
board's ``rows/`` folder) or, given ``sources``, with the analyses' (``rowsets.read_rows``: folders,
files or globs, as ``winnow analyze signal --rows``); ``rows_frame(rows)`` turns rows already read
into the frame. Nothing is recomputed: every value is the row's own (``winnow leaderboard check``
is what verifies rows against their evidence).

Columns, in this order (dotted names mirror the row's JSON, so ``aggregates.core_prob_v1`` is both
a column and the metric name ``winnow analyze signal`` prints):

* identity (text unless noted): ``submission``, ``fingerprint``, ``track``, ``scale``,
  ``scale_version`` (int), ``suite``, ``suite_version`` (int), ``seed`` (int), ``run_id``,
  ``schema`` (int, the row schema), ``primary_metric`` (``rows.row_primary``: schema-1 rows get
  it from their scale YAML), ``row_file`` (the row's file name), ``row_hash``, ``code_commit``
  (the git commit the run's code was at; empty for rows that predate it), ``created`` (when the
  row was written, ``YYYY-MM-DDTHH:MM:SSZ`` UTC; empty for rows before schema 5);
* ``primary_value`` (float): the row's value of its primary metric;
* ``aggregates.<name>`` (float) for every aggregate any row has (``core_v2``, ``core_prob_v1``,
  ``core_gold_bpb_v1``, ...; missing or null is NaN), and ``aggregates_stderr.<name>``;
* ``heldout.bits_per_byte``, ``heldout.unigram_bits_per_byte`` (float), ``heldout.tokens`` (int);
* ``training.tokens``, ``training.sequences``, ``training.steps``, ``training.budget_tokens``,
  ``training.curated_docs``, ``training.docs_used`` (int), ``training.passes``,
  ``training.flops`` (float);
* ``curation.cpu_seconds``, ``curation.wall_seconds`` (float; ``rows.curation_times``: schema
  1-2 rows measured wall time only, so their CPU seconds are NaN), ``curation.flops`` (float),
  ``curation.steps`` (int);
* ``contamination.measured`` (bool), ``contamination.gold_share``,
  ``contamination.context_share`` (float; NaN where not measured), ``contamination.flagged``
  (text: the flagged tasks joined by ``,``; missing when none);
* ``flags.plugin_code``, ``flags.allow_code``, ``flags.ids_list``, ``flags.targeted``,
  ``flags.external_data`` (bool), ``targets`` (text: the recipe's targets joined by ``,``; missing when none);
* ``task.<task>.acc``, ``task.<task>.prob``, ``task.<task>.bpb`` (float) for every task any row
  has, tasks sorted by name (a row without the task, or without the measure, has NaN).

Integer columns are pandas ``Int64`` and booleans ``boolean`` (both nullable: a row of an older
schema may lack the field), text ``string``, the rest ``float64``. CSV loses dtypes, so
``read_export(path)`` reads an export back with them (parquet keeps them itself).

Writes are atomic (a temporary sibling, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from winnow.io import atomic_path
from winnow.leaderboard.rows import curation_times, load_rows, row_primary, rows_root
from winnow.leaderboard.rowsets import SignalError, read_rows

TASK_MEASURES = ("acc", "prob", "bpb")
IDENTITY = ("submission", "fingerprint", "track", "scale", "scale_version", "suite", "suite_version", "seed",
            "run_id", "schema", "primary_metric", "row_file", "row_hash", "code_commit",
            "created")
INT_COLUMNS = ("scale_version", "suite_version", "seed", "schema", "heldout.tokens", "training.tokens",
               "training.sequences", "training.steps", "training.budget_tokens", "training.curated_docs",
               "training.docs_used", "curation.steps")
FLAGS = ("plugin_code", "allow_code", "ids_list", "targeted", "external_data")
BOOL_COLUMNS = ("contamination.measured", *(f"flags.{f}" for f in FLAGS))
TEXT_COLUMNS = (*(c for c in IDENTITY if c not in INT_COLUMNS), "contamination.flagged", "targets")
FORMATS = {".csv": "csv", ".parquet": "parquet"}


class FrameError(ValueError):
    """Bad input to the frame or its export; the message says what and how to fix it."""


def _num(v) -> float:
    """A finite float, else NaN (missing, null, text, bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return math.nan
    return float(v)


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v)) or None     # none: missing (a CSV cannot tell "" from missing)
    return str(v) or None


def _record(row: dict) -> dict:
    aggs = row.get("aggregates") or {}
    held, train = row.get("heldout") or {}, row.get("training") or {}
    cost, cont, flags = row.get("curation_cost") or {}, row.get("contamination") or {}, row.get("flags") or {}
    times = curation_times(row)
    primary = row_primary(row) if row.get("scale") else row.get("primary_metric")
    rec = {
        **{k: row.get(k) for k in ("submission", "fingerprint", "track", "scale", "scale_version", "suite",
                                    "suite_version", "seed", "run_id", "schema")},
        "primary_metric": primary,
        "row_file": Path(row["_path"]).name if row.get("_path") else None,
        "row_hash": row.get("row_hash"),
        "code_commit": (row.get("code") or {}).get("commit"),
        "created": row.get("created"),
        "primary_value": _num(aggs.get(primary)) if primary else math.nan,
    }
    rec.update({f"aggregates.{k}": _num(v) for k, v in aggs.items()})
    rec.update({f"aggregates_stderr.{k}": _num(v) for k, v in (row.get("aggregates_stderr") or {}).items()})
    rec.update({"heldout.bits_per_byte": _num(held.get("bits_per_byte")),
                "heldout.unigram_bits_per_byte": _num(held.get("unigram_bits_per_byte")),
                "heldout.tokens": held.get("tokens")})
    rec.update({f"training.{k}": train.get(k) for k in ("tokens", "sequences", "steps", "budget_tokens",
                                                         "curated_docs", "docs_used")})
    rec.update({"training.passes": _num(train.get("passes")), "training.flops": _num(train.get("flops"))})
    rec.update({"curation.cpu_seconds": _num(times["cpu"]), "curation.wall_seconds": _num(times["wall"]),
                "curation.flops": _num(cost.get("flops")), "curation.steps": cost.get("steps")})
    rec.update({"contamination.measured": cont.get("measured"),
                "contamination.gold_share": _num(cont.get("gold_share")),
                "contamination.context_share": _num(cont.get("context_share")),
                "contamination.flagged": _text(cont.get("flagged")) if cont.get("measured") else None})
    rec.update({f"flags.{f}": flags.get(f) for f in FLAGS})
    rec["targets"] = _text(row.get("targets"))
    for task, vals in sorted((row.get("tasks") or {}).items()):
        vals = vals if isinstance(vals, dict) else {}
        rec.update({f"task.{task}.{m}": _num(vals.get(m)) for m in TASK_MEASURES})
    return rec


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _as_int(v):
    if _missing(v) or isinstance(v, bool):
        return None
    if isinstance(v, str):          # from a CSV
        return int(v)
    return int(v) if float(v) == int(v) else None


def _as_bool(v):
    if _missing(v):
        return None
    if isinstance(v, str):          # from a CSV
        return {"True": True, "False": False}.get(v)
    return bool(v) if isinstance(v, (bool, int)) or hasattr(v, "item") else None


def _as_float(v) -> float:
    if _missing(v):
        return math.nan
    return float(v) if isinstance(v, str) else _num(v.item() if hasattr(v, "item") else v)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """The documented dtypes, whatever the values came from (records, a CSV or a parquet file)."""
    out = {}
    for c in df.columns:
        values = list(df[c].astype(object))
        if c in INT_COLUMNS:
            out[c] = pd.array([_as_int(v) for v in values], dtype="Int64")
        elif c in BOOL_COLUMNS:
            out[c] = pd.array([_as_bool(v) for v in values], dtype="boolean")
        elif c in TEXT_COLUMNS:
            out[c] = pd.array([None if _missing(v) else str(v) for v in values], dtype="string")
        else:
            out[c] = pd.Series([_as_float(v) for v in values], dtype="float64")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _order(columns) -> list[str]:
    """Identity, primary value, aggregates, their stderr, the run's figures, then tasks by name."""
    fixed = [*IDENTITY, "primary_value"]
    groups = ("aggregates.", "aggregates_stderr.", "heldout.", "training.", "curation.", "contamination.",
              "flags.", "targets")
    rest = [c for c in columns if c not in fixed]
    ordered = [c for c in fixed if c in columns]
    for g in groups:
        picked = [c for c in rest if c.startswith(g)]
        ordered += sorted(picked) if g.startswith("aggregates") else picked
    return ordered + sorted(c for c in rest if c.startswith("task."))


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The documented frame of ``rows`` (dicts as ``load_rows``/``read_rows`` return them), one
    frame row per row, in the given order."""
    records = [_record(r) for r in rows]
    if not records:
        columns = [*IDENTITY, "primary_value"]
        return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}))
    df = pd.DataFrame.from_records(records)
    for c in (*IDENTITY, "primary_value"):
        if c not in df.columns:
            df[c] = None
    return _typed(df[_order(df.columns)])


def leaderboard_frame(sources: list[str] | None = None, root: Path | None = None) -> pd.DataFrame:
    """Every leaderboard row as one DataFrame (the module docstring lists the columns).

    Without ``sources``, the rows of the board (``root``, default ``rows.rows_root()``: the
    repository's ``leaderboard/rows`` or ``$WINNOW_LEADERBOARD/rows``) read by the leaderboard's own
    reader; with them, the row files of those folders, files or globs. No rows at all is a
    ``FrameError`` (an empty table would hide a wrong path)."""
    if sources:
        try:
            rows = read_rows(list(sources))
        except SignalError as e:
            raise FrameError(str(e)) from None
        where = "--rows " + " ".join(sources)
    else:
        root = Path(root) if root is not None else rows_root()
        rows, where = load_rows(root), str(root)
    if not rows:
        raise FrameError(f"no leaderboard rows in {where}: submit a run (`winnow submit RUN`), point "
                         "WINNOW_LEADERBOARD at a board, or pass --rows DIR")
    return rows_frame(rows)


def export_format(path: str | Path) -> str:
    """``csv`` or ``parquet``, from the file name's extension."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise FrameError(f"{path}: unknown extension {Path(path).suffix or '(none)'!r}; the export writes "
                         f"{' or '.join(FORMATS)} (e.g. --out leaderboard.csv)")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401  (pandas' parquet engine)
        except ImportError:
            raise FrameError(f"{path}: writing parquet needs pyarrow (`pip install pyarrow`); "
                             "or export to .csv") from None
    return fmt


def write_frame(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` as CSV or parquet (by extension), through a temporary sibling
    renamed into place; an unwritable place is a ``FrameError`` naming it."""
    path = Path(path)
    fmt = export_format(path)
    try:
        with atomic_path(path) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    except OSError as e:
        raise FrameError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def read_export(path: str | Path) -> pd.DataFrame:
    """An export read back with the documented dtypes (CSV keeps no dtypes; parquet does)."""
    fmt = export_format(path)
    if fmt == "parquet":
        return _typed(pd.read_parquet(path))
    return _typed(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))


def export(out: str | Path | None = None, sources: list[str] | None = None, stream=None) -> tuple[Path | None, pd.DataFrame]:
    """What ``winnow leaderboard export`` does: the frame of the board's rows (or of ``sources``)
    written to ``out`` (CSV or parquet by extension, atomically), or as CSV to ``stream`` when no
    ``out`` is given. The extension is checked before any row is read."""
    if out is not None:
        export_format(out)
    df = leaderboard_frame(sources)
    if out is None:
        df.to_csv(stream, index=False)
        return None, df
    return write_frame(df, out), df
