"""Score every document, then keep the best: the frame of the model-based selection steps.

``ScoringStep`` (a GlobalStep) reads its input once for ids and sizes, calls ``fit`` (train or
load a model; may read the input again), ``score_shard`` on every shard, turns scores into a
ranking (``priority``: scores by default, scores plus keyed noise for GPT-3's Pareto selection
or DSIR's Gumbel top-k), lets ``Selection`` choose, and writes kept documents with the score
in ``meta.<score_key>``. ``fasttext_quality``, ``target_classifier`` and ``dsir`` are built on it.

Selection (``Selection``; exactly one of the first four):

* ``keep_fraction: f``: the ``round(f * n)`` best-scored documents (DCLM-Baseline: 0.1);
* ``top_k: k``: the ``k`` best;
* ``threshold: t``: every document scoring ``>= t`` (DCLM's ``quality_filter`` semantics);
* ``tokens: N | budget`` (x ``multiplier``): the best documents until their estimated tokens
  (UTF-8 bytes / ``ctx.bytes_per_token``) reach N (``budget``: the scale's train_tokens);
* ``min_tokens: N | budget`` (x ``multiplier``, optional with any mode): when what the mode keeps
  holds fewer estimated tokens than that, keep going down the ranking until it does. On a small
  pool this keeps a "top 10%" recipe from starving the scale's token budget.

The step counts documents in as it first reads them (before ``fit``, which may take minutes) and
kept / dropped as it writes them, so the pipeline's heartbeat shows numbers while it works.

Ties are broken by ``rank_key(seed, id)`` (``random_sample``'s rank key), so the kept set does
not depend on input order. Negatives for a classifier are drawn in the order of a salted keyed
hash of (seed, id) (``negative_order``), the same documents for any shard layout.
``model_record`` writes ``<out_dir>/model/model.json`` (the model's sha256, its settings and
training-data hashes) beside the model file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common.keys import rank_key
from winnow.curate.common.params import check_tokens
from winnow.docs import read_docs, write_docs
from winnow.io import sha256_file, write_json

DEFAULT_REFERENCE = "debian_tutorials_v1"  # the positives / target when a recipe names none


class Selection:
    """Which scored documents to keep: a mode over a priority (higher = kept first)."""

    MODES = ("keep_fraction", "top_k", "threshold", "tokens")

    def __init__(self, keep_fraction: float | None = None, top_k: int | None = None,
                 threshold: float | None = None, tokens: int | str | None = None,
                 multiplier: float = 1.0, min_tokens: int | str | None = None,
                 external_mode: str | None = None):
        given = [m for m, v in zip(self.MODES, (keep_fraction, top_k, threshold, tokens))
                 if v is not None]
        if external_mode is not None:
            if given:
                raise ParamError(given[0], f"{external_mode} decides which documents to keep; "
                                           f"remove {', '.join(given)}")
        elif len(given) != 1:
            what = "none" if not given else ", ".join(given)
            raise ParamError("keep_fraction", "give exactly one of keep_fraction, top_k, threshold "
                                              f"and tokens (got {what})")
        if keep_fraction is not None and (isinstance(keep_fraction, bool)
                                          or not 0 < keep_fraction <= 1):
            raise ParamError("keep_fraction", f"must be in (0, 1], got {keep_fraction!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                                  or top_k < 1):
            raise ParamError("top_k", f"must be an integer >= 1, got {top_k!r}")
        check_tokens("tokens", tokens)
        check_tokens("min_tokens", min_tokens)
        if isinstance(multiplier, bool) or not multiplier > 0:
            raise ParamError("multiplier", f"must be > 0, got {multiplier!r}")
        if multiplier != 1.0 and tokens is None and min_tokens is None:
            raise ParamError("multiplier", "scales `tokens` / `min_tokens` only; give one of them")
        self.keep_fraction, self.top_k, self.threshold = keep_fraction, top_k, threshold
        self.tokens, self.multiplier, self.min_tokens = tokens, multiplier, min_tokens
        # sized in tokens: by the scale's budget and its tokenizer's bytes per token
        self.budget_dependent = tokens is not None or min_tokens is not None
        self.external_mode = external_mode

    def _budget(self, value, ctx: StepContext, name: str) -> float:
        if value == "budget":
            if not ctx.train_tokens:
                raise StepError(f"{name}: budget needs the scale's train_tokens "
                                "(StepContext.train_tokens), which the caller did not set")
            return ctx.train_tokens * self.multiplier
        return float(value) * self.multiplier

    def choose(self, priority: np.ndarray, ids: list[str], nbytes: np.ndarray, seed: int,
               ctx: StepContext, eligible: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Keep mask over documents (input order) and numbers for the counters."""
        n = len(ids)
        priority = np.asarray(priority, dtype=np.float64)
        if eligible is None:
            eligible = np.ones(n, dtype=bool)
        tiebreak = np.array([rank_key(seed, i) for i in ids], dtype=np.uint64)
        # ineligible last, then by priority (desc), then by the keyed hash
        order = np.lexsort((tiebreak, -np.where(eligible, priority, -np.inf), ~eligible))
        n_elig = int(eligible.sum())
        need_tokens = self.tokens is not None or self.min_tokens is not None
        cum = None
        if need_tokens:
            ctx.estimate_tokens(0)  # fails early, naming bytes_per_token
            cum = np.cumsum(nbytes[order].astype(np.float64) / ctx.bytes_per_token)
        info: dict = {}
        if self.external_mode is not None:
            n_keep = int((priority[eligible] > 0).sum())
        elif self.keep_fraction is not None:
            n_keep = min(n_elig, math.floor(self.keep_fraction * n_elig + 0.5))
        elif self.top_k is not None:
            n_keep = min(n_elig, self.top_k)
        elif self.threshold is not None:
            n_keep = int((priority[eligible] >= self.threshold).sum())
        else:
            budget = self._budget(self.tokens, ctx, "tokens")
            n_keep = min(n_elig, int(np.searchsorted(cum, budget, side="right")))
            info["budget_tokens"] = budget
        if self.min_tokens is not None:
            floor_tokens = self._budget(self.min_tokens, ctx, "min_tokens")
            n_min = min(n_elig, int(np.searchsorted(cum, floor_tokens, side="left")) + 1)
            info["min_tokens"] = floor_tokens
            info["extended_for_min_tokens"] = max(0, n_min - n_keep)
            n_keep = max(n_keep, n_min)
        keep = np.zeros(n, dtype=bool)
        keep[order[:n_keep]] = True
        info["kept_fraction"] = n_keep / n if n else 0.0
        if n_keep:
            info["score_cutoff"] = float(priority[order[n_keep - 1]])
        if cum is not None and n:
            info["est_tokens_in"] = float(np.sum(nbytes) / ctx.bytes_per_token)
            info["est_tokens_kept"] = float(cum[n_keep - 1]) if n_keep else 0.0
        return keep, info


# --------------------------------------------------------------------------- the frame

class ScoringStep(GlobalStep):
    """Score every document (``fit`` then ``score_shard``), select, write with the score in meta.

    Subclasses set ``score_key``, ``reason``, ``selection`` and ``seed`` and implement ``fit``
    (may read the input again; returns info numbers) and ``score_shard`` (scores of one shard's
    documents, in order). ``priority`` turns scores into the selection's ranking.
    """

    score_key = "score"
    reason = "low_score"
    selection: Selection
    seed: int | None = None
    ineligible_reason = "ineligible"
    # the seed draws negatives, trains, adds noise and breaks score ties; subclasses' __init__
    # settle both by their `seed:` (a fixed one replaces the run seed) and selection parameters
    seed_dependent = True
    budget_dependent = True

    def fit(self, input_shards: list[Path], ids: list[str], seed: int, out_dir: Path,
            ctx: StepContext) -> dict:
        raise NotImplementedError

    def score_shard(self, shard: Path) -> tuple[np.ndarray, np.ndarray | None]:
        """(scores, eligible mask or None) of the shard's documents, in order."""
        raise NotImplementedError

    def priority(self, scores: np.ndarray, ids: list[str], seed: int) -> np.ndarray:
        return scores

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        shards = [Path(p) for p in input_shards]
        names = [p.name for p in shards]
        if len(set(names)) != len(names):
            raise StepError(f"{self.step_name}: input shards must have distinct file names")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        seed = int(self.seed if self.seed is not None else ctx.seed)
        ids: list[str] = []
        nbytes: list[int] = []
        nwords: list[int] = []
        c = self.counters
        for shard in shards:   # counted here, as read, so the heartbeat shows it while fit works
            for doc in read_docs(shard):
                c.docs_in += 1
                ids.append(doc["id"])
                nbytes.append(len(doc["text"].encode("utf-8")))
                nwords.append(len(doc["text"].split()))
        self._nwords = np.asarray(nwords, dtype=np.int64)
        if len(set(ids)) != len(ids):
            raise StepError(f"{self.step_name}: document ids are not unique in the input; the "
                            "selection is keyed by id")
        info = self.fit(shards, ids, seed, out_dir, ctx)
        parts, elig_parts = [], []
        for shard in shards:
            s, e = self.score_shard(shard)
            parts.append(np.asarray(s, dtype=np.float64))
            elig_parts.append(np.ones(len(s), dtype=bool) if e is None else np.asarray(e, bool))
        scores = np.concatenate(parts) if parts else np.empty(0)
        eligible = np.concatenate(elig_parts) if elig_parts else np.empty(0, dtype=bool)
        if len(scores) != len(ids):
            raise StepError(f"{self.step_name}: scored {len(scores)} documents, read {len(ids)}")
        priority = self.priority(scores, ids, seed)
        keep, sel_info = self.selection.choose(priority, ids, np.asarray(nbytes), seed, ctx,
                                               eligible)
        info.update(sel_info)
        for k, v in info.items():
            c.info[k] = v
        outputs = []
        pos = 0
        for shard in shards:
            sampler = DropSampler()

            def docs(shard=shard, sampler=sampler):
                nonlocal pos
                for doc in read_docs(shard):
                    meta = dict(doc.get("meta") or {})
                    meta[self.score_key] = float(scores[pos])
                    doc = {**doc, "meta": meta}
                    if keep[pos]:
                        c.docs_out += 1
                        yield doc
                    else:
                        why = self.reason if eligible[pos] else self.ineligible_reason
                        c.drop(why)
                        sampler.add(self.step_index, self.step_name, why, doc)
                    pos += 1

            out = out_dir / shard.name
            write_docs(out, docs())
            sampler.write(out_dir / "dropped" / shard.name)
            outputs.append(out)
        return outputs


def negative_order(ids: list[str], seed: int) -> np.ndarray:
    """Positions of the input documents in the order negatives are drawn: a keyed hash of
    (seed, id), salted so it is not the order ``random_sample`` with this seed keeps."""
    salt_seed = (int(seed) * 1_000_003 + 0x5EED) % (1 << 63)
    keys = np.array([rank_key(salt_seed, i) for i in ids], dtype=np.uint64)
    return np.argsort(keys, kind="stable")


def draw_negatives(shards: list[Path], ids: list[str], n: int, seed: int,
                   chosen: np.ndarray | None = None) -> list[str]:
    """Texts of the first ``n`` input documents in ``negative_order`` (or of the positions
    ``chosen``), in that order: the same documents for any shard layout."""
    if chosen is None:
        chosen = negative_order(ids, seed)[:n]
    want = {ids[i]: r for r, i in enumerate(chosen)}
    texts: list[str | None] = [None] * len(want)
    for shard in shards:
        for doc in read_docs(shard):
            r = want.get(doc["id"])
            if r is not None:
                texts[r] = doc["text"]
    return [t for t in texts if t is not None]


def model_record(out_dir: Path, model_path: Path, record: dict) -> str:
    """Write ``<out_dir>/model/model.json`` (the model file's sha256 and ``record``); the sha."""
    sha = sha256_file(model_path)
    write_json(out_dir / "model" / "model.json", {"model_sha256": sha, **record})
    return sha
