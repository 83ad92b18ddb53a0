"""`winnow <verb>`: the command line.

Compute verbs (``pool``, ``curate``, ``tokenize``, ``train``, ``eval``, ``run``) take Hydra overrides
(``scale=debug submission=baselines/random seed=1``) and are thin wrappers around the stage
functions of ``winnow.run``. Utility verbs (``ls``, ``validate``, ``inspect``, ``verify``, ``submit``,
``leaderboard build|check``, ``tokenizer train``) take ordinary flags. Verbs are a registry (a dict
of name -> handler), not an if/elif chain. Errors that users can fix print one clear message and
exit with status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("winnow")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is the whole story for the user (bad input, missing data, ...)."""
    from winnow.config import ConfigError
    from winnow.curate.recipe import RecipeError
    from winnow.docs import DocumentError
    from winnow.paths import DataRootError
    from winnow.registry import RegistryError
    from winnow.run import StageError
    from winnow.submission import SubmissionError
    from winnow.leaderboard.rows import RowError
    from winnow.tokenize.bpe import TokenizerMismatch
    from winnow.tokenize.pack import NotEnoughData

    return (ConfigError, DataRootError, DocumentError, RecipeError, RegistryError, StageError,
            SubmissionError, RowError, TokenizerMismatch, NotEnoughData)


# ------------------------------------------------------------------------------- compute verbs
def _compute(stages):
    def handler(args) -> int:
        from winnow.run import prepare, run_stages

        run = prepare(args.overrides)
        if not run.rc.official:
            log.warning("unofficial run (the leaderboard will refuse it): %s", "; ".join(run.rc.unofficial))
        done = run_stages(run, stages)
        print(f"run folder: {run.dir}")
        for stage, m in done.items():
            print(f"  {stage:<9} {m.kind:<10} content id {m.short}")
        return 0
    return handler


def cmd_run(args) -> int:
    from winnow.leaderboard.rows import submit
    from winnow.run import STAGES, prepare, run_stages

    run = prepare(args.overrides)
    run_stages(run, STAGES)
    print(f"run folder: {run.dir}")
    if args.submit:
        path = submit(run.dir)
        print(f"leaderboard row: {path}")
        from winnow.leaderboard.render import build

        build()
    return 0


# ------------------------------------------------------------------------------- utility verbs
def cmd_ls(args) -> int:
    from winnow.paths import conf_dir, winnow_home

    what = args.what
    if what in ("scales", "suites", "pools", "engines"):
        group = {"scales": "scale", "suites": "suite", "pools": "pool", "engines": "engine"}[what]
        from winnow.config import group_file

        for p in sorted((conf_dir() / group).glob("*.yaml")):
            cfg = group_file(group, p.stem)
            if what == "scales":
                from winnow.train.loop import derive

                d = derive(cfg["model"], cfg["train"])
                print(f"{cfg['name']:<12} v{cfg['version']}  tokenizer {cfg['tokenizer']['name']:<9} "
                      f"non-embedding params {d['params']['non_embedding']:>10,}  "
                      f"tokens {d['tokens']:>12,}  steps {d['steps']:>7,}  FLOPs {d['total_flops']:.3g}")
            elif cfg.get("name") != "auto":
                print(f"{p.stem:<12} v{cfg.get('version', '-')}")
    elif what == "steps":
        from winnow.curate.base import STEPS

        for name in STEPS.names():
            print(name)
    elif what == "runs":
        for d in sorted((winnow_home() / "runs").glob("*")):
            print(d.name)
    return 0


def cmd_validate(args) -> int:
    from winnow.curate.recipe import validate_recipe
    from winnow.submission import resolve_folder

    bad = 0
    for ref in args.recipes:
        p = Path(ref)
        path = p if p.is_file() else resolve_folder(ref) / "recipe.yaml"
        problems = validate_recipe(path, allow_code=args.allow_code)
        if problems:
            bad += 1
            print(f"{path}: INVALID")
            for pr in problems:
                print(f"  - {pr}")
        else:
            print(f"{path}: ok")
    return 2 if bad else 0


def cmd_verify(args) -> int:
    from winnow.leaderboard.verify import verify_run

    problems = verify_run(Path(args.run))
    if problems:
        print(f"{args.run}: FAILED")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"{args.run}: ok (every file matches its manifest)")
    return 0


def cmd_inspect(args) -> int:
    from winnow.curate.inspect import inspect_run

    print(inspect_run(Path(args.run), step=args.step, reason=args.reason, limit=args.limit))
    return 0


def cmd_submit(args) -> int:
    from winnow.leaderboard.rows import submit

    path = submit(Path(args.run))
    print(f"leaderboard row: {path}")
    return 0


def cmd_leaderboard(args) -> int:
    if args.action == "build":
        from winnow.leaderboard.render import build

        for p in build():
            print(f"wrote {p}")
        return 0
    from winnow.leaderboard.verify import check_rows

    problems, n = check_rows()
    for p in problems:
        print(f"  - {p}")
    print(f"{n} rows checked, {len(problems)} problems")
    return 1 if problems else 0


def cmd_tokenizer(args) -> int:
    from winnow.config import group_file
    from winnow.pool.build import build_pool, pool_shards
    from winnow.tokenize.bpe import RECIPES, train

    name = args.name
    pool_name, _, version = RECIPES[name]["pool"].partition("@v")
    cfg = group_file("pool", pool_name)
    if int(version) != cfg["version"]:
        raise SystemExit(f"tokenizer {name} was trained on {pool_name}@v{version}; conf has v{cfg['version']}")
    build_pool(cfg)
    s = train(name, pool_shards(cfg))
    print(f"{s.path}: sha256 {s.sha256}, {s.bytes_per_token} bytes/token")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="winnow", description="Benchmark harness for training-data curation.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="verb", required=True)
    compute = {
        "pool": ("build the scale's fixed pool", ("pool",)),
        "curate": ("run the submission's recipe over the pool", ("pool", "curate")),
        "tokenize": ("tokenize, shuffle and pack the curated data", ("pool", "curate", "tokenize")),
        "train": ("train the scale's model on the packed data", ("pool", "curate", "tokenize", "train")),
        "eval": ("evaluate the trained model on the suite", ("pool", "curate", "tokenize", "train", "eval")),
    }
    for verb, (helptext, stages) in compute.items():
        sp = sub.add_parser(verb, help=helptext + " (earlier stages run or are skipped as needed)")
        sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=debug seed=1")
        sp.set_defaults(func=_compute(stages))
    sp = sub.add_parser("run", help="all stages: pool, curate, tokenize, train, eval")
    sp.add_argument("overrides", nargs="*")
    sp.add_argument("--submit", action="store_true", help="then write the leaderboard row and tables")
    sp.set_defaults(func=cmd_run)
    sp = sub.add_parser("ls", help="list scales, suites, pools, engines, steps or runs")
    sp.add_argument("what", choices=["scales", "suites", "pools", "engines", "steps", "runs"])
    sp.set_defaults(func=cmd_ls)
    sp = sub.add_parser("validate", help="check recipes without running anything")
    sp.add_argument("recipes", nargs="+", help="recipe.yaml files or submission folders")
    sp.add_argument("--allow-code", action="store_true", help="import the recipes' plugins")
    sp.set_defaults(func=cmd_validate)
    sp = sub.add_parser("verify", help="recompute every hash of a run folder's manifests")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_verify)
    sp = sub.add_parser("inspect", help="kept and dropped documents of a run's curation, with reasons")
    sp.add_argument("run")
    sp.add_argument("--step")
    sp.add_argument("--reason")
    sp.add_argument("--limit", type=int, default=5)
    sp.set_defaults(func=cmd_inspect)
    sp = sub.add_parser("submit", help="write the leaderboard row of a finished run")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_submit)
    sp = sub.add_parser("leaderboard", help="build the tables or check every row")
    sp.add_argument("action", choices=["build", "check"])
    sp.set_defaults(func=cmd_leaderboard)
    sp = sub.add_parser("tokenizer", help="reproduce a committed tokenizer from the pool")
    sp.add_argument("action", choices=["train"])
    sp.add_argument("name")
    sp.set_defaults(func=cmd_tokenizer)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("lm_eval", "lm-eval", "datasets", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as e:
        print(f"winnow {args.verb}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
