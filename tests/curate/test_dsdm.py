"""dsdm_select (DsDm-lite): targeted selection by proxy-LM gradient scores, the `targets:` key.

A hand-made corpus where half the documents look like the target examples (trivia questions
with answers) and half are unrelated (arithmetic tables, code): the target-like half must
score higher and be what a 50% selection keeps. Same seed gives the same ids; resuming after a
crash reuses the trained proxy. The recipe's `targets:` key is validated and checked against
the step's `targets`.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from winnow.curate.base import ParamError, StepContext
from winnow.curate.steps import dsdm
from winnow.curate.steps.dsdm import DsDmSelect
from winnow.docs import read_docs, write_docs

torch.set_num_threads(1)

CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
            ("Egypt", "Cairo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
            ("Norway", "Oslo"), ("Greece", "Athens"), ("Cuba", "Havana"), ("Iran", "Tehran"),
            ("India", "New Delhi"), ("China", "Beijing"), ("Russia", "Moscow"),
            ("Canada", "Ottawa"), ("Poland", "Warsaw"), ("Sweden", "Stockholm")]


def _trivia(rng: random.Random) -> str:
    lines = []
    for _ in range(6):
        country, city = rng.choice(CAPITALS)
        lines.append(f"QUESTION: What is the capital city of {country}? ANSWER: {city}.")
    return "\n".join(lines)


def _unrelated(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "\n".join(f"{a} * {b} = {a * b};" for a, b in
                         ((rng.randint(10, 99), rng.randint(10, 99)) for _ in range(12)))
    return "\n".join(f"def f{i}(x): return x ** {rng.randint(2, 9)} + {rng.randint(0, 99)}"
                     for i in range(10))


def _targets(task: str, n: int, seed: int):
    rng = random.Random(f"{task}-{seed}")
    out = []
    for _ in range(n):
        country, city = rng.choice(CAPITALS)
        out.append((f"QUESTION: What is the capital city of {country}? ANSWER:", f" {city}."))
    return out


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> tuple[list[Path], set[str]]:
    monkeypatch.setattr(dsdm, "load_target_examples", _targets)
    rng = random.Random(0)
    docs, like = [], set()
    for i in range(60):
        target_like = i % 2 == 0
        doc_id = f"d{i:03d}"
        docs.append({"id": doc_id, "text": _trivia(rng) if target_like else _unrelated(rng),
                     "url": None, "source": "test", "meta": {}})
        if target_like:
            like.add(doc_id)
    shards = []
    for k in range(2):
        p = tmp_path / "in" / f"part{k}.jsonl.zst"
        write_docs(p, docs[k * 30:(k + 1) * 30])
        shards.append(p)
    return shards, like


def _step(**kw) -> DsDmSelect:
    params = dict(targets=["squad", "jeopardy"], fraction=0.5, target_examples=16,
                  proxy_docs=60, proxy_steps=30, proxy_batch=8, proxy_d_model=32,
                  proxy_layers=1, proxy_heads=2, seq_len=64, proj_dim=512)
    params.update(kw)
    s = DsDmSelect(**params)
    s.step_name = "dsdm_select"
    return s


def _kept(outputs) -> list[str]:
    return [d["id"] for p in outputs for d in read_docs(p)]


def test_target_like_documents_score_higher_and_are_selected(corpus, tmp_path):
    shards, like = corpus
    step = _step()
    out = step.run(shards, tmp_path / "out", StepContext(seed=3))
    kept = set(_kept(out))
    assert len(kept) == 30
    assert len(kept & like) >= 27, sorted(kept - like)
    c = step.counters
    assert c.docs_in == 60 and c.docs_out == 30 and c.dropped == {"not_selected": 30}
    assert c.info["flops"] > c.info["flops_train"] > 0 and c.info["proxy_params"] > 0
    # the score itself: recompute from a fresh run's partial state before features are removed
    step2 = _step()
    shards2, out2 = shards, tmp_path / "out_scores"
    shards2_p, out_dir, part = dsdm.open_partial("dsdm_select", step2.version, step2.settings(),
                                                 shards2, out2, seed=3)
    step2._features(shards2_p, part, 3, StepContext(seed=3))
    scores, lam = step2.scores(shards2_p, part)
    ids = [d["id"] for p in shards for d in read_docs(p)]
    like_mask = np.array([i in like for i in ids])
    assert scores[like_mask].min() > scores[~like_mask].max() and lam == 0.0  # cosine


def test_same_seed_same_ids_and_resume_reuses_the_proxy(corpus, tmp_path, monkeypatch):
    shards, _ = corpus
    a = _kept(_step().run(shards, tmp_path / "a", StepContext(seed=5)))
    b = _kept(_step().run(shards, tmp_path / "b", StepContext(seed=5)))
    assert a == b
    # a crash after the proxy was trained: the rerun must not train again and must agree
    (tmp_path / "b" / "part0.jsonl.zst").unlink()

    def no_training(*args, **kw):
        raise AssertionError("the proxy was retrained on resume")

    monkeypatch.setattr(torch.optim, "AdamW", no_training)
    c = _kept(_step().run(shards, tmp_path / "b", StepContext(seed=5)))
    assert c == a


def test_trak_scores_are_the_whitened_inner_product():
    rng = np.random.default_rng(0)
    phi, g = rng.normal(size=(50, 8)), rng.normal(size=8)
    scores, lam = dsdm.trak_scores(phi, g, 0.1)
    gram = phi.T @ phi
    assert lam == pytest.approx(0.1 * np.trace(gram) / 8)
    assert np.allclose(scores, phi @ np.linalg.inv(gram + lam * np.eye(8)) @ g)
    cos, _ = dsdm.cosine_scores(phi, g, 0.1)
    assert np.all(np.abs(cos) <= 1 + 1e-12)
    assert np.argmax(dsdm.cosine_scores(np.vstack([phi, g + phi.mean(0)]), g, 0.1)[0]) == 50


def test_token_budget_selection(corpus, tmp_path):
    shards, _ = corpus
    step = _step(fraction=None, tokens="budget", multiplier=1.0, scoring="trak")
    ctx = StepContext(seed=1, train_tokens=2000, bytes_per_token=4.0)
    kept = _kept(step.run(shards, tmp_path / "out", ctx))
    assert 0 < len(kept) < 60
    assert step.counters.info["est_tokens_kept"] <= 2000


def test_parameters_are_checked():
    with pytest.raises(ParamError, match="unknown task 'sqaud'.*squad"):
        DsDmSelect(targets=["sqaud"], fraction=0.5)
    with pytest.raises(ParamError, match="exactly one"):
        DsDmSelect(fraction=0.5, tokens=100)
    with pytest.raises(ParamError, match="heads of even size"):
        DsDmSelect(fraction=0.5, proxy_d_model=30, proxy_heads=2)
    assert DsDmSelect(targets=["dclm_squad"], fraction=0.1).targets == ["squad"]


def test_target_examples_from_the_eval_files():
    from winnow.paths import DataRootError, data_root

    try:
        data_root()
    except DataRootError:
        pytest.skip("no data root")
    a = dsdm.load_target_examples("squad", 5, seed=0)
    assert a == dsdm.load_target_examples("squad", 5, seed=0) and len(a) == 5
    assert all(ctx and cont for ctx, cont in a)
    assert dsdm.load_target_examples("squad", 5, seed=1) != a
    mc = dsdm.load_target_examples("arc_easy", 2, seed=0)  # multiple-choice layout
    assert len(mc) == 2 and all(cont.startswith(" ") for _, cont in mc)


# ------------------------------------------------------------------ recipe `targets:`

def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "recipe.yaml"
    p.write_text(body)
    return p


STEP = """steps:
  - step: dsdm_select
    targets: [squad, lambada_openai]
    fraction: 0.5
"""


def test_recipe_targets_declared_validated_and_fingerprinted(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    base = "name: t\ntrack: filtering\n"
    r = load_recipe(_write(tmp_path, base + "targets: [dclm_squad, lambada_openai]\n" + STEP))
    assert r.targets == ["dclm_lambada_openai", "dclm_squad"] and r.targeted
    assert r.summary()["targets"] == r.targets
    fp = r.fingerprint()
    r2 = load_recipe(_write(tmp_path, base + "targets: [dclm_squad, dclm_lambada_openai, "
                                             "dclm_jeopardy]\n" + STEP))
    assert r2.fingerprint() != fp
    with pytest.raises(RecipeError, match="does not declare"):
        load_recipe(_write(tmp_path, base + "targets: [dclm_squad]\n" + STEP))
    with pytest.raises(RecipeError, match="unknown task 'dclm_sqad'"):
        load_recipe(_write(tmp_path, base + "targets: [dclm_sqad]\nsteps: []\n"))
    with pytest.raises(RecipeError, match="non-empty list"):
        load_recipe(_write(tmp_path, base + "targets: dclm_squad\nsteps: []\n"))
    plain = load_recipe(_write(tmp_path, base + "steps: []\n"))
    assert plain.targets == [] and not plain.targeted


def test_baseline_recipes_validate():
    from winnow.curate.recipe import load_recipe
    from winnow.paths import REPO_ROOT

    r = load_recipe(REPO_ROOT / "baselines" / "dsdm_lite")
    assert r.targeted and [s.name for s in r.steps] == ["dsdm_select"]
    assert set(r.targets) == {"dclm_lambada_openai", "dclm_squad", "dclm_jeopardy",
                              "dclm_bigbench_cs_algorithms"}
    s = load_recipe(REPO_ROOT / "baselines" / "semdedup")
    assert [x.name for x in s.steps] == ["semdedup", "random_sample"] and not s.targeted


def _curate(mini_pool, submission: str):
    from winnow.run import prepare, run_stages

    run = prepare(["scale=debug", f"submission={submission}", "progress=false",
                   "engine.workers=1"])
    return run, run_stages(run, ("pool", "curate"))


def test_dsdm_lite_baseline_curates_the_mini_pool(mini_pool):
    run, ms = _curate(mini_pool, "baselines/dsdm_lite")
    stats = ms["curate"].stats
    step = [s for s in stats["steps"] if s["step"] == "dsdm_select"][0]
    assert 0 < step["out"] < step["in"] and step["info"]["flops"] > 0
