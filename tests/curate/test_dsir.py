"""DSIR (importance resampling with hashed n-gram features): features, weights, Gumbel top-k.

Hand-made corpora: the target is tutorial prose, the raw pool mixes tutorial-like and spam-like
documents (helpers shared with ``test_curate_quality``), so the importance weights must rank
the tutorial-like documents first, and the seeded Gumbel noise must give the same sample for
any shard layout.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.curate.test_quality import (SPAM, TUTORIAL, _text, curate_baseline, make_pool, positives_file,
                                 run_step, write_shards)
from winnow.curate.base import ParamError
from winnow.docs import read_docs


def _dsir(tmp_path, **kw):
    from winnow.curate.steps.dsir import Dsir

    params = dict(target_file=str(positives_file(tmp_path)), min_words=0)
    params.update(kw)
    step = Dsir(**params)
    step.step_name = "dsir"
    return step


def test_ngram_hasher_counts_unigrams_and_bigrams():
    from winnow.curate.common.hashing import NgramHasher

    h = NgramHasher(1000)
    assert h.tokens("Don't panic, OK?") == ["don", "'", "t", "panic", ",", "ok", "?"]  # WordPunct
    c = h.counts("the cat the cat")
    assert c.sum() == 4 + 3  # the, cat, the, cat + "the cat", "cat the", "the cat"
    assert sorted(c[c > 0]) == [1, 2, 2, 2]
    assert np.array_equal(h.buckets("the cat"), NgramHasher(1000).buckets("THE  cat"))
    assert h.buckets("").size == 0 and h.buckets("word").size == 1
    assert (NgramHasher(7).buckets(_text(TUTORIAL, random.Random(0))) < 7).all()


def test_dsir_log_weight_is_the_bag_of_ngrams_log_ratio(tmp_path):
    from winnow.curate.common.hashing import NgramHasher

    pool = make_pool(n=40)
    step = _dsir(tmp_path, keep_fraction=1.0, num_buckets=500)
    kept = run_step(step, write_shards(tmp_path / "in", pool, [40]), tmp_path / "out")
    h = NgramHasher(500)
    target = sum(h.counts(d["text"]) for d in read_docs(positives_file(tmp_path)))
    raw = sum(h.counts(d["text"]) for d in pool)
    log_diff = np.log(target / target.sum() + 1e-8) - np.log(raw / raw.sum() + 1e-8)
    for d in kept[:5]:
        assert d["meta"]["dsir_log_weight"] == pytest.approx(float(h.counts(d["text"]) @ log_diff))


def test_dsir_top_k_keeps_target_like_documents(tmp_path):
    kept = run_step(_dsir(tmp_path, top_k=30, gumbel=False),
                    write_shards(tmp_path / "in", make_pool(), [50, 70]), tmp_path / "out")
    assert len(kept) == 30 and {d["source"] for d in kept} == {"good"}


def test_dsir_gumbel_sample_is_seeded_and_layout_independent(tmp_path):
    rng = random.Random(1)
    # raw documents that all look alike: the sample is decided by the Gumbel noise alone
    pool = [{"id": f"d{i:03d}", "text": _text(TUTORIAL + SPAM, rng), "url": None,
             "source": "mixed", "meta": {}} for i in range(100)]
    samples = {}
    for name, docs, layout, seed in (("a", pool, [100], 0), ("b", pool[::-1], [13, 37, 50], 0),
                                     ("c", pool, [100], 1)):
        kept = run_step(_dsir(tmp_path, keep_fraction=0.3),
                        write_shards(tmp_path / f"in_{name}", docs, layout), tmp_path / f"out_{name}",
                        seed=seed)
        samples[name] = {d["id"] for d in kept}
    assert len(samples["a"]) == 30
    assert samples["a"] == samples["b"]   # same seed, other shard layout and order
    assert samples["a"] != samples["c"]   # another seed draws another sample
    # the strongly target-like documents still win under noise
    kept = run_step(_dsir(tmp_path, keep_fraction=0.25),
                    write_shards(tmp_path / "in_d", make_pool(), [120]), tmp_path / "out_d")
    assert sum(d["source"] == "good" for d in kept) >= 28


def test_dsir_never_picks_documents_under_min_words(tmp_path):
    rng = random.Random(2)
    pool = make_pool(n=40)
    pool += [{"id": f"short{i}", "text": _text(TUTORIAL, rng, 20), "url": None, "source": "short",
              "meta": {}} for i in range(10)]
    step = _dsir(tmp_path, min_words=50, keep_fraction=1.0)
    kept = run_step(step, write_shards(tmp_path / "in", pool, [50]), tmp_path / "out")
    assert len(kept) == 40 and not any(d["source"] == "short" for d in kept)
    assert step.counters.dropped == {"too_short_for_dsir": 10}


def test_dsir_token_budget_selection(tmp_path):
    pool = make_pool()
    kept = run_step(_dsir(tmp_path, tokens="budget", multiplier=1.5),
                    write_shards(tmp_path / "in", pool, [120]), tmp_path / "out", train_tokens=1000)
    est = sum(len(d["text"].encode()) for d in kept) / 4.0
    assert est <= 1500 and est + max(len(d["text"].encode()) for d in pool) / 4.0 > 1500


def test_dsir_parameters_are_checked():
    from winnow.curate.steps.dsir import Dsir

    with pytest.raises(ParamError, match="not both"):
        Dsir(target="debian_tutorials_v1", target_file="t.jsonl", keep_fraction=0.1)
    with pytest.raises(ParamError, match="exactly one of"):
        Dsir()
    with pytest.raises(ParamError, match="num_buckets"):
        Dsir(num_buckets=1, keep_fraction=0.1)
    assert Dsir(keep_fraction=0.1).target == "debian_tutorials_v1"


def test_dsir_baseline_curates_the_mini_pool(mini_pool):
    run, stats = curate_baseline("dsir")
    last = stats["steps"][-1]
    assert last["step"] == "dsir" and 0 < last["out"] < last["in"]
    assert last["info"]["est_tokens_kept"] <= last["info"]["budget_tokens"]
    docs = [d for p in sorted((run.dir / "curated" / "shards").glob("*.jsonl*")) for d in read_docs(p)]
    assert all("dsir_log_weight" in d["meta"] for d in docs)
