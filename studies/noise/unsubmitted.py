"""Lists the queue's finished leaderboard runs that have no committed row yet.

    .venv/bin/python studies/noise/unsubmitted.py [JOBS_FILE]   (default studies/noise/jobs.txt)

queue.sh marks a job done when its run finishes; landing it on the board is a separate
`winnow submit`, and a run finished just before a session ended is easy to forget. A job counts
as a leaderboard run when its overrides are only scale=, submission= and seed= (study arms with
other overrides are not rows). For each such job that is done, its run folder is read from its
log and looked up among the run_ids of the leaderboard's rows and the studies' exported rows
(studies/*/rows); each one missing prints the command that lands it. Runs left off on purpose
stay on the list: one the board refuses (one trained model per scale version: dclm_refinedweb
at tiny-1x v4, its README says why) and runs of a version superseded before they were submitted
(tiny-1x v3's c4, whose models tiny-1x v4 re-evaluated).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from winnow.leaderboard.rows import row_files

REPO = Path(__file__).resolve().parents[2]
QUEUE = Path(os.environ.get("QUEUE_HOME", Path.home() / ".cache/winnow/queue"))
ROW_KEYS = {"scale", "submission", "seed"}


def leaderboard_jobs(jobs_file: Path) -> list[tuple[str, str]]:
    """(hash, line) of every job line whose overrides are the leaderboard's three, in file order."""
    out = []
    for line in jobs_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        keys = {arg.split("=", 1)[0] for arg in line.split()[1:]}
        if keys == ROW_KEYS:
            out.append((hashlib.sha1(line.encode()).hexdigest()[:12], line))
    return out


def committed_run_ids(rows_dir: Path) -> set[str]:
    return {json.loads(path.read_text()).get("run_id", "") for path in row_files(rows_dir)}


def main(argv: list[str]) -> int:
    jobs_file = Path(argv[0]) if argv else REPO / "studies/noise/jobs.txt"
    have = committed_run_ids(REPO / "leaderboard/rows")
    for rows in (REPO / "studies").glob("*/rows"):
        have |= committed_run_ids(rows)
    missing = 0
    for h, line in leaderboard_jobs(jobs_file):
        done, log = QUEUE / "done" / h, QUEUE / "logs" / f"{h}.log"
        if not done.exists() or (QUEUE / "done" / f"{h}.failed").exists() or not log.exists():
            continue
        folders = re.findall(r"run folder: (\S+)", log.read_text(errors="replace"))
        if folders and Path(folders[-1]).name not in have:
            missing += 1
            print(f"{line}\n  winnow submit {folders[-1]}")
    print(f"{missing} finished leaderboard run(s) without a committed row", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
