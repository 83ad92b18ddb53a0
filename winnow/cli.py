"""`winnow <verb>`: the command line.

Compute verbs (``pool``, ``curate``, ``tokenize``, ``train``, ``eval``, ``run``) take Hydra overrides
(``scale=debug submission=baselines/random seed=1``) and are thin wrappers around the stage
functions of ``winnow.run``. Utility verbs (``ls``, ``validate``, ``inspect``, ``verify``, ``submit``,
``leaderboard build|check|export``, ``analyze agreement|signal``, ``tokenizer show|train``, ``data pull|pack|status``, ``import-dclm``) take ordinary flags. Verbs are a registry (a dict
of name -> handler), not an if/elif chain. Errors that users can fix print one clear message and
exit with status 2; anything else is a bug and shows its traceback. Output cut short by its
reader (``winnow ls steps | head``) ends quietly with status 141, as a Unix tool killed by SIGPIPE.

This module holds the parser and ``main``; the handlers live in ``winnow.commands``, grouped by
area. winnow's own modules are imported at the top (about half a second for all of them); only
modules that load torch (``winnow.train.convert``) are imported by the verb that needs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from winnow.commands.board import cmd_analyze, cmd_analyze_signal, cmd_leaderboard, cmd_submit
from winnow.commands.compute import add_hydra_flags, cmd_eval, cmd_pool, cmd_run, hydra_jobs, stage_handler
from winnow.commands.data import cmd_check_aggregates, cmd_convert, cmd_data, cmd_tokenizer
from winnow.commands.recipes import cmd_import_dclm, cmd_inspect, cmd_ls, cmd_validate, cmd_verify
from winnow.config import ConfigError
from winnow.confhelp import info_text, print_help
from winnow.curate.base import StepError
from winnow.curate.dclm_import import DclmImportError
from winnow.curate.inspect import InspectError
from winnow.curate.recipe import RecipeError
from winnow.docs import DocumentError
from winnow.eval.data import EvalDataError
from winnow.eval.model_io import ModelLoadError
from winnow.fetch import FetchError
from winnow.io import JSONFileError, disk_full, disk_full_message
from winnow.manifest import ManifestError
from winnow.leaderboard.rows import RowError
from winnow.paths import DataRootError
from winnow.registry import RegistryError
from winnow.run import StageError
from winnow.submission import SubmissionError
from winnow.tokenize import bpe
from winnow.tokenize.pack import NotEnoughData

log = logging.getLogger("winnow")


def _at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum`` (argparse's own one-line error otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value
    return parse


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is the whole story for the user (bad input, missing data, ...)."""
    return (ConfigError, DataRootError, DclmImportError, DocumentError, EvalDataError, FetchError,
            InspectError, ModelLoadError, RecipeError, RegistryError, StageError, SubmissionError,
            RowError, bpe.TokenizerMismatch, NotEnoughData, FileNotFoundError, JSONFileError, ManifestError)














































def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="winnow", description="Benchmark harness for training-data curation.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="verb", required=True)
    compute = {
        "pool": ("build the scale's fixed pool", ("pool",)),
        "curate": ("run the submission's recipe over the pool", ("pool", "curate")),
        "tokenize": ("tokenize, shuffle and pack the curated data", ("pool", "curate", "tokenize")),
        "train": ("train the scale's model on the packed data", ("pool", "curate", "tokenize", "train")),
    }
    for verb, (helptext, stages) in compute.items():
        sp = sub.add_parser(verb, help=helptext + " (earlier stages run or are skipped as needed)", add_help=False)
        sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=debug seed=1")
        add_hydra_flags(sp)
        sp.set_defaults(func=stage_handler(stages))
    pool_parser = sub.choices["pool"]
    pool_parser.usage = "winnow pool [overrides ...] | winnow pool ids [overrides ...] --scale S [--out FILE]"
    pool_parser.add_argument("--scale", help="the scale (same as scale=S)")
    pool_parser.add_argument("--out", help="with `ids`: write the ids here (atomically) instead of stdout")
    pool_parser.set_defaults(func=cmd_pool)
    sp = sub.add_parser("eval", help="evaluate the run's model on its suite (earlier stages run or are "
                        "skipped as needed), or any model folder with --model; --list shows the tasks",
                        add_help=False)
    sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. suite=cpu suite.limit=5")
    add_hydra_flags(sp)
    sp.add_argument("--list", action="store_true", help="the 53 DCLM tasks and the status of their data")
    sp.add_argument("--model", help="a HF causal-LM folder or a winnow checkpoint (instead of a run)")
    sp.add_argument("--tokenizer", help="tokenizer.json or HF folder (default: found from the model)")
    sp.add_argument("--seq-len", type=_at_least(2), help="context length (default: from the run or the model config)")
    sp.add_argument("--out", help="results folder (default: $WINNOW_HOME/evals/<model>/<suite>)")
    sp.set_defaults(func=cmd_eval)
    sp = sub.add_parser("run", help="all stages: pool, curate, tokenize, train, eval", add_help=False)
    sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=debug submission=baselines/random seed=1")
    add_hydra_flags(sp)
    sp.add_argument("--submit", action="store_true", help="then write the leaderboard row and tables")
    sp.add_argument("--entry", action="store_true",
                    help="run (and with --submit, submit) every seed an official entry of the scale needs")
    sp.set_defaults(func=cmd_run)
    sp = sub.add_parser("ls", help="list scales, suites, pools, engines, steps or runs")
    sp.add_argument("what", choices=["scales", "suites", "pools", "engines", "steps", "runs"])
    sp.add_argument("name", nargs="?", help="with `steps`: one step's parameters, defaults and "
                    "meanings")
    sp.add_argument("--markdown", action="store_true",
                    help="with `steps`: the built-in steps' reference as Markdown (docs/steps.md)")
    sp.set_defaults(func=cmd_ls)
    sp = sub.add_parser("validate", help="check recipes without running anything")
    sp.add_argument("recipes", nargs="+", help="recipe.yaml files, submission folders or id files "
                    "(and scale=S, as --scale)")
    sp.add_argument("--allow-code", action="store_true", help="import the recipes' plugins")
    sp.add_argument("--scale", help="check an id list's ids (an id file, a recipe's `ids:`) against "
                    "this scale's pool (built if needed); without it ids are not checked")
    sp.set_defaults(func=cmd_validate)
    sp = sub.add_parser("verify", help="recompute every hash of a run folder's manifests")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_verify)
    sp = sub.add_parser("inspect", help="kept and dropped documents of a run's curation, with reasons")
    sp.add_argument("run")
    sp.add_argument("--step", help="a step name, or its 1-based number in the recipe")
    sp.add_argument("--reason", help="only dropped documents with this drop reason")
    sp.add_argument("--limit", type=_at_least(0), default=5, help="documents shown per group (default 5)")
    sp.set_defaults(func=cmd_inspect)
    sp = sub.add_parser("import-dclm", help="turn a DCLM baselines_configs YAML into a winnow recipe")
    sp.add_argument("config", help="a DCLM baselines/baselines_configs/*.yaml file")
    sp.add_argument("-o", "--output", help="write the recipe here (default: stdout)")
    sp.add_argument("--name", help="recipe name (default: the config's file name)")
    sp.add_argument("--source", help="which `source:` entry to import when the config has several")
    sp.set_defaults(func=cmd_import_dclm)
    sp = sub.add_parser("submit", help="write the leaderboard row of a finished run")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_submit)
    sp = sub.add_parser("leaderboard", help="build the tables (and --html page), check every row, or export "
                        "the rows as one CSV/parquet table")
    sp.add_argument("action", choices=["build", "check", "export"])
    sp.add_argument("--out", metavar="FILE", help="export: FILE.csv or FILE.parquet, written atomically "
                    "(default: CSV on stdout)")
    sp.add_argument("--rows", nargs="+", metavar="DIR_OR_GLOB",
                    help="export: these row-shaped JSON files (folders, files or globs) instead of the board's")
    sp.add_argument("--html", action="store_true", help="build: also write leaderboard/index.html")
    sp.add_argument("--runs", action="append", metavar="DIR",
                    help="check: another folder holding run folders (besides $WINNOW_HOME/runs)")
    sp.add_argument("--write-bundles", action="store_true",
                    help="check: store the evidence bundle of rows lacking one whose run folder is here")
    sp.set_defaults(func=cmd_leaderboard)
    sp = sub.add_parser("analyze", help="analyses over the leaderboard rows (agreement between scales, "
                        "signal of each metric)")
    analyze_sub = sp.add_subparsers(dest="what", required=True)
    ap = analyze_sub.add_parser("agreement", help="decision accuracy of a small scale against a larger one: "
                                "bootstrap interval over seeds, Kendall tau, flipped pairs, per metric and task")
    ap.add_argument("--scales", required=True, metavar="SMALL,LARGE", help="two scales, the small one first, "
                    "e.g. tiny-1x,1m-1x")
    ap.add_argument("--versions", metavar="VA,VB", help="their scale versions (default: each one's newest with rows)")
    ap.add_argument("--metric", action="append", metavar="M",
                    help="metrics at the small scale (default: its primary and the alternatives); repeatable, "
                    "patterns as in `analyze signal`")
    ap.add_argument("--target", metavar="M", help="the large scale's metric to predict (default: its primary)")
    ap.add_argument("--track", help="only entries of this track (default: every track)")
    ap.add_argument("--per-task", nargs="?", const="bpb", metavar="MEASURE",
                    help="also each task's own measure (default bpb) at the small scale against the target")
    ap.add_argument("--rows", nargs="+", metavar="DIR_OR_GLOB",
                    help="row-shaped JSON files (folders, files or globs) instead of the leaderboard")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.set_defaults(func=cmd_analyze)
    ap = analyze_sub.add_parser("signal", help="per metric and task: spread, seed sd, SNR, seed-to-seed Kendall "
                                "tau and pairs separated beyond noise, from rows alone")
    ap.add_argument("--scale", help="a scale with leaderboard rows, e.g. tiny-1x (with --rows: keep only its rows)")
    ap.add_argument("--version", type=int, help="scale version (default: the newest with rows; with --rows: "
                    "every version, each its own table)")
    ap.add_argument("--rows", nargs="+", metavar="DIR_OR_GLOB",
                    help="analyse these row-shaped JSON files (folders, files or globs) instead of the leaderboard")
    ap.add_argument("--metric", action="append", metavar="M",
                    help="only metrics matching M (a name such as core_prob_v1, heldout.bits_per_byte, "
                    "'task.*.bpb'); repeatable")
    ap.add_argument("--group-by", metavar="FIELD",
                    help="one table per value of this row field (default: study_config with --rows, none "
                    "for leaderboard rows; 'none' turns it off)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--csv", metavar="FILE", help="also write the analysed rows' values as one table "
                    "(FILE.csv or FILE.parquet; columns: winnow/leaderboard/frame.py)")
    ap.set_defaults(func=cmd_analyze_signal)
    sp = sub.add_parser("tokenizer", help="show what a scale's tokenizer name resolves to, or reproduce "
                        "a committed tokenizer from the pool")
    sp.add_argument("action", choices=["show", "train"])
    sp.add_argument("name", help="e.g. gpt-neox-20b, bpe8k-v1")
    sp.set_defaults(func=cmd_tokenizer)
    sp = sub.add_parser("data", help="the data root: status of every file, pull (download and verify), or pack a release")
    data_sub = sp.add_subparsers(dest="action", required=True)
    dp = data_sub.add_parser("pull", help="download the data root's files, each verified: with --from URL (or "
                             "$WINNOW_DATA_RELEASE_URL) the whole data release, pool included; without, the "
                             "files that have a pinned upstream (evaluation data, tokenizer, banlists, DCLM table)")
    dp.add_argument("--dest", help="data root to write into (default: $WINNOW_DATA, else ~/.cache/winnow/data)")
    dp.add_argument("--from", dest="release", metavar="URL",
                    help="a data release made by `winnow data pack` (http(s), file://, s3://... or a folder); "
                         "default: $WINNOW_DATA_RELEASE_URL")
    dp.add_argument("--release-sha256", metavar="HEX",
                    help="the sha256 of that release's release.json, for a release other than the project's "
                         "(conf/data_release.json pins the project's)")
    dp.add_argument("--if-missing", action="store_true",
                    help="do nothing when winnow already finds a data root (make quickstart uses this)")
    dp.add_argument("--only", nargs="+", metavar="FILE", help="paths under <data>/eval/ (default: every file)")
    dp.add_argument("--base-url", help="fetch <base-url>/<file> instead (a mirror laid out like <data>/eval/)")
    dp.add_argument("--mirror", help="a copy of a whole data root (URL or folder): eval files from <mirror>/eval/, "
                                     "the others from <mirror>/<path>")
    dp.add_argument("--force", action="store_true", help="download again even verified, reconstructed or modified files")
    dp.set_defaults(func=cmd_data)
    dp = data_sub.add_parser("pack", help="write a data release of a data root (its files and release.json with "
                             "their sha256 and sizes) into a new folder, to serve for `winnow data pull --from`")
    dp.add_argument("out", help="the release folder to create")
    dp.add_argument("--root", help="the data root to pack (default: the one winnow uses)")
    dp.add_argument("--version", help="the release's version label (default: conf/data_release.json's)")
    dp.set_defaults(func=cmd_data)
    dp = data_sub.add_parser("status", help="which evaluation data files are present, reconstructed, modified or missing")
    dp.add_argument("--root", help="data root to check (default: the one winnow uses)")
    dp.set_defaults(func=cmd_data)
    sp = sub.add_parser("check-aggregates", help="recompute DCLM's published Core/Extended from its per-task values")
    sp.add_argument("--csv", help="DCLM's model database (default: <data root>/reference/dclm_model_database.csv)")
    sp.set_defaults(func=cmd_check_aggregates)
    sp = sub.add_parser("convert", help="convert open_lm (DCLM) checkpoints to winnow model folders and back")
    sp.add_argument("direction", choices=["from-open-lm", "to-open-lm"])
    sp.add_argument("source", help="from-open-lm: open_lm checkpoint .pt; to-open-lm: winnow HF model folder")
    sp.add_argument("--out", required=True, help="from-open-lm: model folder to write; to-open-lm: .pt to write")
    sp.add_argument("--params", help="from-open-lm: open_lm model JSON (e.g. open_lm_1b_swiglutorch.json)")
    for key in ("n_heads", "seq_len", "hidden_dim", "n_layers", "vocab_size"):
        sp.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, help=f"from-open-lm: {key} (overrides --params)")
    sp.add_argument("--tokenizer", help="from-open-lm: tokenizer.json to copy into the folder")
    sp.add_argument("--params-out", help="to-open-lm: where to write the model JSON (default: OUT with .json)")
    sp.add_argument("--allow-nonstandard", action="store_true",
                    help="to-open-lm: write shapes open_lm cannot rebuild (FFN width not a multiple of 256, other eps)")
    sp.set_defaults(func=cmd_convert)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # A positional list is filled once by argparse, so overrides after an option (`winnow pool ids
    # --scale debug progress=false`) come back unparsed: they join the verb's overrides.
    if extra and isinstance(getattr(args, "overrides", None), list) and all(
            "=" in a and not a.startswith("-") for a in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("lm_eval", "lm-eval", "datasets", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if getattr(args, "hydra_help", False):   # compute verbs: argparse's help, then the config's keys
            code = print_help(args.parser, args.overrides, args.verb)
        elif getattr(args, "info", None):
            print(info_text(args.overrides, args.info, args.verb))
            code = 0
        elif getattr(args, "multirun", False) or getattr(args, "cfg", None):
            code = hydra_jobs(args)
        else:
            code = int(args.func(args) or 0)
        sys.stdout.flush()   # a reader that stopped early fails here, not at exit
        return code
    except BrokenPipeError:  # `winnow ls steps | head`: the reader left; end quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # Python's exit flush
        return 141
    except _user_errors() as e:
        print(f"winnow {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except StepError as e:  # a step failed on the data; its message names the step and the cause
        if disk_full(e) and not args.verbose:
            print(f"winnow {args.verb}: error: {disk_full_message(e)}", file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(f"winnow {args.verb}: error: {e} (`winnow -v {args.verb} ...` shows the traceback)",
              file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:   # a full disk, told once, wherever in a stage it happened
        if not disk_full(e) or args.verbose:
            raise
        print(f"winnow {args.verb}: error: {disk_full_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
