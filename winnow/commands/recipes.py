"""The verbs about submissions and runs that compute nothing: ``ls``, ``validate``, ``verify``,
``inspect`` and ``import-dclm``."""

from __future__ import annotations

import sys
from pathlib import Path

from winnow.config import ConfigError, group_file, load_run_config
from winnow.curate import stepdoc
from winnow.curate.dclm_import import check_result, import_dclm
from winnow.curate.inspect import inspect_run
from winnow.curate.recipe import RecipeError, load_recipe
from winnow.leaderboard.verify import verify_run
from winnow.paths import conf_dir, winnow_home
from winnow.pool.ids import scale_pool_ids, unknown_ids
from winnow.stages import run_state
from winnow.submission import resolve_recipe
from winnow.train.scales import scale_table


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
    elif what == "runs":   # each run's state from its manifests (winnow.stages.run_state)
        runs = sorted(d for d in (winnow_home() / "runs").glob("*") if d.is_dir())
        width = max((len(d.name) for d in runs), default=0)
        for d in runs:
            print(f"{d.name:<{width}}  {run_state(d)}")
    return 0


def _validate_scale(args) -> tuple[list[str], str | None]:
    """The recipes and the scale of ``winnow validate``: ``--scale S`` or ``scale=S`` among the
    recipes (as the compute verbs take it); a path that exists is always a recipe."""
    refs, scales = [], [args.scale] if args.scale else []
    for ref in args.recipes:
        key, eq, value = ref.lstrip("+").partition("=")
        if eq and key == "scale" and not Path(ref).exists():
            scales.append(value)
        else:
            refs.append(ref)
    if len(set(scales)) > 1:
        raise ConfigError(f"validate takes one scale, got {', '.join(scales)}")
    if not refs:
        raise ConfigError("give the recipes to check: recipe.yaml files, submission folders or id files")
    return refs, scales[0] if scales else None


def _check_ids(recipe, scale: str | None, pools: dict) -> tuple[str | None, str]:
    """(a problem or None, a note) for the ids file of an id-list submission or an ``ids:`` recipe:
    its ids against the pool of ``scale`` (built if needed), or a note that they were not checked."""
    if scale is None:
        return None, ("its ids were not checked against any pool: no scale given (`winnow validate "
                      "--scale S ...` checks them against the pool scale S curates)")
    if scale not in pools:
        pools[scale] = scale_pool_ids(load_run_config([f"scale={scale}"]).cfg)
    ids, where = pools[scale]
    n, listed, examples = unknown_ids(recipe.ids_file, ids)
    if n:
        return (f"ids: {n:,} of the {listed:,} ids in {recipe.ids_file} are not in the pool of {where} "
                f"(for example {', '.join(examples)}); an id-list submission keeps pool document ids "
                f"(`winnow pool ids --scale {scale}` lists them)"), ""
    return None, f"all {listed:,} ids are in the pool of {where}"


def cmd_validate(args) -> int:
    refs, scale = _validate_scale(args)
    pools: dict = {}   # scale -> (its pool's ids, where they come from), read once
    bad = 0
    for ref in refs:
        p = Path(ref)
        path = p if p.is_file() else resolve_recipe(ref)
        note = ""
        try:
            recipe = load_recipe(path, allow_code=args.allow_code)
            problems = []
        except RecipeError as e:
            recipe, problems = None, list(e.problems)
        if recipe is not None and recipe.ids_file is not None:
            problem, note = _check_ids(recipe, scale, pools)
            problems += [f"{path}: {problem}"] if problem else []
        if problems:
            bad += 1
            print(f"{path}: INVALID")
            for pr in problems:
                print(f"  - {pr}")
        else:
            print(f"{path}: ok" + (f"; {note}" if note else ""))
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
