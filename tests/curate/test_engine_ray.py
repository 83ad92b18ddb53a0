"""engine=ray: the config composes and either builds the engine or names the install command;
on a local 2-CPU Ray cluster the same recipe gives the same curated content id as engine=local
(the marked test, skipped in CI: ``pytest -m ray``), and a killed Ray run resumes."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from winnow.curate import StepContext, curate, load_recipe
from winnow.curate.base import ENGINES
from winnow.curate.engine import LocalEngine, done_marker
from winnow.docs import read_docs, write_docs
from winnow.manifest import content_id_of, hash_files

HAVE_RAY = importlib.util.find_spec("ray") is not None

# Document steps (URL banlist, language ID, Gopher/RefinedWeb filters and a line modifier), a
# GlobalStep, then more document steps: three segments, the first and last run by the engine.
RECIPE = """\
name: ray_parity
track: filtering
steps:
  - step: url_substring_filter
    data_banlist: refinedweb_banned_words_strict_reverse_engineered
    ignore_chars: ['-', '.']
  - step: newline_removal_modifier
    max_consecutive: 2
  - step: language_id
    model: fasttext
  - step: page_length_filter
    length_type: word
    min_length: 20
    max_length: 100000
    ignore_punctuation: true
  - massive_web_repetition_filters
  - step: exact_dedup
    normalize: true
  - step: uppercase_ratio_line_modifier
    max_ratio: 0.5
  - step: line_length_modifier
    min_length: 2
  - step: word_count_filter
    min_words: 10
"""
CTX = StepContext(seed=0, workers=1, train_tokens=100_000, bytes_per_token=4.0)


def curated_content_id(out: Path) -> str:
    shards = out / "shards"
    return content_id_of(hash_files(shards, [p.name for p in sorted(shards.iterdir())]))


# --------------------------------------------------------------------------- fast, unmarked

def test_engine_ray_config_composes_and_builds_or_names_the_install_command():
    from winnow.config import load_run_config
    from winnow.curate.engine_ray import RayNotInstalled

    cfg = load_run_config(["engine=ray"]).cfg["engine"]
    assert cfg["name"] == "ray" and "address" in cfg and "num_cpus" in cfg
    kwargs = {k: v for k, v in cfg.items() if k != "name"}  # as winnow.run.stage_curate does
    cls = ENGINES.get("ray")
    if HAVE_RAY:
        import ray

        engine = cls(**kwargs)
        assert engine.name == "ray" and engine.address is None and engine.workers >= 1
        assert not ray.is_initialized()  # the cluster starts on the first segment, not before
    else:
        with pytest.raises(RayNotInstalled, match=r"pip install 'winnow\[ray\]'"):
            cls(**kwargs)


def test_missing_ray_is_a_clear_config_error(monkeypatch):
    from winnow.config import ConfigError
    from winnow.curate.engine_ray import RayEngine

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"engine=ray needs the Ray package.*"
                                          r"pip install 'winnow\[ray\]'"):
        RayEngine(num_cpus=2)


def test_default_run_config_keeps_the_local_engine():
    from winnow.config import load_run_config

    assert load_run_config([]).cfg["engine"]["name"] == "local"


# --------------------------------------------------------------------------- marked: a real cluster

@pytest.fixture(scope="module")
def ray_engine():
    pytest.importorskip("ray")
    from winnow.curate.engine_ray import RayEngine

    engine = RayEngine(num_cpus=2, progress=False, batch_size=64, log_to_driver=False)
    t0 = time.perf_counter()
    engine.connect()
    print(f"\nray local cluster up in {time.perf_counter() - t0:.1f} s")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def pool6(mini_pool, tmp_path_factory):
    """The mini pool's documents dealt into 6 shards (more shards than the cluster's CPUs)."""
    cfg, _ = mini_pool
    from winnow.pool.build import pool_shards

    docs = [d for p in pool_shards(cfg) for d in read_docs(p)]
    folder = tmp_path_factory.mktemp("pool6")
    paths = []
    for k in range(6):
        p = folder / f"shard_{k:05d}.jsonl.zst"
        write_docs(p, docs[k::6])
        paths.append(p)
    return paths


@pytest.mark.slow
@pytest.mark.ray
def test_ray_and_local_give_the_same_content_id(ray_engine, pool6, tmp_path):
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    r = load_recipe(tmp_path / "recipe.yaml")
    t0 = time.perf_counter()
    local = curate(r, pool6, tmp_path / "local", CTX, LocalEngine(2, progress=False, batch_size=64))
    t1 = time.perf_counter()
    ray_stats = curate(r, pool6, tmp_path / "ray", CTX, ray_engine)
    t2 = time.perf_counter()
    print(f"\nlocal (2 processes) {t1 - t0:.1f} s, ray (2 CPUs) {t2 - t1:.1f} s, "
          f"{local['totals']['docs_in']} docs in, {local['totals']['docs_out']} out, "
          f"{len(pool6)} shards")
    assert ray_stats["engine"]["name"] == "ray"
    assert 0 < local["totals"]["docs_out"] < local["totals"]["docs_in"]
    a, b = curated_content_id(tmp_path / "local"), curated_content_id(tmp_path / "ray")
    print(f"content id local {a[:12]}, ray {b[:12]}")
    assert a == b
    for p in sorted((tmp_path / "local" / "shards").iterdir()):
        assert p.read_bytes() == (tmp_path / "ray" / "shards" / p.name).read_bytes()
    strip = [dict(s, seconds=0) for s in local["steps"]]
    assert [dict(s, seconds=0) for s in ray_stats["steps"]] == strip  # same counters too
    assert ray_stats["sources"] == local["sources"]

    # resume: markers written by one engine are honoured by the other, and by itself
    seg = sorted(p for p in (tmp_path / "ray" / "_work").iterdir() if p.name.startswith("seg_0"))[0]
    for p in pool6[:3]:
        done_marker(seg, p.name).unlink()
    again = curate(r, pool6, tmp_path / "ray", CTX, ray_engine)
    assert again["segments"][0]["resumed_shards"] == 3
    assert curated_content_id(tmp_path / "ray") == a
