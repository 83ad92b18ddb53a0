"""curate() end to end on the fixture pool: stats.json layout, a step that empties the corpus,
ids recipes, pipeline-level resume and invalidation, the pool-document contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from winnow.curate import (EmptyCorpusError, StepContext, StepError, curate, format_stats,
                           load_recipe)
from winnow.curate.engine import LocalEngine
from winnow.docs import POOL_FIELDS, read_docs
from tests.curate.test_engine import fixture_docs
from tests.curate.test_engine import make_pool as engine_pool
from tests.helpers import CURATE_FIXTURES

PLUGIN = CURATE_FIXTURES / "plugins" / "plugin_steps.py"
CTX = StepContext(seed=3, workers=1, train_tokens=2000, bytes_per_token=4.0)


def make_pool(folder: Path, n_shards: int = 3, extra_fields: bool = False) -> list[Path]:
    docs = fixture_docs()
    if extra_fields:
        docs = [dict(d, labels={"quality": "hidden"}) for d in docs]
    return engine_pool(folder, n_shards, docs)


def recipe(folder: Path, body: str, name: str = "recipe.yaml", allow_code: bool = False):
    p = folder / name
    if str(PLUGIN) in body:   # a submission's files live in its folder
        shutil.copy(PLUGIN, folder / PLUGIN.name)
        body = body.replace(str(PLUGIN), PLUGIN.name)
    p.write_text("name: t\ntrack: filtering\n" + body)
    return load_recipe(p, allow_code=allow_code)


def engine() -> LocalEngine:
    return LocalEngine(1, progress=False)


def out_docs(out: Path) -> list[dict]:
    return [d for p in sorted((out / "shards").iterdir()) for d in read_docs(p)]


def test_stats_layout_and_outputs(tmp_path):
    shards = make_pool(tmp_path / "pool", extra_fields=True)
    r = load_recipe(CURATE_FIXTURES / "basic")
    out = tmp_path / "out"
    stats = curate(r, shards, out, CTX, engine())
    assert json.loads((out / "stats.json").read_text()) == stats
    assert stats["schema"] == 1
    assert stats["recipe"]["fingerprint"] == r.fingerprint()
    assert [(s["index"], s["step"]) for s in stats["steps"]] == [
        (1, "line_cleanup"), (2, "length_filter"), (3, "exact_dedup"), (4, "word_count_filter")]
    for a, b in zip(stats["steps"], stats["steps"][1:]):
        assert a["out"] == b["in"]  # the steps chain
    for s in stats["steps"]:
        assert s["in"] - s["out"] == sum(s["dropped"].values())
        assert set(s) >= {"in", "out", "dropped", "seconds", "cpu_seconds", "kind", "version"}
        assert s["cpu_seconds"] >= 0
    assert stats["steps"][2]["dropped"] == {"duplicate": 3}
    t = stats["totals"]
    assert t["docs_in"] == 16 and t["docs_out"] == stats["steps"][-1]["out"]
    assert t["docs_in"] == sum(s["docs_in"] for s in stats["sources"].values())
    assert t["docs_out"] == sum(s["docs_out"] for s in stats["sources"].values())
    assert t["est_tokens_out"] == round(t["bytes_out"] / 4.0) and t["shards"] == 3
    web = stats["sources"]["web"]
    assert web["docs_in"] == 8 and web["keep_rate"] == round(web["docs_out"] / 8, 6)
    assert sorted(p.name for p in (out / "shards").iterdir()) == [p.name for p in shards]
    docs = out_docs(out)
    assert len(docs) == t["docs_out"]
    assert all(list(d) == list(POOL_FIELDS) + ["meta"] for d in docs)  # labels never leak
    assert all(d["meta"]["pool_id"] == d["id"] for d in docs)
    text = format_stats(stats)
    assert "length_filter" in text and "duplicate: 3" in text and "web" in text


def test_a_step_that_drops_everything_fails_naming_it(tmp_path):
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, "steps:\n  - line_cleanup\n  - step: length_filter\n"
                         "    min_chars: 100000\n  - exact_dedup\n")
    with pytest.raises(EmptyCorpusError) as e:
        curate(r, shards, tmp_path / "out", CTX, engine())
    msg = str(e.value)
    assert "step 2 (length_filter) dropped every document: 15 in, 0 out" in msg
    assert "too_short: 15" in msg and "loosen its parameters" in msg
    assert not (tmp_path / "out" / "stats.json").exists()
    # a GlobalStep that empties the corpus is named too
    r = recipe(tmp_path, "steps:\n  - {step: random_sample, tokens: 1}\n", "r2.yaml")
    with pytest.raises(EmptyCorpusError, match=r"step 1 \(random_sample\) dropped every"):
        curate(r, shards, tmp_path / "out2", CTX, engine())
    # ... even one that does not fill its counters (blamed by the next segment)
    r = recipe(tmp_path, f"plugins: [{PLUGIN}]\nsteps:\n  - {{step: copy_uncounted, keep_every: 0}}"
                         "\n", "r3.yaml", allow_code=True)
    with pytest.raises(EmptyCorpusError, match=r"step 1 \(copy_uncounted\) dropped every"):
        curate(r, shards, tmp_path / "out3", CTX, engine())


def test_ids_recipe(tmp_path):
    shards = make_pool(tmp_path / "pool", extra_fields=True)
    (tmp_path / "ids.txt").write_text("a03\na07\na14\n")
    r = recipe(tmp_path, "ids: ids.txt\n")
    stats = curate(r, shards, tmp_path / "out", CTX, engine())
    docs = out_docs(tmp_path / "out")
    assert sorted(d["id"] for d in docs) == ["a03", "a07", "a14"]
    assert all(list(d) == list(POOL_FIELDS) + ["meta"] and d["meta"] == {"pool_id": d["id"]}
               for d in docs)
    assert stats["steps"] == [stats["steps"][0]] and stats["steps"][0]["dropped"] == {
        "not_listed": 13}
    (tmp_path / "ids.txt").write_text("a03\nzz9\n")
    r = recipe(tmp_path, "ids: ids.txt\n")
    with pytest.raises(Exception, match=r"1 of 2 ids .*'zz9'"):
        curate(r, shards, tmp_path / "out", CTX, engine())


def test_uncounted_global_step_rows_are_filled_in(tmp_path):
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, f"plugins: [{PLUGIN}]\nsteps:\n  - {{step: copy_uncounted, keep_every: 2}}"
                         "\n  - {step: length_filter, min_chars: 1}\n", allow_code=True)
    stats = curate(r, shards, tmp_path / "out", CTX, engine())
    first, second = stats["steps"]
    assert first["in"] == 16 and first["out"] == second["in"] == 3 + 3 + 3  # shards of 6, 5, 5
    assert format_stats(stats)


def test_rerun_resumes_and_edits_invalidate_only_later_segments(tmp_path):
    shards = make_pool(tmp_path / "pool")
    body = ("steps:\n  - line_cleanup\n  - {step: length_filter, min_chars: 20}\n"
            "  - exact_dedup\n  - {step: random_sample, fraction: %s}\n")
    out = tmp_path / "out"
    first = curate(recipe(tmp_path, body % "0.5"), shards, out, CTX, engine())
    seg0 = out / "_work" / "seg_0_docs" / shards[0].name
    mtime = seg0.stat().st_mtime_ns

    again = curate(recipe(tmp_path, body % "0.5"), shards, out, CTX, engine())
    assert [s.get("resumed_shards", s.get("resumed")) for s in again["segments"]] == \
        [3, True, True, 3]
    assert out_docs(out) and again["steps"] == [
        dict(s, seconds=again["steps"][i]["seconds"], cpu_seconds=again["steps"][i]["cpu_seconds"])
        for i, s in enumerate(first["steps"])]

    edited = curate(recipe(tmp_path, body % "0.9"), shards, out, CTX, engine())
    assert [s.get("resumed_shards", s.get("resumed")) for s in edited["segments"]] == \
        [3, True, False, 0]
    assert seg0.stat().st_mtime_ns == mtime
    assert edited["totals"]["docs_out"] > first["totals"]["docs_out"]
    # a different seed changes the sample and reruns it
    reseeded = curate(recipe(tmp_path, body % "0.5"), shards, out,
                      StepContext(seed=4, bytes_per_token=4.0), engine())
    assert reseeded["segments"][2]["resumed"] is False


def test_workers_do_not_change_the_curated_bytes(tmp_path):
    shards = make_pool(tmp_path / "pool", 4)
    r = load_recipe(CURATE_FIXTURES / "basic")
    curate(r, shards, tmp_path / "a", CTX, LocalEngine(1, progress=False))
    curate(r, shards, tmp_path / "b", CTX, "local")  # by registered name, ctx.workers
    curate(r, shards, tmp_path / "c", CTX, LocalEngine(2, progress=False))
    for p in shards:
        a = (tmp_path / "a" / "shards" / p.name).read_bytes()
        assert a == (tmp_path / "b" / "shards" / p.name).read_bytes()
        assert a == (tmp_path / "c" / "shards" / p.name).read_bytes()


def test_mixing_track_curates_external_documents_beside_the_pool(tmp_path, monkeypatch):
    """external: files join the pool before the first step: the steps filter them too, they get
    ext/<k>/<id> ids and an external/<stem> source; a pinned URL is downloaded and verified."""
    import hashlib

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))  # the download cache
    shards = make_pool(tmp_path / "pool")
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "e1", "text": "An external document with enough words to be kept by the filter here."}\n'
                     '{"text": "short"}\n')
    remote = tmp_path / "remote" / "more.jsonl"
    remote.parent.mkdir()
    remote.write_text('{"text": "A remote external document, pinned by its sha256, long enough to keep."}\n')
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    body = ("name: m\ntrack: mixing\nsteps:\n  - step: word_count_filter\n    min_words: 3\n"
            f"external:\n  - extra.jsonl\n  - {{url: 'file://{remote}', sha256: {digest}}}\n")
    (tmp_path / "recipe.yaml").write_text(body)
    r = load_recipe(tmp_path / "recipe.yaml")
    stats = curate(r, shards, tmp_path / "out", CTX, engine())
    docs = [d for p in sorted((tmp_path / "out" / "shards").iterdir()) for d in read_docs(p)]
    ext = {d["id"]: d for d in docs if d["id"].startswith("ext/")}
    assert set(ext) == {"ext/0/e1", "ext/1/1"}  # "short" was filtered like any pool document
    assert ext["ext/0/e1"]["source"] == "external/extra" and ext["ext/1/1"]["source"] == "external/more"
    assert stats["sources"]["external/extra"] == {**stats["sources"]["external/extra"], "docs_in": 2, "docs_out": 1}
    assert len(docs) > len(ext)  # the pool's documents are still there
    assert r.flags()["external_data"] and (tmp_path / "home" / "external" / digest).is_file()


def test_external_download_is_verified_against_its_pin(tmp_path, monkeypatch):
    from winnow.curate.external import ExternalError, ExternalFile, fetch_external

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    src = tmp_path / "x.jsonl"
    src.write_text('{"text": "a"}\n')
    bad = ExternalFile(label="x", sha256="0" * 64, url=f"file://{src}")
    with pytest.raises(ExternalError, match="does not match the recipe's pin"):
        fetch_external(bad)
    assert not (tmp_path / "home" / "external" / ("0" * 64)).exists()  # nothing kept under the pin

def test_empty_recipe_keeps_the_pool(tmp_path):
    shards = make_pool(tmp_path / "pool")
    stats = curate(recipe(tmp_path, "steps: []\n"), shards, tmp_path / "out", CTX, engine())
    assert stats["steps"] == [] and stats["totals"]["docs_out"] == 16
    assert stats["totals"]["keep_rate"] == 1.0


def test_cpu_seconds_measure_work_not_waiting(tmp_path):
    """A step's ``cpu_seconds`` counts CPU time, its children's included; ``seconds`` is wall time.
    A mapper that sleeps costs wall time and (almost) no CPU; a GlobalStep whose child process
    burns 0.4 CPU-seconds costs at least that much CPU."""
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, f"plugins: [{PLUGIN}]\nsteps:\n  - {{step: sleepy, seconds: 0.05}}"
                         "\n  - {step: idle_then_burn_in_child, idle: 0.3, burn: 0.4}\n", allow_code=True)
    stats = curate(r, shards, tmp_path / "out", CTX, engine())
    sleepy, burn = stats["steps"]
    assert sleepy["seconds"] >= 16 * 0.05 and sleepy["cpu_seconds"] < 0.5 * sleepy["seconds"]
    assert burn["cpu_seconds"] >= 0.4 and burn["seconds"] >= 0.3 + 0.4


def test_counters_cpu_seconds_unknown_stays_unknown():
    from winnow.curate.base import Counters

    old = Counters.from_dict({"in": 2, "out": 1, "dropped": {"x": 1}, "seconds": 1.5})  # older stats
    assert old.cpu_seconds is None and old.to_dict()["cpu_seconds"] is None
    new = Counters(docs_in=1, docs_out=1, seconds=1.0, cpu_seconds=0.75)
    assert (new + Counters(seconds=2.0, cpu_seconds=0.25)).cpu_seconds == 1.0
    assert (new + old).cpu_seconds is None and (old + new).seconds == 2.5
    assert Counters.from_dict(new.to_dict()) == new


def test_a_resumed_step_reports_the_cpu_time_of_its_earlier_attempts_too(tmp_path, monkeypatch):
    """Curation cost is what all of a step's finished units cost: a resumable step that crashed
    after 2 of its 3 shards and was resumed reports the CPU time of all three, not only the last
    attempt's."""
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, f"plugins: [{PLUGIN}]\nsteps:\n  - {{step: burn_per_shard, burn: 0.3}}\n", allow_code=True)
    monkeypatch.setenv("WINNOW_TEST_CRASH_AT", "2")
    with pytest.raises(StepError, match="crash before shard 2"):
        curate(r, shards, tmp_path / "out", CTX, engine())
    monkeypatch.delenv("WINNOW_TEST_CRASH_AT")
    (step,) = curate(r, shards, tmp_path / "out", CTX, engine())["steps"]
    assert step["cpu_seconds"] >= 3 * 0.3 and step["seconds"] >= 3 * 0.3


def test_carried_time_counts_only_earlier_attempts_units_still_done(tmp_path):
    from winnow.curate.common import partial

    part = partial.PartialDir(tmp_path, {"step": "x"})
    part.mark("a")
    part.mark("b")
    (part.root / "old.done").write_bytes(b"")                     # a unit done by an older winnow
    before = partial.ledger(tmp_path)
    assert len(before) == 3 and partial.carried(before)[0] is None   # unknown CPU stays unknown
    (part.root / "old.done").unlink()
    before = partial.ledger(tmp_path)
    cpu, wall = partial.carried(before)
    assert cpu is not None and cpu >= 0 and wall >= 0
    again = partial.PartialDir(tmp_path, {"step": "x"})           # a resumed attempt redoes b
    again.unmark("b")
    again.mark("b")
    assert partial.carried(before) == tuple(
        [pytest.approx(v) for v in (before[part.root / "a.done"]["cpu_seconds"], before[part.root / "a.done"]["seconds"])])
    partial.PartialDir(tmp_path, {"step": "y"})                    # another fingerprint wipes it all
    assert partial.carried(before) == (0.0, 0.0)


def test_every_segment_says_when_it_starts_and_ends(tmp_path, caplog):
    """Curation is never silent for long: one log line as each segment (document steps, or a
    GlobalStep) starts, one when it ends, with documents in and out (issue 22, progress)."""
    import logging

    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, "steps:\n  - step: length_filter\n    min_chars: 10\n  - step: exact_dedup\n")
    with caplog.at_level(logging.INFO, logger="winnow.curate.pipeline"):
        curate(r, shards, tmp_path / "out", CTX, engine())
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "winnow.curate.pipeline"]
    assert any("seg_0_docs: step 1 (length_filter); segment 1 of 3, over 3 shards" in m for m in lines)
    assert any("step 2 (exact_dedup) (seg_1_global) starts" in m for m in lines)
    assert any("step 2 (exact_dedup) done in" in m and "out" in m for m in lines)
    assert sum("done in" in m for m in lines) == 3
