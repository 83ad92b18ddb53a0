"""curriculum_stages: difficulty quantiles as meta.stage, for each `by`; the tinyhelen baselines.

Hand-made corpora where half the documents are easy by the measure under test (repetitive text
for the reference LM's loss, short sentences for sentence length): with two stages the easy
half must be stage 0. The random order is balanced, seeded and independent of the content.
The tinyhelen_curriculum baseline runs through curate and tokenize at the debug scale.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from winnow.curate.base import ParamError, StepContext, StepError
from winnow.curate.steps import curriculum
from winnow.curate.steps.curriculum import CurriculumStages, quantile_stages, sentence_length
from winnow.docs import read_docs, write_docs

torch.set_num_threads(1)

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _easy_lm(rng: random.Random) -> str:
    return "the cat sat on the mat. " * rng.randint(8, 12)


def _hard_lm(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 9)))
                    for _ in range(40))


def _short_sentences(rng: random.Random) -> str:
    return " ".join(f"I {rng.choice(['ran', 'sat', 'ate'])}." for _ in range(10))


def _long_sentences(rng: random.Random) -> str:
    words = "the river that runs past the old mill carries leaves and stones".split()
    return " ".join(" ".join(rng.choice(words) for _ in range(30)) + "." for _ in range(3))


def _corpus(tmp_path: Path, easy, hard, n: int = 40) -> tuple[list[Path], set[str]]:
    rng = random.Random(0)
    docs, easy_ids = [], set()
    for i in range(n):
        is_easy = i % 2 == 0
        docs.append({"id": f"d{i:03d}", "text": easy(rng) if is_easy else hard(rng),
                     "url": None, "source": "test", "meta": {"keep": i}})
        if is_easy:
            easy_ids.add(f"d{i:03d}")
    shards = []
    for k in range(2):
        p = tmp_path / "in" / f"part{k}.jsonl.zst"
        write_docs(p, docs[k * n // 2:(k + 1) * n // 2])
        shards.append(p)
    return shards, easy_ids


def _step(**kw) -> CurriculumStages:
    params = dict(count=2, proxy_docs=100, proxy_steps=40, proxy_batch=8, proxy_d_model=32,
                  proxy_layers=1, proxy_heads=2, seq_len=64)
    params.update(kw)
    s = CurriculumStages(**params)
    s.step_name = "curriculum_stages"
    return s


def _stages(outputs) -> dict[str, dict]:
    return {d["id"]: d["meta"] for p in outputs for d in read_docs(p)}


def test_lm_loss_puts_easy_documents_first(tmp_path):
    shards, easy = _corpus(tmp_path, _easy_lm, _hard_lm)
    step = _step(by="lm_loss")
    meta = _stages(step.run(shards, tmp_path / "out", StepContext(seed=1)))
    assert {i for i, m in meta.items() if m["stage"] == 0} == easy
    assert all(m["keep"] == int(i[1:]) for i, m in meta.items())  # other meta kept
    assert max(meta[i]["difficulty"] for i in easy) < min(
        m["difficulty"] for i, m in meta.items() if i not in easy)
    c = step.counters
    assert c.docs_in == c.docs_out == 40 and c.dropped == {}
    assert c.info["flops"] == c.info["flops_train"] + c.info["flops_score"] > 0
    assert c.info["proxy_params"] > 0 and c.info["stages"] == 2


def test_lm_loss_is_seeded_and_resumes_without_retraining(tmp_path, monkeypatch):
    shards, _ = _corpus(tmp_path, _easy_lm, _hard_lm, n=20)
    a = _stages(_step(count=4).run(shards, tmp_path / "a", StepContext(seed=2)))
    b = _stages(_step(count=4).run(shards, tmp_path / "b", StepContext(seed=2)))
    assert a == b
    (tmp_path / "b" / "part1.jsonl.zst").unlink()  # a crash while writing the outputs

    def no_training(*args, **kw):
        raise AssertionError("the reference LM was retrained on resume")

    monkeypatch.setattr(torch.optim, "AdamW", no_training)
    assert _stages(_step(count=4).run(shards, tmp_path / "b", StepContext(seed=2))) == a


def test_sentence_length_puts_short_sentences_first(tmp_path):
    shards, easy = _corpus(tmp_path, _short_sentences, _long_sentences)
    step = _step(by="sentence_length")
    meta = _stages(step.run(shards, tmp_path / "out", StepContext(seed=0)))
    assert {i for i, m in meta.items() if m["stage"] == 0} == easy
    assert meta["d000"]["difficulty"] == pytest.approx(2.0)  # "I ran." x 10
    assert step.counters.info["flops"] == 0
    assert sentence_length("One two three. Four!\nFive six") == pytest.approx(2.0)
    assert sentence_length("  ") == 0.0


def test_random_order_is_balanced_seeded_and_ignores_content(tmp_path):
    shards, easy = _corpus(tmp_path, _short_sentences, _long_sentences)
    run = lambda seed, name: _stages(_step(by="random", count=4).run(  # noqa: E731
        shards, tmp_path / name, StepContext(seed=seed)))
    a, b, c = run(0, "a"), run(0, "b"), run(1, "c")
    assert a == b and a != c
    counts = np.bincount([m["stage"] for m in a.values()], minlength=4)
    assert counts.tolist() == [10, 10, 10, 10]
    first = {i for i, m in a.items() if m["stage"] < 2}
    assert first != easy and 0 < len(first & easy) < 20


def test_quantile_stages_ties_and_unscorable_documents():
    d = np.array([0.5, np.nan, 0.1, 0.5, 0.9, 0.1])
    # order: 0.1 (pos 2), 0.1 (pos 5), 0.5 (pos 0), 0.5 (pos 3), 0.9, nan
    assert quantile_stages(d, 3).tolist() == [1, 2, 0, 1, 2, 0]
    assert quantile_stages(np.arange(10.0), 20).tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


def test_parameters_and_too_few_documents(tmp_path):
    with pytest.raises(ParamError, match="unknown difficulty 'lm_los'.*lm_loss"):
        CurriculumStages(by="lm_los")
    with pytest.raises(ParamError, match="count"):
        CurriculumStages(count=0)
    with pytest.raises(ParamError, match="heads of even size"):
        CurriculumStages(proxy_d_model=30)
    assert set(curriculum.DIFFICULTY) == {"lm_loss", "sentence_length", "random"}
    shards, _ = _corpus(tmp_path, _short_sentences, _long_sentences, n=4)
    with pytest.raises(StepError, match="4 input documents cannot fill 5 stages"):
        _step(by="random", count=5).run(shards, tmp_path / "out", StepContext(seed=0))


def test_tinyhelen_baselines_validate():
    from winnow.curate.recipe import load_recipe
    from winnow.paths import REPO_ROOT

    fps = set()
    for name, by in (("tinyhelen_curriculum", "lm_loss"), ("tinyhelen_random_order", "random"),
                     ("tinyhelen_sentence_length", "sentence_length")):
        r = load_recipe(REPO_ROOT / "baselines" / name)
        assert r.track == "order" and [s.name for s in r.steps] == ["random_sample",
                                                                      "curriculum_stages"]
        assert r.steps[1].params["by"] == by and r.steps[1].params["count"] == 20
        assert len(r.stages) == 20 and r.stages[-1].labels == tuple(range(20))
        fps.add(r.fingerprint())
        readme = (REPO_ROOT / "baselines" / name / "README.md").read_text()
        for section in ("**Method.**", "**Source.**", "**Deviations.**", "**Curation cost.**",
                        "## Results", "<!-- results -->", "arXiv 2501.00522"):
            assert section in readme, f"{name}/README.md lacks {section}"
    assert len(fps) == 3


def test_tokenize_key_has_stages_only_on_the_order_track(mini_pool):
    from winnow.run import prepare, tokenize_inputs

    plain, _, none = tokenize_inputs(prepare(["scale=debug", "submission=baselines/random"]), "c")
    assert none is None and set(plain) == {"curated", "tokenizer", "seq_len", "n_sequences",
                                           "seed", "v"}
    staged, config, stages = tokenize_inputs(
        prepare(["scale=debug", "submission=baselines/tinyhelen_curriculum"]), "c")
    assert len(stages) == 20 and staged["stages"]["stages"] == config["stages"]
    assert {k: v for k, v in staged.items() if k != "stages"} == plain


def test_tinyhelen_curriculum_curates_and_tokenizes_the_mini_pool(mini_pool):
    from winnow.io import read_json
    from winnow.run import prepare, run_stages

    run = prepare(["scale=debug", "submission=baselines/tinyhelen_curriculum", "progress=false",
                   "engine.workers=1"])
    ms = run_stages(run, ("pool", "curate", "tokenize"))
    step = [s for s in ms["curate"].stats["steps"] if s["step"] == "curriculum_stages"][0]
    assert step["in"] == step["out"] > 20 and step["info"]["flops"] > 0
    labels = [d["meta"]["stage"] for p in sorted((run.dir / "curated" / "shards").glob("*.zst"))
              for d in read_docs(p)]
    assert sorted(set(labels)) == list(range(20))
    order = read_json(run.dir / "tokenized" / "order.json")
    assert [s["index"] for s in order["stages"]] == list(range(20))
    assert sum(s["sequences"] for s in order["stages"]) == order["n_sequences"]
    assert [s["first_row"] for s in order["stages"]] == [
        sum(s["sequences"] for s in order["stages"][:k]) for k in range(20)]
    assert [s["docs"] for s in order["stages"]] == sorted(s["docs"] for s in order["stages"])
    assert ms["tokenize"].config["stages"][0] == {"stages": [0], "share": 0.05}
