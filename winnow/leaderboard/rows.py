"""Leaderboard rows: the row schema, every number a row carries derived from its evidence, and reading rows.

Rows are written only by ``winnow.leaderboard.submit`` (its checks, the lock, the atomic writes).

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

Schema 4 adds, for targeted submissions, ``core_heldout_gold_bpb_v1`` and
``core_heldout_gold_bpb_pooled_v1`` (the gold-bpb aggregates without the targets); untargeted
rows differ from schema 3 only in what their results carry.

Schema 5 adds ``created``: when ``winnow submit`` wrote the row, UTC to the second
(``YYYY-MM-DDTHH:MM:SSZ``, ``CREATED_FORMAT``), covered by ``row_hash`` like every field. It is not
a number from the evidence, so ``winnow leaderboard check`` requires it only of schema-5 rows;
rows of earlier schemas keep what they were written with and are dated by their code commit
(``row_date``).

Schema 6 adds, for targeted submissions, ``core_heldout_gold_bpb_v2`` and
``core_heldout_gold_bpb_pooled_v2`` (``winnow.eval.aggregates``: v2 of the gold-text tasks also
leaves out bigbench_cs_algorithms); results of eval stage 6 on carry ``core_gold_bpb_v2`` and
``core_gold_bpb_pooled_v2`` for every row.

Every number of a row is produced by ``row_numbers(evidence)``; ``winnow leaderboard check`` calls
it again on the run folder or the bundle and compares.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from winnow.config import ConfigError, group_file
from winnow.eval.contamination import row_summary
from winnow.eval.scoring import untargeted_values
from winnow.io import read_json, sha256_bytes
from winnow.leaderboard.evidence import is_bundle, results_of
from winnow.manifest import hash_obj
from winnow.paths import leaderboard_dir
from winnow.stages import CURATE, TOKENIZE, TRAIN
from winnow.tokenize.bpe import RECIPES

ROW_SCHEMA = 6
READABLE_SCHEMAS = (1, 2, 3, 4, 5, 6)
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"   # a row's ``created`` (schema 5 on): UTC, to the second
# Primary metric when a scale's YAML has no ``leaderboard.primary``: CORE where models are big
# enough for accuracy to move (GPU scales), the continuous CORE aggregate at CPU scales.
GPU_PRIMARY = "core_v2"
CPU_PRIMARY = "core_prob_v1"


class RowError(ValueError):
    pass


def created_now() -> str:
    """The ``created`` value of a row written now (UTC, ``CREATED_FORMAT``)."""
    return datetime.now(timezone.utc).strftime(CREATED_FORMAT)


def created_problem(row: dict) -> str | None:
    """Why a row's ``created`` is not valid, or None: required from schema 5 on (a UTC timestamp in
    ``CREATED_FORMAT``), optional before (rows keep the schema they were written with)."""
    value = row.get("created")
    if value is None:
        return "has no created timestamp (schema 5 rows record when they were written)" \
            if (row.get("schema") or 0) >= 5 else None
    try:
        datetime.strptime(value, CREATED_FORMAT)
    except (TypeError, ValueError):
        return f"created = {json.dumps(value)[:40]} is not a UTC timestamp like 2026-01-31T12:00:00Z"
    return None


def row_date(row: dict) -> str | None:
    """The day a row was written (``YYYY-MM-DD``, UTC) when it records it (schema 5 on), else None."""
    value = row.get("created")
    return value[:10] if isinstance(value, str) and created_problem(row) is None else None


def rows_root() -> Path:
    return leaderboard_dir() / "rows"


def row_hash(row: dict) -> str:
    return hash_obj({k: v for k, v in row.items() if k != "row_hash" and not k.startswith("_")})


def is_cpu_scale(scale: dict) -> bool:
    """Whether ``scale`` (a scale config) is a CPU scale: its tokenizer is one of winnow's committed
    small BPEs (``winnow.tokenize.bpe.RECIPES``, made for the CPU scales); the GPU scales use a
    registered external tokenizer (GPT-NeoX-20B)."""
    return (scale.get("tokenizer") or {}).get("name") in RECIPES


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
    (``core_heldout_*``, ``winnow.eval.scoring.untargeted_values``; from schema 4 also the gold-bpb
    ones of version 1, from schema 6 those of version 2 too); nothing otherwise."""
    if not targets:
        return {}
    return untargeted_values(tasks, targets, gold_versions=(1, 2) if schema >= 6 else (1,) if schema >= 4 else ())


def row_numbers(evidence: dict, schema: int = ROW_SCHEMA) -> dict:
    """Every field of a row that follows from its evidence (run.json, manifests, results), as a
    row of ``schema`` derives them."""
    run, ms = evidence["run"], evidence["manifests"]
    res = results_of(evidence)
    tok, train, cur = ms[TOKENIZE.kind]["stats"], ms[TRAIN.kind]["stats"], ms[CURATE.kind]["stats"]
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
                  "ids_list": bool((cur.get("steps") or [{}])[0].get("step") == "select_ids"
                                   and len(cur.get("steps", [])) == 1),
                  "targeted": bool(targets), "external_data": run["track"] == "mixing"},
        "targets": targets,
    }


def row_files(root: Path | None = None) -> list[Path]:
    root = root or rows_root()
    return [p for p in sorted(root.rglob("*.json")) if not is_bundle(p) and not p.name.startswith(".")]


def load_rows(root: Path | None = None) -> list[dict]:
    rows = []
    for p in row_files(root):
        try:
            r = read_json(p)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RowError(f"{p}: unreadable row ({e}); `winnow leaderboard check` names the problem") from None
        if not isinstance(r, dict) or "schema" not in r:
            raise RowError(f"{p}: not a leaderboard row; rows/ holds only rows written by `winnow submit` and "
                           "their bundles: move other files out of it (`winnow leaderboard check` lists them)")
        r["_path"] = str(p)
        rows.append(r)
    return rows
