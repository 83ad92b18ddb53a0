"""A heartbeat while a GlobalStep runs, so a long corpus-level step is never silent.

Document segments show a progress bar over shards; a GlobalStep (dedup, a classifier, sampling)
runs ``run()`` in one call that may take minutes or hours and says nothing until it returns. The
pipeline wraps that call in ``heartbeat(label, counters, progress)``: a daemon thread that wakes
every second and reports what the step has counted so far (``Counters.docs_in`` / ``docs_out`` /
drops, which steps that count as they go update live) and the time elapsed.

Choices:

* With progress shown (the engine's ``progress`` setting: true, or unset and stderr a terminal),
  a status line (a tqdm bar without a total) appears after the first second and is refreshed every
  second: ``step 3 (target_classifier): 0:42 elapsed, 12,345 documents read, 6,000 kept``. A step
  that ends within a second shows nothing extra.
* With progress off (``progress=false``, batch jobs and their log files), log lines instead, at
  ``LOG_AT`` seconds and then every ``LOG_EVERY`` seconds: a log file gets a line while a step
  runs without one line a second for hours.
* Reading the counters from another thread is safe: the step only adds to ints and a dict, and the
  heartbeat copies them without changing anything. It stops before ``heartbeat`` returns, so no
  line is printed after the step's own "done" line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import Any, Callable, Iterator

log = logging.getLogger("winnow.curate.pipeline")

TICK = 1.0              # seconds between status-line refreshes
LOG_AT = (10.0, 30.0)   # progress off: the first log lines, seconds after the start
LOG_EVERY = 60.0        # then one every this many seconds


def shows_progress(progress: bool | None) -> bool:
    """Whether a status line is drawn: ``progress`` true, or unset and stderr a terminal (tqdm's rule)."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def elapsed_text(seconds: float) -> str:
    """``0:42``, ``12:05``, ``1:02:03``."""
    s = int(seconds)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def so_far(counters: Any) -> str:
    """What the step has counted so far, or '' when it has counted nothing yet."""
    if counters is None or not getattr(counters, "docs_in", 0):
        return ""
    parts = [f"{counters.docs_in:,} documents read"]
    if counters.docs_out:
        parts.append(f"{counters.docs_out:,} kept")
    try:
        dropped = sum(dict(counters.dropped).values())
    except RuntimeError:   # the step added a reason while it was copied: next second's line has it
        dropped = 0
    if dropped:
        parts.append(f"{dropped:,} dropped")
    return ", ".join(parts)


def _schedule() -> Iterator[float]:
    """Seconds after the start at which a log line is due (progress off)."""
    yield from LOG_AT
    t = LOG_AT[-1] if LOG_AT else 0.0
    while True:
        t += LOG_EVERY
        yield t


@contextlib.contextmanager
def heartbeat(label: str, counters: Callable[[], Any], progress: bool | None) -> Iterator[None]:
    """Report ``label``'s progress while the ``with`` body runs (see the module docstring);
    ``counters()`` returns the running step's ``Counters`` (or None before it exists)."""
    stop = threading.Event()
    t0 = time.monotonic()
    live = shows_progress(progress)
    bar = None

    def line() -> str:
        counted = so_far(counters())
        return f"{elapsed_text(time.monotonic() - t0)} elapsed" + (f", {counted}" if counted else "")

    def beat() -> None:
        nonlocal bar
        due = _schedule()
        next_log = next(due)
        while not stop.wait(TICK):
            if live:
                if bar is None:
                    from tqdm import tqdm

                    bar = tqdm(total=None, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True, leave=False)
                bar.set_description_str(f"{label}: {line()}", refresh=True)
            elif time.monotonic() - t0 >= next_log:
                log.info("curate: %s still running, %s", label, line())
                while next_log <= time.monotonic() - t0:
                    next_log = next(due)

    thread = threading.Thread(target=beat, name=f"heartbeat {label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if bar is not None:
            bar.close()
