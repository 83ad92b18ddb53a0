"""`winnow <verb>`: the command line.

Compute verbs (``pool``, ``curate``, ``tokenize``, ``train``, ``eval``, ``run``) take Hydra overrides
(``scale=debug submission=baselines/random seed=1``) and are thin wrappers around the stage
functions of ``winnow.run``. Utility verbs (``ls``, ``validate``, ``inspect``, ``verify``, ``submit``,
``leaderboard build|check``, ``analyze agreement|signal``, ``tokenizer show|train``, ``data pull|status``, ``import-dclm``) take ordinary flags. Verbs are a registry (a dict
of name -> handler), not an if/elif chain. Errors that users can fix print one clear message and
exit with status 2; anything else is a bug and shows its traceback.

winnow's own modules are imported at the top (about half a second for all of them); only modules
that load torch (``winnow.train.convert``) are imported by the verb that needs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from winnow.config import ConfigError, group_file, load_run_config, sweep_jobs
from winnow.curate import stepdoc
from winnow.curate.base import StepError
from winnow.curate.dclm_import import DclmImportError, check_result, import_dclm
from winnow.curate.inspect import InspectError, inspect_run
from winnow.curate.recipe import RecipeError, validate_recipe
from winnow.docs import DocumentError
from winnow.eval.catalog import format_catalog, format_results
from winnow import rootdata
from winnow.eval.data import EvalDataError, data_status, default_dest, format_status, pull, resolve_root
from winnow.eval.dclm_database import check_dclm_database
from winnow.eval.model_io import ModelLoadError
from winnow.eval.runner import evaluate
from winnow.fetch import FetchError
from winnow.io import disk_full, disk_full_message, read_json, sha256_bytes
from winnow.leaderboard import agreement, rowsets, signal
from winnow.leaderboard.boards import board_for, home_board
from winnow.leaderboard.build import build
from winnow.leaderboard.readmes import stale_readmes
from winnow.leaderboard.rows import RowError, load_rows, rows_root
from winnow.leaderboard.submit import submit, write_missing_bundles
from winnow.leaderboard.tables import Board
from winnow.leaderboard.verify import check_rows, verify_run
from winnow.paths import REPO_ROOT, DataRootError, conf_dir, data_root, leaderboard_dir, winnow_home
from winnow.pool.build import build_pool, pool_shards
from winnow.pool.ids import pool_ids, write_ids
from winnow.registry import RegistryError
from winnow.run import STAGES, StageError, entry_seeds, is_main_process, launch_rank, prepare, run_stages
from winnow.stages import EVAL
from winnow.submission import SubmissionError, resolve_recipe
from winnow.tokenize import bpe
from winnow.tokenize.pack import NotEnoughData
from winnow.tokenize.registry import EXTERNAL
from winnow.train.scales import scale_table

log = logging.getLogger("winnow")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is the whole story for the user (bad input, missing data, ...)."""
    return (ConfigError, DataRootError, DclmImportError, DocumentError, EvalDataError, FetchError,
            InspectError, ModelLoadError, RecipeError, RegistryError, StageError, SubmissionError,
            RowError, bpe.TokenizerMismatch, NotEnoughData, FileNotFoundError)


# ------------------------------------------------------------------------------- compute verbs
def _scale_notice(verb: str, overrides: list[str], scale: str) -> None:
    """One line on stderr when the command line names no scale: which one runs and how to pick."""
    if not any(o.lstrip("+").startswith("scale=") for o in overrides):
        print(f"winnow {verb}: no scale= given, so this uses the default scale {scale!r} (conf/run.yaml); "
              "pick one with scale=NAME (`winnow ls scales` lists them; scale=debug runs in seconds)",
              file=sys.stderr)


def _compute(stages):
    def handler(args) -> int:
        run = prepare(args.overrides)
        main_rank = is_main_process()  # under torchrun, only global rank 0 reports
        if main_rank:
            _scale_notice(args.verb, args.overrides, run.scale["name"])
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


def _hydra_jobs(args) -> int:
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
    for i, job in enumerate(jobs, 1):
        print(f"winnow {args.verb} --multirun: job {i}/{len(jobs)}: {' '.join(job)}", file=sys.stderr)
        code = int(args.func(argparse.Namespace(**{**vars(args), "overrides": job, "multirun": False,
                                                   "cfg": None})) or 0)
        if code:
            print(f"winnow {args.verb} --multirun: job {i} failed (exit {code}); "
                  f"{len(jobs) - i} job(s) not run", file=sys.stderr)
            return code
    return 0


def _add_hydra_flags(sp) -> None:
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
        return _compute(("pool",))(args)
    overrides = overrides[1:]
    rc = load_run_config(overrides)
    scale = rc.cfg["scale"]
    _scale_notice("pool ids", overrides, scale["name"])
    build_pool(rc.cfg["pool"], progress=rc.cfg["progress"])
    shards = pool_shards(rc.cfg["pool"], scale["pool"].get("shards"))
    ids = pool_ids(shards)
    where = (f"scale {scale['name']}: pool {rc.cfg['pool']['name']}@v{rc.cfg['pool']['version']}, "
             f"{len(shards)} shards, held-out documents excluded")
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
            _scale_notice("run", overrides, run.scale["name"])
        run_stages(run, STAGES)
        if not is_main_process():  # under torchrun, global rank 0 evaluates, reports and submits
            continue
        print(f"run folder: {run.dir}")
        if args.submit:
            path = submit(run.dir)
            print(f"leaderboard row: {path}")
            _board_notice(run.scale["name"])
            boards.add(board_for(run.scale["name"]))
    for board in sorted(boards):
        build(folder=board)
    return 0


def _board_notice(scale: str) -> None:
    """Where a test scale's rows went, and how to see its board."""
    board = board_for(scale)
    if board == home_board() and board != leaderboard_dir():
        print(f"{scale} is a test scale (leaderboard: {{board: false}}): its rows go to {board}, not "
              f"the repository's leaderboard; `WINNOW_LEADERBOARD={board} winnow leaderboard build` "
              "renders them")


# ------------------------------------------------------------------------------- utility verbs
def cmd_ls(args) -> int:
    what = args.what
    if (args.name or args.markdown) and what != "steps":
        print(f"winnow ls: error: a NAME or --markdown goes with `ls steps` only, not `ls {what}`",
              file=sys.stderr)
        return 2
    if what == "scales":
        print(scale_table())
    elif what in ("suites", "pools", "engines"):
        group = {"suites": "suite", "pools": "pool", "engines": "engine"}[what]

        for p in sorted((conf_dir() / group).glob("*.yaml")):
            cfg = group_file(group, p.stem)
            if cfg.get("name") != "auto":
                print(f"{p.stem:<12} v{cfg.get('version', '-')}")
    elif what == "steps" and args.markdown:  # the page docs/steps.md is (a test compares them)
        sys.stdout.write(stepdoc.markdown())
    elif what == "steps":
        print(stepdoc.render(stepdoc.describe(args.name)) if args.name else stepdoc.step_table())
    elif what == "runs":
        for d in sorted((winnow_home() / "runs").glob("*")):
            print(d.name)
    return 0


def cmd_validate(args) -> int:
    bad = 0
    for ref in args.recipes:
        p = Path(ref)
        path = p if p.is_file() else resolve_recipe(ref)
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
    problems = verify_run(Path(args.run))
    if problems:
        print(f"{args.run}: FAILED")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"{args.run}: ok (every file matches its manifest)")
    return 0


def cmd_inspect(args) -> int:
    print(inspect_run(Path(args.run), step=args.step, reason=args.reason, limit=args.limit))
    return 0


def cmd_import_dclm(args) -> int:
    res = import_dclm(Path(args.config), name=args.name, source=args.source)
    text = res.to_yaml()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(res.steps)} winnow steps", file=sys.stderr)
    else:
        sys.stdout.write(text)
    err = sys.stderr
    if res.lacking:
        print(f"DCLM steps winnow lacks ({len(res.lacking)}), left out:", file=err)
        for x in res.lacking:
            print(f"  - {x.line()}", file=err)
    if res.not_needed:
        print(f"DCLM steps not needed in winnow ({len(res.not_needed)}):", file=err)
        for x in res.not_needed:
            print(f"  - {x.line()}", file=err)
    for n in res.notes:
        print(f"note: {n}", file=err)
    if not res.steps:
        print("winnow import-dclm: error: no DCLM step could be converted", file=err)
        return 1
    problems = check_result(res)
    if problems:
        print("warning: the imported recipe does not validate:", file=err)
        for pr in problems:
            print(f"  - {pr}", file=err)
    else:
        print("the imported recipe validates", file=err)
    return 0


def cmd_submit(args) -> int:
    """Check a finished run (official scale and suite, hashes, token budget, filtering-track
    descent) and write its row and evidence bundle; refusals name every reason."""
    path = submit(Path(args.run))
    print(f"leaderboard row: {path}")
    _board_notice(path.parents[1].name)   # rows/<scale>/<track>/<row>
    return 0


def cmd_leaderboard(args) -> int:
    if args.action == "build":
        for p in build(html=args.html):
            print(f"wrote {p}")
        return 0

    runs = [Path(r) for r in args.runs or []]
    if args.write_bundles:
        for line in write_missing_bundles(runs_dirs=runs):
            print(line)
    problems, n = check_rows(runs_dirs=runs)

    if leaderboard_dir() == REPO_ROOT / "leaderboard":   # the repository's board: its READMEs too
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


def cmd_tokenizer(args) -> int:
    """`winnow tokenizer train NAME` reproduces a committed BPE; `show NAME` prints what a scale's
    tokenizer name resolves to (file, sha256 check, sizes, special tokens)."""
    if args.action == "show":
        return _show_tokenizer(args.name)

    name = args.name
    if name not in bpe.RECIPES:
        why = ("is built from a file under the data root, not trained (`winnow tokenizer show "
               f"{name}`)") if name in EXTERNAL else f"has no training recipe (known: {', '.join(sorted(bpe.RECIPES))})"
        raise ConfigError(f"tokenizer {name!r} {why}")
    pool_name, _, version = bpe.RECIPES[name]["pool"].partition("@v")
    cfg = group_file("pool", pool_name)
    if int(version) != cfg["version"]:
        raise SystemExit(f"tokenizer {name} was trained on {pool_name}@v{version}; conf has v{cfg['version']}")
    build_pool(cfg)
    s = bpe.train(name, pool_shards(cfg))
    print(f"{s.path}: sha256 {s.sha256}, {s.bytes_per_token} bytes/token")
    return 0


def _show_tokenizer(name: str) -> int:
    from tokenizers import Tokenizer

    s = bpe.spec(name)
    path = bpe.tokenizer_file(name)
    tok = Tokenizer.from_file(str(path))
    info = s.describe() if hasattr(s, "describe") else {
        "name": name, "source": str(s.path), "sha256": s.sha256, "vocab_size": s.vocab_size,
        "trained on": s.pool, "bytes_per_token": s.bytes_per_token}
    info["tokenizer json"] = str(path)
    info["ids"] = tok.get_vocab_size(with_added_tokens=True)
    info["special"] = ", ".join(f"{t.content}={i}" for i, t in sorted(tok.get_added_tokens_decoder().items())
                                if t.special) or "-"
    width = max(map(len, info))
    for k, v in info.items():
        print(f"{k:<{width}}  {v}")
    print(f"{'sha256 check':<{width}}  ok")
    return 0


def cmd_eval(args) -> int:
    """`winnow eval`: the run's eval stage (Hydra overrides), any model folder (--model), or --list."""
    if args.list:
        print(format_catalog())
        return 0
    if not args.model:
        return _compute(("pool", "curate", "tokenize", "train", "eval"))(args)

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


def cmd_data(args) -> int:
    if args.action == "pull":
        mirror = args.mirror.rstrip("/") if args.mirror else None
        base_url = args.base_url or (f"{mirror}/eval" if mirror else None)
        pull(dest=args.dest, files=args.only, base_url=base_url, force=args.force)
        if not args.only:  # the tokenizer, banlists, reference table (winnow.rootdata)
            rootdata.pull(Path(args.dest).expanduser() if args.dest else default_dest(), base_url=mirror,
                          force=args.force)
        return 0
    root = resolve_root(args.root)
    statuses = data_status(root=root)
    print(format_status(statuses, root))
    others = rootdata.status(root)
    print(rootdata.format_status(others))
    return 1 if any(s.status == "modified" for s in [*statuses, *others]) else 0


def cmd_check_aggregates(args) -> int:
    """Recompute DCLM's published Core/Extended from its per-task columns (winnow.eval.dclm_database)."""
    csv_path = Path(args.csv) if args.csv else data_root() / "reference" / "dclm_model_database.csv"
    if not csv_path.is_file():
        print(f"winnow check-aggregates: error: no DCLM model database at {csv_path}; pass --csv PATH "
              "(DCLM's dclm_model_database.csv, kept under <data root>/reference/)", file=sys.stderr)
        return 2
    report = check_dclm_database(csv_path)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_convert(args) -> int:
    """`winnow convert from-open-lm|to-open-lm`: open_lm (DCLM) checkpoints <-> winnow HF folders."""
    from winnow.train.convert import ConvertError, from_open_lm, to_open_lm

    try:
        if args.direction == "from-open-lm":
            params = dict(json.loads(Path(args.params).read_text(encoding="utf-8"))) if args.params else {}
            for key in ("n_heads", "seq_len", "hidden_dim", "n_layers", "vocab_size"):
                if getattr(args, key) is not None:
                    params[key] = getattr(args, key)
            out = from_open_lm(args.source, args.out, params=params, tokenizer=args.tokenizer)
            print(f"winnow model folder: {out}")
        else:
            pt, js = to_open_lm(args.source, args.out, params_out=args.params_out,
                                allow_nonstandard=args.allow_nonstandard)
            print(f"open_lm checkpoint: {pt}\nopen_lm model JSON: {js}")
    except (ConvertError, json.JSONDecodeError, FileNotFoundError) as e:
        print(f"winnow convert: error: {e}", file=sys.stderr)
        return 2
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
    }
    for verb, (helptext, stages) in compute.items():
        sp = sub.add_parser(verb, help=helptext + " (earlier stages run or are skipped as needed)")
        sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=debug seed=1")
        _add_hydra_flags(sp)
        sp.set_defaults(func=_compute(stages))
    pool_parser = sub.choices["pool"]
    pool_parser.usage = "winnow pool [overrides ...] | winnow pool ids [overrides ...] --scale S [--out FILE]"
    pool_parser.add_argument("--scale", help="the scale (same as scale=S)")
    pool_parser.add_argument("--out", help="with `ids`: write the ids here (atomically) instead of stdout")
    pool_parser.set_defaults(func=cmd_pool)
    sp = sub.add_parser("eval", help="evaluate the run's model on its suite (earlier stages run or are "
                        "skipped as needed), or any model folder with --model; --list shows the tasks")
    sp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. suite=cpu suite.limit=5")
    _add_hydra_flags(sp)
    sp.add_argument("--list", action="store_true", help="the 53 DCLM tasks and the status of their data")
    sp.add_argument("--model", help="a HF causal-LM folder or a winnow checkpoint (instead of a run)")
    sp.add_argument("--tokenizer", help="tokenizer.json or HF folder (default: found from the model)")
    sp.add_argument("--seq-len", type=int, help="context length (default: from the run or the model config)")
    sp.add_argument("--out", help="results folder (default: $WINNOW_HOME/evals/<model>/<suite>)")
    sp.set_defaults(func=cmd_eval)
    sp = sub.add_parser("run", help="all stages: pool, curate, tokenize, train, eval")
    sp.add_argument("overrides", nargs="*")
    _add_hydra_flags(sp)
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
    sp.add_argument("recipes", nargs="+", help="recipe.yaml files or submission folders")
    sp.add_argument("--allow-code", action="store_true", help="import the recipes' plugins")
    sp.set_defaults(func=cmd_validate)
    sp = sub.add_parser("verify", help="recompute every hash of a run folder's manifests")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_verify)
    sp = sub.add_parser("inspect", help="kept and dropped documents of a run's curation, with reasons")
    sp.add_argument("run")
    sp.add_argument("--step", help="a step name, or its 1-based number in the recipe")
    sp.add_argument("--reason", help="only dropped documents with this drop reason")
    sp.add_argument("--limit", type=int, default=5)
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
    sp = sub.add_parser("leaderboard", help="build the tables (and --html page) or check every row")
    sp.add_argument("action", choices=["build", "check"])
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
    ap.add_argument("--version", type=int, help="scale version (default: the newest with rows)")
    ap.add_argument("--rows", nargs="+", metavar="DIR_OR_GLOB",
                    help="analyse these row-shaped JSON files (folders, files or globs) instead of the leaderboard")
    ap.add_argument("--metric", action="append", metavar="M",
                    help="only metrics matching M (a name such as core_prob_v1, heldout.bits_per_byte, "
                    "'task.*.bpb'); repeatable")
    ap.add_argument("--group-by", metavar="FIELD",
                    help="one table per value of this row field (default: study_config with --rows, none "
                    "for leaderboard rows; 'none' turns it off)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.set_defaults(func=cmd_analyze_signal)
    sp = sub.add_parser("tokenizer", help="show what a scale's tokenizer name resolves to, or reproduce "
                        "a committed tokenizer from the pool")
    sp.add_argument("action", choices=["show", "train"])
    sp.add_argument("name", help="e.g. gpt-neox-20b, bpe8k-v1")
    sp.set_defaults(func=cmd_tokenizer)
    sp = sub.add_parser("data", help="evaluation data: status of every file, or pull (download and verify)")
    data_sub = sp.add_subparsers(dest="action", required=True)
    dp = data_sub.add_parser("pull", help="download evaluation data files from their pinned upstream and verify them")
    dp.add_argument("--dest", help="data root to write into (default: $WINNOW_DATA, else ~/.cache/winnow/data)")
    dp.add_argument("--only", nargs="+", metavar="FILE", help="paths under <data>/eval/ (default: every file)")
    dp.add_argument("--base-url", help="fetch <base-url>/<file> instead (a mirror laid out like <data>/eval/)")
    dp.add_argument("--mirror", help="a copy of a whole data root (URL or folder): eval files from <mirror>/eval/, "
                                     "the others from <mirror>/<path>")
    dp.add_argument("--force", action="store_true", help="download again even verified, reconstructed or modified files")
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
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("lm_eval", "lm-eval", "datasets", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if getattr(args, "multirun", False) or getattr(args, "cfg", None):
            return _hydra_jobs(args)
        return int(args.func(args) or 0)
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
