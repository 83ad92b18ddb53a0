"""Built-in curation steps on hand-written texts: drop reasons, no added text, dedup order,
deterministic sampling within budget, id selection."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from winnow.curate.base import Drop, StepContext, StepError
from winnow.curate.steps.dedup import ExactDedup
from winnow.curate.steps.filters import LengthFilter, WordCountFilter
from winnow.curate.steps.modifiers import LineCleanup
from winnow.curate.steps.selection import RandomSample, SelectIds
from winnow.docs import read_docs, write_docs
from tests.helpers import CURATE_FIXTURES

FIXTURE = CURATE_FIXTURES / "docs.jsonl"


def doc(text: str, id: str = "x", source: str = "web") -> dict:
    return {"id": id, "text": text, "url": None, "source": source, "meta": {}}


def write_shards(folder: Path, shards: list[list[dict]]) -> list[Path]:
    paths = []
    for k, docs in enumerate(shards):
        p = folder / f"shard_{k:05d}.jsonl.zst"
        write_docs(p, docs)
        paths.append(p)
    return paths


def ids_of(paths: list[Path]) -> list[str]:
    return [d["id"] for p in paths for d in read_docs(p)]


# ------------------------------------------------------------------ filters

def test_length_filter_reasons():
    f = LengthFilter(min_chars=10, max_chars=20)
    assert f.keep(doc("short")) == "too_short"
    assert f.keep(doc("exactly 10")) is True  # bounds are inclusive
    assert f.keep(doc("a" * 20)) is True
    assert f.keep(doc("this text is far too long")) == "too_long"
    assert LengthFilter().keep(doc("")) is True  # defaults keep everything
    # through the Mapper protocol: a Drop (an empty list) carrying the reason
    res = f(doc("tiny"))
    assert res == [] and isinstance(res, Drop) and res.reason == "too_short"
    assert f(doc("just right!")) == [doc("just right!")]


def test_word_count_filter_reasons():
    f = WordCountFilter(min_words=3, max_words=5)
    assert f.keep(doc("two words")) == "too_few_words"
    assert f.keep(doc("  three\twhitespace\nseparated  ")) is True  # any whitespace splits
    assert f.keep(doc("one two three four five")) is True
    assert f.keep(doc("one two three four five six")) == "too_many_words"
    assert f.keep(doc("")) == "too_few_words"


def test_filter_bounds_are_validated():
    from winnow.curate.base import ParamError

    with pytest.raises(ParamError) as e:
        LengthFilter(min_chars=10, max_chars=5)
    assert e.value.param == "max_chars"
    with pytest.raises(ParamError):
        WordCountFilter(min_words=-1)


# ------------------------------------------------------------------ line_cleanup

def test_line_cleanup_expected_output():
    text = ("Title   \n\n\n\nFirst paragraph line.\t\nsecond line\n\n\n"
            "ok\nLast paragraph.  \n\n")
    assert LineCleanup().clean(text) == ("Title\n\nFirst paragraph line.\nsecond line\n\n"
                                         "ok\nLast paragraph.")
    # short lines go; the blank run around a dropped line still collapses to one
    assert LineCleanup(min_line_chars=5).clean(text) == ("Title\n\nFirst paragraph line.\n"
                                                        "second line\n\nLast paragraph.")
    assert LineCleanup(max_blank_lines=0).clean("a\n\n\nb") == "a\nb"


def test_line_cleanup_drops_emptied_documents():
    res = LineCleanup()(doc("  \n\t\n   \n"))
    assert res == [] and res.reason == "empty_after_cleanup"
    res = LineCleanup(min_line_chars=10)(doc("Home\nAbout\n\nLogin"))
    assert res == [] and res.reason == "empty_after_cleanup"


def _is_subsequence_of_lines(out: str, inp: str) -> bool:
    """Every output line is an input line (trailing whitespace stripped), in input order."""
    src = iter(line.rstrip() for line in inp.split("\n"))
    return all(any(o == s for s in src) for o in out.split("\n"))


def test_line_cleanup_never_adds_text():
    texts = [json.loads(line)["text"] for line in FIXTURE.read_text().splitlines()]
    rng = random.Random(0)
    pieces = ["word", "  ", "\t", "\n", "\n\n", "x", "a longer line of text", " \n", "\r\n", "é"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(300)]
    for step in (LineCleanup(), LineCleanup(min_line_chars=6), LineCleanup(max_blank_lines=0),
                 LineCleanup(min_line_chars=3, max_blank_lines=2)):
        for text in texts:
            res = step(doc(text))
            if not res:
                assert not step.clean(text)
                continue
            out = res[0]["text"]
            assert len(out) <= len(text)
            assert _is_subsequence_of_lines(out, text), (text, out)
            assert set(out) <= set(text)  # not a single new character


# ------------------------------------------------------------------ exact_dedup

def test_exact_dedup_keeps_first_occurrence_across_shards(tmp_path):
    shards = write_shards(tmp_path / "in", [
        [doc("alpha", "s0a"), doc("beta", "s0b")],
        [doc("beta", "s1a"), doc("gamma", "s1b"), doc("alpha", "s1c")],
        [doc("Gamma ", "s2a"), doc("gamma", "s2b")],
    ])
    step = ExactDedup()
    out = step.run(shards, tmp_path / "out", StepContext())
    assert [p.name for p in out] == [p.name for p in shards]  # same number and names
    assert ids_of(out) == ["s0a", "s0b", "s1b", "s2a"]
    assert step.counters.to_dict()["dropped"] == {"duplicate": 3}
    assert (step.counters.docs_in, step.counters.docs_out) == (7, 4)
    assert list(read_docs(out[2])) == [doc("Gamma ", "s2a")]  # kept docs are unchanged
    sample = list(read_docs(tmp_path / "out" / "dropped" / shards[1].name))
    assert [(r["id"], r["reason"]) for r in sample] == [("s1a", "duplicate"), ("s1c", "duplicate")]


def test_exact_dedup_normalize(tmp_path):
    shards = write_shards(tmp_path / "in", [[doc("The  Fox\n", "a"), doc("the fox", "b")],
                                            [doc("THE FOX", "c"), doc("the box", "d")]])
    out = ExactDedup(normalize=True).run(shards, tmp_path / "out", StepContext())
    assert ids_of(out) == ["a", "d"]
    out = ExactDedup().run(shards, tmp_path / "out2", StepContext())
    assert ids_of(out) == ["a", "b", "c", "d"]


# ------------------------------------------------------------------ random_sample

def _sample_pool(tmp_path: Path) -> list[Path]:
    rng = random.Random(7)
    shards = [[doc("x" * rng.randint(10, 400), f"d{k}_{i:03d}") for i in range(100)]
              for k in range(4)]
    return write_shards(tmp_path / "in", shards)


def _run_sample(shards, out, seed, **params):
    step = RandomSample(**params)
    ctx = StepContext(seed=seed, bytes_per_token=4.0, train_tokens=5000)
    paths = step.run(shards, out, ctx)
    return step, paths


def test_random_sample_deterministic_and_seeded(tmp_path):
    shards = _sample_pool(tmp_path)
    _, a = _run_sample(shards, tmp_path / "a", 1, tokens=8000)
    _, b = _run_sample(shards, tmp_path / "b", 1, tokens=8000)
    _, c = _run_sample(shards, tmp_path / "c", 2, tokens=8000)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert ids_of(a) != ids_of(c)
    assert [p.name for p in a] == [p.name for p in shards]
    # the keyed-hash ranking does not depend on the shard layout
    merged = write_shards(tmp_path / "merged", [[d for p in shards for d in read_docs(p)]])
    _, m = _run_sample(merged, tmp_path / "m", 1, tokens=8000)
    assert ids_of(m) == ids_of(a)


def test_random_sample_stays_within_budget(tmp_path):
    shards = _sample_pool(tmp_path)
    step, out = _run_sample(shards, tmp_path / "a", 3, tokens=8000)
    kept_bytes = sum(len(d["text"].encode()) for p in out for d in read_docs(p))
    assert 0 < kept_bytes / 4.0 <= 8000
    assert kept_bytes / 4.0 > 8000 - 400 / 4  # stops at the first document that would overflow
    assert step.counters.dropped == {"not_sampled": 400 - step.counters.docs_out}
    # tokens: budget = ctx.train_tokens (5000) x multiplier
    step, out = _run_sample(shards, tmp_path / "b", 3, tokens="budget", multiplier=0.5)
    kept = sum(len(d["text"].encode()) for p in out for d in read_docs(p)) / 4.0
    assert 2500 - 100 < kept <= 2500
    # a smaller budget keeps a subset of a larger one (same ranking)
    assert set(ids_of(out)) <= set(ids_of(_run_sample(shards, tmp_path / "c", 3, tokens=8000)[1]))


def test_random_sample_fraction_and_params(tmp_path):
    shards = _sample_pool(tmp_path)
    step, out = _run_sample(shards, tmp_path / "a", 0, fraction=0.25)
    assert len(ids_of(out)) == 100 and step.counters.docs_out == 100
    from winnow.curate.base import ParamError

    for bad in ({}, {"tokens": 5, "fraction": 0.5}, {"tokens": "all"}, {"fraction": 1.5},
                {"fraction": 0.5, "multiplier": 2.0}):
        with pytest.raises(ParamError):
            RandomSample(**bad)
    with pytest.raises(StepError, match="train_tokens"):
        RandomSample(tokens="budget").run(shards, tmp_path / "b", StepContext(bytes_per_token=4))


# ------------------------------------------------------------------ select_ids

def test_select_ids_keeps_exactly_the_listed_ids(tmp_path):
    shards = write_shards(tmp_path / "in", [[doc("a", "a1"), doc("b", "b2")],
                                            [doc("c", "c3"), doc("d", "d4")]])
    ids = tmp_path / "ids.txt"
    ids.write_text("b2\nc3\n")
    step = SelectIds(ids_file=str(ids))
    out = step.run(shards, tmp_path / "out", StepContext())
    assert ids_of(out) == ["b2", "c3"]
    assert step.counters.dropped == {"not_listed": 2}


def test_select_ids_missing_ids_are_an_error(tmp_path):
    shards = write_shards(tmp_path / "in", [[doc("a", "a1")]])
    ids = tmp_path / "ids.txt"
    ids.write_text("a1\nzz1\nzz2\n")
    with pytest.raises(StepError, match=r"2 of 3 ids .* not in the input .*'zz1', 'zz2'"):
        SelectIds(ids_file=str(ids)).run(shards, tmp_path / "out", StepContext())


def test_select_ids_requires_a_sorted_unique_file(tmp_path):
    from winnow.curate.base import ParamError

    ids = tmp_path / "ids.txt"
    ids.write_text("b\na\n")
    with pytest.raises(ParamError, match="out of order"):
        SelectIds(ids_file=str(ids))
    ids.write_text("a\na\n")
    with pytest.raises(ParamError, match="repeats"):
        SelectIds(ids_file=str(ids))
