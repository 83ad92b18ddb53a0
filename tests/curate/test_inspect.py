"""``winnow inspect`` shows what a step reported beside its document counts (issue 22): a plugin
step that removed paragraphs kept every document, so the table said 100% and "-", and its
``paragraphs_removed`` was only in stats.json."""

from __future__ import annotations

import yaml

from winnow.curate.base import StepContext
from winnow.curate.engine import LocalEngine
from winnow.curate.inspect import inspect_run, step_notes
from winnow.curate.pipeline import curate
from winnow.curate.recipe import load_recipe
from winnow.docs import write_docs

PLUGIN = '''
from pathlib import Path

from winnow.curate import STEPS, GlobalStep
from winnow.docs import read_docs, write_docs


@STEPS.register("drop_repeated_paragraphs")
class DropRepeatedParagraphs(GlobalStep):
    version = 1
    seed_dependent = False
    budget_dependent = False

    def run(self, input_shards, out_dir, ctx):
        seen, outs = set(), []
        for shard in input_shards:
            kept = []
            for doc in read_docs(shard):
                self.counters.docs_in += 1
                paras = []
                for p in doc["text"].split("\\n\\n"):
                    if p in seen:
                        self.counters.info["paragraphs_removed"] = self.counters.info.get("paragraphs_removed", 0) + 1
                    else:
                        seen.add(p)
                        paras.append(p)
                self.counters.docs_out += 1
                kept.append({**doc, "text": "\\n\\n".join(paras)})
            out = Path(out_dir) / Path(shard).name
            write_docs(out, kept)
            outs.append(out)
        self.counters.info["share_removed"] = 0.123456
        return outs
'''


def test_inspect_lists_what_each_step_reported(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "steps.py").write_text(PLUGIN)
    (sub / "recipe.yaml").write_text(yaml.safe_dump({"name": "p", "track": "filtering", "plugins": ["steps.py"],
                                                      "steps": [{"step": "line_cleanup"},
                                                                {"step": "drop_repeated_paragraphs"}]}))
    shard = tmp_path / "in" / "shard_00000.jsonl.zst"
    write_docs(shard, [{"id": f"d{i}", "text": f"Shared opening paragraph of every page here.\n\nPage {i} says "
                        "something of its own, at some length.", "url": None, "source": "web"} for i in range(6)])
    run = tmp_path / "run"
    curate(load_recipe(sub / "recipe.yaml", allow_code=True), [shard], run / "curated",
           StepContext(bytes_per_token=4.0), engine=LocalEngine(1, progress=False))
    text = inspect_run(run)
    assert "  2 drop_repeated_paragraphs: paragraphs_removed 5, share_removed 0.1235" in text
    assert "what the steps reported" in text
    assert "drop_repeated_paragraphs: paragraphs_removed 5" in inspect_run(run, step="2")
    assert "what the steps reported" not in inspect_run(run, step="line_cleanup")


def test_step_notes_format_and_filter():
    steps = [{"index": 1, "step": "a", "info": {"flops": 241936608.0, "n": 3}}, {"index": 2, "step": "b"},
             {"index": 3, "step": "a", "info": {"ok": True}}]
    assert step_notes(steps) == ["  1 a: flops 241,936,608, n 3", "  3 a: ok True"]
    assert step_notes(steps, index=3) == ["  3 a: ok True"] and step_notes(steps, step="b") == []
