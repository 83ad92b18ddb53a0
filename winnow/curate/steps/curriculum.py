"""Curriculum stages: score each document's difficulty and label it with a quantile stage.

Registered as ``curriculum_stages`` (a GlobalStep; drops nothing). After TinyHelen (Yang et
al., "TinyHelen's First Curriculum", 2024/2025), whose curricula order training data from easy
to hard. Every document gets ``meta.stage``: its difficulty quantile among the step's input,
``0`` = easiest, ``count - 1`` = hardest; with ``count: 20`` a stage is a 5% slice. An
order-track recipe then trains on the stages in order (``stages:``, ``winnow.tokenize.stages``;
``{count: 20, cumulative: true, shares: equal}`` grows the training set by 5% of the documents
per stage, TinyHelen's growing-data schedule with a fixed, precomputed plan).

Difficulty (``by``, a registry: ``DIFFICULTY``; higher = harder):

* ``lm_loss`` — TinyHelen's ITER. LM-LOSS difficulty, one iteration: the mean per-token
  cross-entropy of a tiny *reference LM* on the document's first ``seq_len`` tokens. The
  reference LM is the ``dsdm_select`` proxy (``winnow.curate.common.proxy``): trained from the
  seed for ``proxy_steps`` AdamW steps on the ``proxy_docs`` input documents of lowest keyed
  hash (a seeded random sample of the input). The sampled documents are also scored (the model
  has seen them once or so; see the baseline's README).
* ``sentence_length`` — mean words per sentence (sentences split after ``.``, ``!``, ``?``
  followed by whitespace, and at line breaks; words are runs of non-space characters); a cheap
  readability control.
* ``random`` — ``rank_key(seed, "curriculum_stages:" + id) / 2**64``: a seeded random order
  (salted, so it is independent of ``random_sample``'s ranking with the same seed), the
  control that separates "ordered" from "staged".

Stages: documents sorted by (difficulty, input position) — empty documents (no token to score)
count as hardest — and document ``r`` of ``n`` in that order gets ``stage = r * count // n``
(equal document counts per stage, up to one). Fewer input documents than ``count`` is an error
(a stage would be empty). Each output document also carries ``meta.difficulty`` (a float, or
null when it could not be scored). Outputs keep the input shards' names and document order.

Resumable (``winnow.curate.common.partial``): ``proxy.pt`` (``lm_loss``) and per-shard
difficulties. Counters' ``info``: ``flops`` (``lm_loss``: proxy training plus scoring
forwards, ``flops_train`` + ``flops_score``; 0 otherwise), ``proxy_params``,
``proxy_final_loss``, ``proxy_cpu_seconds``, ``score_seconds``, ``stages``, difficulty min,
median and max. Determinism: as ``dsdm_select`` (same thread count, same numbers).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from winnow.curate.base import Counters, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common import proxy as px
from winnow.curate.common.keys import rank_key
from winnow.curate.common.partial import load_array, load_json, open_partial, save_array, save_json
from winnow.docs import read_docs, write_docs
from winnow.io import atomic_path
from winnow.registry import suggest
from winnow.tokenize.stages import META_KEY

RANDOM_SALT = "curriculum_stages:"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentence_length(text: str) -> float:
    """Mean words per sentence (0.0 for a text without words)."""
    counts = [len(s.split()) for s in _SENTENCE_END.split(text)]
    counts = [c for c in counts if c]
    return sum(counts) / len(counts) if counts else 0.0


class Scorer:
    """Difficulty of documents, shard by shard; ``prepare`` runs once before the first shard."""

    flops_per_token = 0.0
    uses_torch = False  # torch's threads are bounded to the engine's workers while it scores
    seeded = True       # the difficulty depends on the seed (CurriculumStages.seed_dependent)

    def __init__(self, step: "CurriculumStages", seed: int):
        self.step, self.seed = step, seed

    def prepare(self, shards: list[Path], part) -> None:
        """Once per run, before scoring (train or load a model)."""

    def score(self, docs: list[dict]) -> tuple[np.ndarray, int]:
        """(difficulty per document, tokens scored)."""
        raise NotImplementedError

    def info(self, part) -> dict:
        return {}


class LmLoss(Scorer):
    """Mean per-token loss of the seeded reference LM (the dsdm proxy)."""

    uses_torch = True

    def prepare(self, shards: list[Path], part) -> None:
        import torch
        from winnow.train.model import flops_per_token

        s = self.step
        self.tok = px.load_tokenizer(s.tokenizer)
        self.config = px.proxy_config(self.tok.get_vocab_size(), s.proxy_d_model,
                                      s.proxy_layers, s.proxy_heads, s.seq_len)
        self.flops_per_token = flops_per_token(self.config) / 3  # forward only
        path = part.root / "proxy.pt"
        if part.done("proxy") and path.exists():
            self.model = px.load_proxy(path, self.config, self.seed)
            return
        t0 = time.process_time()
        texts = px.sample_texts(shards, self.seed, s.proxy_docs)
        model, stats = px.train_proxy(texts, self.tok, self.config, steps=s.proxy_steps,
                                      batch=s.proxy_batch, lr=s.proxy_lr, seed=self.seed,
                                      who="curriculum_stages")
        with atomic_path(path) as tmp:
            torch.save(model.state_dict(), tmp)
        save_json(part.path("proxy.json"), {**stats, "cpu_seconds": time.process_time() - t0})
        part.mark("proxy")
        self.model = model

    def score(self, docs: list[dict]) -> tuple[np.ndarray, int]:
        if not docs:
            return np.empty(0), 0
        return px.doc_losses(self.model, self.tok, [d["text"] for d in docs], self.step.seq_len)

    def info(self, part) -> dict:
        proxy = load_json(part.root / "proxy.json")
        return {"flops_train": proxy["flops"], "proxy_params": proxy["params"],
                "proxy_final_loss": round(proxy["final_loss"], 6),
                "proxy_cpu_seconds": round(proxy["cpu_seconds"], 3)}


class SentenceLength(Scorer):
    """Mean words per sentence."""

    seeded = False

    def score(self, docs: list[dict]) -> tuple[np.ndarray, int]:
        return np.array([sentence_length(d["text"]) for d in docs], dtype=np.float64), 0


class RandomOrder(Scorer):
    """A seeded hash of the id, uniform in [0, 1)."""

    def score(self, docs: list[dict]) -> tuple[np.ndarray, int]:
        return np.array([rank_key(self.seed, RANDOM_SALT + d["id"]) / 2.0 ** 64 for d in docs],
                        dtype=np.float64), 0


DIFFICULTY: dict[str, Callable[["CurriculumStages", int], Scorer]] = {
    "lm_loss": LmLoss, "sentence_length": SentenceLength, "random": RandomOrder}


def quantile_stages(difficulty: np.ndarray, count: int) -> np.ndarray:
    """Stage of each document: ``rank * count // n``, ranking by (difficulty, position), NaN
    (unscorable) last."""
    n = len(difficulty)
    key = np.where(np.isnan(difficulty), np.inf, difficulty)
    order = np.lexsort((np.arange(n), key))
    stage = np.empty(n, dtype=np.int64)
    stage[order] = np.arange(n, dtype=np.int64) * count // max(n, 1)
    return stage


class CurriculumStages(GlobalStep):
    """Label every document with ``meta.stage``: its difficulty quantile (0 = easiest).

    Parameters:

    * ``by``: the difficulty measure: ``lm_loss``, ``sentence_length`` or ``random``
    * ``count``: the number of stages (0 the easiest, ``count - 1`` the hardest)
    * ``proxy_docs``: how many input documents (of lowest keyed hash) the proxy LM trains on
    * ``proxy_steps``: AdamW steps of the proxy LM's training
    * ``proxy_batch``: the proxy LM's batch size, in sequences
    * ``proxy_lr``: the proxy LM's learning rate (10% linear warmup, then constant)
    * ``proxy_d_model``: the proxy LM's width
    * ``proxy_layers``: the proxy LM's layer count
    * ``proxy_heads``: the proxy LM's attention heads
    * ``seq_len``: the proxy LM's sequence length, in tokens (a document is scored on its first
      ``seq_len`` tokens)
    * ``tokenizer``: the committed tokenizer the proxy LM uses
    * ``seed``: a fixed seed (null: the run seed)
    """

    version = 1
    resumable = True
    seed_dependent = True     # by lm_loss or random, unless `seed:` (__init__)
    budget_dependent = False  # labels every input document; sizes nothing
    provides = (f"meta.{META_KEY}", "meta.difficulty")

    def __init__(self, by: str = "lm_loss", count: int = 20, proxy_docs: int = 2000,
                 proxy_steps: int = 150, proxy_batch: int = 16, proxy_lr: float = 3e-3,
                 proxy_d_model: int = 64, proxy_layers: int = 2, proxy_heads: int = 2,
                 seq_len: int = 128, tokenizer: str = "bpe1k-v1", seed: int | None = None):
        if by not in DIFFICULTY:
            raise ParamError("by", f"unknown difficulty {by!r}: "
                                   f"{suggest(str(by), list(DIFFICULTY))} "
                                   f"(known: {', '.join(DIFFICULTY)})")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ParamError("count", f"must be an integer >= 1 (stages 0..count-1), got {count!r}")
        px.check_proxy_params(proxy_docs=proxy_docs, proxy_steps=proxy_steps,
                              proxy_batch=proxy_batch, proxy_lr=proxy_lr,
                              proxy_d_model=proxy_d_model, proxy_layers=proxy_layers,
                              proxy_heads=proxy_heads, seq_len=seq_len, tokenizer=tokenizer)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")
        self.by, self.count, self.seed = by, count, seed
        # the run seed matters to a seeded difficulty (lm_loss, random) unless `seed:` is given
        self.seed_dependent = seed is None and DIFFICULTY[by].seeded
        self.proxy_docs, self.proxy_steps, self.proxy_batch = proxy_docs, proxy_steps, proxy_batch
        self.proxy_lr, self.proxy_d_model = proxy_lr, proxy_d_model
        self.proxy_layers, self.proxy_heads = proxy_layers, proxy_heads
        self.seq_len, self.tokenizer = seq_len, tokenizer

    @staticmethod
    def stage_labels(params: dict) -> set[int]:
        """The meta.stage labels this step gives (the recipe loader checks ``stages:`` with it)."""
        return set(range(int(params["count"])))

    def settings(self) -> dict:
        return {k: getattr(self, k) for k in (
            "by", "count", "proxy_docs", "proxy_steps", "proxy_batch", "proxy_lr",
            "proxy_d_model", "proxy_layers", "proxy_heads", "seq_len", "tokenizer")}

    def effective_seed(self, ctx: StepContext | None) -> int:
        return int(self.seed if self.seed is not None else (ctx.seed if ctx else 0))

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seed = self.effective_seed(ctx)
        shards, out_dir, part = open_partial("curriculum_stages", self.version, self.settings(),
                                             input_shards, out_dir, seed=seed)
        scorer = DIFFICULTY[self.by](self, seed)
        pending = [s for s in shards if not part.done("score", s.name)]
        threads = None
        try:
            if scorer.uses_torch:
                import torch

                threads = torch.get_num_threads()
                torch.set_num_threads(max(1, int(getattr(ctx, "workers", 1) or 1)))
            scorer.prepare(shards, part)
            for shard in pending:
                docs = list(read_docs(shard))
                t0 = time.perf_counter()
                diff, tokens = scorer.score(docs)
                save_array(part.path("score", shard.name + ".npy"), diff)
                save_json(part.path("score", shard.name + ".json"),
                          {"ids": [d["id"] for d in docs], "tokens": tokens,
                           "seconds": time.perf_counter() - t0})
                part.mark("score", shard.name)
        finally:
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
        return self._write(shards, out_dir, part, scorer)

    def _write(self, shards: list[Path], out_dir: Path, part, scorer: Scorer) -> list[Path]:
        diffs = [load_array(part.root / "score" / f"{s.name}.npy") for s in shards]
        metas = [load_json(part.root / "score" / f"{s.name}.json") for s in shards]
        difficulty = np.concatenate(diffs) if diffs else np.empty(0)
        n = len(difficulty)
        if n < self.count:
            raise StepError(f"curriculum_stages: {n} input documents cannot fill {self.count} "
                            "stages (each stage needs at least one); lower `count` or keep more "
                            "documents")
        stage = quantile_stages(difficulty, self.count)
        c = Counters()
        outputs = []
        off = 0
        for shard, meta in zip(shards, metas):
            ids = meta["ids"]

            def labelled(shard=shard, off=off, ids=ids):
                for i, doc in enumerate(read_docs(shard)):
                    if i >= len(ids) or doc["id"] != ids[i]:
                        raise StepError(f"curriculum_stages: {shard} changed while it was "
                                        "being scored")
                    c.docs_in += 1
                    c.docs_out += 1
                    d = float(difficulty[off + i])
                    doc = dict(doc)
                    doc["meta"] = {**(doc.get("meta") or {}), META_KEY: int(stage[off + i]),
                                   "difficulty": d if np.isfinite(d) else None}
                    yield doc

            out = out_dir / shard.name
            write_docs(out, labelled())
            outputs.append(out)
            off += len(ids)
        finite = difficulty[np.isfinite(difficulty)]
        scored_tokens = sum(m["tokens"] for m in metas)
        info = {"stages": self.count,
                "score_seconds": round(sum(m["seconds"] for m in metas), 3),
                "difficulty_min": float(finite.min()) if len(finite) else 0.0,
                "difficulty_median": float(np.median(finite)) if len(finite) else 0.0,
                "difficulty_max": float(finite.max()) if len(finite) else 0.0}
        info.update(scorer.info(part))
        info["flops_score"] = float(scorer.flops_per_token * scored_tokens)
        info["flops"] = info.get("flops_train", 0.0) + info["flops_score"]
        c.info = info
        self.counters = c
        return outputs
