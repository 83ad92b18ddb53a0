"""Curation is computed once per recipe and pool shards: the curated store shared across runs.

Debug-scale runs on the mini pool, each test in its own ``WINNOW_HOME``: two seeds of a
seed-independent recipe (simple_heuristics) curate once, and the second run's log names the
reuse; a seed-dependent one (random: ``random_sample``) curates per seed; a budget-independent
recipe is shared across budgets, a budget-dependent one is not; two runs started together
curate once (the store's lock); a curation that crashed is resumed by a run of another seed;
a per-run curated folder from before the store is kept as it is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from winnow.io import read_json, write_json
from winnow.manifest import hash_obj, read_manifest, verify_folder

BASE = ["scale=debug", "progress=false", "engine.workers=1"]
HEURISTICS = BASE + ["submission=baselines/simple_heuristics"]  # no seeded step, no budget
RANDOM = BASE + ["submission=baselines/random"]  # random_sample, tokens: budget


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh WINNOW_HOME holding the mini pool."""
    from winnow.config import group_file
    from winnow.pool.build import build_pool

    home = tmp_path / "home"
    monkeypatch.setenv("WINNOW_HOME", str(home))
    build_pool(group_file("pool", "mini"), progress=False)
    return home


def _curate(overrides: list[str]):
    from winnow.run import prepare, run_stages

    run = prepare(overrides)
    return run, run_stages(run, ("pool", "curate"))["curate"]


def _pool_id(run) -> str:
    from winnow.pool.build import pool_dir

    return read_manifest(pool_dir(run.cfg["pool"]["name"], run.cfg["pool"]["version"])).content_id


def _curations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if " pool shards into " in r.getMessage()]


def _reuses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reusing curated output" in r.getMessage()]


def test_seeds_of_a_seed_independent_recipe_share_one_curation(home, caplog):
    caplog.set_level(logging.INFO)
    run0, m0 = _curate(HEURISTICS + ["seed=0"])
    run1, m1 = _curate(HEURISTICS + ["seed=1"])
    assert run0.dir != run1.dir
    assert m1.content_id == m0.content_id and m1.input_key == m0.input_key
    assert len(_curations(caplog)) == 1
    [reuse] = _reuses(caplog)
    assert f"reusing curated output {m0.input_key[:8]} made by run {run0.dir.name}" in reuse
    assert "seed- and budget-independent recipe" in reuse
    # both runs' curated/ are links to the one store folder, whose manifest says it is shared
    store = home / "curated" / m0.input_key
    for run in (run0, run1):
        assert (run.dir / "curated").is_symlink()
        assert (run.dir / "curated").resolve() == store.resolve()
    cfg = read_manifest(store).config
    assert cfg["shared"] is True and cfg["seed_dependent"] is False and cfg["seed"] is None
    assert cfg["budget_dependent"] is False and cfg["seeded_steps"] == [] and cfg["made_by"] == run0.dir.name
    assert read_json(store / "stats.json")["dependence"]["seed_dependent"] is False
    assert verify_folder(run1.dir / "curated") == []
    # a rerun of the second run is simply up to date
    caplog.clear()
    _, again = _curate(HEURISTICS + ["seed=1"])
    assert again.content_id == m0.content_id and not _curations(caplog) and not _reuses(caplog)


def test_a_seeded_recipe_curates_per_seed_and_names_the_step(home, caplog):
    caplog.set_level(logging.INFO)
    _, m0 = _curate(RANDOM + ["seed=0"])
    _, m1 = _curate(RANDOM + ["seed=1"])
    assert len(_curations(caplog)) == 2 and not _reuses(caplog)
    assert m0.input_key != m1.input_key and m0.content_id != m1.content_id
    assert m1.config["seed"] == 1 and m1.config["shared"] is False
    assert m1.config["seeded_steps"] == m1.config["budget_steps"] == ["step 1 (random_sample)"]


def test_budget_enters_the_key_only_of_budget_dependent_recipes(home, caplog):
    """Another training budget (here an unofficial override) on the same pool shards: shared by
    simple_heuristics, curated anew for random (its sample is sized by the budget)."""
    caplog.set_level(logging.INFO)
    bigger = ["scale.train.tokens=196608"]
    _, h = _curate(HEURISTICS)
    _, h2 = _curate(HEURISTICS + bigger)
    assert h2.content_id == h.content_id and len(_reuses(caplog)) == 1
    _, r = _curate(RANDOM)
    _, r2 = _curate(RANDOM + bigger)
    assert r2.input_key != r.input_key and r2.content_id != r.content_id
    assert len(_curations(caplog)) == 3


def test_key_keeps_the_old_formula_for_recipes_dependent_on_both(home):
    """random's curate key is the one every earlier winnow gave it (its rows keep their chain);
    simple_heuristics' key no longer has the seed or the budget."""
    from winnow.run import curate_inputs, curate_key, prepare

    for overrides, same in ((RANDOM, True), (HEURISTICS, False)):
        run = prepare(overrides)
        pool_id = _pool_id(run)
        old = hash_obj(curate_inputs(run, pool_id))
        assert (curate_key(run, pool_id) == old) is same
    h0, h1 = prepare(HEURISTICS + ["seed=0"]), prepare(HEURISTICS + ["seed=1"])
    assert curate_key(h0, pool_id) == curate_key(h1, pool_id)


def test_two_runs_started_together_curate_once(home, caplog):
    """Seeds 0 and 1 start while someone else holds the store folder: both wait; then one
    curates and the other reuses its output (same content id, one intact folder). The lock is
    an ``flock`` on a file, which two opens of it in one process contend for like two
    processes, so threads stand in for concurrent runs."""
    from winnow.curate.store import claim
    from winnow.run import curate_key, prepare, run_stages

    caplog.set_level(logging.INFO)
    runs = [prepare(HEURISTICS + [f"seed={s}"]) for s in (0, 1)]
    key = curate_key(runs[0], _pool_id(runs[0]))
    done: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            done[i] = run_stages(runs[i], ("curate",))["curate"]
        except BaseException as e:  # reported by the assertion below
            done[i] = e

    def waiting() -> int:
        return sum("waiting for it to finish" in r.getMessage() for r in caplog.records)

    with claim(key):
        threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while waiting() < 2:
            assert time.time() < deadline and not done, done
            time.sleep(0.05)
        assert not done  # both still wait
    for t in threads:
        t.join(300)
    assert {type(m).__name__ for m in done.values()} == {"Manifest"}, done
    assert done[0].content_id == done[1].content_id
    assert len(_curations(caplog)) == 1 and len(_reuses(caplog)) == 1
    store = home / "curated" / key
    assert read_manifest(store).content_id == done[0].content_id and verify_folder(store) == []


def test_a_crashed_curation_is_resumed_by_a_run_of_another_seed(home, caplog, monkeypatch, tmp_path):
    from winnow.curate.steps.dedup import ExactDedup

    caplog.set_level(logging.INFO)
    run_exact = ExactDedup.run

    def crash(self, *args, **kw):
        raise RuntimeError("killed")

    monkeypatch.setattr(ExactDedup, "run", crash)
    with pytest.raises(Exception, match="killed"):
        _curate(HEURISTICS + ["seed=0"])
    monkeypatch.setattr(ExactDedup, "run", run_exact)
    caplog.clear()
    run1, m1 = _curate(HEURISTICS + ["seed=1"])
    assert any("skipping them (resume)" in r.getMessage() for r in caplog.records)
    assert m1.config["made_by"] == run1.dir.name
    # the same bytes as an uninterrupted curation in a fresh home
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "fresh"))
    _, ref = _curate(HEURISTICS + ["seed=0"])
    assert ref.content_id == m1.content_id


def test_a_per_run_curated_folder_from_before_the_store(home):
    """Finished under the old key: kept where it is (existing rows keep their evidence) and up
    to date. Unfinished: moved into the store and finished there, the run's curated/ a link."""
    import shutil

    from winnow.run import curate_inputs, curated_manifest, prepare

    legacy_run = prepare(HEURISTICS)
    pool_id = _pool_id(legacy_run)
    link = legacy_run.dir / "curated"
    _, made = _curate(HEURISTICS)
    store = link.resolve()
    link.unlink()
    shutil.copytree(store, link)
    shutil.rmtree(store)
    old = read_json(link / "manifest.json")
    old["input_key"] = hash_obj(curate_inputs(legacy_run, pool_id))  # as written before the store
    write_json(link / "manifest.json", old)
    kept = curated_manifest(legacy_run, pool_id)
    assert kept is not None and kept.content_id == made.content_id
    _, again = _curate(HEURISTICS)
    assert not link.is_symlink() and again.content_id == made.content_id and not store.exists()
    # unfinished (no manifest): finished in the store
    (link / "manifest.json").unlink()
    _, done = _curate(HEURISTICS)
    assert link.is_symlink() and link.resolve() == store.resolve()
    assert done.content_id == made.content_id and verify_folder(link) == []
    assert json.loads((store / "manifest.json").read_text())["config"]["made_by"] == legacy_run.dir.name
