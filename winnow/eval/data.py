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

`pull` downloads files from their upstream (or a mirror laid out like ``<data>/eval/``), checks
the git blob id (or sha256) before renaming into place, and resumes partial downloads.
`gpqa_jsonl` turns the password-protected ``gpqa/dataset.zip`` into the multiple-choice JSONL
files DCLM evaluates, exactly as DCLM's ``eval/eval_openlm_ckpt.py`` (``convert_gpqa``) does,
cached under ``$WINNOW_HOME/eval_derived/gpqa/`` by the zip's sha256.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import http.client
import io
import json
import logging
import math
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from winnow.io import atomic_open
from winnow.paths import REPO_ROOT, DataRootError, data_root, winnow_home

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

CHUNK = 1 << 20
RETRY_WAIT_S = 2.0  # first wait before retrying a failed transfer; doubles each time (at most 30 s)
USER_AGENT = "winnow-data-pull/1"


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
def git_blob_id_bytes(data: bytes) -> str:
    """Git's object id of a blob: sha1 over ``b"blob <size>\\0"`` then the content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


_HASH_CACHE: dict[tuple, tuple[str, str]] = {}


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """``(sha256, git blob id)`` of a file in one streaming pass (cached by size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _HASH_CACHE:
        return _HASH_CACHE[key]
    sha, blob = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % st.st_size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha.update(block)
            blob.update(block)
    out = (sha.hexdigest(), blob.hexdigest())
    _HASH_CACHE[key] = out
    return out


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
        from winnow.paths import data_root_candidates

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
    if os.environ.get("WINNOW_DATA"):
        candidates.append(Path(os.environ["WINNOW_DATA"]).expanduser())
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


class _Restart(Exception):
    """The partial download cannot be continued: start again from byte 0."""


def _open_remote(url: str, offset: int, timeout: float):
    """(stream, resumed) for ``url`` from byte ``offset``; resumed False means from byte 0."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset:
            req.add_header("Range", f"bytes={offset}-")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:
                raise _Restart() from None
            raise
        resumed = bool(offset) and resp.status == 206
        content_range = resp.headers.get("Content-Range")
        if resumed and content_range and not content_range.startswith(f"bytes {offset}-"):
            resp.close()  # the server sent another part than the one asked for
            raise _Restart()
        return resp, resumed
    if scheme == "file":
        local = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        f = open(local, "rb")
    else:  # any other fsspec protocol (s3://, gs://, ...)
        import fsspec

        f = fsspec.open(url, "rb").open()
    if offset:
        f.seek(offset)
    return f, bool(offset)


TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
             TimeoutError)


def _fetch(url: str, part: Path, expected_bytes: int | None, retries: int, timeout: float) -> int:
    """Download ``url`` into ``part``, continuing a partial file; returns bytes transferred."""
    moved = 0
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if expected_bytes is not None and offset > expected_bytes:
            part.unlink()
            offset = 0
        if expected_bytes is not None and offset == expected_bytes:
            return moved
        try:
            stream, resumed = _open_remote(url, offset, timeout)
            before = moved
            with stream, open(part, "ab" if resumed else "wb") as out:
                for block in iter(lambda: stream.read(CHUNK), b""):
                    out.write(block)
                    moved += len(block)
            size = part.stat().st_size
            if (expected_bytes is not None and size < expected_bytes and moved > before
                    and url.startswith(("http://", "https://")) and attempt < retries):
                # The connection ended early without an error: ask for the rest.
                log.warning("%s: connection ended at byte %d of %d; resuming", url, size, expected_bytes)
                attempt += 1
                continue
            return moved  # a short or wrong file then fails verification, naming its size
        except _Restart:
            part.unlink(missing_ok=True)
            continue
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt >= retries:
                raise EvalDataError(f"{url}: HTTP {e.code} {e.reason}") from None
        except FileNotFoundError:
            raise EvalDataError(f"{url}: no such file") from None
        except TRANSIENT as e:
            offline = isinstance(getattr(e, "reason", None), socket.gaierror)  # unknown host: no retry
            if attempt >= retries or offline:
                kept = (f"; the partial download {part} is kept: run the same command again to resume"
                        if part.exists() else "")
                hint = "; no network? --base-url fetches from a local or mirrored copy" if offline else ""
                raise EvalDataError(f"{url}: {e} (after {attempt + 1} attempt(s){kept}{hint})") from None
        attempt += 1
        time.sleep(min(RETRY_WAIT_S * 2 ** (attempt - 1), 30.0))


def _pull_one(name: str, entry: dict, dest: Path, url: str, retries: int, timeout: float) -> tuple[int, str]:
    target = dest / "eval" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    # A stable temporary name (not the final one) so that an interrupted download can resume.
    part = target.with_name(f".{target.name}.part")
    expected_bytes = entry.get("bytes") if entry["status"] == "exact" else None
    resumed_from = part.stat().st_size if part.exists() else 0
    moved = _fetch(url, part, expected_bytes, retries, timeout)
    sha, blob = file_hashes(part)
    ok = blob == entry["git_blob"] or sha == entry.get("sha256")
    if not ok and resumed_from:
        # The kept partial may come from another version of the file: one clean attempt.
        part.unlink()
        moved += _fetch(url, part, expected_bytes, retries, timeout)
        sha, blob = file_hashes(part)
        ok = blob == entry["git_blob"] or sha == entry.get("sha256")
    if not ok:
        size = part.stat().st_size
        part.unlink()
        want = f"git blob {entry['git_blob']}"
        if entry.get("sha256"):
            want += (f" (sha256 {entry['sha256']})" if entry["status"] == "exact" else
                     f" or the project's reconstruction (sha256 {entry['sha256']})")
        raise EvalDataError(f"{name}: the file downloaded from {url} does not verify: expected {want}, "
                            f"got git blob {blob} (sha256 {sha}, {size:,} bytes). Nothing was written. "
                            "The source may hold another version of the file, or the transfer was corrupted: "
                            "retry, or check --base-url.")
    os.replace(part, target)
    how = f"resumed at byte {resumed_from:,}, " if resumed_from and moved < target.stat().st_size else ""
    what = (f"verified (git blob {blob[:12]})" if blob == entry["git_blob"] else
            f"verified as the project's reconstruction (sha256 {sha[:12]}), not the upstream file")
    return moved, f"{how}{target.stat().st_size:,} bytes, {what}"


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
            moved, detail = _pull_one(name, entry, dest, url, retries, timeout)
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
