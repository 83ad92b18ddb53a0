"""Export noise-study runs as row-shaped JSON files for ``winnow analyze signal --rows``.

The noise study (studies/noise/README.md) trains the same baselines under several training
protocols; those runs are unofficial (they override scale settings), so they never become
leaderboard rows. This script writes, for every finished run folder under ``$WINNOW_HOME/runs``
(or the folders given), the numbers a row would carry (``winnow.leaderboard.rows.row_numbers``
over the run's evidence) plus ``study_config``: the run's overrides other than the submission,
the seed and the runtime settings, so ``--group-by study_config`` puts each protocol in its own
table. Official runs are labelled ``official``.

With ``--last``, a run trained with tail averaging (``train/last/`` beside the averaged
``train/model/``) is also evaluated on its last-step weights, once, into ``eval/<suite>__last/``,
and exported a second time with ``weights=last`` added to its label: one training run gives both
arms of the averaging comparison (the last-step weights are bit-identical to an unaveraged
run's, tests/train/test_train.py). With ``--suite S`` (repeatable) the models are also evaluated on the
suite ``conf/suite/S.yaml`` (cached in ``eval/S/``) and exported with ``eval=S``: one training run
gives every evaluation arm (tasks, rows per task) of the study.

With ``--same-as FROM TO SEED`` (repeatable) the already exported rows of protocol FROM at run
seed SEED are also written under protocol TO, marked ``same_run_as: FROM``: for arms whose runs at
that seed are the same run by construction (every seed source resolves to the same number), which
the queue does not train twice.

    python studies/noise/export.py studies/noise/rows [--last] [--suite S ...] [--scale X]
        [--same-as FROM TO SEED ...] [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from winnow.config import group_file
from winnow.io import read_json, write_json
from winnow.leaderboard.evidence import EvidenceError, collect
from winnow.leaderboard.rows import row_numbers
from winnow.paths import winnow_home

class Unresolvable(Exception):
    """A run whose overrides no longer resolve to its folder under the code that runs the export
    (an older scale version, say): it cannot be re-evaluated here, so it is skipped, not fatal."""


SKIP_PREFIXES = ("scale=", "submission=", "seed=", "progress=", "runtime.", "engine.", "paths.")


def study_config(info: dict) -> str:
    """The protocol a run tested: its overrides minus what every run of the study varies."""
    kept = sorted(o.lstrip("+") for o in info.get("overrides") or []
                  if not o.lstrip("+").startswith(SKIP_PREFIXES))
    return " ".join(kept) if kept else "official"


def evaluate_variant(run_dir: Path, info: dict, weights: str, suite: dict) -> Path | None:
    """Evaluate ``train/<weights>`` on ``suite`` once, into ``eval/<suite>[__last]/``; the
    results.json path, or None when the run has no such weights."""
    model = run_dir / "train" / weights
    if not model.is_dir():
        return None
    out = run_dir / "eval" / (suite["name"] + ("" if weights == "model" else f"__{weights}"))
    if (out / "results.json").is_file() and read_json(out / "results.json")["suite"]["version"] == suite["version"]:
        return out / "results.json"
    from winnow.eval.runner import evaluate
    from winnow.run import heldout_texts, prepare
    from winnow.tokenize.bpe import tokenizer_file

    existing = set(run_dir.parent.iterdir())
    run = prepare(info["overrides"])
    if run.dir != run_dir:
        if run.dir not in existing:   # prepare() made it (a bare run.json): leave no stray run folder
            shutil.rmtree(run.dir, ignore_errors=True)
        raise Unresolvable(f"its overrides now resolve to {run.dir.name} (code or config changed since; "
                           "run the export.py of the run's own commit)")
    tok = run.scale["tokenizer"]
    evaluate(model_dir=model, tokenizer_file=tokenizer_file(tok["name"], tok.get("sha256")), suite=suite,
             out_dir=out, seq_len=run.scale["model"]["seq_len"], heldout_texts=heldout_texts(run),
             train_tokens=run_dir / "tokenized" / "tokens.npy", suite_seed=suite.get("seed", 1234), progress=False)
    return out / "results.json"


def slug(label: str) -> str:
    """The folder name of a protocol label."""
    return label.replace(" ", "_").replace("=", "-").replace("/", "-")


def same_as(out_root: Path, src: str, dst: str, seed: int) -> list[Path]:
    """Write protocol ``src``'s exported rows of run seed ``seed`` again as protocol ``dst``."""
    written = []
    for path in sorted((out_root / slug(src)).glob("*.json")):
        row = read_json(path)
        if row.get("seed") != seed:
            continue
        out = out_root / slug(dst) / path.name
        write_json(out, {**row, "study_config": dst, "same_run_as": src})
        written.append(out)
    if not written:
        raise SystemExit(f"export.py: --same-as: no rows of seed {seed} under {out_root / slug(src)}; "
                         "export protocol FROM first (labels are study_config strings, e.g. 'scale.train.lr=3e-3 seeds.curate=0')")
    return written


def export(run_dir: Path, out_root: Path, last: bool, suites: list[str]) -> list[Path]:
    info = read_json(run_dir / "run.json")
    try:
        ev = collect(run_dir)
    except EvidenceError as e:
        print(f"skip {run_dir.name}: {e}", file=sys.stderr)
        return []
    label = study_config(info)
    own = info["config"]["suite"]
    variants = []  # (label, evidence, suite)
    for name in suites or [own["name"]]:
        suite = own if name == own["name"] else group_file("suite", name)
        tag = "" if name == own["name"] else f" eval={name}"
        for weights in ("model", "last") if last else ("model",):
            if weights == "model" and name == own["name"]:
                variants.append((label + tag, ev, suite))
                continue
            try:
                res = evaluate_variant(run_dir, info, weights, suite)
            except Unresolvable as e:  # the whole run belongs to other code: export none of it
                print(f"skip {run_dir.name}: {e}", file=sys.stderr)
                return []
            if res is not None:
                name_w = label + tag + ("" if weights == "model" else " weights=last")
                variants.append((name_w, {**ev, "results_json": res.read_text(encoding="utf-8")}, suite))
    written = []
    for name, evidence, suite in variants:
        row = {**row_numbers(evidence), "suite": suite["name"], "suite_version": suite["version"],
               "study_config": name, "unofficial": info.get("unofficial") or []}
        path = out_root / slug(name) / f"{run_dir.name}.json"
        write_json(path, row)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the row-shaped files (one subfolder per protocol)")
    ap.add_argument("runs", type=Path, nargs="*", help="run folders (default: every run under $WINNOW_HOME/runs)")
    ap.add_argument("--last", action="store_true", help="also evaluate and export averaged runs' last-step weights")
    ap.add_argument("--scale", help="only runs of this scale")
    ap.add_argument("--with-rows", type=Path,
                    help="also copy the committed leaderboard rows under this folder (e.g. leaderboard/rows/"
                         "quickstart), labelled official: the official protocol's seeds the study did not rerun")
    ap.add_argument("--suite", action="append", default=[],
                    help="evaluate (once, cached in the run folder) and export on this conf/suite too; "
                         "repeatable; the run's own suite is exported only when named")
    ap.add_argument("--same-as", nargs=3, action="append", default=[], metavar=("FROM", "TO", "SEED"),
                    help="also write protocol FROM's rows of run seed SEED as protocol TO (runs that are the "
                         "same by construction); repeatable")
    args = ap.parse_intermixed_args(argv)   # run folders may follow the options
    runs = args.runs or sorted(p for p in (winnow_home() / "runs").iterdir() if (p / "run.json").is_file())
    n = 0
    studied = set()  # the submissions the study ran: committed rows of others are not copied
    for run_dir in runs:
        info = read_json(run_dir / "run.json")
        if args.scale and info.get("scale") != args.scale:
            continue
        if not (run_dir / "eval").is_dir():
            continue
        for p in export(run_dir, args.out, args.last, args.suite):
            print(p)
            n += 1
        studied.add(info["submission"])
    if args.with_rows:
        for path in sorted(args.with_rows.rglob("*.json")):
            if path.name.endswith(".bundle.json"):
                continue
            row = json.loads(path.read_text(encoding="utf-8"))
            if (args.scale and row.get("scale") != args.scale) or row.get("submission") not in studied:
                continue
            out = args.out / "official" / f"{row['run_id']}.json"
            write_json(out, {**row, "study_config": "official", "unofficial": []})
            print(out)
            n += 1
    for src, dst, seed in args.same_as:
        for p in same_as(args.out, src, dst, int(seed)):
            print(p)
            n += 1
    print(json.dumps({"exported": n}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
