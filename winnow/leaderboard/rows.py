"""Leaderboard rows: one JSON file per (submission, scale, seed) result, written only by submit.

A row lives in ``leaderboard/rows/<scale>/<track>/<slug>__seed<k>__<key8>.json`` with its evidence
bundle beside it (``...__<key8>.bundle.json``, see ``winnow.leaderboard.evidence``).

Schema 2 (schema-1 rows are still read and checked) adds to schema 1:
``aggregates_stderr``; ``training.flops`` and ``training.budget_tokens`` (the scale's derived
budget); ``curation_cost.flops`` (sum of the steps' ``info.flops`` where they report it, else
null) and ``curation_cost.steps``; a real ``contamination`` summary when the recipe ran
``decontaminate``; ``flags.allow_code`` (the run opted in to plugin code), ``flags.ids_list``,
``flags.targeted`` with ``targets`` (the recipe's ``targets:``); ``descent`` (the filtering-track
check's summary); ``bundle`` (file name and sha256 of the evidence bundle).

Schema 3 changes only ``curation_cost``: ``cpu_seconds`` is now the steps' measured CPU time
(``Counters.cpu_seconds``; null when a step's stats lack it) and ``wall_seconds`` their summed
wall-clock time. Schema 1-2 rows recorded the wall-clock sum under the name ``cpu_seconds``; they
are checked as derived then, and shown as wall time (``curation_times``).

``contamination`` follows the evidence, not the schema number: runs evaluated by eval stage 4
or later carry results.json's ``contamination`` section (``winnow.eval.contamination``: the
trained tokens' 13-token overlap with the scored items), so their rows hold ``{"measured": true,
"rule", "ngram", "threshold", "tasks": {task: {"n", "too_short", "gold", "context"}},
"gold_share", "context_share", "max_task_gold", "flagged"}``, the shares recomputed from the
per-task counts, plus the ``decontaminate`` step's own numbers under ``decontaminate`` when the
recipe ran it. Rows of earlier runs keep what they recorded: the step's numbers, or
``{"measured": false}``; both still check.

``submit`` refuses, each with the reason: unofficial runs (run.json, and the scale/suite configs
the manifests record compared with the committed YAML and its version), broken hash chains, a
token budget trained that is not the scale's derived budget, and filtering-track runs whose
documents add text to their pool parents (``winnow.leaderboard.descent``). Rows are written under
a lock with atomic renames, so concurrent submits never corrupt or lose a row.

Schema 4 adds, for targeted submissions, ``core_heldout_gold_bpb_v1`` and
``core_heldout_gold_bpb_pooled_v1`` (the gold-bpb aggregates without the targets); untargeted
rows differ from schema 3 only in what their results carry.

Every number of a row is produced by ``row_numbers(evidence)``; ``winnow leaderboard check`` calls
it again on the run folder or the bundle and compares.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from winnow.eval.contamination import row_summary
from winnow.io import file_lock, read_json, sha256_bytes, write_json
from winnow.manifest import code_version, hash_obj
from winnow.paths import leaderboard_dir

ROW_SCHEMA = 4
READABLE_SCHEMAS = (1, 2, 3, 4)
# Primary metric when a scale's YAML has no ``leaderboard.primary``: CORE where models are big
# enough for accuracy to move (GPU scales), the continuous CORE aggregate at CPU scales.
GPU_PRIMARY = "core_v2"
CPU_PRIMARY = "core_prob_v1"
CPU_TOKENIZER_PREFIX = "bpe"   # winnow's own small BPEs are the CPU scales' tokenizers
TOKEN_TOL = 0          # tokens trained must equal the derived budget exactly


DESCENT_TRACKS = ("filtering", "order")  # tracks whose documents must all descend from the pool


class RowError(ValueError):
    pass


def rows_root() -> Path:
    return leaderboard_dir() / "rows"


def row_hash(row: dict) -> str:
    return hash_obj({k: v for k, v in row.items() if k != "row_hash" and not k.startswith("_")})


def is_cpu_scale(scale: dict) -> bool:
    return str((scale.get("tokenizer") or {}).get("name", "")).startswith(CPU_TOKENIZER_PREFIX)


def primary_metric(scale: dict) -> str:
    """The scale's ranking metric: its YAML's ``leaderboard.primary``, else the CPU/GPU default."""
    chosen = (scale.get("leaderboard") or {}).get("primary")
    if chosen:
        return chosen
    return CPU_PRIMARY if is_cpu_scale(scale) else GPU_PRIMARY


def row_primary(row: dict) -> str:
    """The metric a row ranks by. Schema-2 rows recorded it from their scale config; schema-1 rows
    recorded an older default, so theirs is recomputed from the committed scale YAML when its
    version is the row's, else it is the CPU/GPU default for that scale's tokenizer kind."""
    if row.get("schema", 1) >= 2:
        return row["primary_metric"]
    from winnow.config import ConfigError, group_file

    try:
        scale = group_file("scale", row["scale"])
    except ConfigError:
        scale = {}
    if scale.get("version") == row.get("scale_version"):
        return primary_metric(scale)
    if scale:   # the YAML moved on: the CPU/GPU default for the scale's (unchanged) tokenizer kind
        return primary_metric({"tokenizer": scale.get("tokenizer")})
    return row.get("primary_metric") or CPU_PRIMARY


def heldout_summary(results: dict) -> dict:
    """The held-out figures a row carries: the model's and the unigram reference's bits per byte."""
    h = results.get("heldout") or {}
    return {"bits_per_byte": (h.get("model") or {}).get("bits_per_byte"),
            "unigram_bits_per_byte": (h.get("unigram") or {}).get("bits_per_byte"),
            "tokens": (h.get("model") or {}).get("tokens")}


def contamination_summary(curate_stats: dict, results: dict | None = None) -> dict:
    """The trained tokens' overlap with the scored items (results.json's ``contamination``),
    with the ``decontaminate`` step's numbers under ``decontaminate`` when the recipe ran it.
    Runs evaluated before eval stage 4 have no such section: the step's numbers alone then, or
    ``{"measured": False}``, as their rows recorded."""
    step = decontaminate_summary(curate_stats)
    section = (results or {}).get("contamination")
    if section:
        return {**row_summary(section), **({"decontaminate": step} if step else {})}
    return step or {"measured": False}


def decontaminate_summary(curate_stats: dict) -> dict | None:
    """From the ``decontaminate`` step's counters in the curated stats, when the recipe ran it."""
    for s in curate_stats.get("steps", []):
        if s.get("step") == "decontaminate":
            info = s.get("info") or {}
            tasks = sorted({k.split("/")[0] for k in info if "/" in k and k.endswith("/contaminated_items")
                            and info[k]})
            return {"measured": True, "contaminated_docs": info.get("contaminated_docs"),
                    "eval_items": info.get("eval_items"), "removed": s.get("dropped", {}).get("contaminated", 0),
                    "tasks_with_contaminated_items": tasks}
    return None


def curation_cost(curate_stats: dict, schema: int = ROW_SCHEMA) -> dict:
    """The recipe's cost from the curated stats: CPU and wall seconds summed over its steps (each
    step's own sum over workers' shards), FLOPs where steps report them, and the step count."""
    steps = curate_stats.get("steps", [])
    flops = [float(s["info"]["flops"]) for s in steps if isinstance((s.get("info") or {}).get("flops"), (int, float))]
    wall = round(sum(s.get("seconds", 0.0) for s in steps), 2)
    common = {"flops": sum(flops) if flops else None, "steps": len(steps)}
    if schema < 3:  # as derived then: the wall-clock sum, under the name cpu_seconds
        return {"cpu_seconds": wall, **common}
    cpu = [s.get("cpu_seconds") for s in steps]
    return {"cpu_seconds": round(sum(cpu), 2) if steps and None not in cpu else None,
            "wall_seconds": wall, **common}


def curation_times(row: dict) -> dict[str, float | None]:
    """{"cpu": seconds | None, "wall": seconds | None} of a row's curation cost. Schema-1/2 rows
    measured only wall time (recorded under ``cpu_seconds``); a schema-3 row lacks CPU time when
    its curated stats came from a winnow that did not measure it."""
    cost = row.get("curation_cost") or {}
    if row.get("schema", 1) < 3:
        return {"cpu": None, "wall": cost.get("cpu_seconds")}
    return {"cpu": cost.get("cpu_seconds"), "wall": cost.get("wall_seconds")}


def targeted_aggregates(tasks: dict, targets: list[str], schema: int = ROW_SCHEMA) -> dict:
    """For a targeted submission (recipe ``targets:``), CORE without its target tasks
    (``core_heldout_*``, winnow.eval.scoring.heldout_aggregate; from schema 4 also the gold-bpb
    ones, heldout_gold_bpb); nothing otherwise."""
    if not targets:
        return {}
    from winnow.eval.scoring import heldout_aggregate, heldout_gold_bpb

    held = heldout_aggregate(tasks, targets)
    held.pop("heldout_excluded", None)
    if schema >= 4:
        held.update(heldout_gold_bpb(tasks, targets))
    return held


def row_numbers(evidence: dict, schema: int = ROW_SCHEMA) -> dict:
    """Every field of a row that follows from its evidence (run.json, manifests, results), as a
    row of ``schema`` derives them."""
    from winnow.leaderboard.evidence import results_of

    run, ms = evidence["run"], evidence["manifests"]
    res = results_of(evidence)
    tok, train, cur = ms["tokenized"]["stats"], ms["train"]["stats"], ms["curated"]["stats"]
    targets = list((evidence.get("recipe") or {}).get("targets") or [])
    return {
        "submission": run["submission"], "fingerprint": run["fingerprint"], "track": run["track"],
        "scale": run["scale"], "scale_version": run["scale_version"], "seed": run["seed"],
        "suite": run["suite"], "suite_version": run["suite_version"], "run_id": run["run_id"],
        "manifests": {k: m["content_id"] for k, m in ms.items()},
        "results_sha256": sha256_bytes(evidence["results_json"].encode("utf-8")),
        "primary_metric": primary_metric(run["config"]["scale"]),
        "tasks": res["tasks"],
        "aggregates": {**res["aggregates"], **targeted_aggregates(res["tasks"], targets, schema)},
        "aggregates_stderr": res.get("aggregates_stderr") or {},
        "heldout": heldout_summary(res),
        "training": {"tokens": tok["tokens"] - tok["n_sequences"],  # predicted tokens
                     "sequences": tok["n_sequences"], "passes": tok["passes"],
                     "steps": train.get("steps"),
                     "curated_docs": tok["curated_docs"], "docs_used": tok["docs_used"],
                     "flops": train.get("total_flops"), "budget_tokens": train.get("tokens")},
        "curation_cost": curation_cost(cur, schema),
        "contamination": contamination_summary(cur, res),
        "flags": {"plugin_code": bool(run.get("allow_code") and run.get("plugins")),
                  "allow_code": bool(run.get("allow_code")),
                  "ids_list": bool((ms["curated"]["stats"].get("steps") or [{}])[0].get("step") == "select_ids"
                                   and len(cur.get("steps", [])) == 1),
                  "targeted": bool(targets), "external_data": run["track"] == "mixing"},
        "targets": targets,
    }


# ------------------------------------------------------------------------------ submit checks
def official_problems(evidence: dict) -> list[str]:
    """The run's scale and suite, as recorded in run.json and in the manifests, are the committed
    ones (same YAML, same version); the run trained the scale's derived token budget."""
    from winnow.config import ConfigError, group_file
    from winnow.train.loop import derive

    run, ms = evidence["run"], evidence["manifests"]
    probs = []
    if not run.get("official") or run.get("unofficial"):
        probs.append(f"unofficial run ({'; '.join(run.get('unofficial') or ['run.json says so'])}); "
                     "the leaderboard takes only runs of the committed scale and suite: rerun without "
                     "scale.* / suite.* overrides")
    scale, suite = run["config"]["scale"], run["config"]["suite"]
    try:
        committed = group_file("scale", scale["name"])
        committed_suite = group_file("suite", suite["name"])
    except ConfigError as e:
        return probs + [str(e)]
    if committed != scale:
        diff = sorted(k for k in set(committed) | set(scale) if committed.get(k) != scale.get(k))
        probs.append(f"unofficial scale: the run's {scale['name']} config differs from conf/scale/"
                     f"{scale['name']}.yaml in {', '.join(diff)}")
    if committed.get("version") != run.get("scale_version"):
        probs.append(f"scale {scale['name']} is version {committed.get('version')} in conf/ but the run "
                     f"recorded version {run.get('scale_version')}: rerun at the current version")
    if committed_suite != suite or committed_suite.get("version") != run.get("suite_version"):
        probs.append(f"unofficial suite: the run's suite {suite['name']} v{run.get('suite_version')} is not "
                     f"conf/suite/{suite['name']}.yaml (v{committed_suite.get('version')})")
    if suite["name"] != committed.get("suite"):
        probs.append(f"scale {scale['name']} is evaluated with suite {committed.get('suite')!r}, not {suite['name']!r}")
    tr, tk, ev = ms["train"], ms["tokenized"], ms["eval"]
    if tr["config"].get("model") != committed.get("model") or tr["config"].get("train") != committed.get("train"):
        probs.append(f"the train manifest's model/train config is not conf/scale/{scale['name']}.yaml's")
    if tk["config"].get("tokenizer") != committed.get("tokenizer") or \
            tk["config"].get("seq_len") != committed["model"]["seq_len"]:
        probs.append(f"the tokenized manifest's tokenizer/seq_len is not conf/scale/{scale['name']}.yaml's")
    if ev["config"].get("suite") != committed_suite:
        probs.append(f"the eval manifest's suite config is not conf/suite/{suite['name']}.yaml")
    d = derive(committed["model"], committed["train"])
    trained = tr["stats"].get("tokens")
    if trained is None or abs(int(trained) - int(d["tokens"])) > TOKEN_TOL or tr["stats"].get("stopped_early"):
        probs.append(f"trained {trained} tokens but scale {scale['name']} v{committed.get('version')} derives a "
                     f"budget of {d['tokens']} ({d['steps']} steps); finish or rerun training")
    if tk["config"].get("n_sequences") != d["sequences"]:
        probs.append(f"tokenized {tk['config'].get('n_sequences')} sequences but the scale needs {d['sequences']}")
    return probs


def descent_of(run_dir: Path, evidence: dict):
    from winnow.config import group_file
    from winnow.leaderboard.descent import check_descent
    from winnow.pool.build import pool_shards

    run = evidence["run"]
    pool_cfg = run["config"]["pool"]
    shards = pool_shards(pool_cfg if "n_shards" in pool_cfg else group_file("pool", pool_cfg["name"]),
                         run["config"]["scale"]["pool"].get("shards"))
    return check_descent(sorted((Path(run_dir) / "curated" / "shards").glob("*.jsonl.zst")), shards)


def make_row(run_dir: Path) -> tuple[dict, dict]:
    """(row, evidence) of a finished run folder, or RowError listing every reason to refuse it."""
    from winnow.leaderboard.evidence import EvidenceError, chain_problems, collect
    from winnow.leaderboard.verify import verify_run

    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    if info and (not info.get("official") or info.get("unofficial")):
        raise RowError(f"{run_dir}: refused: unofficial run ({'; '.join(info.get('unofficial') or [])}); "
                       "the leaderboard takes only runs of the committed scale and suite: rerun "
                       "without scale.* / suite.* overrides")
    try:
        ev = collect(run_dir)
    except EvidenceError as e:
        raise RowError(f"{run_dir}: refused: {e}") from None
    problems = official_problems(ev)
    problems += verify_run(run_dir)
    problems += chain_problems(ev, {k: m["content_id"] for k, m in ev["manifests"].items()})
    descent = None
    # the order track reorders pool documents: the filtering track's rule holds for it too
    if not problems and ev["run"]["track"] in DESCENT_TRACKS:
        descent = descent_of(run_dir, ev)
        if not descent.ok:
            problems.append(f"{ev['run']['track']} track: {descent.failed} of {descent.docs} curated documents are not "
                            f"their pool parent with text removed ({descent.rule}); first ones:\n    "
                            + "\n    ".join(descent.problems))
    if problems:
        raise RowError(f"{run_dir}: refused:\n  - " + "\n  - ".join(problems))
    # the code that submitted the row, and the commit each stage's manifest recorded when written
    stages = {k: (m.get("code") or {}).get("commit") for k, m in sorted(ev["manifests"].items())}
    row = {"schema": ROW_SCHEMA, **row_numbers(ev),
           "descent": descent.summary() if descent else None, "code": {**code_version(), "stages": stages}}
    return row, ev


def row_path(row: dict) -> Path:
    slug = row["submission"].replace("/", "-")
    key8 = row["run_id"].rsplit("__", 1)[-1]
    return rows_root() / row["scale"] / row["track"] / f"{slug}__seed{row['seed']}__{key8}.json"


@contextlib.contextmanager
def board_lock():
    """An exclusive lock over the rows folder (flock: released if the process dies)."""
    with file_lock(rows_root() / ".submit.lock"):
        yield


def write_row(row: dict, evidence: dict) -> Path:
    """Bundle first, then the row citing its hash; both by atomic rename, under the board lock."""
    from winnow.leaderboard.evidence import bundle_path, write_bundle

    path = row_path(row)
    with board_lock():
        row["bundle"] = {"file": bundle_path(path).name, "sha256": write_bundle(bundle_path(path), evidence)}
        row["row_hash"] = row_hash(row)
        write_json(path, row)
    return path


def submit(run_dir: Path) -> Path:
    row, ev = make_row(run_dir)
    return write_row(row, ev)


def row_files(root: Path | None = None) -> list[Path]:
    from winnow.leaderboard.evidence import is_bundle

    root = root or rows_root()
    return [p for p in sorted(root.rglob("*.json")) if not is_bundle(p) and not p.name.startswith(".")]


def load_rows(root: Path | None = None) -> list[dict]:
    rows = []
    for p in row_files(root):
        try:
            r = read_json(p)
        except (OSError, json.JSONDecodeError) as e:
            raise RowError(f"{p}: unreadable row ({e}); `winnow leaderboard check` names the problem") from None
        r["_path"] = str(p)
        rows.append(r)
    return rows
