"""The compute verbs: ``pool``, ``curate``, ``tokenize``, ``train``, ``eval`` and ``run``.

They take Hydra overrides (``scale=debug submission=baselines/random seed=1``) and are thin
wrappers around the stage functions of ``winnow.run``; ``-m/--multirun`` and ``--cfg job`` work as
in a Hydra app (``hydra_jobs``), and so do ``--help`` (with the config's groups and keys) and
``--info`` (winnow.confhelp). ``run --submit`` writes each run's row and rebuilds the boards the
rows went to (the repository's board with its HTML page, ``boards.is_repository_board``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from winnow.commands.board import board_notice
from winnow.config import load_run_config, sweep_jobs
from winnow.eval.catalog import format_catalog, format_results
from winnow.eval.runner import evaluate
from winnow.io import read_json, sha256_bytes
from winnow.leaderboard.boards import board_for, is_repository_board
from winnow.leaderboard.build import build
from winnow.leaderboard.submit import submit
from winnow.paths import winnow_home
from winnow.pool.ids import scale_pool_ids, write_ids
from winnow.run import STAGES, entry_seeds, is_main_process, launch_rank, prepare, run_stages
from winnow.stages import EVAL

log = logging.getLogger("winnow")


def scale_notice(verb: str, overrides: list[str], scale: str) -> None:
    """One line on stderr when the command line names no scale: which one runs and how to pick."""
    if not any(o.lstrip("+").startswith("scale=") for o in overrides):
        print(f"winnow {verb}: no scale= given, so this uses the default scale {scale!r} (conf/run.yaml); "
              "pick one with scale=NAME (`winnow ls scales` lists them; scale=debug runs in seconds)",
              file=sys.stderr)


def stage_handler(stages):
    """The handler of a compute verb: prepare the run, run ``stages`` (each skipped when done), report."""
    def handler(args) -> int:
        run = prepare(args.overrides)
        main_rank = is_main_process()  # under torchrun, only global rank 0 reports
        if main_rank:
            scale_notice(args.verb, args.overrides, run.scale["name"])
        if not run.rc.official and main_rank:
            log.warning("unofficial run (the leaderboard will refuse it): %s", "; ".join(run.rc.unofficial))
        done = run_stages(run, stages)
        if not main_rank:
            return 0
        if "eval" in done:
            print(format_results(read_json(run.folder(EVAL) / "results.json")))
        print(f"run folder: {run.dir}")
        for stage, m in done.items():
            print(f"  {stage:<9} {m.kind:<10} content id {m.short}")
        return 0
    return handler


def hydra_jobs(args) -> int:
    """``-m/--multirun`` and ``--cfg job`` of every compute verb, as in a Hydra app: the sweep's
    jobs (``winnow.config.sweep_jobs``) run one after the other in this process, each its own run
    folder, and the first failure stops the sweep; ``--cfg job`` prints each job's composed config
    (YAML, after the scale's suite and pool are filled in) and runs nothing."""
    import yaml

    jobs = sweep_jobs(args.overrides) if args.multirun else [list(args.overrides)]
    if args.cfg:
        for job in jobs:
            if len(jobs) > 1:
                print(f"# winnow {args.verb} {' '.join(job)}")
            print(yaml.safe_dump(load_run_config(job).cfg, sort_keys=False), end="")
        return 0
    for job in jobs:   # every job's settings checked (seeds, numbers, booleans) before the first one runs
        load_run_config(job)
    for i, job in enumerate(jobs, 1):
        print(f"winnow {args.verb} --multirun: job {i}/{len(jobs)}: {' '.join(job)}", file=sys.stderr)
        code = int(args.func(argparse.Namespace(**{**vars(args), "overrides": job, "multirun": False,
                                                   "cfg": None})) or 0)
        if code:
            print(f"winnow {args.verb} --multirun: job {i} failed (exit {code}); "
                  f"{len(jobs) - i} job(s) not run", file=sys.stderr)
            return code
    return 0


def add_hydra_flags(sp) -> None:
    """The flags a Hydra app has: -h/--help (with the config's groups and keys: winnow.confhelp),
    -m/--multirun, --cfg job and --info. ``sp`` is made with ``add_help=False``."""
    sp.add_argument("-h", "--help", dest="hydra_help", action="store_true",
                    help="this help, then the config groups and every key you may override (and which "
                         "make the run unofficial) for the overrides given")
    sp.add_argument("--info", nargs="?", const="all", choices=["all", "config", "defaults", "searchpath"],
                    help="where the composed config comes from: search path, defaults list, official "
                         "or not, WINNOW_HOME and data root (Hydra's --info)")
    sp.set_defaults(parser=sp)
    sp.add_argument("-m", "--multirun", action="store_true",
                    help="sweep: run every combination of comma-separated values (seed=0,1 submission=A,B), "
                         "one after the other")
    sp.add_argument("--cfg", choices=["job"], help="print the composed config and run nothing")


def cmd_pool(args) -> int:
    """`winnow pool [overrides]` builds the scale's pool; `winnow pool ids --scale S [--out FILE]`
    writes the ids of the documents a submission at that scale sees (to stdout without --out):
    keep the lines you want, in order, and the file is an id-list submission."""
    overrides = list(args.overrides) + ([f"scale={args.scale}"] if args.scale else [])
    if not overrides or overrides[0] != "ids":
        if args.out:
            print("winnow pool: error: --out goes with `winnow pool ids` (the ids of a scale's pool); "
                  "`winnow pool` builds the pool under $WINNOW_HOME/pools", file=sys.stderr)
            return 2
        args.overrides = overrides
        return stage_handler(("pool",))(args)
    overrides = overrides[1:]
    rc = load_run_config(overrides)
    scale = rc.cfg["scale"]
    scale_notice("pool ids", overrides, scale["name"])
    ids, where = scale_pool_ids(rc.cfg)
    if args.out:
        print(f"wrote {len(ids):,} ids ({where}) to {write_ids(ids, args.out)}", file=sys.stderr)
    else:
        sys.stdout.write("".join(f"{i}\n" for i in ids))
        print(f"{len(ids):,} ids ({where})", file=sys.stderr)
    return 0


def cmd_run(args) -> int:
    overrides = list(args.overrides)
    seeds: list[int | None] = [None]
    if args.entry:  # every seed the scale's official entry needs, one run after the other
        if given := [o for o in overrides if o.lstrip("+").startswith("seed=")]:
            print(f"winnow run: error: --entry runs the seeds the scale needs; drop {given[0]!r}", file=sys.stderr)
            return 2
        seeds = entry_seeds(overrides)
        print(f"entry: seeds {', '.join(map(str, seeds))} (the scale's leaderboard.seeds)")
    boards: set[Path] = set()   # the boards rows went to (a test scale's: $WINNOW_HOME/leaderboard)
    for i, seed in enumerate(seeds):
        run = prepare(overrides + ([f"seed={seed}"] if seed is not None else []))
        if i == 0 and is_main_process():
            scale_notice("run", overrides, run.scale["name"])
        run_stages(run, STAGES)
        if not is_main_process():  # under torchrun, global rank 0 evaluates, reports and submits
            continue
        print(f"run folder: {run.dir}")
        if args.submit:
            path = submit(run.dir)
            print(f"leaderboard row: {path}")
            board_notice(run.scale["name"])
            boards.add(board_for(run.scale["name"]))
    for board in sorted(boards):   # the repository's board: its HTML page too, as `leaderboard build --html`
        build(folder=board, html=is_repository_board(board))
    return 0


def cmd_eval(args) -> int:
    """`winnow eval`: the run's eval stage (Hydra overrides), any model folder (--model), or --list."""
    if args.list:
        if args.overrides:   # not used by the list, but never silently ignored when wrong
            load_run_config(args.overrides)
        print(format_catalog())
        return 0
    if not args.model:
        return stage_handler(("pool", "curate", "tokenize", "train", "eval"))(args)

    if not is_main_process():  # evaluation is one process: under torchrun, rank 0 does it alone
        log.info("winnow eval --model: rank %d of a torchrun launch; global rank 0 evaluates", launch_rank()[0])
        return 0
    rc = load_run_config(args.overrides)
    suite = rc.cfg["suite"]
    model = Path(args.model)
    out = Path(args.out) if args.out else (
        winnow_home() / "evals" / f"{model.resolve().name}__{sha256_bytes(str(model.resolve()).encode())[:8]}"
        / suite["name"])
    res = evaluate(model_dir=model, tokenizer_file=args.tokenizer, seq_len=args.seq_len, suite=suite,
                   out_dir=out, progress=rc.cfg["progress"])

    print(format_results(res))
    print(f"results: {out / 'results.json'}")
    return 0
