"""Resumable partial state for GlobalSteps that take long enough to be worth resuming.

A resumable step (``resumable = True`` on the class) keeps its partial work under
``<out_dir>/_partial/`` and its finished output shards in ``out_dir`` as usual. The pipeline does
not wipe the folder of such a step when it retries it (the segment folder's key already
guarantees the same inputs, parameters and seed); the step checks that itself as well, with a
fingerprint of its class, version, parameters, seed and input shards (path, size, mtime), so
that calling ``run()`` directly on changed inputs starts over instead of mixing old and new work.

Every file is written atomically (temporary name, then rename); a unit of work is done when its
``.done`` marker exists, and the marker is always written after the files it vouches for, so a
process killed at any instant (``kill -9``) leaves either a finished unit or one that is redone.

A marker also records the time spent on its unit (CPU and wall-clock seconds since the previous
marker of this attempt, and an attempt id): ``ledger`` reads them before a resumed run and
``carried`` sums those of earlier attempts still standing after it, so a step resumed after a
crash reports what all of its finished units cost (the curation cost a leaderboard row shows),
not only what the last attempt did. Work on a unit that was never marked is redone and counted
once, by the attempt that finishes it. Worker processes' CPU time counts when they are joined
(``cpu_clock``), so a step killed while its worker pool runs loses that pool's share.

NumPy is imported inside ``save_array`` / ``load_array`` only: the pipeline reads the ledger
through this module, and ``import winnow.curate`` (hence ``winnow ls steps``) stays free of it.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

from winnow.curate.base import Counters, ParamError, StepError, cpu_clock
from winnow.io import atomic_path, read_json, write_json


def input_fingerprint(shards: list[Path]) -> list:
    """What identifies the input shards: resolved path, size and mtime of each, in order."""
    out = []
    for p in shards:
        st = Path(p).stat()
        out.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return out


def open_partial(step: str, version: int, settings: dict, input_shards: list, out_dir: Path,
                 **extra) -> tuple[list[Path], Path, "PartialDir"]:
    """The common start of a resumable GlobalStep's ``run``: input shards as paths (their file
    names must be distinct, outputs keep them), the output folder (created) and its partial
    state keyed by step, version, parameters, ``extra`` (e.g. the seed) and the inputs."""
    shards = [Path(p) for p in input_shards]
    names = [p.name for p in shards]
    if len(set(names)) != len(names):
        raise StepError(f"{step}: input shards must have distinct file names (the outputs keep them)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    part = PartialDir(out_dir, {"step": step, "version": version, **settings, **extra,
                                "inputs": input_fingerprint(shards)})
    return shards, out_dir, part


class PartialDir:
    """``<out_dir>/_partial``: a step's resumable state, valid for one fingerprint only."""

    NAME = "_partial"

    def __init__(self, out_dir: Path, fingerprint: dict):
        self.root = Path(out_dir) / self.NAME
        fp_file = self.root / "fingerprint.json"
        self.resumed = False
        if fp_file.exists():
            try:
                self.resumed = read_json(fp_file) == fingerprint
            except (OSError, ValueError):
                self.resumed = False
        if not self.resumed:
            if self.root.exists():
                shutil.rmtree(self.root)
            self.root.mkdir(parents=True)
            write_json(fp_file, fingerprint)
        self.attempt = uuid.uuid4().hex
        self._clock = _clocks()

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def done(self, *parts: str) -> bool:
        return self.root.joinpath(*parts[:-1], parts[-1] + ".done").exists()

    def mark(self, *parts: str) -> None:
        """The unit is done; its marker records the time spent on it since the previous mark."""
        now = _clocks()
        spent = {"attempt": self.attempt, "cpu_seconds": now[0] - self._clock[0], "seconds": now[1] - self._clock[1]}
        self._clock = now
        write_json(self.path(*parts[:-1], parts[-1] + ".done"), spent, indent=None)

    def unmark(self, *parts: str) -> None:
        self.root.joinpath(*parts[:-1], parts[-1] + ".done").unlink(missing_ok=True)

    def remove(self, *parts: str) -> None:
        p = self.root.joinpath(*parts)
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _clocks() -> tuple[float, float]:
    return cpu_clock(), time.perf_counter()


def _read_marker(path: Path) -> dict | None:
    """A marker's record; None for one written before markers recorded time (an empty file)."""
    try:
        d = json.loads(path.read_bytes() or b"null")
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and "attempt" in d else None


def ledger(out_dir: Path) -> dict[Path, dict | None]:
    """{marker path: its record} of every unit done under ``out_dir/_partial`` (empty when none)."""
    root = Path(out_dir) / PartialDir.NAME
    return {p: _read_marker(p) for p in sorted(root.rglob("*.done"))} if root.is_dir() else {}


def carried(before: dict[Path, dict | None]) -> tuple[float | None, float]:
    """(CPU seconds or None when unknown, wall seconds) that earlier attempts spent on units still
    done now: ``before`` is the ``ledger`` taken before this attempt; a marker this attempt
    removed, or rewrote (a redone unit, or a fingerprint change that wiped the folder), is not
    carried."""
    cpu: float | None = 0.0
    wall = 0.0
    for path, rec in before.items():
        if not path.exists() or _read_marker(path) != rec:
            continue
        if rec is None:             # done by a winnow whose markers recorded no time
            cpu = None
            continue
        wall += float(rec.get("seconds", 0.0))
        if cpu is not None:
            cpu += float(rec.get("cpu_seconds", 0.0))
    return cpu, wall


def merge_shard_stats(part: "PartialDir", names: list[str], keys=(), *, dropped: bool = True):
    """(Counters, {key: sum}) over the per-shard ``out/<name>.json`` a resumable step wrote:
    documents in and out, drop reasons (when ``dropped``) and the numbers under ``keys``."""
    c = Counters()
    sums = {k: 0 for k in keys}
    for name in names:
        d = load_json(part.root / "out" / f"{name}.json")
        c.docs_in += d["in"]
        c.docs_out += d["out"]
        if dropped:
            for reason, n in d["dropped"].items():
                c.drop(reason, n)
        for k in sums:
            sums[k] += d[k]
    return c, sums


def save_array(path: Path, array: "np.ndarray") -> None:
    """``np.save`` through a temporary name (never a half-written array under ``path``)."""
    import numpy as np  # here, not at module level: see the module docstring

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def load_array(path: Path, mmap: bool = False) -> "np.ndarray":
    import numpy as np  # here, not at module level: see the module docstring

    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_json(path: Path, obj) -> None:
    write_json(path, obj, indent=None)


def load_json(path: Path):
    return read_json(path)


def human_bytes(n: float) -> str:
    """``1.5 GiB`` style (binary units, as memory is counted)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}


def parse_bytes(value: int | float | str, param: str) -> int:
    """``4GiB``, ``512 MB``, ``2g`` or a plain number of bytes -> bytes; ValueError names param."""
    if isinstance(value, bool):
        raise ParamError(param, f"must be a number of bytes or a size such as '4GiB', "
                                f"got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ParamError(param, f"must be > 0, got {value}")
        return int(value)
    s = str(value).strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):]
    try:
        n = float(num)
    except ValueError:
        n = -1.0
    if unit not in _UNITS or n <= 0:
        raise ParamError(param, f"must be a number of bytes or a size such as '4GiB' or '512MB', "
                                f"got {value!r}")
    return int(n * _UNITS[unit])


def physical_memory() -> int | None:
    """Total physical memory in bytes, or None where the OS does not say."""
    try:
        import os

        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
