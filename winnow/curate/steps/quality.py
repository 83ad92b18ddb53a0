"""Model-based quality selection: train a classifier, score every document, keep the best.

Two GlobalSteps on the shared scoring-and-selection frame (``ScoringStep`` + ``Selection`` of
``winnow.curate.common.scoring``, which also documents the selection modes):

``fasttext_quality`` (DCLM-Baseline's filter, Li et al. 2024). A fastText supervised classifier
of ``__label__hq`` (positives: a reference corpus, see ``winnow.curate.reference``, or a local
``positives_file``) against ``__label__cc`` (negatives: ``negatives`` pool documents, by default
as many as it takes to give as many training examples as the positives do, drawn in the order
of a keyed hash of (seed, id), so the draw is the same for any shard layout), trained inside the
step with ``thread=1`` and the run seed in a fresh Python process (``train_fasttext_isolated``
says why), so the model bytes are a function of the training texts, the settings and the seed
(verified by ``tests/curate/test_quality.py``). Texts are flattened as DCLM does
(``" ".join(lines)``) and cut into training examples of ``chunk_words`` (200) words: with a few
hundred whole pages as examples, 5 epochs leave the model untrained (every score 0.5,
measured); DCLM has ~400k examples. The score is P(hq), DCLM's ``classify_fasttext_hq_prob``,
on the whole flattened document. ``model_file`` loads a trained model instead (for example DCLM's ``fasttext_oh_eli5.bin`` with ``label: hq``); its sha256 is
then in the recipe fingerprint. Defaults are DCLM's ``train_fasttext_classifier.py`` settings
(lr 0.1, epoch 5, minCount 1, wordNgrams 2 as its README runs) except ``dim`` 64 and ``bucket``
200,000 (fastText's default 2M buckets x dim 100 is an 800 MB model: too big for CPU tracks).

``target_classifier`` (GPT-3 (Brown et al. 2020, appendix A) / PaLM style). Logistic regression
on hashed unigram + bigram features (``NgramHasher`` of ``winnow.curate.common.hashing``: 2**18
buckets, sublinear tf, rows L2-normalised) with L2 regularisation, fitted with Newton-CG (scipy),
positives from the reference corpus and pool documents as negatives. Either deterministic
selection (the modes below) or GPT-3's noisy one, ``pareto_alpha: 9``: keep a document when
``pareto(alpha) > 1 - score``, where the Pareto (Lomax, as ``np.random.pareto``) draw is the
inverse CDF ``(1 - u) ** (-1 / alpha) - 1`` of a uniform ``u`` keyed by (seed, document id):
the same decision for any shard layout or worker count.

Selection: exactly one of ``keep_fraction``, ``top_k``, ``threshold`` and ``tokens`` (+
``multiplier``), optionally ``min_tokens`` (``winnow.curate.common.scoring``). Ties are broken
by ``blake2b(id, key=seed)`` (``random_sample``'s rank key), so the kept set does not depend
on input order. Kept documents get ``meta.<score_key>`` (``quality_score`` /
``target_score``); dropped ones are counted under ``low_quality_score`` / ``low_target_score``.

Counters ``info``: ``flops`` (an estimate of the model's training + scoring arithmetic, see
each step), ``model_sha256_48`` (the first 12 hex digits of the trained model's sha256 as an
integer; the full hash, settings and training-data hashes are in ``<out_dir>/model/model.json``
beside the model file), ``positives``, ``negatives``, ``kept_fraction``, ``score_cutoff``,
token estimates. ``Counters.seconds`` is filled by the engine (wall seconds of the step).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from winnow.curate.base import ParamError, StepError
from winnow.curate.common.hashing import NgramHasher
from winnow.curate.common.keys import doc_uniform, pareto_draw, rank_key
from winnow.curate.common.params import check_positive_int, check_seed, check_source
from winnow.curate.common.partial import save_array
from winnow.curate.common.scoring import (DEFAULT_REFERENCE, ScoringStep, Selection,
                                          draw_negatives, model_record, negative_order)
from winnow.curate.reference import load_texts, texts_sha256
from winnow.docs import read_docs

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- fastText examples

def flatten(text: str) -> str:
    """DCLM's preprocessing for fastText: the lines of the text joined by single spaces."""
    return " ".join(text.strip().splitlines())


def chunks(text: str, chunk_words: int | None) -> list[str]:
    """Training examples of a text: the flattened text, cut into pieces of ``chunk_words``
    whitespace words (the last piece may be shorter) unless ``chunk_words`` is None."""
    flat = flatten(text)
    if not chunk_words:
        return [flat]
    words = flat.split()
    return [" ".join(words[i:i + chunk_words]) for i in range(0, len(words), chunk_words)] or [""]


def n_chunks(words: int, chunk_words: int | None) -> int:
    return 1 if not chunk_words else max(1, -(-int(words) // chunk_words))


# --------------------------------------------------------------------------- fasttext_quality

_TRAIN_SCRIPT = """
import json, sys
import fasttext
model = fasttext.train_supervised(input=sys.argv[1], **json.loads(sys.argv[2]))
model.save_model(sys.argv[3])
"""


def train_fasttext_isolated(train_file: Path, settings: dict, out: Path) -> None:
    """``fasttext.train_supervised`` in a fresh Python process; the model saved to ``out``.

    Measured: with ``thread=1`` and a fixed seed, fastText 0.9.2 gives identical model bytes
    in a fresh process, but inside a long-lived process the result (small models especially)
    can depend on what the process did before — even ``Encountered NaN`` — which points at
    state fastText reads but does not initialise. A clean process per training makes the
    model a function of the training file, the settings and the seed.
    """
    proc = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, str(train_file),
                           json.dumps(settings), str(out)], capture_output=True, text=True)
    if proc.returncode != 0 or not Path(out).is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise StepError(f"fastText training failed (exit {proc.returncode}): "
                        f"{' | '.join(tail) or 'no output'}; settings {settings}. Lower `lr` or "
                        "raise `dim` if it says NaN")


class FastTextQuality(ScoringStep):
    """DCLM-Baseline's fastText quality filter: train (or load) hq-vs-cc, keep the best.

    * ``positives``: the reference corpus of positive examples (default ``debian_tutorials_v1``)
    * ``positives_file``: a local file of positive texts instead
    * ``model_file``: a trained fastText model to use as it is (no training)
    * ``label``: the model's positive label, without ``__label__``
    * ``negatives``: how many pool documents to draw as negatives (default: as many training
      examples as the positives give)
    * ``multiplier``: scales ``tokens`` and ``min_tokens``
    * ``dim``: fastText's embedding size
    * ``epoch``: training epochs
    * ``lr``: learning rate
    * ``word_ngrams``: fastText's ``wordNgrams``
    * ``min_count``: fastText's ``minCount``
    * ``bucket``: hash buckets for word n-grams
    * ``chunk_words``: words per training example (null: whole documents)
    * ``seed``: a fixed seed (null: the run seed)
    """

    version = 1
    score_key = "quality_score"
    provides = ("meta.quality_score",)
    reason = "low_quality_score"

    def __init__(self, positives: str | None = None, positives_file: str | None = None,
                 model_file: str | None = None, label: str = "hq",
                 negatives: int | None = None,
                 keep_fraction: float | None = None, top_k: int | None = None,
                 threshold: float | None = None, tokens: int | str | None = None,
                 multiplier: float = 1.0, min_tokens: int | str | None = None,
                 dim: int = 64, epoch: int = 5, lr: float = 0.1, word_ngrams: int = 2,
                 min_count: int = 1, bucket: int = 200_000, chunk_words: int | None = 200,
                 seed: int | None = None):
        self.selection = Selection(keep_fraction, top_k, threshold, tokens, multiplier, min_tokens)
        if model_file is not None and (positives is not None or positives_file is not None
                                       or negatives is not None):
            raise ParamError("model_file", "a given model is used as it is: remove positives, "
                                           "positives_file and negatives (they train a model)")
        check_source(positives, positives_file, "positives")
        if negatives is not None:
            check_positive_int("negatives", negatives)
        for name, v in (("dim", dim), ("epoch", epoch), ("word_ngrams", word_ngrams),
                        ("min_count", min_count), ("bucket", bucket)):
            check_positive_int(name, v)
        if chunk_words is not None:
            check_positive_int("chunk_words", chunk_words)
        if isinstance(lr, bool) or not lr > 0:
            raise ParamError("lr", f"must be > 0, got {lr!r}")
        if not isinstance(label, str) or not label or " " in label:
            raise ParamError("label", f"must be a label name without spaces, got {label!r}")
        check_seed(seed)
        self.positives = positives if (positives or positives_file or model_file) \
            else DEFAULT_REFERENCE
        self.positives_file, self.model_file, self.label = positives_file, model_file, label
        self.negatives = negatives
        self.dim, self.epoch, self.lr, self.word_ngrams = dim, epoch, float(lr), word_ngrams
        self.min_count, self.bucket, self.seed = min_count, bucket, seed
        self.chunk_words = chunk_words
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        self.budget_dependent = self.selection.budget_dependent
        self._model = None
        self._words = 0

    def train_settings(self) -> dict:
        return {"dim": self.dim, "epoch": self.epoch, "lr": self.lr,
                "wordNgrams": self.word_ngrams, "minCount": self.min_count,
                "bucket": self.bucket, "loss": "softmax", "thread": 1,
                "chunk_words": self.chunk_words}

    def train(self, pos: list[str], neg: list[str], seed: int, work: Path, out: Path):
        """Train the classifier on flattened texts in a keyed order; save it to ``out``."""
        import fasttext

        lines = [(rank_key(seed, f"pos\0{i}\0{j}"), f"__label__{self.label} {c}")
                 for i, t in enumerate(pos) for j, c in enumerate(chunks(t, self.chunk_words))]
        lines += [(rank_key(seed, f"neg\0{i}\0{j}"), f"__label__cc {c}")
                  for i, t in enumerate(neg) for j, c in enumerate(chunks(t, self.chunk_words))]
        lines.sort(key=lambda kv: kv[0])
        work.mkdir(parents=True, exist_ok=True)
        train_file = work / "train.txt"
        with open(train_file, "w", encoding="utf-8") as f:
            for _, line in lines:
                f.write(line + "\n")
        settings = dict(lr=self.lr, dim=self.dim, ws=5, epoch=self.epoch,
                        minCount=self.min_count, wordNgrams=self.word_ngrams, bucket=self.bucket,
                        loss="softmax", thread=1, seed=int(seed) % (1 << 31), verbose=0)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        train_fasttext_isolated(train_file, settings, tmp)
        tmp.replace(out)
        train_file.unlink()
        return fasttext.load_model(str(out))

    def fit(self, input_shards, ids, seed, out_dir, ctx) -> dict:
        import fasttext

        info: dict = {}
        model_path = out_dir / "model" / "fasttext.bin"
        if self.model_file is not None:
            self._model = fasttext.load_model(self.model_file)
            sha = model_record(out_dir, Path(self.model_file),
                                {"trained": False, "model_file": self.model_file})
            train_flops = 0.0
        else:
            pos, pos_sha = load_texts(self.positives, self.positives_file, self.step_name)
            order = negative_order(ids, seed)
            if self.negatives is not None:
                chosen = order[:self.negatives]
            else:  # as many negative training examples (chunks) as positive ones
                want = sum(n_chunks(len(flatten(t).split()), self.chunk_words) for t in pos)
                have = np.cumsum([n_chunks(self._nwords[i], self.chunk_words) for i in order])
                chosen = order[:int(np.searchsorted(have, want, side="left")) + 1]
            neg = draw_negatives(input_shards, ids, len(chosen), seed, chosen=chosen)
            self._model = self.train(pos, neg, seed, Path(ctx.work_dir or out_dir / "model"),
                                     model_path)
            words = sum(len(flatten(t).split()) for t in pos + neg)
            labels = 2
            # forward: sum of (word + n-gram) embeddings, then a dim x labels output layer;
            # backward about twice that: 3x forward per example per epoch
            train_flops = 3.0 * self.epoch * (2.0 * words * self.word_ngrams * self.dim
                                              + 2.0 * len(pos + neg) * labels * self.dim)
            sha = model_record(out_dir, model_path, {
                "trained": True, "seed": seed, "settings": self.train_settings(),
                "positives": self.positives, "positives_file": self.positives_file,
                "positives_sha256": pos_sha, "negatives_sha256": texts_sha256(neg),
                "n_positives": len(pos), "n_negatives": len(neg), "label": self.label})
            info.update(positives=len(pos), negatives=len(neg))
        self._train_flops = train_flops
        info["train_flops"] = train_flops
        info["model_sha256_48"] = int(sha[:12], 16)
        labels = self._model.get_labels()
        if f"__label__{self.label}" not in labels:
            raise StepError(f"{self.step_name}: the model has no label __label__{self.label} "
                            f"(its labels: {', '.join(labels)}); set `label`")
        self._say(ctx, f"{self.step_name}: fastText model sha256 {sha[:16]}…")
        return info

    def _say(self, ctx, msg):
        say = getattr(getattr(ctx, "engine", None), "say", None)
        (say or log.info)(msg)

    def score_shard(self, shard):
        want = f"__label__{self.label}"
        labels = self._model.get_labels()
        k = len(labels)
        scores = []
        for doc in read_docs(shard):
            text = flatten(doc["text"])
            self._words += len(text.split())
            got, probs = self._model.predict(text, k=k)
            scores.append(float(dict(zip(got, probs)).get(want, 0.0)))
        return np.array(scores), None

    def run(self, input_shards, out_dir, ctx):
        outputs = super().run(input_shards, out_dir, ctx)
        n_labels = len(self._model.get_labels())
        score_flops = 2.0 * self._words * self.word_ngrams * self.dim + \
            2.0 * self.counters.docs_in * n_labels * self.dim
        self.counters.info["score_flops"] = score_flops
        self.counters.info["flops"] = self._train_flops + score_flops
        return outputs


# --------------------------------------------------------------------------- target_classifier

def _logreg_fit(X, y: np.ndarray, l2: float, max_iter: int) -> tuple[np.ndarray, float, int]:
    """L2-regularised logistic regression by Newton-CG (scipy, Hessian-vector products):
    (weights, bias, iterations). Mean log loss + ``l2 / 2 * |w|**2`` (the bias is not
    penalised). Newton-CG rather than L-BFGS-B: scipy's L-BFGS-B spends ~0.1 s per step
    on 2**18 weights, Newton-CG converges in a few matrix products."""
    from scipy.optimize import minimize

    # Columns no document uses keep weight 0 (their gradient is l2 * w = 0 from w = 0):
    # optimise over the used columns only, which is the same solution, much faster.
    used = np.unique(X.indices)
    full_d = X.shape[1]
    X = X[:, used].tocsr()
    XT = X.T.tocsr()
    n, d = X.shape
    ys = 2.0 * y - 1.0  # +-1

    def sig(z):
        return 0.5 * (1.0 + np.tanh(z / 2.0))

    def f(wb):
        w, b = wb[:d], wb[d]
        z = ys * (X @ w + b)
        return np.logaddexp(0.0, -z).mean() + 0.5 * l2 * float(w @ w)

    def grad(wb):
        w, b = wb[:d], wb[d]
        g = -ys * sig(-(ys * (X @ w + b))) / n
        out = np.empty(d + 1)
        out[:d] = XT @ g + l2 * w
        out[d] = g.sum()
        return out

    def hessp(wb, p):
        w, b = wb[:d], wb[d]
        s = sig(X @ w + b)
        dd = s * (1.0 - s) / n
        xp = dd * (X @ p[:d] + p[d])
        out = np.empty(d + 1)
        out[:d] = XT @ xp + l2 * p[:d]
        out[d] = xp.sum()
        return out

    res = minimize(f, np.zeros(d + 1), jac=grad, hessp=hessp, method="Newton-CG",
                   options={"maxiter": max_iter, "xtol": 1e-8})
    w = np.zeros(full_d)
    w[used] = res.x[:d]
    return w, float(res.x[d]), int(res.nit)


class TargetClassifier(ScoringStep):
    """GPT-3 / PaLM-style classifier: hashed n-gram logistic regression, reference vs pool.

    * ``positives``: the reference corpus of positive examples (default ``debian_tutorials_v1``)
    * ``positives_file``: a local file of positive texts instead
    * ``negatives``: how many pool documents to draw as negatives (default: as many as positives)
    * ``pareto_alpha``: GPT-3's noisy selection (9): keep when ``pareto(alpha) > 1 - score``,
      instead of a selection mode
    * ``multiplier``: scales ``tokens`` and ``min_tokens``
    * ``num_buckets``: hash buckets of the unigram + bigram features
    * ``l2``: L2 regularisation strength
    * ``max_iter``: Newton-CG iterations at most
    * ``seed``: a fixed seed (null: the run seed)
    """

    version = 1
    score_key = "target_score"
    provides = ("meta.target_score",)
    reason = "low_target_score"

    def __init__(self, positives: str | None = None, positives_file: str | None = None,
                 negatives: int | None = None, pareto_alpha: float | None = None,
                 keep_fraction: float | None = None, top_k: int | None = None,
                 threshold: float | None = None, tokens: int | str | None = None,
                 multiplier: float = 1.0, min_tokens: int | str | None = None,
                 num_buckets: int = 2 ** 18, l2: float = 1e-4, max_iter: int = 200,
                 seed: int | None = None):
        if pareto_alpha is not None and (isinstance(pareto_alpha, bool) or not pareto_alpha > 0):
            raise ParamError("pareto_alpha", f"must be > 0 (GPT-3 used 9), got {pareto_alpha!r}")
        self.selection = Selection(keep_fraction, top_k, threshold, tokens, multiplier, min_tokens,
                                   external_mode=None if pareto_alpha is None else "pareto_alpha")
        check_source(positives, positives_file, "positives")
        if negatives is not None:
            check_positive_int("negatives", negatives)
        check_positive_int("num_buckets", num_buckets, 2)
        check_positive_int("max_iter", max_iter)
        if isinstance(l2, bool) or not l2 >= 0:
            raise ParamError("l2", f"must be >= 0, got {l2!r}")
        check_seed(seed)
        self.positives = positives if (positives or positives_file) else DEFAULT_REFERENCE
        self.positives_file, self.negatives = positives_file, negatives
        self.pareto_alpha = pareto_alpha
        self.num_buckets, self.l2, self.max_iter, self.seed = num_buckets, float(l2), max_iter, seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        self.budget_dependent = self.selection.budget_dependent
        self._nnz = 0

    def features(self, texts: list[str]):
        """CSR matrix of sublinear-tf hashed unigram+bigram features, rows L2-normalised."""
        from scipy.sparse import csr_matrix

        hasher = getattr(self, "_hasher", None) or NgramHasher(self.num_buckets)
        self._hasher = hasher
        indptr, indices, values = [0], [], []
        for t in texts:
            cols, counts = np.unique(hasher.buckets(t), return_counts=True)
            v = 1.0 + np.log(counts)
            norm = np.sqrt(float(v @ v)) or 1.0
            indices.append(cols)
            values.append(v / norm)
            indptr.append(indptr[-1] + len(cols))
        ind = np.concatenate(indices) if indices else np.empty(0, dtype=np.int64)
        val = np.concatenate(values) if values else np.empty(0)
        return csr_matrix((val, ind, np.array(indptr)), shape=(len(texts), self.num_buckets))

    def fit(self, input_shards, ids, seed, out_dir, ctx) -> dict:
        from scipy.sparse import vstack

        pos, pos_sha = load_texts(self.positives, self.positives_file, self.step_name)
        neg = draw_negatives(input_shards, ids, min(len(ids), self.negatives or len(pos)), seed)
        X = vstack([self.features(pos), self.features(neg)]).tocsr()
        y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
        self._w, self._b, iters = _logreg_fit(X, y, self.l2, self.max_iter)
        # weights then bias (npz would hold zip timestamps: not reproducible)
        model_path = out_dir / "model" / "logreg.npy"
        save_array(model_path, np.concatenate([self._w, [self._b]]))
        sha = model_record(out_dir, model_path, {
            "trained": True, "seed": seed, "num_buckets": self.num_buckets, "l2": self.l2,
            "iterations": iters, "positives": self.positives,
            "positives_file": self.positives_file, "positives_sha256": pos_sha,
            "negatives_sha256": texts_sha256(neg), "n_positives": len(pos),
            "n_negatives": len(neg)})
        # each Newton iteration: a gradient and ~10 Hessian products, 4 * nnz multiply-adds each
        self._train_flops = 4.0 * X.nnz * max(iters, 1) * 12
        return {"positives": len(pos), "negatives": len(neg), "train_iterations": iters,
                "train_flops": self._train_flops, "model_sha256_48": int(sha[:12], 16)}

    def score_shard(self, shard):
        texts = [d["text"] for d in read_docs(shard)]
        if not texts:
            return np.empty(0), None
        X = self.features(texts)
        self._nnz += X.nnz
        z = X @ self._w + self._b
        return 0.5 * (1.0 + np.tanh(z / 2.0)), None  # sigmoid, overflow-free

    def priority(self, scores, ids, seed):
        if self.pareto_alpha is None:
            return scores
        u = np.array([doc_uniform(seed, i, "pareto") for i in ids])
        return pareto_draw(u, self.pareto_alpha) - (1.0 - scores)

    def run(self, input_shards, out_dir, ctx):
        outputs = super().run(input_shards, out_dir, ctx)
        self.counters.info["score_flops"] = 2.0 * self._nnz
        self.counters.info["flops"] = self._train_flops + 2.0 * self._nnz
        return outputs
