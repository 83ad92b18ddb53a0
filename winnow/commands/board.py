"""The leaderboard verbs: ``submit``, ``leaderboard build|check`` and ``analyze agreement|signal``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from winnow.leaderboard import agreement, frame, rowsets, signal
from winnow.leaderboard.boards import board_for, home_board, is_repository_board
from winnow.leaderboard.build import build
from winnow.leaderboard.readmes import stale_readmes
from winnow.leaderboard.rows import load_rows, rows_root
from winnow.leaderboard.submit import submit, write_missing_bundles
from winnow.leaderboard.tables import Board
from winnow.leaderboard.verify import check_rows, sealed_problems
from winnow.paths import leaderboard_dir


def board_notice(scale: str) -> None:
    """Where a test scale's rows went, and how to see its board."""
    board = board_for(scale)
    if board == home_board() and board != leaderboard_dir():
        print(f"{scale} is a test scale (leaderboard: {{board: false}}): its rows go to {board}, not "
              f"the repository's leaderboard; `WINNOW_LEADERBOARD={board} winnow leaderboard build` "
              "renders them")


def cmd_submit(args) -> int:
    """Check a finished run (official scale and suite, hashes, token budget, filtering-track
    descent) and write its row and evidence bundle; refusals name every reason."""
    path = submit(Path(args.run))
    print(f"leaderboard row: {path}")
    board_notice(path.parents[1].name)   # rows/<scale>/<track>/<row>
    return 0


def cmd_leaderboard(args) -> int:
    if args.action == "export":   # the rows as one table, CSV or parquet (winnow.leaderboard.frame)
        try:
            path, df = frame.export(args.out, args.rows, stream=sys.stdout)
        except frame.FrameError as e:
            print(f"winnow leaderboard export: error: {e}", file=sys.stderr)
            return 2
        print(f"{'wrote ' + str(path) if path else 'exported'}: {len(df)} rows, {df.shape[1]} columns "
              "(columns: winnow/leaderboard/frame.py)", file=sys.stderr)
        return 0
    if args.rows:   # never silently ignored: check and build read the board's own rows/
        print(f"winnow leaderboard {args.action}: error: --rows is for `leaderboard export`; {args.action} reads the "
              "board's rows/ (WINNOW_LEADERBOARD=<folder> names another board)", file=sys.stderr)
        return 2
    if args.action == "build":
        if problems := sealed_problems():   # an edited, moved, copied or doubled row is never published
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            print(f"winnow leaderboard build: error: {len(problems)} problem(s) in the rows above; nothing was "
                  "written (`winnow leaderboard check` gives the full report; rows are written by `winnow submit`)",
                  file=sys.stderr)
            return 1
        for p in build(html=args.html):
            print(f"wrote {p}")
        return 0

    runs = [Path(r) for r in args.runs or []]
    if args.write_bundles:
        for line in write_missing_bundles(runs_dirs=runs):
            print(line)
    problems, n = check_rows(runs_dirs=runs)

    if is_repository_board(leaderboard_dir()):   # the repository's board: its READMEs too
        problems += stale_readmes(Board.of(load_rows()))
    for p in problems:
        print(f"  - {p}")
    print(f"{n} rows checked, {len(problems)} problems")
    return 1 if problems else 0


def cmd_analyze_signal(args) -> int:
    """`winnow analyze signal --scale S`: per metric and task, the spread of the entries' means, the
    pooled seed sd, SNR, seed-to-seed Kendall tau and the pairs separated beyond noise
    (``winnow.leaderboard.signal``), from the leaderboard rows or from ``--rows`` files."""
    group_by = args.group_by if args.group_by is not None else ("study_config" if args.rows else None)
    try:
        reports = signal.run(args.scale, args.version, args.rows, args.metric, None if group_by == "none" else group_by)
    except rowsets.SignalError as e:
        print(f"winnow analyze signal: error: {e}", file=sys.stderr)
        return 2
    if args.csv:   # the analysed rows' values, one table (winnow.leaderboard.frame)
        try:
            out = frame.write_frame(frame.rows_frame([r for rep in reports for r in rep.group.rows]), args.csv)
        except frame.FrameError as e:
            print(f"winnow analyze signal: error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {out}: the analysed rows' values, one row per row", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=1, default=str))
        return 0
    where = f"--scale {args.scale}" if args.scale else ""
    print("\n\n".join(signal.format_report(r) for r in reports))
    print(f"\n(winnow analyze signal {where}{' --rows ...' if args.rows else ''}; definitions: "
          "winnow/leaderboard/signal.py)")
    return 0


def cmd_analyze(args) -> int:
    """`winnow analyze agreement --scales A,B`: how often the small scale A orders pairs of entries
    as the larger scale B does (DataDecide's decision accuracy, with a bootstrap interval over
    seeds, Kendall tau and the flipped pairs marked within or beyond noise), per metric and with
    --per-task per task (``winnow.leaderboard.agreement``), from rows alone."""
    def pair(text: str, what: str, cast=str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise rowsets.SignalError(f"--{what} takes two values, comma-separated, the small scale's first "
                              f"(e.g. --scales tiny-1x,1m-1x), got {text!r}")
        try:
            return [cast(p) for p in parts]
        except ValueError:
            raise rowsets.SignalError(f"--{what} takes two whole numbers, e.g. --versions 3,3; got {text!r}") from None

    try:
        small, large = pair(args.scales, "scales")
        versions = tuple(pair(args.versions, "versions", int)) if args.versions else (None, None)
        if args.rows:
            rows, where = rowsets.read_rows(args.rows), "--rows " + " ".join(args.rows)
        else:
            rows, where = load_rows(), str(rows_root())
        rep = agreement.analyze(rows, small, large, versions, args.metric, args.target, args.track,
                      args.per_task, where)
    except rowsets.SignalError as e:
        print(f"winnow analyze agreement: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep.to_json(), indent=1, default=str))
        return 0
    print(agreement.format_report(rep))
    print("\n(definitions: winnow/leaderboard/agreement.py)")
    return 0
