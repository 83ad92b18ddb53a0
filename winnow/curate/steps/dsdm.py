"""DsDm-lite: model-aware, targeted data selection with a tiny proxy LM and TRAK-style scores.

Registered as ``dsdm_select``. Drop reason: ``not_selected``. A small-compute version of DsDm
(Engstrom, Feldmann and Madry 2024, "DsDm: Model-Aware Dataset Selection with Datamodels",
arXiv 2401.12926): DsDm estimates, for every candidate document, how much training on it
lowers a proxy model's loss on *target tasks* (datamodels, estimated with TRAK), and keeps the
documents that help most. Here:

1. **Proxy LM** (``winnow.curate.common.proxy``, shared with ``curriculum_stages``).
   winnow's ``OpenLMForCausalLM`` with a fixed tiny shape (``proxy_d_model``,
   ``proxy_layers``, ``proxy_heads``, ``seq_len``) over the committed ``bpe1k-v1`` tokenizer
   (any committed tokenizer name may be given), trained from seed for ``proxy_steps`` AdamW steps
   (batch ``proxy_batch``, lr ``proxy_lr`` with 10% linear warmup then constant, no weight
   decay, fp32) on the ``proxy_docs`` documents of lowest keyed hash (``random_sample``'s
   ranking with the run seed): each document's first ``4 * seq_len`` tokens, EOS-separated,
   packed into ``seq_len + 1`` windows, cycled in a seeded order. One proxy, not DsDm's
   ensemble of independently trained models.
2. **Per-document features.** The gradient of the document's mean next-token cross-entropy
   (its first ``seq_len`` tokens after an EOS) with respect to the output head only
   (``output.weight``, ``vocab x d_model`` = 65,536 numbers with the defaults), computed in
   closed form: ``G = (1/T) sum_t (softmax(z_t) - onehot(y_t)) h_t^T`` where ``h_t`` is the
   final-norm output. ``G`` is flattened and projected to ``proj_dim`` numbers with a dense
   Rademacher matrix (entries ``+-1/sqrt(proj_dim)``, drawn from a ``torch`` generator seeded
   with the run seed): ``phi_x = R^T vec(G_x)``.
3. **Target set.** For each task of ``targets`` (DCLM task names; DsDm's LAMBADA, SQuAD,
   Jeopardy and BIG-bench CS algorithms by default), ``target_examples`` rows of its eval file
   (``<data root>/eval/...``, see ``winnow.eval.taskgen.TASKS``), chosen by keyed hash of
   (seed, task, row number). An example's gradient is that of the loss on its gold continuation
   tokens only, given the context (left-truncated to fit ``seq_len``); multiple-choice rows use
   the gold choice, schema rows the gold context option. ``g`` = mean over tasks of each task's
   mean projected target gradient (tasks weigh equally, as DsDm averages its targets).
4. **Scores.** ``scoring: cosine`` (default): the cosine between each document's centered
   feature ``phi_x - mean(Phi)`` and the centered target ``g - mean(Phi)`` (gradient similarity
   as in LESS, Xia et al. 2024; centering removes the direction every document shares, a
   first-moment stand-in for TRAK's whitening). ``scoring: trak``: DsDm's estimator,
   ``score(x) = phi_x^T (Phi^T Phi + lambda I)^-1 g`` with ``lambda = ridge *
   trace(Phi^T Phi) / proj_dim`` over all candidates ``Phi`` (TRAK's per-example ``(1 - p)``
   factor, a classification margin, has no LM counterpart and is left out). Training on ``x``
   moves the parameters along ``-grad_x``, lowering the target loss by about ``g . grad_x``, so
   higher = predicted to help more. Why cosine is the default: with one proxy model (TRAK
   averages an ensemble) the whitened scores were noise on hand-made corpora where cosine
   separated target-like documents cleanly (baselines/dsdm_lite/README.md, "Deviations").
5. **Selection.** Documents by descending score (ties by input position) until ``tokens``
   (an integer, or ``budget`` = the scale's ``train_tokens``, times ``multiplier``; tokens are
   estimated as UTF-8 bytes / ``ctx.bytes_per_token``) or a ``fraction`` of documents is
   reached. Kept documents are written in input order into shards of the same names.

Targeted selection looks at evaluation data: the target rows are *eval* rows (the suite has no
separate train split here), so scores on the target tasks are optimistic. A recipe using this
step must list its target tasks in the recipe's top-level ``targets:`` (the recipe loader
checks that every name in a step's ``targets`` parameter is declared there), and such runs are
also ranked by ``core_heldout_*`` aggregates (``winnow.eval.aggregates.untargeted_aggregates``),
CORE without the targeted tasks.

Resumable (``winnow.curate.common.partial``): ``proxy.pt``, ``target.npy``, per-shard features
``feat/<shard>.npy``, then the outputs. Counters' ``info``: ``flops`` (proxy training
6N-style ``flops_per_token`` x tokens trained, plus feature extraction: forward + head-gradient
+ projection for candidates and target examples), ``flops_train``, ``flops_features``,
``proxy_params``, ``proxy_final_loss``, ``lambda``, score quantiles of kept/all documents.
Determinism: ``torch`` on CPU with the same thread count gives identical scores run to run;
another thread count or device may change the last bits, which can reorder near-tied documents.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from winnow.curate.base import Counters, DropSampler, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common import proxy as px
from winnow.curate.common.keys import rank_key
from winnow.curate.common.params import check_budget
from winnow.curate.common.partial import load_array, load_json, open_partial, save_array, save_json
from winnow.curate.common.proxy import CHARS_PER_TOKEN_CAP
from winnow.docs import read_docs, write_docs
from winnow.eval.taskgen import BY_NAME
from winnow.io import atomic_path
from winnow.paths import data_root
from winnow.registry import suggest

log = logging.getLogger(__name__)

REASON = "not_selected"
TASK_PREFIX = "dclm_"
# DsDm's four target tasks (Engstrom et al. 2024, section 4), by their DCLM task names.
DEFAULT_TARGETS = ("lambada_openai", "squad", "jeopardy", "bigbench_cs_algorithms")
FEATURE_BATCH = 32
SCORINGS = ("cosine", "trak")


def canonical_task(name: str) -> str:
    """``dclm_squad`` and ``squad`` both name DCLM's ``squad`` task."""
    return name[len(TASK_PREFIX):] if name.startswith(TASK_PREFIX) else name


def check_targets(targets, param: str = "targets") -> list[str]:
    """Canonical DCLM task names of ``targets``; ParamError naming unknown ones (did you mean)."""
    if isinstance(targets, str) or not isinstance(targets, (list, tuple)) or not targets:
        raise ParamError(param, f"must be a non-empty list of DCLM task names, got {targets!r}")
    out = []
    for t in targets:
        if not isinstance(t, str):
            raise ParamError(param, f"task names must be strings, got {t!r}")
        c = canonical_task(t)
        if c not in BY_NAME:
            raise ParamError(param, f"unknown task {t!r}: {suggest(c, sorted(BY_NAME))}")
        if c in out:
            raise ParamError(param, f"task {t!r} is listed twice")
        out.append(c)
    return out


def example_text(row: dict, task: str) -> tuple[str, str]:
    """(context, gold continuation) of one eval row, whatever its task format."""
    if "context" in row and "continuation" in row:
        return str(row["context"]), str(row["continuation"])
    if "query" in row and "choices" in row and "gold" in row:
        return str(row["query"]), " " + str(row["choices"][int(row["gold"])])
    if "context_options" in row and "continuation" in row and "gold" in row:
        return str(row["context_options"][int(row["gold"])]), " " + str(row["continuation"])
    if "context" in row and "answer" in row:
        return str(row["context"]), " " + str(row["answer"])
    raise StepError(f"dsdm_select: a row of task {task!r} has none of the known layouts "
                    f"(context/continuation, query/choices/gold, context_options/continuation/"
                    f"gold, context/answer); its keys are {sorted(row)}")


def load_target_examples(task: str, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` rows of ``task``'s eval file chosen by keyed hash of (seed, task, row number)."""
    spec = BY_NAME[task]
    path = data_root() / "eval" / spec.file
    if not path.is_file():
        raise StepError(f"dsdm_select: target task {task!r} reads {path}, which does not exist "
                        "(the eval data lives under the data root; see eval/SOURCE.md)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    picked = sorted(range(len(rows)), key=lambda i: rank_key(seed, f"{task}#{i}"))[:n]
    return [example_text(rows[i], task) for i in sorted(picked)]


class ProxyFeatures:
    """A trained proxy LM plus the projection: texts -> projected head gradients."""

    def __init__(self, model, tokenizer, proj, seq_len: int, eos: int):
        self.model, self.tokenizer, self.proj = model, tokenizer, proj
        self.seq_len, self.eos = seq_len, eos
        self._hidden = None
        model.norm.register_forward_hook(lambda m, i, o: setattr(self, "_hidden", o))

    def _encode(self, texts: list[str]) -> list[list[int]]:
        cap = CHARS_PER_TOKEN_CAP * self.seq_len
        return [e.ids for e in self.tokenizer.encode_batch([t[:cap] for t in texts])]

    def features(self, seqs: list[tuple[list[int], int]]) -> np.ndarray:
        """Projected head gradients for (token ids, first scored position) pairs.

        Position t of ``ids`` predicts ``ids[t + 1]``; positions ``>= start`` are scored (the
        loss is their mean).
        """
        import torch

        out = np.zeros((len(seqs), self.proj.shape[1]), dtype=np.float32)
        for b in range(0, len(seqs), FEATURE_BATCH):
            chunk = seqs[b:b + FEATURE_BATCH]
            width = max(len(ids) for ids, _ in chunk)
            x = torch.full((len(chunk), width), self.eos, dtype=torch.long)
            w = torch.zeros((len(chunk), width - 1), dtype=torch.float32)
            for r, (ids, start) in enumerate(chunk):
                x[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                n_pred = len(ids) - 1
                if n_pred > start:
                    w[r, start:n_pred] = 1.0 / (n_pred - start)
            with torch.no_grad():
                logits = self.model(input_ids=x).logits[:, :-1]
                h = self._hidden[:, :-1]
                resid = torch.softmax(logits, dim=-1)
                resid.scatter_add_(-1, x[:, 1:, None],
                                   torch.full(x[:, 1:, None].shape, -1.0))
                resid = resid * w[..., None]
                grad = torch.einsum("btv,btd->bvd", resid, h).reshape(len(chunk), -1)
                out[b:b + len(chunk)] = (grad @ self.proj).numpy()
        return out

    def doc_features(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Features of documents (first ``seq_len`` tokens after an EOS) and tokens scored."""
        seqs = [([self.eos] + ids[:self.seq_len], 0) for ids in self._encode(texts)]
        return self.features(seqs), sum(len(s) - 1 for s, _ in seqs)

    def target_features(self, examples: list[tuple[str, str]]) -> tuple[np.ndarray, int]:
        """Features of (context, continuation) pairs: loss on the continuation tokens only."""
        seqs = []
        tokens = 0
        for ctx_text, cont in examples:
            c = self.tokenizer.encode(ctx_text).ids
            a = self.tokenizer.encode(cont).ids[:self.seq_len // 2] or [self.eos]
            keep = max(0, self.seq_len - len(a))
            ids = [self.eos] + (c[-keep:] if keep else []) + a
            seqs.append((ids, len(ids) - 1 - len(a)))
            tokens += len(ids) - 1
        return self.features(seqs), tokens


def trak_scores(phi: np.ndarray, target: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """``phi_x^T (Phi^T Phi + lambda I)^-1 g``, ``lambda = ridge * trace(Phi^T Phi) / k``."""
    k = phi.shape[1]
    gram = phi.T @ phi
    lam = ridge * float(np.trace(gram)) / k or ridge
    return phi @ np.linalg.solve(gram + lam * np.eye(k), target), lam


def cosine_scores(phi: np.ndarray, target: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Cosine of each centered feature ``phi_x - mean(Phi)`` with ``g - mean(Phi)``."""
    mu = phi.mean(axis=0) if len(phi) else np.zeros_like(target)
    pc, gc = phi - mu, target - mu
    norms = np.linalg.norm(pc, axis=1) * max(float(np.linalg.norm(gc)), 1e-30)
    return (pc @ gc) / np.maximum(norms, 1e-30), 0.0


SCORERS = {"cosine": cosine_scores, "trak": trak_scores}


class DsDmSelect(GlobalStep):
    """Keep the documents a tiny proxy LM's gradients predict help the target tasks most.

    Parameters:

    * ``targets``: the target tasks (DCLM names), which the recipe's top-level ``targets`` must
      also list
    * ``tokens``: keep documents by descending score until this many tokens (an integer, or
      ``budget``: the scale's train tokens)
    * ``fraction``: instead of ``tokens``, keep this fraction of documents
    * ``multiplier``: scales ``tokens``
    * ``target_examples``: rows of each target task's eval file in the target set
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
    * ``proj_dim``: the dimension the head gradients are projected to
    * ``ridge``: the ridge term, relative to ``trace(Phi^T Phi) / proj_dim``
    * ``seed``: a fixed seed (null: the run seed)
    """

    version = 1
    resumable = True
    seed_dependent = True    # proxy training, projection and target rows, unless `seed:`
    budget_dependent = True  # with `tokens:` (__init__)

    def __init__(self, targets: list[str] = list(DEFAULT_TARGETS),
                 tokens: int | str | None = None, fraction: float | None = None,
                 multiplier: float = 1.0, target_examples: int = 64, proxy_docs: int = 2000,
                 proxy_steps: int = 150, proxy_batch: int = 16, proxy_lr: float = 3e-3,
                 proxy_d_model: int = 64, proxy_layers: int = 2, proxy_heads: int = 2,
                 seq_len: int = 128, tokenizer: str = "bpe1k-v1", proj_dim: int = 512,
                 scoring: str = "cosine", ridge: float = 0.01, seed: int | None = None):
        self.targets = check_targets(targets)
        check_budget(tokens, fraction, multiplier)
        for name, v in (("target_examples", target_examples), ("proj_dim", proj_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParamError(name, f"must be an integer >= 1, got {v!r}")
        px.check_proxy_params(proxy_docs=proxy_docs, proxy_steps=proxy_steps,
                              proxy_batch=proxy_batch, proxy_lr=proxy_lr,
                              proxy_d_model=proxy_d_model, proxy_layers=proxy_layers,
                              proxy_heads=proxy_heads, seq_len=seq_len, tokenizer=tokenizer)
        if scoring not in SCORINGS:
            raise ParamError("scoring", f"must be one of {', '.join(SCORINGS)}, got {scoring!r}")
        if not ridge > 0:
            raise ParamError("ridge", f"must be > 0 (relative to trace(Phi^T Phi)/proj_dim), "
                                      f"got {ridge}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")
        self.tokens, self.fraction, self.multiplier = tokens, fraction, float(multiplier)
        self.target_examples, self.proxy_docs = target_examples, proxy_docs
        self.proxy_steps, self.proxy_batch, self.proxy_lr = proxy_steps, proxy_batch, proxy_lr
        self.proxy_d_model, self.proxy_layers, self.proxy_heads = (proxy_d_model, proxy_layers,
                                                                   proxy_heads)
        self.seq_len, self.tokenizer, self.proj_dim, self.ridge = seq_len, tokenizer, proj_dim, ridge
        self.scoring = scoring
        self.seed = seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        self.budget_dependent = tokens is not None  # a fraction needs no budget

    # ------------------------------------------------------------------ helpers

    def effective_seed(self, ctx: StepContext | None) -> int:
        return int(self.seed if self.seed is not None else (ctx.seed if ctx else 0))

    def settings(self) -> dict:
        return {k: getattr(self, k) for k in (
            "targets", "target_examples", "proxy_docs", "proxy_steps", "proxy_batch", "proxy_lr",
            "proxy_d_model", "proxy_layers", "proxy_heads", "seq_len", "tokenizer", "proj_dim")}

    def _say(self, ctx: StepContext, msg: str) -> None:
        say = getattr(getattr(ctx, "engine", None), "say", None)
        (say or log.info)(msg)

    def _load_tokenizer(self):
        return px.load_tokenizer(self.tokenizer)

    def proxy_config(self, vocab_size: int):
        return px.proxy_config(vocab_size, self.proxy_d_model, self.proxy_layers,
                               self.proxy_heads, self.seq_len)

    # ------------------------------------------------------------------ run

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        import torch

        seed = self.effective_seed(ctx)
        budget = None
        if self.fraction is None:
            budget = self._budget(ctx)
            ctx.estimate_tokens(0)  # fail early if bytes_per_token is missing
        shards, out_dir, part = open_partial("dsdm_select", self.version, self.settings(),
                                             input_shards, out_dir, seed=seed)
        if part.resumed:
            self._say(ctx, f"dsdm_select: resuming from partial work in {part.root}")
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(max(1, int(getattr(ctx, "workers", 1) or 1)))
            feats = self._features(shards, part, seed, ctx)
        finally:
            torch.set_num_threads(threads)
        return self._select(shards, out_dir, part, feats, budget, ctx)

    def _budget(self, ctx: StepContext) -> float:
        if self.tokens == "budget":
            if not ctx.train_tokens:
                raise StepError("dsdm_select tokens: budget needs the scale's train_tokens "
                                "(StepContext.train_tokens), which the caller did not set")
            return ctx.train_tokens * self.multiplier
        return float(self.tokens) * self.multiplier

    def _proxy(self, shards: list[Path], part, seed: int, tok):
        """Train (or load) the proxy LM; returns the model in eval mode."""
        import torch
        config = self.proxy_config(tok.get_vocab_size())
        path = part.root / "proxy.pt"
        if part.done("proxy") and path.exists():
            return px.load_proxy(path, config, seed)
        t0 = time.process_time()
        texts = px.sample_texts(shards, seed, self.proxy_docs)
        model, stats = px.train_proxy(texts, tok, config, steps=self.proxy_steps,
                                      batch=self.proxy_batch, lr=self.proxy_lr, seed=seed,
                                      who="dsdm_select")
        with atomic_path(path) as tmp:
            torch.save(model.state_dict(), tmp)
        save_json(part.path("proxy.json"), {**stats, "cpu_seconds": time.process_time() - t0})
        part.mark("proxy")
        return model

    def _projection(self, seed: int, dim_in: int):
        import torch

        gen = torch.Generator().manual_seed(seed + 1)
        signs = torch.randint(0, 2, (dim_in, self.proj_dim), generator=gen, dtype=torch.int8)
        return (signs.float() * 2.0 - 1.0) / math.sqrt(self.proj_dim)

    def _features(self, shards: list[Path], part, seed: int, ctx: StepContext) -> dict:
        tok = self._load_tokenizer()
        model = self._proxy(shards, part, seed, tok)
        eos = tok.token_to_id("<|endoftext|>") or 0
        proj = self._projection(seed, tok.get_vocab_size() * self.proxy_d_model)
        pf = ProxyFeatures(model, tok, proj, self.seq_len, eos)
        if not part.done("target"):
            per_task = []
            tokens = 0
            for task in self.targets:
                examples = load_target_examples(task, self.target_examples, seed)
                f, t = pf.target_features(examples)
                per_task.append(f.astype(np.float64).mean(axis=0))
                tokens += t
            save_array(part.path("target.npy"), np.stack(per_task))
            save_json(part.path("target.json"), {"tokens": tokens})
            part.mark("target")
        for shard in shards:
            if part.done("feat", shard.name):
                continue
            texts: list[str] = []
            ids: list[str] = []
            nbytes: list[int] = []
            for doc in read_docs(shard):
                ids.append(doc["id"])
                texts.append(doc["text"])
                nbytes.append(len(doc["text"].encode("utf-8")))
            t0 = time.perf_counter()
            feats, tokens = (pf.doc_features(texts) if texts
                             else (np.empty((0, self.proj_dim), np.float32), 0))
            save_array(part.path("feat", shard.name + ".npy"), feats)
            save_json(part.path("feat", shard.name + ".json"),
                      {"ids": ids, "bytes": nbytes, "tokens": tokens,
                       "seconds": time.perf_counter() - t0})
            part.mark("feat", shard.name)
            self._say(ctx, f"dsdm_select: features of {shard.name} ({len(ids)} documents)")
        return {"vocab": tok.get_vocab_size(), "config": self.proxy_config(tok.get_vocab_size())}

    def scores(self, shards: list[Path], part) -> tuple[np.ndarray, float]:
        """Scores of every input document (input order) and the ridge lambda (0 for cosine)."""
        feats = [load_array(part.root / "feat" / f"{s.name}.npy").astype(np.float64)
                 for s in shards]
        phi = np.concatenate(feats) if feats else np.empty((0, self.proj_dim))
        target = load_array(part.root / "target.npy").mean(axis=0)
        return SCORERS[self.scoring](phi, target, self.ridge)

    def _select(self, shards: list[Path], out_dir: Path, part, info: dict, budget,
                ctx: StepContext) -> list[Path]:
        from winnow.train.model import param_counts

        score, lam = self.scores(shards, part)
        metas = [load_json(part.root / "feat" / f"{s.name}.json") for s in shards]
        nbytes = np.array([b for m in metas for b in m["bytes"]], dtype=np.float64)
        n = len(score)
        order = np.lexsort((np.arange(n), -score))
        if budget is None:
            n_keep = min(n, math.floor(self.fraction * n + 0.5))
        else:
            cum = np.cumsum(nbytes[order] / ctx.bytes_per_token)
            n_keep = int(np.searchsorted(cum, budget, side="right"))
        keep = np.zeros(n, dtype=bool)
        keep[order[:n_keep]] = True
        c = Counters()
        outputs = []
        off = 0
        for shard, meta in zip(shards, metas):
            sampler = DropSampler()

            def kept(shard=shard, off=off, sampler=sampler, ids=meta["ids"]):
                for i, doc in enumerate(read_docs(shard)):
                    if i >= len(ids) or doc["id"] != ids[i]:
                        raise StepError(f"dsdm_select: {shard} changed while it was being scored")
                    c.docs_in += 1
                    if keep[off + i]:
                        c.docs_out += 1
                        yield doc
                    else:
                        c.drop(REASON)
                        shown = dict(doc)
                        shown["meta"] = {**(doc.get("meta") or {}),
                                         "dsdm_score": float(score[off + i])}
                        sampler.add(self.step_index, self.step_name or "dsdm_select", REASON,
                                    shown)

            out = out_dir / shard.name
            write_docs(out, kept())
            sampler.write(out_dir / "dropped" / shard.name)
            outputs.append(out)
            off += len(meta["ids"])
        proxy = load_json(part.root / "proxy.json")
        target = load_json(part.root / "target.json")
        cfg = info["config"]
        d, v = cfg.d_model, cfg.vocab_size
        n_ne = param_counts(cfg)["non_embedding"]
        feat_tokens = sum(m["tokens"] for m in metas) + target["tokens"]
        n_seqs = n + self.target_examples * len(self.targets)
        # forward (2 N + head 2 d V per token), head gradient (2 d V per token), projection
        flops_features = float(feat_tokens * (2 * n_ne + 4 * d * v) + n_seqs * 2 * d * v *
                               self.proj_dim)
        c.info = {
            "flops": proxy["flops"] + flops_features, "flops_train": proxy["flops"],
            "flops_features": flops_features, "proxy_params": proxy["params"],
            "proxy_final_loss": round(proxy["final_loss"], 6),
            "proxy_cpu_seconds": round(proxy["cpu_seconds"], 3),
            "feature_seconds": round(sum(m["seconds"] for m in metas), 3),
            "lambda": lam, "target_tasks": len(self.targets),
            "score_median_all": float(np.median(score)) if n else 0.0,
            "score_min_kept": float(score[order[n_keep - 1]]) if n_keep else 0.0,
        }
        if budget is not None:
            c.info["budget_tokens"] = budget
            c.info["est_tokens_kept"] = float(cum[n_keep - 1]) if n_keep else 0.0
        self.counters = c
        part.remove("feat")
        return outputs
