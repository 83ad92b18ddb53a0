"""DSIR: data selection by importance resampling with hashed n-gram features (Xie et al., 2023).

Registered as ``dsir``. Drop reasons: ``not_resampled``, ``too_short_for_dsir``.

Method, as in the paper and its reference package (``data-selection`` 1.0.3 on PyPI,
``HashedNgramDSIR``):

1. features: the text is lower-cased and split with NLTK's ``WordPunctTokenizer`` pattern
   (``\\w+|[^\\w\\s]+``); its unigrams and bigrams are hashed into ``num_buckets`` buckets
   (10,000) and counted;
2. two bag-of-n-grams models: ``p_target`` from the target corpus (a reference corpus, by default
   ``debian_tutorials_v1`` — the same text the classifier baselines use as positives — or a
   local ``target_file``) and ``p_raw`` from the whole input of the step; both are bucket
   counts normalised to sum 1;
3. each document's log importance weight is ``sum_b count_b(x) * (log(p_target[b] + 1e-8) -
   log(p_raw[b] + 1e-8))`` (the package's smoothing), written to ``meta.dsir_log_weight``;
4. resampling without replacement by the Gumbel top-k trick: keep the documents with the largest
   ``log_weight + Gumbel noise``; ``gumbel: false`` keeps the top-k by weight (the package's
   ``top_k=True``). How many: ``keep_fraction``, ``top_k``, ``tokens`` (+ ``multiplier``) and
   ``min_tokens`` as in ``winnow.curate.common.scoring`` (``Selection``);
5. documents with fewer than ``min_words`` words (the package's ``min_example_length``, 100, with
   its word count ``(features + 1) // 2``) are never chosen (``too_short_for_dsir``).

Why not the ``data-selection`` package itself: it runs offline (only NumPy, NLTK's regex
tokenizer and joblib), but (a) its Gumbel noise comes from the global ``np.random`` state in
input order, so the sample changes with the shard layout and is not reproducible from a seed;
here the noise is the inverse CDF of a uniform keyed by (seed, document id), the same for any
layout or worker count; (b) it hashes every n-gram with ``sha256`` in Python (about 2 µs each,
minutes on the CPU pool); here words are hashed once with seeded xxh3-64 (cached) and bigram
hashes are combined in NumPy, the bucket being the 64-bit hash modulo ``num_buckets``: a
different but equally uniform assignment of n-grams to buckets; (c) it reads and writes its
own file layout and shards with its own multiprocessing, where a winnow step streams shards;
(d) it is unmaintained since 2023 (1.0.3). Deviation from the paper: whole documents are
weighted (the paper resamples fixed-length chunks), so long documents get larger ``|weight|``,
as with the package on documents. Cost: no model training; ``flops`` counts the ``2 * nnz``
multiply-adds of the weight dot products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow.curate.base import ParamError, StepContext
from winnow.curate.common.hashing import NgramHasher
from winnow.curate.common.keys import doc_uniform, gumbel_draw
from winnow.curate.common.params import check_positive_int, check_seed, check_source
from winnow.curate.common.scoring import DEFAULT_REFERENCE, ScoringStep, Selection
from winnow.curate.reference import load_texts
from winnow.docs import read_docs

SMOOTHING = 1e-8


class Dsir(ScoringStep):
    """Importance resampling toward a target corpus with hashed n-gram bag-of-words models.

    * ``target``: the reference corpus to resample toward (default ``debian_tutorials_v1``)
    * ``target_file``: a local file of target texts instead
    * ``num_buckets``: hash buckets of the unigram + bigram features
    * ``min_words``: documents with fewer words are never chosen (``too_short_for_dsir``)
    * ``gumbel``: resample with Gumbel noise (false: the top-k by weight)
    * ``multiplier``: scales ``tokens`` and ``min_tokens``
    * ``seed``: a fixed seed (null: the run seed)
    """

    version = 1
    score_key = "dsir_log_weight"
    provides = ("meta.dsir_log_weight",)
    reason = "not_resampled"
    ineligible_reason = "too_short_for_dsir"

    def __init__(self, target: str | None = None, target_file: str | None = None,
                 num_buckets: int = 10_000, min_words: int = 100, gumbel: bool = True,
                 keep_fraction: float | None = None, top_k: int | None = None,
                 tokens: int | str | None = None, multiplier: float = 1.0,
                 min_tokens: int | str | None = None, seed: int | None = None):
        self.selection = Selection(keep_fraction, top_k, None, tokens, multiplier, min_tokens)
        check_source(target, target_file, "target")
        check_positive_int("num_buckets", num_buckets, 2)
        check_positive_int("min_words", min_words, 0)
        if not isinstance(gumbel, bool):
            raise ParamError("gumbel", f"must be true or false, got {gumbel!r}")
        check_seed(seed)
        self.target = target if (target or target_file) else DEFAULT_REFERENCE
        self.target_file = target_file
        self.num_buckets, self.min_words, self.gumbel = num_buckets, min_words, gumbel
        self.seed = seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        self.budget_dependent = self.selection.budget_dependent
        self._nnz = 0

    def fit(self, input_shards: list[Path], ids: list[str], seed: int, out_dir: Path,
            ctx: StepContext) -> dict:
        self._hasher = NgramHasher(self.num_buckets)
        texts, target_sha = load_texts(self.target, self.target_file, self.step_name)
        target = np.zeros(self.num_buckets, dtype=np.int64)
        for t in texts:
            target += self._hasher.counts(t)
        raw = np.zeros(self.num_buckets, dtype=np.int64)
        for shard in input_shards:
            for doc in read_docs(shard):
                raw += self._hasher.counts(doc["text"])
        p_t = target / max(int(target.sum()), 1)
        p_r = raw / max(int(raw.sum()), 1)
        self._log_diff = np.log(p_t + SMOOTHING) - np.log(p_r + SMOOTHING)
        return {"target_docs": len(texts), "target_ngrams": float(target.sum()),
                "raw_ngrams": float(raw.sum()),
                "target_sha256_48": int(target_sha[:12], 16)}

    def score_shard(self, shard: Path):
        scores, eligible = [], []
        for doc in read_docs(shard):
            c = self._hasher.counts(doc["text"])
            nz = np.flatnonzero(c)
            self._nnz += len(nz)
            scores.append(float(c[nz] @ self._log_diff[nz]))
            eligible.append((int(c.sum()) + 1) // 2 >= self.min_words)
        return np.array(scores), np.array(eligible, dtype=bool)

    def priority(self, scores, ids, seed):
        if not self.gumbel:
            return scores
        u = np.array([doc_uniform(seed, i, "gumbel") for i in ids])
        return scores + gumbel_draw(u)

    def run(self, input_shards, out_dir, ctx):
        outputs = super().run(input_shards, out_dir, ctx)
        self.counters.info["flops"] = 2.0 * self._nnz
        return outputs
