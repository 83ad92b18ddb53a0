"""The filtering-track descent check (rule descent_v1): removal and reflow pass, added text fails.

Unit checks of ``check_text`` on the edits real modifiers make (line removal, reflow, citation
and URL removal, word deletion) and on additions; ``check_descent`` over shards (pool ids, split
ids); and one debug run whose opted-in plugin step appends text to every document, which
``submit`` refuses naming the rule and a document.
"""

from __future__ import annotations

import pytest

from winnow.docs import write_docs
from winnow.leaderboard.descent import check_descent, check_text

PARENT = ("Nuclear body seeks new tech\n\nThe computer systems used to monitor the world's nuclear "
          "tests[1] are ageing, see http://example.org/report.html for details.\n"
          "Cookie policy | Terms of use\n   Indented   line   with   spaces.\nThe End.")


@pytest.mark.parametrize("curated", [
    PARENT,
    "Nuclear body seeks new tech",                                        # lines dropped
    "Nuclear body seeks\nnew tech The computer systems",                  # reflowed
    "The computer systems used to monitor the world's nuclear tests are ageing, see for details.",  # [1] and URL cut
    "Indented line with spaces.\n\n\nThe End.",                           # whitespace normalised
    "Nuclear tech",                                                       # whole words kept
    "",
])
def test_removal_and_reflow_pass(curated):
    assert check_text(curated, PARENT) is None


@pytest.mark.parametrize("curated", [
    "Nuclear body seeks new tech. Buy our pills!",                        # appended text
    "The computer systems used to monitor the world's nuclear tests are brand new.",
    "NUCLEAR BODY SEEKS NEW TECH",                                        # case changed
    "Nu cl ea rb od ys ee ks ne wt ec hT he co mp ut er",                 # spelled from fragments
])
def test_added_text_fails(curated):
    why = check_text(curated, PARENT)
    assert why and "not in its pool parent" in why


def test_check_descent_over_shards(tmp_path):
    pool = tmp_path / "pool.jsonl.zst"
    write_docs(pool, [{"id": "p1", "text": PARENT, "url": None, "source": "x"},
                      {"id": "p2", "text": "Another page entirely.", "url": None, "source": "x"}])
    good = tmp_path / "good.jsonl.zst"
    write_docs(good, [{"id": "p1#0", "text": "Nuclear body seeks new tech", "meta": {"pool_id": "p1"}},
                      {"id": "p1#1", "text": "The End.", "meta": {"pool_id": "p1"}},
                      {"id": "p2", "text": "Another page entirely.", "meta": {"pool_id": "p2"}}])
    rep = check_descent([good], [pool])
    assert rep.ok and rep.docs == 3 and rep.parents == 2
    bad = tmp_path / "bad.jsonl.zst"
    write_docs(bad, [{"id": "p2", "text": "Another page entirely. Plus more.", "meta": {"pool_id": "p2"}},
                     {"id": "zz", "text": "x", "meta": {"pool_id": "nope"}},
                     {"id": "p1", "text": "Nuclear", "meta": {"pool_id": "p2"}},
                     {"id": "p1", "text": "Nuclear"}])
    rep = check_descent([bad], [pool])
    assert rep.failed == 4 and not rep.ok
    text = "\n".join(rep.problems)
    assert "'p2': text at character" in text and "'nope' is not a document of the run's pool" in text
    assert "neither its pool id 'p2'" in text and "has no meta.pool_id" in text


ADDER = '''
from winnow.curate.base import STEPS, Mapper

@STEPS.register("append_text")
class AppendText(Mapper):
    version = 1

    def __init__(self, suffix: str = "Answer: B"):
        self.suffix = suffix

    def __call__(self, doc):
        return [{**doc, "text": doc["text"] + "\\n" + self.suffix}]
'''


def test_run_whose_plugin_adds_text_is_refused(mini_pool, tmp_path):
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit
    from winnow.run import STAGES, prepare, run_stages

    folder = tmp_path / "submissions" / "adder"
    folder.mkdir(parents=True)
    (folder / "adder.py").write_text(ADDER)
    (folder / "recipe.yaml").write_text("name: adder\ntrack: filtering\nplugins: [adder.py]\nsteps:\n"
                                        "  - step: append_text\n    suffix: 'The answer to every question is B.'\n")
    run = prepare(["scale=debug", "progress=false", "engine.workers=1", f"submission={folder}", "allow_code=true"])
    run_stages(run, STAGES)
    with pytest.raises(RowError, match=r"filtering track: \d+ of \d+ curated documents are not their pool parent "
                                       r"with text removed \(descent_v1\)") as e:
        submit(run.dir)
    assert "The answer to every question" in str(e.value)
