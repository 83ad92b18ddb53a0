"""url_removal_modifier (DCLM's URL/IP removal, re.match quirk included) and line_dedup (C4's
corpus-wide line dedup), on hand-written text."""

from __future__ import annotations

from pathlib import Path

import pytest

from winnow.curate.base import STEPS, Drop, StepContext, StepError
from winnow.curate.steps.line_dedup import LineDedup
from winnow.curate.steps.url_removal import UrlRemovalModifier, compile_patterns, iana_tlds
from winnow.docs import read_docs, write_docs


# --------------------------------------------------------------------------- url_removal_modifier

@pytest.fixture(scope="module")
def url_step():
    step = UrlRemovalModifier()
    step.setup()
    return step


def test_tld_list_is_offline_and_lower_case():
    tlds = iana_tlds()
    assert len(tlds) > 1000
    assert {"com", "org", "uk", "th", "io", "рф"} <= set(tlds)
    assert all(t == t.lower() and "." not in t for t in tlds)


def test_registered():
    assert STEPS.get("url_removal_modifier") is UrlRemovalModifier
    assert STEPS.get("line_dedup") is LineDedup


@pytest.mark.parametrize("text,expect", [
    # "The" begins with "th" (Thailand's TLD): the URL regex runs; each match eats the
    # whitespace before it
    ("The site example.com/page is good. Visit http://foo.org/x?y=1 now.",
     "The site is good. Visit now."),
    ("Visit www.google.com today", "Visit today"),  # "vi": US Virgin Islands
    # DCLM's quirk: "Hello" begins with no TLD, so domain URLs stay; IPv4 addresses always go
    ("Hello example.com and 192.168.0.1:8080/x here", "Hello example.com and here"),
    ("Hello http://10.0.0.1/admin please", "Hello please"),
    # the URL regex is case-sensitive (DCLM pastes the pattern without IGNORECASE)
    ("The EXAMPLE.COM site", "The EXAMPLE.COM site"),
    ("comment: see a.b.co.uk/x", "comment: see"),  # "co" begins "comment"
    ("example.com", "example.com"),  # "ex..." is no TLD prefix: left alone
    ("The end.", "The end."),
])
def test_url_removal(url_step, text, expect):
    assert url_step({"text": text}) == [{"text": expect}]


def test_url_removal_drops_pages_left_empty(url_step):
    res = url_step({"text": "127.0.0.1"})
    assert isinstance(res, Drop) and res.reason == "empty_after_url_removal"


def test_longest_tld_first_matches_a_trie():
    # retrie's trie tries a longer key before its prefix; so must the alternation
    gate, url = compile_patterns(["co", "com", "comcast"])
    assert url.sub("", "so see x.comcast/a b") == "so see b"
    assert gate.match("COMedy") and not gate.match("cab")


# --------------------------------------------------------------------------- line_dedup

def shards(tmp_path: Path, *pages: list[str]) -> list[Path]:
    """One shard per argument; each a list of page texts."""
    out, k = [], 0
    for i, texts in enumerate(pages):
        p = tmp_path / "in" / f"s{i}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        docs = []
        for t in texts:
            docs.append({"id": f"d{k}", "text": t, "url": f"http://x/{k}", "source": "web",
                         "meta": {}})
            k += 1
        write_docs(p, docs)
        out.append(p)
    return out


def texts(paths: list[Path]) -> list[str]:
    return [d["text"] for p in paths for d in read_docs(p)]


def test_line_dedup_keeps_first_occurrence_across_pages_and_shards(tmp_path):
    ins = shards(tmp_path,
                 ["Alpha line.\nShared   Line.\n\nBeta line.",
                  "shared line.\nGamma line.\nalpha LINE."],
                 ["Gamma line.\n\nShared line.\nDelta line.\nDelta line.",
                  "Alpha line.\nShared line."])
    step = LineDedup()
    out = step.run(ins, tmp_path / "out", StepContext())
    assert [p.name for p in out] == ["s0.jsonl", "s1.jsonl"]
    assert texts(out) == [
        "Alpha line.\nShared   Line.\n\nBeta line.",  # first page: all kept, as written
        "Gamma line.",                                # case/whitespace-normalised repeats gone
        "\nDelta line.",                              # blank lines kept, repeats in-page removed
    ]
    c = step.counters
    assert (c.docs_in, c.docs_out) == (4, 3)
    assert c.dropped == {"empty_after_line_dedup": 1}
    assert c.info["lines"] == 4 + 3 + 5 + 2
    assert c.info["lines_removed"] == 2 + 3 + 2
    assert c.info["docs_modified"] == 2
    assert c.info["distinct_lines"] == 5
    dropped = list(read_docs(tmp_path / "out" / "dropped" / "s1.jsonl"))
    assert [d["id"] for d in dropped] == ["d3"] and dropped[0]["reason"] == "empty_after_line_dedup"


def test_line_dedup_options(tmp_path):
    ins = shards(tmp_path, ["A.\n\nB.", "a.\n\nC."])
    assert texts(LineDedup(normalize=False).run(ins, tmp_path / "o1", StepContext())) == [
        "A.\n\nB.", "a.\n\nC."]
    assert texts(LineDedup(keep_blank=False).run(ins, tmp_path / "o2", StepContext())) == [
        "A.\n\nB.", "C."]
    only_blank = shards(tmp_path / "b", ["X.", "X.\n\n  "])
    step = LineDedup()
    assert texts(step.run(only_blank, tmp_path / "o3", StepContext())) == ["X."]
    assert step.counters.dropped == {"empty_after_line_dedup": 1}


def test_line_dedup_memory_limit(tmp_path):
    ins = shards(tmp_path, ["one.\ntwo.\nthree."])
    with pytest.raises(StepError, match="max_memory"):
        LineDedup(max_memory=16).run(ins, tmp_path / "out", StepContext())


def test_line_dedup_resumes_after_a_crash(tmp_path, monkeypatch):
    ins = shards(tmp_path, ["a.\nb."], ["b.\nc."], ["c.\nd.", "a."])
    ref_step = LineDedup()
    ref = texts(ref_step.run(ins, tmp_path / "ref", StepContext()))

    step = LineDedup()
    real = LineDedup._shard
    calls = []

    def crash_on_third(self, shard, *a):
        calls.append(shard.name)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(self, shard, *a)

    monkeypatch.setattr(LineDedup, "_shard", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        step.run(ins, tmp_path / "out", StepContext())
    monkeypatch.setattr(LineDedup, "_shard", real)
    resumed = []
    monkeypatch.setattr(LineDedup, "_shard",
                        lambda self, shard, *a: (resumed.append(shard.name),
                                                 real(self, shard, *a))[1])
    step2 = LineDedup()
    out = step2.run(ins, tmp_path / "out", StepContext())
    assert resumed == ["s2.jsonl"]  # the two finished shards were not redone
    assert texts(out) == ref == ["a.\nb.", "c.", "d."]
    assert step2.counters.to_dict()["info"] == ref_step.counters.to_dict()["info"]
    assert step2.counters.dropped == ref_step.counters.dropped == {"empty_after_line_dedup": 1}


def test_both_steps_in_a_recipe_end_to_end(tmp_path):
    from winnow.curate import curate, load_recipe
    from winnow.curate.engine import LocalEngine

    ins = shards(tmp_path,
                 ["The page http://a.com/x says hi.\nCommon footer line.",
                  "The other page.\nCommon footer line."],
                 ["The 10.0.0.1 page.\nCommon footer line."])
    r = tmp_path / "recipe.yaml"
    r.write_text("name: t\ntrack: filtering\nsteps:\n  - step: url_removal_modifier\n"
                 "  - step: line_dedup\n    normalize: true\n")
    out = tmp_path / "out"
    stats = curate(load_recipe(r), ins, out, StepContext(workers=2),
                   LocalEngine(2, progress=False))
    got = [d["text"] for p in sorted((out / "shards").iterdir()) for d in read_docs(p)]
    assert got == ["The page says hi.\nCommon footer line.", "The other page.", "The page."]
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["line_dedup"]["info"]["lines_removed"] == 2
    assert steps["url_removal_modifier"]["out"] == 3
