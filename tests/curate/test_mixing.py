"""The mixing track's "bring your own data" pieces: ``external: [{reference: <corpus>}]`` and
``random_sample``'s ``keep_sources``.

Reference corpora are built for real (``build_corpus``) from a Debian package made here and
served from a ``file://`` mirror (``fixture_corpus`` of test_curate_quality), registered under a
test name, so nothing touches the network.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from tests.curate.test_quality import fixture_corpus
from tests.curate.test_steps import write_shards
from winnow.curate import StepContext, curate, load_recipe
from winnow.curate.base import ParamError
from winnow.curate.engine import LocalEngine
from winnow.curate.recipe import RecipeError
from winnow.curate.common.keys import rank_key
from winnow.curate.steps.selection import RandomSample
from winnow.docs import read_docs, write_docs
from tests.helpers import REPO


@pytest.fixture
def fixture_reference(tmp_path, monkeypatch):
    """Register the fixture corpus as ``fixture_v1`` (own WINNOW_HOME, file:// mirror)."""
    from winnow.curate import reference

    corpus, mirror = fixture_corpus(tmp_path / "a")
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(reference.MIRROR_ENV, str(mirror))
    monkeypatch.setitem(reference.REFERENCE_CORPORA, corpus.name, corpus)
    return corpus


def mixing_recipe(folder: Path, external: str, steps: str = "steps: []\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "recipe.yaml"
    p.write_text(f"name: m\ntrack: mixing\nexternal:\n{external}{steps}")
    return p


# --------------------------------------------------------------------------- {reference: name}

def test_reference_entry_is_built_cached_and_fingerprinted_like_a_local_file(
        tmp_path, fixture_reference, monkeypatch):
    from winnow.curate import reference
    from winnow.io import sha256_file

    p = mixing_recipe(tmp_path / "r", "  - {reference: fixture_v1}\n")
    r = load_recipe(p)
    (f,) = r.external
    docs_file = tmp_path / "home" / "reference" / "fixture_v1" / "docs.jsonl.zst"
    assert f.path == docs_file and f.reference == "fixture_v1" and f.stem == "fixture_v1"
    assert f.sha256 == sha256_file(docs_file)
    assert f.canonical == {"reference": "fixture_v1", "sha256": f.sha256}
    assert r.flags()["external_data"]
    fp = r.fingerprint()
    assert load_recipe(p).fingerprint() == fp  # the cache is reused: same bytes, same hash

    # the same bytes as a plain local file: another entry (the corpus name is covered too)
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "copy.jsonl.zst").write_bytes(docs_file.read_bytes())
    local = load_recipe(mixing_recipe(tmp_path / "l", "  - copy.jsonl.zst\n"))
    assert local.external[0].sha256 == f.sha256 and local.fingerprint() != fp

    # another corpus under the same name (other pages: another docs sha256) is another submission
    changed, mirror = fixture_corpus(tmp_path / "b", n_pages=7)
    monkeypatch.setitem(reference.REFERENCE_CORPORA, "fixture_v1", changed)
    monkeypatch.setenv(reference.MIRROR_ENV, str(mirror))
    r2 = load_recipe(p)
    assert r2.external[0].sha256 != f.sha256 and r2.external[0].sha256 == sha256_file(docs_file)
    assert r2.fingerprint() != fp


def test_reference_entry_fingerprint_follows_the_docs_sha256(tmp_path, monkeypatch):
    """With build_corpus stubbed: only the docs file's bytes (and the name) make the hash."""
    from winnow.curate import external

    docs = tmp_path / "docs.jsonl.zst"
    monkeypatch.setattr(external, "build_corpus", lambda name: docs)
    p = mixing_recipe(tmp_path / "r", "  - {reference: debian_tutorials_v1}\n")
    write_docs(docs, [{"id": "a", "text": "one document", "url": None, "source": "s", "meta": {}}])
    fp = load_recipe(p).fingerprint()
    write_docs(docs, [{"id": "a", "text": "one document!", "url": None, "source": "s", "meta": {}}])
    assert load_recipe(p).fingerprint() != fp


def test_unknown_reference_corpus_is_a_recipe_error_listing_the_known_ones(tmp_path):
    msg = str(pytest.raises(RecipeError, load_recipe,
                            mixing_recipe(tmp_path / "a", "  - {reference: debian_tutorial}\n")).value)
    assert "external entry 1: unknown reference corpus 'debian_tutorial'" in msg
    assert "did you mean 'debian_tutorials_v1'" in msg and "registered: debian_tutorials_v1" in msg
    msg = str(pytest.raises(RecipeError, load_recipe,
                            mixing_recipe(tmp_path / "b", "  - {reference: zzz}\n")).value)
    assert "unknown reference corpus 'zzz'" in msg and "registered: debian_tutorials_v1" in msg
    msg = str(pytest.raises(RecipeError, load_recipe,
                            mixing_recipe(tmp_path / "c", "  - {reference: x, sha256: y}\n")).value)
    assert "{reference: <corpus name>}" in msg


def test_unreachable_reference_corpus_is_a_recipe_error(tmp_path, fixture_reference, monkeypatch):
    from winnow.curate import reference

    monkeypatch.setenv(reference.MIRROR_ENV, str(tmp_path / "nowhere"))
    msg = str(pytest.raises(RecipeError, load_recipe,
                            mixing_recipe(tmp_path / "r", "  - {reference: fixture_v1}\n")).value)
    assert "external entry 1: reference package tut=1.0" in msg and "could not fetch" in msg


def test_mixing_recipe_keeps_every_reference_document_and_samples_the_pool(tmp_path,
                                                                           fixture_reference):
    """End to end: the external corpus' documents all survive random_sample keep_sources; the
    pool fills what remains of the budget."""
    from tests.curate.test_pipeline import make_pool

    steps = ("steps:\n  - step: random_sample\n    tokens: budget\n    multiplier: 3.0\n"
             "    keep_sources: ['external/*']\n")
    r = load_recipe(mixing_recipe(tmp_path / "r", "  - {reference: fixture_v1}\n", steps))
    shards = make_pool(tmp_path / "pool")
    ctx = StepContext(seed=3, workers=1, train_tokens=2000, bytes_per_token=4.0)
    stats = curate(r, shards, tmp_path / "out", ctx, LocalEngine(1, progress=False))
    docs = [d for p in sorted((tmp_path / "out" / "shards").iterdir()) for d in read_docs(p)]
    ext = [d for d in docs if d["source"] == "external/fixture_v1"]
    assert len(ext) == 6 and all(d["id"].startswith("ext/0/fixture_v1/tut/") for d in ext)
    src = stats["sources"]["external/fixture_v1"]
    assert src["docs_in"] == src["docs_out"] == 6
    info = stats["steps"][0]["info"]
    ext_tokens = sum(len(d["text"].encode()) for d in ext) / 4.0
    assert info["kept_sources_docs"] == 6 and info["kept_sources_tokens"] == pytest.approx(ext_tokens)
    total = sum(len(d["text"].encode()) for d in docs) / 4.0
    assert ext_tokens < total <= 6000 and info["est_tokens_kept"] == pytest.approx(total)
    assert len(docs) > len(ext)  # pool documents fill the rest


# --------------------------------------------------------------------------- keep_sources

def _doc(i: int, source: str, nbytes: int) -> dict:
    return {"id": f"{source}/{i:03d}", "text": "x" * nbytes, "url": None, "source": source,
            "meta": {}}


def _shards(folder: Path, groups: list[list[dict]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return write_shards(folder, groups)


def _pool_and_external(ext_bytes: int = 400) -> tuple[list[dict], list[dict]]:
    rng = random.Random(7)
    pool = [_doc(i, "web", rng.randint(10, 400)) for i in range(400)]
    ext = [_doc(i, "external/x", ext_bytes) for i in range(10)]
    return pool, ext


def _run(step: RandomSample, shards: list[Path], out: Path, seed: int = 1) -> list[dict]:
    paths = step.run(shards, out, StepContext(seed=seed, bytes_per_token=4.0, train_tokens=5000))
    return [d for p in paths for d in read_docs(p)]


def test_keep_sources_keeps_all_matching_documents_and_counts_them_in_the_budget(tmp_path):
    pool, ext = _pool_and_external()
    shards = _shards(tmp_path / "in", [pool[:200] + ext[:5], ext[5:] + pool[200:]])
    step = RandomSample(tokens=8000, keep_sources=["external/*"])
    kept = _run(step, shards, tmp_path / "a")
    ids = {d["id"] for d in kept}
    assert {d["id"] for d in ext} <= ids
    ext_tokens = 10 * 400 / 4.0
    pool_tokens = sum(len(d["text"]) for d in kept if d["source"] == "web") / 4.0
    assert pool_tokens <= 8000 - ext_tokens < pool_tokens + 100  # the rest of the budget, filled
    assert step.counters.info["kept_sources_docs"] == 10
    assert step.counters.info["kept_sources_tokens"] == ext_tokens
    assert step.counters.info["est_tokens_kept"] == ext_tokens + pool_tokens
    assert step.counters.dropped == {"not_sampled": 410 - len(kept)}
    # the pool part is exactly a plain sample of the pool with the remaining budget
    plain = _run(RandomSample(tokens=int(8000 - ext_tokens)), _shards(tmp_path / "p", [pool]),
                 tmp_path / "b")
    assert {d["id"] for d in kept if d["source"] == "web"} == {d["id"] for d in plain}
    # written in input order
    order = [d["id"] for p in shards for d in read_docs(p)]
    assert [d["id"] for d in kept] == [i for i in order if i in ids]


def test_keep_sources_beyond_the_budget_keeps_them_all_and_samples_nothing(tmp_path):
    pool, ext = _pool_and_external(ext_bytes=4000)  # 10,000 tokens > 8,000
    step = RandomSample(tokens=8000, keep_sources=["external/*", "nothing/*"])
    kept = _run(step, _shards(tmp_path / "in", [pool + ext]), tmp_path / "a")
    assert sorted(d["id"] for d in kept) == sorted(d["id"] for d in ext)
    assert step.counters.info["est_tokens_kept"] == 10000


def test_keep_sources_with_fraction_samples_a_fraction_of_the_others(tmp_path):
    pool, ext = _pool_and_external()
    step = RandomSample(fraction=0.25, keep_sources=["external/*"])
    kept = _run(step, _shards(tmp_path / "in", [ext + pool]), tmp_path / "a")
    assert sum(d["source"] == "web" for d in kept) == 100
    assert sum(d["source"] == "external/x" for d in kept) == 10


def test_keep_sources_parameter_is_validated():
    for bad in ([], [""], ["ok", 3]):
        with pytest.raises(ParamError, match="keep_sources"):
            RandomSample(tokens=10, keep_sources=bad)


def test_random_sample_default_output_is_unchanged(tmp_path):
    """Without keep_sources the sample is the original one: the budget prefix of the keyed-hash
    ranking; a pattern matching nothing gives the same bytes."""
    pool, ext = _pool_and_external()
    docs = pool + ext
    shards = _shards(tmp_path / "in", [docs[:150], docs[150:]])
    kept = _run(RandomSample(tokens=8000), shards, tmp_path / "a", seed=4)
    ranked = sorted(range(len(docs)), key=lambda i: (rank_key(4, docs[i]["id"]), i))
    expected, total = set(), 0.0
    for i in ranked:
        total += len(docs[i]["text"]) / 4.0
        if total > 8000:
            break
        expected.add(docs[i]["id"])
    assert {d["id"] for d in kept} == expected
    nomatch = _run(RandomSample(tokens=8000, keep_sources=["nothing/*"]), shards, tmp_path / "b",
                   seed=4)
    assert [p.read_bytes() for p in sorted((tmp_path / "a").glob("*.jsonl"))] == \
        [p.read_bytes() for p in sorted((tmp_path / "b").glob("*.jsonl"))]
    assert nomatch == kept
    kept_f = _run(RandomSample(fraction=0.3), shards, tmp_path / "c", seed=4)
    assert {d["id"] for d in kept_f} == {docs[i]["id"] for i in ranked[:math.floor(0.3 * 410 + 0.5)]}


def test_keep_sources_left_out_keeps_existing_fingerprints(tmp_path):
    """keep_sources is an ``added_params`` entry: at its default it is not in the canonical step,
    so recipes written before it keep their fingerprints (and cached curation)."""
    head = "name: t\ntrack: filtering\nsteps:\n  - step: random_sample\n    tokens: budget\n" \
           "    multiplier: 1.5\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "recipe.yaml").write_text(head)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "recipe.yaml").write_text(head + "    keep_sources: null\n")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "recipe.yaml").write_text(head + "    keep_sources: ['external/*']\n")
    a, b, c = (load_recipe(tmp_path / k) for k in "abc")
    assert a.steps[0].canonical == {"step": "random_sample", "version": 1, "params": {
        "fraction": None, "multiplier": 1.5, "tokens": "budget"}}  # as before keep_sources
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert c.steps[0].canonical["params"]["keep_sources"] == ["external/*"]
    repo = REPO
    assert load_recipe(repo / "baselines" / "random").steps[0].canonical == a.steps[0].canonical


# --------------------------------------------------------------------------- the baseline

def test_mixing_reference_baseline_validates_and_documents_itself():
    from tests.curate.test_quality import seed_reference_cache
    from winnow.paths import REPO_ROOT

    seed_reference_cache()  # the corpus' cache in this session's WINNOW_HOME (no network)
    folder = REPO_ROOT / "baselines" / "mixing_reference"
    r = load_recipe(folder)
    assert r.track == "mixing" and r.flags()["external_data"]
    assert [f.reference for f in r.external] == ["debian_tutorials_v1"]
    assert [s.name for s in r.steps] == ["random_sample"]
    assert r.steps[0].canonical["params"] == {"fraction": None, "keep_sources": ["external/*"],
                                              "multiplier": 1.5, "tokens": "budget"}
    readme = (folder / "README.md").read_text()
    for section in ("**Method.**", "**Source.**", "**Deviations.**", "**Curation cost.**",
                    "## Results\n\n", "<!-- results -->\n"):
        assert section in readme, f"mixing_reference/README.md lacks {section!r}"
