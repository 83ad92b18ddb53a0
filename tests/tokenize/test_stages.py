"""The order track's `stages:`: syntax, validation, staged packing; unstaged packing unchanged.

Staged packing is checked on documents whose stages use disjoint tokens (so a row's tokens
tell which documents it came from); the within-stage shuffle is checked against the documented
permutation; the unstaged packing is checked against the bytes the code wrote before stages
existed (committed leaderboard rows depend on them).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from winnow.docs import write_docs
from winnow.io import read_json, sha256_file
from winnow.tokenize import bpe
from winnow.tokenize.pack import pack
from winnow.tokenize.stages import Stage, StageError, parse_stages, stage_rows

WORDS = {0: "the", 1: "in", 2: "of"}  # one word per label: disjoint token sets


def _docs(counts: dict[int, int], words: int = 30) -> list[dict]:
    docs = []
    for label, n in counts.items():
        for i in range(n):
            docs.append({"id": f"L{label}-{i:03d}",
                         "text": " ".join([WORDS[label]] * (words + i)),
                         "url": None, "source": "x", "meta": {"stage": label}})
    random.Random(0).shuffle(docs)  # input order must not matter for which stage a doc is in
    return docs


def _shards(tmp_path: Path, docs: list[dict]) -> list[Path]:
    p = tmp_path / "shards" / "s.jsonl.zst"
    write_docs(p, docs)
    return [p]


def _pack(tmp_path, shards, stages, name="o", seed=3, n=60, seq_len=16):
    stats = pack(shards=shards, tokenizer_path=bpe.tokenizer_file("bpe1k-v1"), seq_len=seq_len,
                 n_sequences=n, seed=seed, out_dir=tmp_path / name, progress=False, stages=stages)
    return stats, np.load(tmp_path / name / "tokens.npy")


def _token_set(texts: list[str]) -> set[int]:
    tok = bpe.load("bpe1k-v1")
    return {t for e in tok.encode_batch(texts, add_special_tokens=False) for t in e.ids}


def _parse(raw) -> list[Stage]:
    stages, problems = parse_stages(raw)
    assert problems == [], problems
    return stages


# ------------------------------------------------------------------ syntax

def test_compact_and_explicit_forms():
    cum = _parse({"count": 3, "cumulative": True, "shares": "equal"})
    assert [s.labels for s in cum] == [(0,), (0, 1), (0, 1, 2)]
    assert [s.share for s in cum] == [1 / 3] * 3
    plain = _parse({"count": 2, "shares": [0.25, 0.75]})
    assert [(s.labels, s.share) for s in plain] == [((0,), 0.25), ((1,), 0.75)]
    explicit = _parse([{"stages": [0], "share": 0.5}, {"stages": [1, 0], "share": 0.5}])
    assert explicit == _parse({"count": 2, "cumulative": True})


@pytest.mark.parametrize("raw, message", [
    ({"count": 0}, "integer >= 1"),
    ({"count": 2, "shares": [0.5]}, "lists 1 numbers for count 2"),
    ({"count": 2, "shares": [0.5, 0.4]}, "shares sum to 0.9; they must sum to 1"),
    ({"count": 2, "shares": "growing"}, "`equal` or a list"),
    ({"count": 2, "cumulative": "yes"}, "true or false"),
    ({"count": 2, "cumlative": True}, "unknown key"),
    ([], "empty list"),
    ([{"stages": [0], "share": 1.2}, {"stages": [1], "share": -0.2}], "number > 0"),
    ([{"stages": [-1], "share": 1.0}], "integers >= 0"),
    ([{"stages": [0, 0], "share": 1.0}], "listed twice"),
    ([{"stages": [], "share": 1.0}], "non-empty list"),
    ([{"stage": [0], "share": 1.0}], "unknown: ['stage']"),
    ([{"stages": [0], "share": 0.5}], "sum to 0.5"),
    ("cumulative", "must be a mapping"),
])
def test_bad_stage_specs_are_rejected(raw, message):
    stages, problems = parse_stages(raw)
    assert stages == [] and len(problems) == 1 and message in problems[0], problems


def test_rows_follow_shares_and_add_up():
    rows = stage_rows(_parse({"count": 20}), 768)  # 38.4 each: rounded on the boundaries
    assert np.cumsum(rows).tolist() == [int(768 * k / 20 + 0.5) for k in range(1, 21)]
    assert rows[:5] == [38, 39, 38, 39, 38]
    assert sum(stage_rows(_parse({"count": 20}), 10)) == 10  # tiny n: some stages get 0 rows
    assert stage_rows(_parse({"count": 2, "shares": [0.25, 0.75]}), 10) == [3, 7]
    assert stage_rows(_parse({"count": 3}), 3) == [1, 1, 1]


def test_recipe_stages_key(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    def recipe(body: str):
        p = tmp_path / "recipe.yaml"
        p.write_text("name: t\n" + body)
        return load_recipe(p)

    label = "steps: [{step: curriculum_stages, by: random, count: 2}]\n"  # writes meta.stage 0, 1
    a = recipe("track: order\n" + label + "stages: {count: 2, cumulative: true}\n")
    b = recipe("track: order\n" + label + "stages:\n  - {stages: [0], share: 0.5}\n"
               "  - {stages: [0, 1], share: 0.5}\n")
    assert a.stages == b.stages and a.fingerprint() == b.fingerprint()
    c = recipe("track: order\n" + label + "stages: {count: 2}\n")
    assert c.fingerprint() != a.fingerprint()
    assert recipe("track: filtering\nsteps: []\n").stages == []
    with pytest.raises(RecipeError, match="only used by the order track"):
        recipe("track: filtering\nsteps: []\nstages: {count: 2}\n")
    with pytest.raises(RecipeError, match="order track needs `stages:`"):
        recipe("track: order\nsteps: []\n")
    with pytest.raises(RecipeError, match=r"`stages:` needs meta.stage on every document, which no "
                       r"step of the recipe provides: add `- step: curriculum_stages`"):
        recipe("track: order\nsteps: []\nstages: {count: 2}\n")   # the run would fail at tokenize
    with pytest.raises(RecipeError, match="shares sum to 1.5"):
        recipe("track: order\nsteps: []\nstages: {count: 2, shares: [0.5, 1.0]}\n")


# ------------------------------------------------------------------ staged packing

def test_every_stage_packs_its_own_rows_in_order(tmp_path):
    docs = _docs({0: 6, 1: 6, 2: 6})
    stages = _parse([{"stages": [0], "share": 0.25}, {"stages": [1], "share": 0.25},
                     {"stages": [0, 2], "share": 0.5}])
    stats, rows = _pack(tmp_path, _shards(tmp_path, docs), stages, n=40)
    sets = {k: _token_set([d["text"] for d in docs if d["meta"]["stage"] == k]) for k in WORDS}
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    allowed = [sets[0], sets[1], sets[0] | sets[2]]
    info = read_json(tmp_path / "o" / "order.json")
    assert [s["sequences"] for s in info["stages"]] == [10, 10, 20]
    assert [s["first_row"] for s in info["stages"]] == [0, 10, 20]
    assert [s["docs"] for s in info["stages"]] == [6, 6, 12]
    for s in info["stages"]:
        for r in rows[s["first_row"]:s["first_row"] + s["sequences"]]:
            toks = set(r.tolist()) - {0}
            assert toks and toks <= allowed[s["index"]], (s["index"], toks)
    assert set(rows[20:].ravel().tolist()) & sets[2]  # the last stage does use label 2
    assert info["order_sha256"] == stats["order_sha256"] and info["staged_version"] == 1


def test_within_stage_shuffle_is_seeded_and_documented(tmp_path):
    docs = _docs({0: 20, 1: 20}, words=2)
    shards = _shards(tmp_path, docs)
    stages = _parse({"count": 2})
    a, ta = _pack(tmp_path, shards, stages, "a", seed=5, n=10)
    b, tb = _pack(tmp_path, shards, stages, "b", seed=5, n=10)
    c, tc = _pack(tmp_path, shards, stages, "c", seed=6, n=10)
    assert (ta == tb).all() and a["stages"] == b["stages"]
    assert not (ta[:5] == tc[:5]).all() and a["stages"][0]["order_sha256"] != \
        c["stages"][0]["order_sha256"]
    # stage k, pass p is members[default_rng([seed, k, p]).permutation(len(members))]
    ids = [d["id"] for d in docs]
    for k, s in enumerate(a["stages"]):
        members = [i for i, d in enumerate(docs) if d["meta"]["stage"] == k]
        perm = np.random.default_rng([5, k, 0]).permutation(len(members))
        used = [ids[members[j]] for j in perm[:s["docs_used"]]]
        assert s["passes_started"] == 1
        assert hashlib.sha256("".join(f"{i}\n" for i in used).encode()).hexdigest() == \
            s["order_sha256"]


def test_a_too_small_stage_is_repeated_with_fresh_permutations(tmp_path):
    docs = _docs({0: 2, 1: 30}, words=3)
    stages = _parse({"count": 2, "cumulative": False, "shares": [0.5, 0.5]})
    stats, rows = _pack(tmp_path, _shards(tmp_path, docs), stages, n=40)
    s0 = stats["stages"][0]
    assert s0["docs"] == 2 and s0["passes"] > 3 and s0["passes_started"] >= 4
    assert s0["curated_tokens"] > 0 and s0["docs_used"] >= 8
    small = _token_set([d["text"] for d in docs if d["meta"]["stage"] == 0])
    assert set(rows[:20].ravel().tolist()) - {0} <= small
    assert stats["passes_started"] == s0["passes_started"]


@pytest.mark.parametrize("counts, stages, meta, message", [
    ({0: 3, 1: 3}, {"count": 3}, None, r"label\(s\) \[2\] that no curated document"),
    ({0: 3, 1: 3}, {"count": 1}, None, r"label\(s\) \[1\] that no stage uses"),
    ({0: 3}, {"count": 1}, {"stage": "easy"}, "carry no integer meta.stage"),
    ({0: 3}, {"count": 1}, {}, "carry no integer meta.stage"),
])
def test_documents_that_do_not_fit_the_stages_are_refused(tmp_path, counts, stages, meta,
                                                          message):
    docs = _docs(counts)
    if meta is not None:
        docs[0]["meta"] = meta
    with pytest.raises(StageError, match=message):
        _pack(tmp_path, _shards(tmp_path, docs), _parse(stages))


# ------------------------------------------------------------------ unstaged: bytes unchanged

GOLDEN_WORDS = ("the of and to in is was for on that with as by at from his her it an are this "
                "river stone music garden winter coffee planet engine history window").split()
# sha256 of tokens.npy and order.json written by winnow/tokenize/pack.py before stages existed
# (commit 8b8d175): one pass (300 rows) and 2.79 passes over 700 documents (3000 rows).
GOLDEN = {
    "one": ("538a168a09f71e2aefe70f4d7111c0a9f4cdb98f5371308092cd119f93125847",
            "a4c87e7f2bfdc3c4d3f36d6d698377b08bc145cb3909119c583a5127ffcb69cf", 300),
    "multi": ("c8e6a4b96ee684474cbd8eca82019578ea85a5670757f86f47d6cf7676eab932",
              "7553ccebee1b7f09282ee8381cdb9a2742ec6d13e589c7f7da4b701ee7355934", 3000),
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_a_filtering_recipe_packs_the_same_bytes_as_before(tmp_path, case):
    rng = random.Random(20240611)
    docs = []
    for i in range(700):
        text = " ".join(rng.choice(GOLDEN_WORDS) for _ in range(rng.randint(1, 60))) + "."
        docs.append({"id": f"g{i:04d}", "text": "" if i % 97 == 5 else text, "url": None,
                     "source": "x"})
    shards = []
    for k in range(2):
        p = tmp_path / "shards" / f"part{k}.jsonl.zst"
        write_docs(p, docs[k * 350:(k + 1) * 350])
        shards.append(p)
    tokens_sha, order_sha, n = GOLDEN[case]
    pack(shards=shards, tokenizer_path=bpe.tokenizer_file("bpe1k-v1"), seq_len=32,
         n_sequences=n, seed=7, out_dir=tmp_path / case, progress=False)
    assert sha256_file(tmp_path / case / "tokens.npy") == tokens_sha
    assert sha256_file(tmp_path / case / "order.json") == order_sha


def test_recipe_stages_must_match_the_labelling_step(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    def recipe(step: str, stages: str):
        p = tmp_path / "recipe.yaml"
        p.write_text(f"name: t\ntrack: order\nsteps:\n  - {step}\nstages: {stages}\n")
        return load_recipe(p)

    assert len(recipe("{step: curriculum_stages, count: 4, by: random}",
                      "{count: 4, cumulative: true}").stages) == 4
    assert len(recipe("{step: curriculum_stages, by: random}", "{count: 20}").stages) == 20
    with pytest.raises(RecipeError, match=r"label\(s\) \[4\], which step 1 \(curriculum_stages\)"):
        recipe("{step: curriculum_stages, count: 4}", "{count: 5}")
    with pytest.raises(RecipeError, match=r"gives meta.stage label\(s\) \[3\] that no stage uses"):
        recipe("{step: curriculum_stages, count: 4}", "{count: 3, cumulative: true}")


def test_a_row_order_seed_permutes_rows_within_each_stage_only(tmp_path):
    """The noise study's row-order seed on the order track: the rows of each stage are permuted
    among themselves, so training still consumes the stages in the submission's order."""
    shards = _shards(tmp_path, _docs({0: 20, 1: 20}))
    stages = _parse({"count": 2, "shares": "equal"})
    plain, rows = _pack(tmp_path, shards, stages, "plain", n=20)
    stats = pack(shards=shards, tokenizer_path=bpe.tokenizer_file("bpe1k-v1"), seq_len=16,
                 n_sequences=20, seed=3, out_dir=tmp_path / "perm", progress=False, stages=stages, order_seed=4)
    perm = np.load(tmp_path / "perm" / "tokens.npy")
    assert stats["row_order_seed"] == 4 and not (perm == rows).all()
    for s in plain["stages"]:
        a, b = s["first_row"], s["first_row"] + s["sequences"]
        assert sorted(map(bytes, perm[a:b])) == sorted(map(bytes, rows[a:b]))  # same rows, same stage
