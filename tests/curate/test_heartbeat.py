"""A long GlobalStep is never silent (issue 22): the pipeline's heartbeat reports its counters and
elapsed time while ``run()`` works, as a status line with progress on and as log lines with it
off; and a GlobalStep written without the base class gets ``counters`` like a subclass.

The plugin steps here are written into each test's submission folder and run by ``curate`` with
``allow_code``; the heartbeat's intervals are shortened so the tests take about a second.
"""

from __future__ import annotations

import logging

import pytest
import yaml

from winnow.curate import heartbeat as hb
from winnow.curate.base import StepContext
from winnow.curate.engine import LocalEngine
from winnow.curate.pipeline import curate
from winnow.curate.recipe import load_recipe
from winnow.docs import read_docs, write_docs

PLUGIN = '''
import time
from pathlib import Path

from winnow.curate import STEPS, GlobalStep
from winnow.docs import read_docs, write_docs


@STEPS.register("slow_keep_even")
class SlowKeepEven(GlobalStep):
    """Counts as it goes and takes its time: keeps documents with an even number."""
    version = 1
    seed_dependent = False
    budget_dependent = False

    def __init__(self, pause: float = 0.5):
        self.pause = pause

    def run(self, input_shards, out_dir, ctx):
        outs = []
        for shard in input_shards:
            kept = []
            for doc in read_docs(shard):
                self.counters.docs_in += 1
                if int(doc["id"][1:]) % 2:
                    self.counters.drop("odd")
                else:
                    self.counters.docs_out += 1
                    kept.append(doc)
            time.sleep(self.pause)
            out = Path(out_dir) / Path(shard).name
            write_docs(out, kept)
            outs.append(out)
        return outs


@STEPS.register("duck_global")
class DuckGlobal:                      # no base class: a duck-typed GlobalStep
    version = 1
    seed_dependent = False
    budget_dependent = False

    def run(self, input_shards, out_dir, ctx):
        outs = []
        for shard in input_shards:
            docs = list(read_docs(shard))
            self.counters.docs_in += len(docs)
            self.counters.docs_out += len(docs) - 1
            self.counters.drop("first", 1)
            out = Path(out_dir) / Path(shard).name
            write_docs(out, docs[1:])
            outs.append(out)
        return outs
'''


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(hb, "TICK", 0.05)
    monkeypatch.setattr(hb, "LOG_AT", (0.1,))
    monkeypatch.setattr(hb, "LOG_EVERY", 0.2)


def _run(tmp_path, steps, progress):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "steps.py").write_text(PLUGIN)
    (sub / "recipe.yaml").write_text(yaml.safe_dump({"name": "hb", "track": "filtering",
                                                      "plugins": ["steps.py"], "steps": steps}))
    shards = []
    for k in range(2):
        shard = tmp_path / "in" / f"shard_{k:05d}.jsonl.zst"
        write_docs(shard, [{"id": f"d{10 * k + i}", "text": f"document {i} of shard {k}", "url": None,
                            "source": "web"} for i in range(10)])
        shards.append(shard)
    recipe = load_recipe(sub / "recipe.yaml", allow_code=True)
    stats = curate(recipe, shards, tmp_path / "out", StepContext(bytes_per_token=4.0),
                   engine=LocalEngine(1, progress=progress))
    return stats, tmp_path / "out"


def test_a_long_global_step_logs_heartbeats_with_its_counts_when_progress_is_off(tmp_path, fast, caplog):
    with caplog.at_level(logging.INFO, logger="winnow.curate.pipeline"):
        stats, _ = _run(tmp_path, [{"step": "slow_keep_even", "pause": 0.4}], progress=False)
    beats = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert len(beats) >= 2, [r.getMessage() for r in caplog.records]
    assert all(b.startswith("curate: step 1 (slow_keep_even) still running, 0:00 elapsed") for b in beats)
    assert any("10 documents read, 5 kept, 5 dropped" in b for b in beats), beats   # counted so far
    done = [i for i, r in enumerate(caplog.records) if "(slow_keep_even) done in" in r.getMessage()]
    assert done and all("still running" not in r.getMessage() for r in caplog.records[done[0]:])
    assert stats["steps"][0]["out"] == 10


def test_with_progress_on_a_status_line_shows_elapsed_time_and_counts(tmp_path, fast, capsys):
    _run(tmp_path, [{"step": "slow_keep_even", "pause": 0.4}], progress=True)
    err = capsys.readouterr().err
    assert "step 1 (slow_keep_even): 0:00 elapsed" in err, err[-2000:]
    assert "documents read" in err


def test_a_quick_step_adds_no_line(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setattr(hb, "TICK", 5.0)
    with caplog.at_level(logging.INFO, logger="winnow.curate.pipeline"):
        _run(tmp_path, [{"step": "slow_keep_even", "pause": 0.0}], progress=True)
    assert "still running" not in caplog.text and "elapsed" not in capsys.readouterr().err


def test_a_global_step_without_the_base_class_gets_counters(tmp_path):
    stats, out = _run(tmp_path, [{"step": "duck_global"}], progress=False)
    step = stats["steps"][0]
    assert (step["in"], step["out"], step["dropped"]) == (20, 18, {"first": 2})
    assert sum(1 for s in sorted((out / "shards").iterdir()) for _ in read_docs(s)) == 18


def test_helpers():
    assert [hb.elapsed_text(s) for s in (0, 42, 725, 3723)] == ["0:00", "0:42", "12:05", "1:02:03"]
    assert hb.so_far(None) == "" and hb.shows_progress(True) and not hb.shows_progress(False)
