"""The artifact chain: pool -> curated -> tokenized -> train -> eval, one folder and manifest each.

Every stage is a function of a prepared ``Run``. A stage computes its *input key* (parents'
content ids + its config + its version); if the stage folder's manifest has that key the stage is
skipped, otherwise it (re)runs, resuming from whatever its own markers or checkpoints left, and
writes its manifest last. A run folder is ``$WINNOW_HOME/runs/<submission>__<scale>__<key8>/``
with ``run.json`` (the resolved config), ``curated/``, ``tokenized/``, ``train/``, ``eval/<suite>/``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from winnow.config import RunConfig, load_run_config
from winnow.io import read_json, write_json
from winnow.manifest import Manifest, completed, hash_obj, read_manifest, write_manifest
from winnow.paths import winnow_home
from winnow.submission import Submission, load_submission

log = logging.getLogger("winnow")

# Bump a stage's version whenever its code changes an output byte: it is part of the input key.
# eval 2: 53 DCLM tasks with llm-foundry few-shot prompts, DCLM aggregates (core_*, extended_*,
# categories, core_prob_v1), their stderrs and missing-task reports in results.json.
# eval 3: the output head runs on continuation positions only and batches hold 32 requests
# (same log-likelihoods up to fp32 rounding of other matrix shapes).
STAGE_VERSIONS = {"curate": 1, "tokenize": 1, "train": 1, "eval": 3}
STAGES = ("pool", "curate", "tokenize", "train", "eval")


class StageError(RuntimeError):
    pass


@dataclass
class Run:
    rc: RunConfig
    submission: Submission
    dir: Path

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
    def seed(self) -> int:
        return int(self.cfg["seed"])


def run_key(rc: RunConfig, sub: Submission) -> str:
    cfg = rc.cfg
    return hash_obj({"submission": sub.name, "fingerprint": sub.fingerprint, "scale": cfg["scale"],
                     "suite": cfg["suite"], "seed": cfg["seed"], "pool": cfg["pool"]})


def prepare(overrides: list[str] | None = None) -> Run:
    rc = load_run_config(overrides)
    sub = load_submission(rc.cfg["submission"], allow_code=bool(rc.cfg.get("allow_code")))
    key = run_key(rc, sub)
    d = winnow_home() / "runs" / f"{sub.slug}__{rc.cfg['scale']['name']}__{key[:8]}"
    d.mkdir(parents=True, exist_ok=True)
    info = {"run_id": d.name, "run_key": key, "submission": sub.name, "fingerprint": sub.fingerprint,
            "submission_folder": str(sub.folder), "track": sub.recipe.track,
            "scale": rc.cfg["scale"]["name"], "scale_version": rc.cfg["scale"]["version"],
            "suite": rc.cfg["suite"]["name"], "suite_version": rc.cfg["suite"]["version"],
            "seed": rc.cfg["seed"], "official": rc.official, "unofficial": rc.unofficial,
            "overrides": rc.overrides, "allow_code": bool(rc.cfg.get("allow_code")),
            "plugins": [str(p) for p in getattr(sub.recipe, "plugins", []) or []], "config": rc.cfg}
    write_json(d / "run.json", info)
    return Run(rc=rc, submission=sub, dir=d)


def _need(folder: Path, what: str) -> Manifest:
    m = read_manifest(folder)
    if m is None:
        raise StageError(f"{folder}: the {what} stage has not finished; run `winnow {what}` first "
                         "(or `winnow run`, which runs every stage)")
    return m


def _skip(stage: str, m: Manifest) -> Manifest:
    log.info("%s: up to date (content id %s), skipped", stage, m.short)
    return m


# ----------------------------------------------------------------------------------------- pool
def stage_pool(run: Run) -> Manifest:
    from winnow.pool.build import build_pool

    return build_pool(run.cfg["pool"], progress=run.cfg["progress"])


def pool_inputs(run: Run) -> list[Path]:
    from winnow.pool.build import pool_shards

    return pool_shards(run.cfg["pool"], run.scale["pool"].get("shards"))


# --------------------------------------------------------------------------------------- curate
def stage_curate(run: Run) -> Manifest:
    from winnow.curate.base import StepContext
    from winnow.curate.engine import ENGINES
    from winnow.curate.pipeline import curate, format_stats
    from winnow.pool.build import pool_dir
    from winnow.tokenize.bpe import spec

    pool_m = _need(pool_dir(run.cfg["pool"]["name"], run.cfg["pool"]["version"]), "pool")
    shards = pool_inputs(run)
    out = run.dir / "curated"
    tok = spec(run.scale["tokenizer"]["name"])
    train_tokens = derive(run)["tokens"]
    key = hash_obj({"pool": pool_m.content_id, "shards": [s.name for s in shards],
                    "fingerprint": run.submission.fingerprint, "seed": run.seed,
                    "train_tokens": train_tokens, "bytes_per_token": tok.bytes_per_token,
                    "v": STAGE_VERSIONS["curate"]})
    if (m := completed(out, key)) is not None:
        return _skip("curate", m)
    engine_cfg = run.cfg["engine"]
    engine = ENGINES.get(engine_cfg["name"])(**{k: v for k, v in engine_cfg.items() if k != "name"})
    ctx = StepContext(seed=run.seed, workers=engine_cfg.get("workers"), work_dir=out / "_work",
                      train_tokens=train_tokens, bytes_per_token=tok.bytes_per_token)
    log.info("curate: %s over %d pool shards", run.submission.name, len(shards))
    stats = curate(run.submission.recipe, shards, out, ctx, engine)
    print(format_stats(stats))
    return write_manifest(out, "curated", key, parents={"pool": pool_m.content_id},
                          config={"submission": run.submission.name,
                                  "fingerprint": run.submission.fingerprint, "seed": run.seed},
                          stats=stats,
                          # stats.json holds timings: it lives in the manifest's stats, not its hashes
                          files=[p.relative_to(out).as_posix() for p in sorted((out / "shards").glob("*"))])


# ------------------------------------------------------------------------------------- tokenize
def derive(run: Run) -> dict:
    from winnow.train.loop import derive as train_derive

    return train_derive(run.scale["model"], run.scale["train"])


def tokenize_inputs(run: Run, curated_id: str) -> tuple[dict, dict, list | None]:
    """(input-key parts, manifest config, stages) of the tokenize stage.

    A recipe with ``stages:`` (order track) adds its canonical stages and the staged packing's
    version; without stages the key and config are exactly those of every earlier run, so
    committed rows keep their chain.
    """
    seq_len = run.scale["model"]["seq_len"]
    n_seq = derive(run)["steps"] * run.scale["train"]["batch_size"]
    key_parts = {"curated": curated_id, "tokenizer": run.scale["tokenizer"], "seq_len": seq_len,
                 "n_sequences": n_seq, "seed": run.seed, "v": STAGE_VERSIONS["tokenize"]}
    config = {"tokenizer": run.scale["tokenizer"], "seq_len": seq_len, "n_sequences": n_seq,
              "seed": run.seed}
    stages = getattr(run.submission.recipe, "stages", None) or None
    if stages:
        from winnow.tokenize.stages import STAGED_PACK_VERSION, canonical

        config["stages"] = canonical(stages)
        key_parts["stages"] = {"stages": config["stages"], "v": STAGED_PACK_VERSION}
    return key_parts, config, stages


def stage_tokenize(run: Run) -> Manifest:
    from winnow.tokenize.bpe import tokenizer_file
    from winnow.tokenize.pack import pack

    cur = _need(run.dir / "curated", "curate")
    out = run.dir / "tokenized"
    tok_path = tokenizer_file(run.scale["tokenizer"]["name"], run.scale["tokenizer"].get("sha256"))
    key_parts, config, stages = tokenize_inputs(run, cur.content_id)
    seq_len, n_seq = config["seq_len"], config["n_sequences"]
    key = hash_obj(key_parts)
    if (m := completed(out, key)) is not None:
        return _skip("tokenize", m)
    shards = sorted((run.dir / "curated" / "shards").glob("*.jsonl.zst"))
    stats = pack(shards=shards, tokenizer_path=tok_path, seq_len=seq_len, n_sequences=n_seq,
                 seed=run.seed, out_dir=out, progress=run.cfg["progress"], stages=stages)
    log.info("tokenize: %d sequences x %d tokens, %.2f passes over the curated data%s",
             n_seq, seq_len + 1, stats["passes"],
             f" ({len(stages)} stages, in order)" if stages else "")
    return write_manifest(out, "tokenized", key, parents={"curated": cur.content_id},
                          config=config, stats=stats, files=["tokens.npy", "order.json"])


# ---------------------------------------------------------------------------------------- train
def stage_train(run: Run) -> Manifest:
    from winnow.train.loop import RESUME_NEUTRAL_KEYS, train_model

    tok = _need(run.dir / "tokenized", "tokenize")
    out = run.dir / "train"
    # speed and bookkeeping settings (threads, micro batch, checkpoint interval...) are not part
    # of what is trained: leaving them out lets a run resume under other ones
    train_cfg = {k: v for k, v in run.scale["train"].items() if k not in RESUME_NEUTRAL_KEYS}
    key = hash_obj({"tokenized": tok.content_id, "model": run.scale["model"],
                    "train": train_cfg, "seed": run.seed, "v": STAGE_VERSIONS["train"]})
    if (m := completed(out, key)) is not None:
        return _skip("train", m)
    stats = train_model(model_cfg=run.scale["model"], train_cfg=run.scale["train"],
                        tokens_path=run.dir / "tokenized" / "tokens.npy", out_dir=out,
                        seed=run.seed, progress=run.cfg["progress"])
    files = [p.relative_to(out).as_posix() for p in sorted((out / "model").iterdir())]
    return write_manifest(out, "train", key, parents={"tokenized": tok.content_id},
                          config={"model": run.scale["model"], "train": run.scale["train"],
                                  "seed": run.seed}, stats=stats, files=files)


# ----------------------------------------------------------------------------------------- eval
def heldout_texts(run: Run) -> list[str]:
    from winnow.docs import read_docs
    from winnow.pool.build import HELDOUT, pool_dir

    path = pool_dir(run.cfg["pool"]["name"], run.cfg["pool"]["version"]) / HELDOUT
    return [d["text"] for d in read_docs(path) if d["text"].strip()]


def stage_eval(run: Run) -> Manifest:
    import winnow.train.model  # noqa: F401  (registers winnow's architecture with the Auto classes)
    from winnow.eval.runner import evaluate
    from winnow.tokenize.bpe import tokenizer_file

    tr = _need(run.dir / "train", "train")
    tok = _need(run.dir / "tokenized", "tokenize")
    out = run.dir / "eval" / run.suite["name"]
    key = hash_obj({"train": tr.content_id, "tokenized": tok.content_id, "suite": run.suite,
                    "v": STAGE_VERSIONS["eval"]})
    if (m := completed(out, key)) is not None:
        return _skip("eval", m)
    tok_path = tokenizer_file(run.scale["tokenizer"]["name"], run.scale["tokenizer"].get("sha256"))
    result = evaluate(model_dir=run.dir / "train" / "model", tokenizer_file=tok_path, suite=run.suite,
                      out_dir=out, seq_len=run.scale["model"]["seq_len"],
                      heldout_texts=heldout_texts(run), train_tokens=run.dir / "tokenized" / "tokens.npy",
                      seed=run.suite.get("seed", 1234), progress=run.cfg["progress"])
    return write_manifest(out, "eval", key, parents={"train": tr.content_id, "tokenized": tok.content_id},
                          config={"suite": run.suite}, stats=result.get("stats", {}))


STAGE_FUNCS = {"pool": stage_pool, "curate": stage_curate, "tokenize": stage_tokenize,
               "train": stage_train, "eval": stage_eval}


def run_stages(run: Run, stages=STAGES) -> dict[str, Manifest]:
    done = {}
    for s in stages:
        t0 = time.time()
        log.info("== %s (%s)", s, run.dir.name)
        done[s] = STAGE_FUNCS[s](run)
        log.info("== %s done in %.1f s", s, time.time() - t0)
    return done


def chain(run_dir: Path) -> dict[str, Path]:
    """The stage folders of a run, in order (those that exist)."""
    info = read_json(run_dir / "run.json")
    folders = {"curate": run_dir / "curated", "tokenize": run_dir / "tokenized",
               "train": run_dir / "train", "eval": run_dir / "eval" / info["suite"]}
    return {k: v for k, v in folders.items() if v.exists()}
