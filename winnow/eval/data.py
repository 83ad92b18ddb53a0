"""Evaluation data files: are they here and intact, fetch them (`winnow data pull`), derive GPQA.

The table ``eval/data_files.json`` (versioned, in the repository) lists every file that DCLM's
53 tasks read, as a path under ``<data>/eval/``, with its pinned upstream URL, the upstream git
blob id, the sha256 of the copy in the project's data folder when one exists, expected rows and
that copy's status (``exact``, ``reconstructed`` or ``missing``). This module answers, for a data
root, what each file is:

- ``present``: the file is the upstream file (its git blob id or sha256 matches);
- ``reconstructed``: the file is the project's accepted rebuild (its sha256 matches the table's
  reconstruction hash); usable, but not the upstream bytes;
- ``modified``: a file is there but matches neither;
- ``missing``: no file.

`pull` downloads files from their upstream (or a mirror laid out like ``<data>/eval/``) with
:func:`winnow.fetch.fetch`: it checks the git blob id (or sha256) before renaming into place,
and resumes partial downloads.
`gpqa_jsonl` turns the password-protected ``gpqa/dataset.zip`` into the multiple-choice JSONL
files DCLM evaluates, exactly as DCLM's ``eval/eval_openlm_ckpt.py`` (``convert_gpqa``) does,
cached under ``$WINNOW_HOME/eval_derived/gpqa/`` by the zip's sha256.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import math
import os
import random
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from winnow.fetch import FetchError, VerifyError, fetch, file_hashes
from winnow.io import atomic_open
from winnow.paths import REPO_ROOT, DataRootError, data_root, data_root_candidates, env_data_dir, winnow_home

log = logging.getLogger(__name__)

TABLE_PATH = REPO_ROOT / "eval" / "data_files.json"

#: Status of a file in a data root, best first. A task's status is the worst of its files'.
STATUSES = ("present", "reconstructed", "modified", "missing")
#: Status of the project's copy, as recorded in the table.
TABLE_STATUSES = ("exact", "reconstructed", "missing")

GPQA_ZIP = "gpqa/dataset.zip"
#: The public password of the GPQA authors' archive (also in DCLM's eval/eval_openlm_ckpt.py).
GPQA_PASSWORD = b"deserted-untie-orchid"
#: Variants DCLM converts (its tasks use main and diamond), with their expected row counts.
GPQA_VARIANTS = {"main": 448, "diamond": 198, "extended": 546}


class EvalDataError(Exception):
    """An evaluation data file is unknown, unverifiable, or could not be fetched or derived."""


# ------------------------------------------------------------------------------------- table
def load_table(table: str | os.PathLike | Mapping | None = None) -> dict[str, dict]:
    """The files of the data table: ``{path under <data>/eval/: entry}``.

    ``table`` may be a path to a JSON table, a full table (a mapping with ``files``) or the files
    mapping itself; None reads ``eval/data_files.json``. Every entry needs ``url``, ``git_blob``
    and ``status``; ``sha256`` may be null (no copy known).
    """
    source = "the given table"
    if table is None or isinstance(table, (str, os.PathLike)):
        path = Path(table) if table is not None else TABLE_PATH
        source = str(path)
        try:
            with open(path, encoding="utf-8") as f:
                table = json.load(f)
        except FileNotFoundError:
            raise EvalDataError(f"evaluation data table {path} does not exist (it is part of the "
                                "winnow checkout: restore it with git)") from None
        except json.JSONDecodeError as e:
            raise EvalDataError(f"evaluation data table {path} is not valid JSON: {e}") from None
    files = table.get("files", table) if isinstance(table, Mapping) else None
    if not isinstance(files, Mapping) or not files:
        raise EvalDataError(f"{source}: expected a mapping of files (path under <data>/eval/ -> entry)")
    out: dict[str, dict] = {}
    for name, entry in files.items():
        where = f"{source}, file {name!r}"
        if not isinstance(entry, Mapping):
            raise EvalDataError(f"{where}: entry must be a mapping, got {type(entry).__name__}")
        for key in ("url", "git_blob", "status"):
            if not entry.get(key):
                raise EvalDataError(f"{where}: field {key!r} is required")
        if entry["status"] not in TABLE_STATUSES:
            raise EvalDataError(f"{where}: status {entry['status']!r} is not one of {', '.join(TABLE_STATUSES)}")
        if entry["status"] != "missing" and not entry.get("sha256"):
            raise EvalDataError(f"{where}: status {entry['status']!r} needs the sha256 of the copy")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise EvalDataError(f"{where}: the path must be relative to <data>/eval/ and stay inside it")
        out[name] = dict(entry)
    return out


def _entry(name: str, files: Mapping[str, dict]) -> dict:
    if name in files:
        return files[name]
    close = difflib.get_close_matches(name, list(files), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise EvalDataError(f"{name!r} is not an evaluation data file of winnow's table "
                        f"(paths are relative to <data>/eval/, e.g. world_knowledge/arc_easy.jsonl).{hint}")


def files_for_task(task: str, table=None) -> list[str]:
    """The data files a DCLM task reads (``hellaswag`` or winnow's ``dclm_hellaswag``)."""
    files = load_table(table)
    name = task[len("dclm_"):] if task.startswith("dclm_") else task
    found = [p for p, e in files.items() if name in e.get("tasks", ())]
    if not found:
        raise EvalDataError(f"task {task!r} reads no file of the evaluation data table")
    return found


# ------------------------------------------------------------------------------------ hashing
def git_blob_id(path: str | os.PathLike) -> str:
    """``git hash-object <path>`` without git."""
    return file_hashes(path)[1]


# ------------------------------------------------------------------------------------- status
@dataclass(frozen=True)
class FileStatus:
    path: str                  # under <data>/eval/
    status: str                # one of STATUSES
    file: Path | None          # where it was looked for (None: no data root)
    detail: str                # one line: what matched, or what to do
    sha256: str | None = None  # of the file found
    git_blob: str | None = None


def resolve_root(root) -> Path | None:
    """``root`` as a Path, else winnow's data root, else None (no data root anywhere)."""
    if root is not None:
        return Path(root).expanduser()
    try:
        return data_root()
    except DataRootError:
        return None


def _status_of(name: str, entry: dict, root: Path | None) -> FileStatus:
    if root is None:
        return FileStatus(name, "missing", None, "no data root found (winnow data status says where it looked)")
    file = root / "eval" / name
    if not file.is_file():
        how = (f"fetch it with: winnow data pull --only {name}" if entry["status"] != "missing" else
               f"no copy exists in the project's data; winnow data pull --only {name} fetches upstream")
        return FileStatus(name, "missing", file, how)
    sha, blob = file_hashes(file)
    if blob == entry["git_blob"] or (entry["status"] == "exact" and sha == entry.get("sha256")):
        return FileStatus(name, "present", file, f"verified (git blob {blob[:12]})", sha, blob)
    if entry["status"] == "reconstructed" and sha == entry.get("sha256"):
        return FileStatus(name, "reconstructed", file,
                          f"the project's reconstruction (sha256 {sha[:12]}); upstream git blob is "
                          f"{entry['git_blob'][:12]}", sha, blob)
    want = f"git blob {entry['git_blob'][:12]}"
    if entry.get("sha256"):
        want += f" or sha256 {entry['sha256'][:12]}"
    return FileStatus(name, "modified", file,
                      f"matches neither {want} (got git blob {blob[:12]}, sha256 {sha[:12]}); "
                      f"replace it with: winnow data pull --only {name} --force", sha, blob)


def file_status(path: str, root=None, table=None) -> FileStatus:
    """Status of one file (``path`` under ``<data>/eval/``) in ``root`` (default: the data root)."""
    files = load_table(table)
    return _status_of(path, _entry(path, files), resolve_root(root))


def data_status(root=None, table=None) -> list[FileStatus]:
    """Status of every file of the table, in table order."""
    files = load_table(table)
    root = resolve_root(root)
    return [_status_of(name, entry, root) for name, entry in files.items()]


def worst_status(statuses: Iterable[str]) -> str:
    """The worst of some statuses (present < reconstructed < modified < missing)."""
    ranked = [STATUSES.index(s) for s in statuses]
    if not ranked:
        raise EvalDataError("worst_status: no statuses given")
    return STATUSES[max(ranked)]


def task_data_status(files: list[str], root=None, table=None) -> str:
    """The status of a task: the worst status of the data files it reads."""
    if not files:
        raise EvalDataError("task_data_status: a task reads at least one data file; got none")
    table_files = load_table(table)
    root = resolve_root(root)
    return worst_status(_status_of(f, _entry(f, table_files), root).status for f in files)


def format_status(statuses: list[FileStatus], root: Path | None, table=None) -> str:
    """The table `winnow data status` prints."""
    files = load_table(table)
    if root:
        lines = [f"data root: {root}"]
    else:
        lines = ["data root: none found; winnow looked in "
                 + ", ".join(f"{path} ({how})" for how, path in data_root_candidates())]
    width = max(len(s.path) for s in statuses)
    for s in statuses:
        tasks = ", ".join(files[s.path].get("tasks", ()))
        lines.append(f"  {s.status:<14}{s.path:<{width}}  {tasks}")
        if s.status in ("modified",):
            lines.append(f"  {'':<14}{s.detail}")
    counts = {k: sum(s.status == k for s in statuses) for k in STATUSES}
    lines.append(", ".join(f"{n} {k}" for k, n in counts.items()) + f" ({len(statuses)} files)")
    if counts["missing"] or counts["modified"]:
        lines.append("fetch missing files with: winnow data pull  (replace modified ones with --force)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- pull
@dataclass(frozen=True)
class PullResult:
    path: str
    action: str        # "downloaded", "skipped", "kept-modified", "failed"
    detail: str
    bytes: int = 0     # bytes transferred this time


def _writable(path: Path) -> bool:
    p = path
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def default_dest() -> Path:
    """Where `pull` writes by default: the first writable of ``$WINNOW_DATA``, ``~/.cache/winnow/data``."""
    candidates = []
    if (env := env_data_dir()) is not None:   # a remote WINNOW_DATA is refused there, with how to copy it
        candidates.append(env)
    candidates.append(Path.home() / ".cache" / "winnow" / "data")
    for c in candidates:
        if _writable(c):
            return c
    raise EvalDataError("no writable data root to download into: tried "
                        + ", ".join(str(c) for c in candidates)
                        + ". Pass --dest DIR (a folder you can write; then set WINNOW_DATA=DIR).")


def source_url(name: str, entry: Mapping, base_url: str | None = None) -> str:
    """Upstream URL of a file, or ``<base_url>/<name>`` for a mirror laid out like ``<data>/eval/``."""
    if not base_url:
        return entry["url"]
    if "://" not in base_url:
        base_url = Path(base_url).expanduser().resolve().as_uri()
    return base_url.rstrip("/") + "/" + urllib.parse.quote(name)


def _pull_one(name: str, entry: dict, dest: Path, url: str, retries: int, timeout: float,
              show: bool) -> tuple[int, str]:
    target = dest / "eval" / name
    # the upstream bytes, or the project's accepted reconstruction (its sha256, for reconstructed
    # entries; for exact ones the same file): either verifies
    try:
        got = fetch(url, target, git_blob=entry["git_blob"], sha256=entry.get("sha256"),
                    size=entry.get("bytes") if entry["status"] == "exact" else None, reuse=False,
                    retries=retries, timeout=timeout, progress=show)
    except VerifyError as e:
        want = f"git blob {entry['git_blob']}"
        if entry.get("sha256"):
            want += (f" (sha256 {entry['sha256']})" if entry["status"] == "exact" else
                     f" or the project's reconstruction (sha256 {entry['sha256']})")
        raise EvalDataError(f"{name}: the file downloaded from {url} does not verify: expected {want}, "
                            f"got git blob {e.git_blob} (sha256 {e.sha256}, {e.size:,} bytes). Nothing was "
                            "written. The source may hold another version of the file, or the transfer was "
                            "corrupted: retry, or check --base-url.") from None
    except FetchError as e:
        raise EvalDataError(str(e).replace("fetch from a local or mirrored copy instead",
                                           "--base-url fetches from a local or mirrored copy")) from None
    how = f"resumed at byte {got.resumed_from:,}, " if got.resumed_from else ""
    what = (f"verified (git blob {got.git_blob[:12]})" if got.git_blob == entry["git_blob"] else
            f"verified as the project's reconstruction (sha256 {got.sha256[:12]}), not the upstream file")
    return got.moved, f"{how}{got.size:,} bytes, {what}"


def pull(dest=None, files=None, base_url: str | None = None, force: bool = False, table=None,
         progress: Callable[[str], None] | None = print, retries: int = 3,
         timeout: float = 60.0) -> list[PullResult]:
    """Download evaluation data files into ``<dest>/eval/`` and verify them.

    ``dest`` defaults to `default_dest()`. ``files`` (paths under ``<data>/eval/``) defaults to
    every file of the table. Files already verified (present, or the project's accepted
    reconstruction) are skipped; a file that is present but matches nothing (modified) is kept;
    ``force`` downloads every selected file again (so it replaces a reconstruction by the upstream
    file). Each download goes to a hidden ``.<name>.part`` file, which is resumed if a previous
    attempt was interrupted, and is renamed into place only once its git blob id matches upstream
    (or its sha256 matches the table's: the reconstruction, for reconstructed entries). Raises
    `EvalDataError` naming every file that failed, after trying all of them.
    """
    say = progress or (lambda _line: None)
    table_files = load_table(table)
    names = list(files) if files else list(table_files)
    for n in names:
        _entry(n, table_files)
    dest = Path(dest).expanduser() if dest else default_dest()
    say(f"downloading {len(names)} evaluation data file(s) into {dest / 'eval'}"
        + (f" from {base_url}" if base_url else ""))
    results: list[PullResult] = []
    failed: list[str] = []
    for i, name in enumerate(names, 1):
        entry = table_files[name]
        head = f"[{i}/{len(names)}] {name}:"
        st = _status_of(name, entry, dest)
        if st.status == "present" and not force:
            results.append(PullResult(name, "skipped", st.detail))
            say(f"{head} already {st.detail}, skipped")
            continue
        if st.status == "reconstructed" and not force:
            results.append(PullResult(name, "skipped", st.detail))
            say(f"{head} {st.detail}: accepted, skipped (--force fetches the upstream file)")
            continue
        if st.status == "modified" and not force:
            results.append(PullResult(name, "kept-modified", st.detail))
            say(f"{head} present but modified, kept: {st.detail}")
            continue
        url = source_url(name, entry, base_url)
        try:
            moved, detail = _pull_one(name, entry, dest, url, retries, timeout, progress is not None)
        except EvalDataError as e:
            msg = str(e) if str(e).startswith(name) else f"{name}: {e}"
            results.append(PullResult(name, "failed", msg))
            failed.append(msg)
            say(f"{head} FAILED: {msg[len(name) + 2:]}")
            continue
        results.append(PullResult(name, "downloaded", detail, moved))
        say(f"{head} downloaded from {url}: {detail}")
    if failed:
        raise EvalDataError(f"{len(failed)} of {len(names)} file(s) could not be fetched:\n"
                            + "\n".join(f"  - {m}" for m in failed))
    try:
        active = data_root()
    except DataRootError:
        active = None
    if active is None or active.resolve() != dest.resolve():
        say(f"note: winnow reads its data root from {active or 'nowhere yet'}; "
            f"set WINNOW_DATA={dest} to use these files")
    return results


# --------------------------------------------------------------------------------------- GPQA
# The conversion below (and _read_gpqa_member) is copied into eval/tasks/utils.py, which derives GPQA
# in memory for plain lm-eval without winnow; tests/eval/test_tasks.py checks the copies agree.
# pandas.read_csv's default NA strings: DCLM reads the CSVs with pandas, so these cells become
# NaN, which numpy then turns into the string "nan" inside a choices array.
_PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                 "Incorrect Answer 3")


def _cell(value: str | None):
    return math.nan if value is None or value in _PANDAS_NA else value


def _as_numpy_list(values: list) -> list:
    """What ``np.array(values).tolist()`` gives for strings and NaNs (without numpy)."""
    if not any(isinstance(v, str) for v in values):
        return [float(v) for v in values]
    # numpy's fixed-width unicode dtype drops trailing NUL characters; NaN becomes "nan".
    return [(v if isinstance(v, str) else str(v)).rstrip("\x00") for v in values]


def gpqa_records(csv_bytes: bytes, source: str = "GPQA CSV") -> list[dict]:
    """DCLM's conversion of one GPQA CSV into multiple-choice records.

    Per row, in file order: query = ``Question`` as is (no prefix, no stripping); options =
    [``Correct Answer``, ``Incorrect Answer 1``, ``2``, ``3``] reordered by ``idx = [0, 1, 2, 3]``
    shuffled with one ``random.Random(42)`` per file (one ``shuffle`` per row); gold =
    ``idx.index(0)``. Cells are read the way ``pandas.read_csv`` defaults read them (blank lines
    skipped, NA strings become NaN).
    """
    text = csv_bytes.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not rows:
        raise EvalDataError(f"{source}: empty file")
    header = rows[0]
    missing = [c for c in _GPQA_COLUMNS if c not in header]
    if missing:
        raise EvalDataError(f"{source}: columns {missing} not found (header starts {header[:6]}); "
                            "is this a GPQA main/diamond/extended CSV?")
    cols = [header.index(c) for c in _GPQA_COLUMNS]  # first occurrence, as pandas does
    rng = random.Random(42)
    out = []
    for row in rows[1:]:
        cells = [_cell(row[c] if c < len(row) else None) for c in cols]
        question, options = cells[0], _as_numpy_list(cells[1:])
        idx = list(range(4))
        rng.shuffle(idx)
        out.append({"query": question, "choices": [options[i] for i in idx], "gold": idx.index(0)})
    return out


def _read_gpqa_member(zip_path: Path, variant: str) -> bytes:
    member = f"dataset/gpqa_{variant}.csv"
    try:
        with zipfile.ZipFile(zip_path) as z:
            return z.read(member, pwd=GPQA_PASSWORD)
    except KeyError:
        raise EvalDataError(f"{zip_path}: no member {member}; is this the GPQA authors' dataset.zip?") from None
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
        raise EvalDataError(f"{zip_path}: cannot read {member} ({e}); fetch a fresh copy with: "
                            f"winnow data pull --only {GPQA_ZIP} --force") from None


def gpqa_jsonl(variant: str = "main", root=None) -> Path:
    """Path of ``gpqa_<variant>.jsonl`` derived from ``<data>/eval/gpqa/dataset.zip``, as DCLM derives it.

    The file is written once (atomically) under ``$WINNOW_HOME/eval_derived/gpqa/<zip sha256[:16]>/``
    and reused while the zip is unchanged. Bytes are DCLM's: ``json.dumps(record)`` (ASCII escapes,
    default separators) and ``"\\n"`` per row.
    """
    if variant not in GPQA_VARIANTS:
        raise EvalDataError(f"GPQA variant {variant!r} is not one of {', '.join(GPQA_VARIANTS)}")
    base = resolve_root(root)
    if base is None:
        data_root()  # raises DataRootError, which says where winnow looked
    zip_path = base / "eval" / GPQA_ZIP
    if not zip_path.is_file():
        raise EvalDataError(f"GPQA archive {zip_path} is missing: fetch it with "
                            f"winnow data pull --only {GPQA_ZIP}")
    sha, _ = file_hashes(zip_path)
    out = winnow_home() / "eval_derived" / "gpqa" / sha[:16] / f"gpqa_{variant}.jsonl"
    if out.is_file():
        return out
    entry = load_table().get(GPQA_ZIP)
    known = entry is not None and sha == entry.get("sha256")
    if not known:
        log.warning("%s (sha256 %s) is not the archive in winnow's data table; deriving GPQA from it anyway",
                    zip_path, sha[:12])
    records = gpqa_records(_read_gpqa_member(zip_path, variant), f"{zip_path}:dataset/gpqa_{variant}.csv")
    if known and len(records) != GPQA_VARIANTS[variant]:
        raise EvalDataError(f"{zip_path}: gpqa_{variant} has {len(records)} rows, expected "
                            f"{GPQA_VARIANTS[variant]}: the CSV was not parsed the way DCLM parses it")
    with atomic_open(out, "wt") as f:
        for r in records:
            f.write(json.dumps(r))
            f.write("\n")
    return out
