"""The artifact chain: pool -> curate -> tokenize -> train -> eval, one folder and manifest each.

Every stage is a function of a prepared ``Run``; their folders, manifest kinds and parents are
the stage table's (``winnow.stages``). ``prepare`` also computes the run's scale plan once
(``Run.plan``, ``winnow.train.plan``: steps, tokens, sequences, FLOPs), which curation, packing
and training read. A stage computes its *input key* (parents'
content ids + its config + its version); if the stage folder's manifest has that key and its
files still match it (``winnow.manifest.damaged``: sizes, sample hashes, full hashes of small
folders) the stage is skipped, otherwise it (re)runs, resuming from whatever its own markers or checkpoints left, and
writes its manifest last. A run folder is ``$WINNOW_HOME/runs/<submission>__<scale>__<key8>/``
with ``run.json`` (the resolved config), ``curated/``, ``tokenized/``, ``train/``, ``eval/<suite>/``.
``curated/`` is a link into the curated store (``winnow.curate.store``): a curation is computed
once and shared by every run whose curate key is the same (all seeds of a seed-independent
recipe, all scales of a budget-independent one on the same pool shards). A tokenize or train
stage whose input key another run folder already finished adopts that output instead of
computing it again (``winnow.reuse``: hard links, the log names the run).

Under ``torchrun`` (WORLD_SIZE > 1; the run folder on a filesystem every node shares) global
rank 0 alone writes ``run.json``, builds the data stages (pool, curate, tokenize) and evaluates;
the other ranks poll the filesystem until the tokenized stage is up to date (curation can take
hours, longer than a collective may wait), then every rank trains and rank 0 writes the train
stage's outputs. A data stage that fails on rank 0 leaves ``data_failed.json`` in the run folder,
and the waiting ranks stop with its error instead of waiting forever.

The module is longer than most (~520 lines) because the torchrun handoff (``data_ready``) checks
the very input keys the stage functions compute; one module keeps the two from drifting apart.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from winnow.config import RunConfig, load_run_config, scale_plan
from winnow.curate.base import StepContext
from winnow.curate.engine import ENGINES
from winnow.curate.pipeline import curate, format_stats
from winnow.curate.store import attach, claim, own_folder, sharing
from winnow.reuse import adopt
from winnow.docs import read_docs
from winnow.eval.runner import evaluate
from winnow.io import DiskFull, disk_full, read_json, write_json
from winnow.manifest import MANIFEST, Manifest, completed, damaged, hash_obj, read_manifest, write_manifest
from winnow.paths import winnow_home
from winnow.pool.build import HELDOUT, build_pool, pool_shards
from winnow.space import stage_need
from winnow.runid import SEED_SOURCES, RunIdError, run_id_of, run_key_of, source_seed  # noqa: F401 (SEED_SOURCES: re-exported)
from winnow.stages import BY_NAME, CURATE, DATA_STAGES, EVAL, NAMES, POOL, TOKENIZE, TRAIN, pool_folder
from winnow.submission import Submission, load_submission
from winnow.tokenize.bpe import spec, tokenizer_file
from winnow.tokenize.pack import pack
from winnow.tokenize.stages import STAGED_PACK_VERSION, canonical
from winnow.train.plan import RESUME_NEUTRAL_KEYS

log = logging.getLogger("winnow")

# Bump a stage's version whenever its code changes an output byte: it is part of the input key.
# eval 2: 53 DCLM tasks with llm-foundry few-shot prompts, DCLM aggregates (core_*, extended_*,
# categories, core_prob_v1), their stderrs and missing-task reports in results.json.
# eval 3: the output head runs on continuation positions only and batches hold 32 requests
# (same log-likelihoods up to fp32 rounding of other matrix shapes).
# eval 4: contamination of the trained tokens with the scored items (winnow.eval.contamination,
# rule ngram13_tokens_v1) in results.json and contamination.json.
# eval 5: results carry the gold-bpb aggregates (core_gold_bpb_v1, core_gold_bpb_pooled_v1).
# eval 6: and their v2 (bigbench_cs_algorithms left out too: winnow.eval.aggregates).
# train stays 1 although its folder gained files (modeling_openlm.py, auto_map, the tokenizer:
# winnow.train.hf_folder): the weights and every number after them are unchanged, so finished
# train folders are kept (no retraining) and stay verifiable; new ones hash the new files, so
# their content ids differ (as they already did across transformers versions, which config.json
# records). hf_folder.export_hf completes an old folder into a copy.
STAGE_VERSIONS = {"curate": 1, "tokenize": 1, "train": 1, "eval": 6}
STAGES = NAMES  # the stage table's order (winnow.stages)


class StageError(RuntimeError):
    pass


@dataclass
class Run:
    rc: RunConfig
    submission: Submission
    dir: Path
    plan: dict  # the scale plan (winnow.train.plan.derive), computed once by prepare

    @property
    def cfg(self) -> dict:
        return self.rc.cfg

    @property
    def scale(self) -> dict:
        return self.cfg["scale"]

    @property
    def suite(self) -> dict:
        return self.cfg["suite"]

    @property
    def pool_dir(self) -> Path:
        return pool_folder(self.cfg["pool"])

    def folder(self, stage) -> Path:
        """The folder of a stage of the table (``winnow.stages``) in this run."""
        return self.pool_dir if stage is POOL else stage.path(self.dir, self.suite["name"])

    @property
    def seed(self) -> int:
        return int(self.cfg["seed"])

    def seed_for(self, source: str) -> int | None:
        """The seed of one noise source (``SEED_SOURCES``): ``winnow.runid.source_seed``."""
        try:
            return source_seed(self.cfg, source)
        except RunIdError as e:
            raise StageError(str(e)) from None

    @property
    def data_order(self) -> str:
        """The scale's document order for packing (``winnow.tokenize.pack.ORDERS``)."""
        return (self.scale.get("data") or {}).get("order", "index")


def entry_seeds(overrides: list[str] | None = None) -> list[int]:
    """The seeds an official leaderboard entry of the configured scale needs: 0 … n-1 with n the
    scale's ``leaderboard.seeds`` (1 when the scale does not say)."""
    scale = load_run_config(overrides).cfg["scale"]
    n = int((scale.get("leaderboard") or {}).get("seeds", 1))
    if n < 1:
        raise StageError(f"conf/scale/{scale['name']}.yaml: leaderboard.seeds must be >= 1, got {n}")
    return list(range(n))


def run_key(rc: RunConfig, sub: Submission) -> str:
    return run_key_of(rc.cfg, sub.name, sub.fingerprint)


# What run.json records about the invocation rather than the run: where the submission was read
# from and the command line; of the resolved config, everything outside the run key (engine,
# paths, progress, runtime, the submission's path). Another checkout (a clone, a queue's worktree)
# resuming or rerunning the same run differs only there.
INVOCATION_FIELDS = ("submission_folder", "plugins", "overrides")
RUN_CONFIG = ("scale", "suite", "seed", "seeds", "pool")  # winnow.runid.run_key_of's part of the config


def same_run_record(path: Path, info: dict) -> bool:
    """Whether ``path`` already records this run, differing from ``info`` at most in how it was
    invoked, and its submission folder is still there. Then it is kept as written by the invocation
    that made the run: rewriting it from a second checkout would change the evidence of a row
    already submitted from it."""
    try:
        old = read_json(path)
    except (OSError, ValueError):
        return False

    def what(rec: dict) -> dict:
        cfg = rec.get("config") if isinstance(rec.get("config"), dict) else {}
        return {**{k: v for k, v in rec.items() if k not in INVOCATION_FIELDS},
                "config": {k: cfg.get(k) for k in RUN_CONFIG}}
    return (isinstance(old, dict) and what(old) == what(info)
            and Path(str(old.get("submission_folder"))).is_dir())  # a deleted checkout's record is replaced


def prepare(overrides: list[str] | None = None) -> Run:
    rc = load_run_config(overrides)
    plan = scale_plan(rc.cfg)   # a scale that makes no plan is a ConfigError before any folder exists
    allow_code = rc.cfg.get("allow_code") is True  # parsed strictly (winnow.config.parse_bool); only an explicit true
    sub = load_submission(rc.cfg["submission"], allow_code=allow_code)
    key = run_key(rc, sub)
    d = winnow_home() / "runs" / run_id_of(sub.name, rc.cfg["scale"]["name"], key)
    d.mkdir(parents=True, exist_ok=True)
    info = {"run_id": d.name, "run_key": key, "submission": sub.name, "fingerprint": sub.fingerprint,
            "submission_folder": str(sub.folder), "track": sub.recipe.track,
            "scale": rc.cfg["scale"]["name"], "scale_version": rc.cfg["scale"]["version"],
            "suite": rc.cfg["suite"]["name"], "suite_version": rc.cfg["suite"]["version"],
            "seed": rc.cfg["seed"], "seeds": rc.cfg.get("seeds"), "official": rc.official, "unofficial": rc.unofficial,
            "overrides": rc.overrides, "allow_code": allow_code,
            "plugins": [str(p) for p in getattr(sub.recipe, "plugins", []) or []], "config": rc.cfg}
    if is_main_process() and not same_run_record(d / "run.json", info):
        write_json(d / "run.json", info)  # under torchrun every rank prepares the run; rank 0 alone writes it
    return Run(rc=rc, submission=sub, dir=d, plan=plan)


def _need(folder: Path, what: str) -> Manifest:
    m = read_manifest(folder)
    if m is None:
        raise StageError(f"{folder}: the {what} stage has not finished; run `winnow {what}` first "
                         "(or `winnow run`, which runs every stage)")
    return m


def _skip(stage: str, m: Manifest) -> Manifest:
    log.info("%s: up to date (content id %s), skipped", stage, m.short)
    return m


def _fresh(stage: str, folder: Path, m: Manifest | None, clear: tuple[str, ...] = ()) -> Manifest | None:
    """``m`` if the files of ``folder`` still match it (``winnow.manifest.damaged``); else say so,
    remove the manifest, the changed files and ``clear`` (work the stage would resume from), and
    return None, so the stage is redone rather than skipped over corrupt output."""
    if m is None or not (bad := damaged(folder, m)):
        return m
    log.warning("%s: %s no longer matches its manifest (%s%s); redoing the stage", stage, folder,
                "; ".join(bad[:3]), f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in [n for n in m.files if any(b.startswith(f"{n} ") for b in bad)] + list(clear):
        p = folder / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    return None


# ----------------------------------------------------------------------------------------- pool
def stage_pool(run: Run) -> Manifest:
    return build_pool(run.cfg["pool"], progress=run.cfg["progress"])


def pool_inputs(run: Run) -> list[Path]:
    return pool_shards(run.cfg["pool"], run.scale["pool"].get("shards"))


# --------------------------------------------------------------------------------------- curate
def curation_seed(run: Run) -> int:
    """The seed curation sees (``StepContext.seed``; in the curate key of a seed-dependent
    recipe): ``Run.seed_for("curate")``. Every seed curation gets is taken from here."""
    return run.seed_for("curate")


def curate_inputs(run: Run, pool_id: str) -> dict:
    """Everything the curated output may depend on, under the names the curate key has always
    used (their hash is the key of a per-run curated folder from before the curated store)."""
    return {"pool": pool_id, "shards": [s.name for s in pool_inputs(run)],
            "fingerprint": run.submission.fingerprint, "seed": curation_seed(run),
            "train_tokens": run.plan["tokens"],
            "bytes_per_token": spec(run.scale["tokenizer"]["name"]).bytes_per_token,
            "v": STAGE_VERSIONS["curate"]}


def curate_key(run: Run, pool_id: str) -> str:
    """The curate stage's input key, given the pool's content id; it names the run's folder in
    the curated store (``winnow.curate.store``). The seed is in it only if the recipe is
    seed-dependent, the budget only if budget-dependent (``Recipe.run_inputs``), so the runs a
    recipe's output does not tell apart share one curation (a recipe dependent on both keeps
    the key it always had)."""
    parts = curate_inputs(run, pool_id)
    depends = run.submission.recipe.run_inputs(parts.pop("seed"), parts.pop("train_tokens"),
                                               parts.pop("bytes_per_token"))
    return hash_obj({**parts, **depends})


def curated_manifest(run: Run, pool_id: str) -> Manifest | None:
    """The run's curated manifest if it is up to date, else None: ``curated/`` links to the
    finished store folder of the current key, or is a per-run folder from before the store,
    finished under the key of its time (kept as it is, so existing rows keep their evidence)."""
    link = run.folder(CURATE)
    if own_folder(link):
        return completed(link, hash_obj(curate_inputs(run, pool_id)))
    return completed(link, curate_key(run, pool_id))


def stage_curate(run: Run) -> Manifest:
    """Link the run's ``curated/`` to the store folder of its key, curating it there unless
    another run did (then the log says whose it is and why it is shared)."""
    pool_m = _need(run.pool_dir, "pool")
    # final shards are hard links to _work's last segment: a changed shard is recurated from scratch
    if (m := curated_manifest(run, pool_m.content_id)) is not None:
        if own_folder(run.folder(CURATE)):   # a per-run folder from before the store
            m = _fresh("curate", run.folder(CURATE), m, clear=("shards", "_work"))
        if m is not None and not damaged(run.folder(CURATE), m):
            return _skip("curate", m)
    key = curate_key(run, pool_m.content_id)
    with claim(key) as folder:
        attach(run.folder(CURATE), folder)
        if (m := _fresh("curate", folder, completed(folder, key), clear=("shards", "_work"))) is not None:
            if m.config.get("made_by") == run.dir.name:
                return _skip("curate", m)
            log.info("curate: reusing curated output %s made by run %s (%s), content id %s",
                     key[:8], m.config.get("made_by", "?"), sharing(m.config), m.short)
            return m
        return curate_into(run, pool_m, key, folder)


def curate_into(run: Run, pool_m: Manifest, key: str, out: Path) -> Manifest:
    """Curate the run's recipe over its pool shards into ``out`` (resuming what is there) and
    write the manifest last."""
    shards = pool_inputs(run)
    recipe = run.submission.recipe
    engine_cfg = run.cfg["engine"]
    engine = ENGINES.get(engine_cfg["name"])(**{"progress": run.cfg["progress"],  # a bar per segment, as other stages
                                                **{k: v for k, v in engine_cfg.items() if k != "name"}})
    ctx = StepContext(seed=curation_seed(run), workers=engine_cfg.get("workers"), work_dir=out / "_work",
                      train_tokens=run.plan["tokens"],
                      bytes_per_token=spec(run.scale["tokenizer"]["name"]).bytes_per_token)
    log.info("curate: %s over %d pool shards into %s", run.submission.name, len(shards), out)
    stats = curate(recipe, shards, out, ctx, engine)
    print(format_stats(stats))
    depends = recipe.dependence()
    return write_manifest(out, CURATE.kind, key, parents={POOL.kind: pool_m.content_id},
                          config={"submission": run.submission.name,
                                  "fingerprint": run.submission.fingerprint,
                                  "seed": curation_seed(run) if depends["seed_dependent"] else None,
                                  **depends,
                                  "shared": not (depends["seed_dependent"] and depends["budget_dependent"]),
                                  "made_by": run.dir.name},
                          stats=stats,
                          # stats.json holds timings: it lives in the manifest's stats, not its hashes
                          files=[p.relative_to(out).as_posix() for p in sorted((out / "shards").glob("*"))])


# ------------------------------------------------------------------------------------- tokenize
def tokenize_inputs(run: Run, curated_id: str) -> tuple[dict, dict, list | None]:
    """(input-key parts, manifest config, stages) of the tokenize stage.

    A recipe with ``stages:`` (order track) adds its canonical stages and the staged packing's
    version; without stages the key and config are exactly those of every earlier run, so
    committed rows keep their chain.
    """
    seq_len = run.scale["model"]["seq_len"]
    n_seq = run.plan["sequences"]
    key_parts = {CURATE.kind: curated_id, "tokenizer": run.scale["tokenizer"], "seq_len": seq_len,
                 "n_sequences": n_seq, "seed": run.seed_for("fill"), "v": STAGE_VERSIONS["tokenize"]}
    config = {"tokenizer": run.scale["tokenizer"], "seq_len": seq_len, "n_sequences": n_seq,
              "seed": run.seed_for("fill")}
    # only when set, so index-ordered runs keep the key and config of every earlier run
    if run.data_order != "index":
        key_parts["order"] = config["order"] = run.data_order
    if run.seed_for("order") is not None:
        key_parts["order_seed"] = config["order_seed"] = run.seed_for("order")
    stages = getattr(run.submission.recipe, "stages", None) or None
    if stages:
        config["stages"] = canonical(stages)
        key_parts["stages"] = {"stages": config["stages"], "v": STAGED_PACK_VERSION}
    return key_parts, config, stages


def tokenize_key(run: Run, curated_id: str) -> str:
    """The tokenize stage's input key, given the curated stage's content id."""
    return hash_obj(tokenize_inputs(run, curated_id)[0])


def stage_tokenize(run: Run) -> Manifest:
    cur = _need(run.folder(CURATE), "curate")
    out = run.folder(TOKENIZE)
    tok_path = tokenizer_file(run.scale["tokenizer"]["name"], run.scale["tokenizer"].get("sha256"))
    _, config, stages = tokenize_inputs(run, cur.content_id)
    seq_len, n_seq = config["seq_len"], config["n_sequences"]
    key = tokenize_key(run, cur.content_id)
    if (m := _fresh("tokenize", out, completed(out, key))) is not None:
        return _skip("tokenize", m)
    if (m := adopt("tokenize", out, key, run.dir.parent)) is not None:
        return m
    shards = sorted((run.folder(CURATE) / "shards").glob("*.jsonl.zst"))
    stats = pack(shards=shards, tokenizer_path=tok_path, seq_len=seq_len, n_sequences=n_seq,
                 seed=config["seed"], out_dir=out, progress=run.cfg["progress"], stages=stages,
                 order=run.data_order, order_seed=config.get("order_seed"))
    log.info("tokenize: %d sequences x %d tokens, %.2f passes over the curated data%s",
             n_seq, seq_len + 1, stats["passes"],
             f" ({len(stages)} stages, in order)" if stages else "")
    return write_manifest(out, TOKENIZE.kind, key, parents={CURATE.kind: cur.content_id},
                          config=config, stats=stats, files=["tokens.npy", "order.json"])


# ---------------------------------------------------------------------------------------- train
def runtime_train(run: Run) -> dict:
    """The run config's ``runtime:`` settings that are set (micro batch, activation
    checkpointing, threads): speed and memory only, so they join the scale's train settings at
    train time but not the run key, the stage key or the manifest's recorded config."""
    runtime = {k: v for k, v in (run.cfg.get("runtime") or {}).items() if v is not None}
    if bad := sorted(set(runtime) - RESUME_NEUTRAL_KEYS):
        raise StageError(f"runtime.{bad[0]} changes what is trained, so it is not a runtime setting "
                         f"(runtime takes {', '.join(sorted(RESUME_NEUTRAL_KEYS))}); set scale.train.{bad[0]} "
                         "instead, which makes the run unofficial")
    return runtime


def stage_train(run: Run) -> Manifest | None:
    """Train, or skip when up to date. Under torchrun every rank calls this and trains its share;
    rank 0 writes the outputs and the manifest, the other ranks return None."""
    from winnow.train.loop import train_model  # torch

    tok = _need(run.folder(TOKENIZE), "tokenize")
    out = run.folder(TRAIN)
    # speed and bookkeeping settings (threads, micro batch, checkpoint interval...) are not part
    # of what is trained: leaving them out lets a run resume under other ones
    train_cfg = {k: v for k, v in run.scale["train"].items() if k not in RESUME_NEUTRAL_KEYS}
    key = hash_obj({TOKENIZE.kind: tok.content_id, "model": run.scale["model"],
                    "train": train_cfg, "seed": run.seed_for("init"), "v": STAGE_VERSIONS["train"]})
    if (m := _fresh("train", out, completed(out, key))) is not None:
        return _skip("train", m)
    if (m := adopt("train", out, key, run.dir.parent, world_size=launch_rank()[1])) is not None:
        return m
    stats = train_model(model_cfg=run.scale["model"], train_cfg={**run.scale["train"], **runtime_train(run)},
                        tokens_path=run.folder(TOKENIZE) / "tokens.npy", out_dir=out,
                        seed=run.seed_for("init"), progress=run.cfg["progress"],
                        tokenizer_file=tokenizer_file(run.scale["tokenizer"]["name"],
                                                      run.scale["tokenizer"].get("sha256")))
    if not is_main_process():
        return None
    files = [p.relative_to(out).as_posix() for p in sorted((out / "model").iterdir())]
    return write_manifest(out, TRAIN.kind, key, parents={TOKENIZE.kind: tok.content_id},
                          config={"model": run.scale["model"], "train": run.scale["train"],
                                  "seed": run.seed_for("init")}, stats=stats, files=files)


# ----------------------------------------------------------------------------------------- eval
def heldout_texts(run: Run) -> list[str]:
    """The texts of the pool's held-out sample (held-out bits per byte)."""
    path = run.pool_dir / HELDOUT
    return [d["text"] for d in read_docs(path) if d["text"].strip()]


def stage_eval(run: Run) -> Manifest:
    import winnow.train.model  # noqa: F401  (torch; registers winnow's architecture with the Auto classes)

    tr = _need(run.folder(TRAIN), "train")
    tok = _need(run.folder(TOKENIZE), "tokenize")
    out = run.folder(EVAL)
    key = hash_obj({TRAIN.kind: tr.content_id, TOKENIZE.kind: tok.content_id, "suite": run.suite,
                    "v": STAGE_VERSIONS["eval"]})
    if (m := _fresh("eval", out, completed(out, key))) is not None:
        return _skip("eval", m)
    tok_path = tokenizer_file(run.scale["tokenizer"]["name"], run.scale["tokenizer"].get("sha256"))
    result = evaluate(model_dir=run.folder(TRAIN) / "model", tokenizer_file=tok_path, suite=run.suite,
                      out_dir=out, seq_len=run.scale["model"]["seq_len"],
                      heldout_texts=heldout_texts(run), train_tokens=run.folder(TOKENIZE) / "tokens.npy",
                      run_dir=run.dir, progress=run.cfg["progress"])
    return write_manifest(out, EVAL.kind, key, parents={TRAIN.kind: tr.content_id, TOKENIZE.kind: tok.content_id},
                          config={"suite": run.suite}, stats=result.get("stats", {}))


STAGE_FUNCS = {"pool": stage_pool, "curate": stage_curate, "tokenize": stage_tokenize,
               "train": stage_train, "eval": stage_eval}


def run_stage(run: Run, stage: str) -> Manifest | None:
    t0 = time.time()
    log.info("== %s (%s)", stage, run.dir.name)
    try:
        m = STAGE_FUNCS[stage](run)
    except Exception as e:   # a full disk: name the stage's folder and the space it needs (winnow.space)
        if not disk_full(e) or isinstance(e, DiskFull):
            raise
        folder = run.folder(BY_NAME[stage])
        raise DiskFull(folder, *stage_need(run, stage, folder), f"the {stage} stage") from e
    log.info("== %s done in %.1f s", stage, time.time() - t0)
    return m


def run_stages(run: Run, stages=STAGES) -> dict[str, Manifest]:
    """Run ``stages`` in order (each skipped when up to date); their manifests by stage. Under
    torchrun, see ``run_stages_ranked``."""
    rank, world = launch_rank()
    if world > 1:
        return run_stages_ranked(run, stages, rank, world)
    return {s: run_stage(run, s) for s in stages}


# ------------------------------------------------------------------------------ under torchrun
DATA_FAILED = "data_failed.json"  # in the run folder: rank 0's data stage raised (read by the other ranks)
WAIT_POLL_S = 10.0  # how often the other ranks look at the run folder
WAIT_LOG_S = 300.0  # how often they say that they are still waiting
# A failure marker counts only when written by this launch: same launch_id and not older than
# the start of the wait minus this much (clock skew between nodes, ranks starting apart). It
# keeps a marker left by an earlier launch (rank 0 also deletes it when it starts) from
# stopping this one.
MARKER_GRACE_S = 120.0
LAUNCH_KEYS = ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "MASTER_PORT", "SLURM_JOB_ID",
               "SLURM_RESTART_COUNT", "WORLD_SIZE")


def launch_rank(environ=os.environ) -> tuple[int, int]:
    """(global rank, world size) of this process under torchrun; (0, 1) outside it."""
    if not any(k in environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return 0, 1
    from winnow.train.distributed import env_from_torchrun  # torch

    try:
        rank, world, _ = env_from_torchrun(environ)
    except ValueError as e:
        raise StageError(str(e)) from None
    return rank, world


def is_main_process() -> bool:
    """True outside torchrun and on its global rank 0: the process that writes shared files."""
    return launch_rank()[0] == 0


def launch_id(environ=os.environ) -> str:
    """What every rank of one launch shares and a relaunch (torchrun restart, Slurm requeue, new
    rendezvous) changes; equal for two plain ``torchrun`` launches on the same port."""
    return " ".join(f"{k}={environ.get(k, '')}" for k in LAUNCH_KEYS)


def run_stages_ranked(run: Run, stages, rank: int, world: int) -> dict[str, Manifest]:
    """``run_stages`` on one of ``world`` ranks: the data stages on global rank 0 only (the other
    ranks wait for them), train on every rank, eval on rank 0 only. A data-only verb (pool,
    curate, tokenize) leaves the other ranks nothing to do."""
    done: dict[str, Manifest] = {}
    if rank == 0:
        done.update(run_data_stages_or_mark(run, [s for s in stages if s in DATA_STAGES]))
    elif "train" in stages:
        done.update(wait_for_data(run, rank, world))
    if "train" in stages and (m := run_stage(run, "train")) is not None:
        done["train"] = m
    if "eval" in stages and rank == 0:
        done["eval"] = run_stage(run, "eval")
    return done


def run_data_stages_or_mark(run: Run, stages) -> dict[str, Manifest]:
    """Rank 0: run the data stages; if one raises, leave ``DATA_FAILED`` for the waiting ranks."""
    (run.dir / DATA_FAILED).unlink(missing_ok=True)  # an earlier launch's
    done = {}
    for s in stages:
        try:
            done[s] = run_stage(run, s)
        except BaseException as e:
            write_json(run.dir / DATA_FAILED, {
                "stage": s, "error": f"{type(e).__name__}: {e}", "host": socket.gethostname(),
                "pid": os.getpid(), "time": time.time(), "launch": launch_id()})
            raise
    return done


def data_ready(run: Run) -> dict[str, Manifest] | None:
    """The pool, curated and tokenized manifests when all three are up to date for ``run``
    (input keys checked, nothing written), else None. A tokenized stage of an earlier, other
    chain left in the folder does not count."""
    pool_m = read_manifest(run.pool_dir)
    if pool_m is None:
        return None
    cur = curated_manifest(run, pool_m.content_id)
    if cur is None:
        return None
    tok = completed(run.folder(TOKENIZE), tokenize_key(run, cur.content_id))
    if tok is None:
        return None
    return {"pool": pool_m, "curate": cur, "tokenize": tok}


def data_failure(run: Run, since: float) -> dict | None:
    """Rank 0's failure marker if this launch wrote it (see ``MARKER_GRACE_S``), else None."""
    try:
        marker = read_json(run.dir / DATA_FAILED)
    except (FileNotFoundError, ValueError):  # absent, or (never, it is renamed into place) partial
        return None
    if marker.get("launch") != launch_id() or float(marker.get("time", 0)) < since - MARKER_GRACE_S:
        return None
    return marker


def wait_for_data(run: Run, rank: int, world: int, *, poll_s: float = WAIT_POLL_S,
                  log_s: float = WAIT_LOG_S) -> dict[str, Manifest]:
    """A rank other than 0: poll the run folder until rank 0 has built the data stages (their
    manifests, as ``data_ready``); raise StageError if rank 0 reports that one failed. No
    collective is involved, so hours of curation time nothing out. One line every ``log_s``
    seconds from one waiting rank per node (rank 1 on rank 0's node, local rank 0 on the
    others); the other ranks log at debug level."""
    since, t0 = time.time(), time.monotonic()
    loud = rank == 1 or os.environ.get("LOCAL_RANK", "0") == "0"
    level = logging.INFO if loud else logging.DEBUG
    next_log = 0.0
    while (ready := data_ready(run)) is None:
        if (failed := data_failure(run, since)) is not None:
            raise StageError(f"rank {rank} of {world}: rank 0 (host {failed.get('host')}) failed in its "
                             f"{failed.get('stage')} stage: {failed.get('error')} (its log has the details; "
                             f"{run.dir / DATA_FAILED})")
        waited = time.monotonic() - t0
        if waited >= next_log:
            log.log(level, "rank %d of %d: waiting for rank 0 to build the data stages (pool, curate, "
                    "tokenize) of %s: %.0f min so far, looking every %g s", rank, world, run.dir,
                    waited / 60, poll_s)
            next_log += log_s
        time.sleep(poll_s)
    log.log(level, "rank %d of %d: the data stages are ready after %.0f s (tokenized %s)", rank, world,
            time.monotonic() - t0, ready["tokenize"].short)
    return ready

