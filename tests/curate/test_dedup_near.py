"""Near-duplicate removal: MinHash-LSH (``minhash_dedup``) and DCLM BFF (``bloom_dedup``), plus
``url_dedup``.

Planted near-duplicates: 1,000 distinct documents drawn from a seeded Zipf word model (3-8
paragraphs of 25-90 words), then 80 edited copies per edit rate, each of a different original,
shuffled into later shards. An edit rate ``e`` edits each word with probability ``e`` (a third
substitutions, a third deletions, a third insertions of a random word). What counts as a
duplicate follows from each step's documented settings:

* ``minhash_dedup`` (5-word shingles, 14 bands x 8 rows; S-curve midpoint s = 0.72):
  duplicates are copies with <= 1% edits (Jaccard ~0.9); 2% and 5% (s ~0.8 and ~0.6) are the
  grey zone around the S-curve and are not scored; 10% and 20% edits (s <= 0.4) and the
  originals must be kept.
* ``bloom_dedup`` (13-grams, threshold 0.8, documents removed whole): duplicates are copies with
  <= 0.5% edits; one edited word spoils up to 13 13-grams, so at 1-2% edits a 300-word copy sits
  at the 0.8 threshold (grey zone); 5% edits and more, and the originals, must be kept.

Recall = duplicates removed / duplicates planted; precision = duplicates removed / all documents
removed outside the grey zone. Both must be >= 0.95.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from winnow.curate import StepContext, load_recipe
from winnow.curate.recipe import RecipeError
from winnow.curate.steps import minhash as minhash_mod
from winnow.curate.steps.bloom import BloomDedup, MemoryLimitError, bloom_size, false_positive_rate
from winnow.curate.steps.dedup import UrlDedup
from winnow.curate.steps.minhash import MinHashDedup, s_curve, s_curve_threshold
from winnow.curate.common.partial import PartialDir
from winnow.curate.base import ParamError
from winnow.docs import read_docs, write_docs

RATES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.10, 0.20)
CTX = StepContext(seed=0, workers=1)


# --------------------------------------------------------------------------- planted data

def make_vocab(rng: random.Random, n: int = 20000) -> tuple[list[str], list[float]]:
    words, seen = [], set()
    while len(words) < n:
        w = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    cum, total = [], 0.0
    for rank in range(n):  # Zipf: p(rank) ~ 1 / rank
        total += 1.0 / (rank + 1)
        cum.append(total)
    return words, cum


def make_doc(rng: random.Random, vocab) -> list[list[str]]:
    words, cum = vocab
    paras = []
    for _ in range(rng.randint(3, 8)):
        n = rng.randint(25, 90)
        ws = rng.choices(words, cum_weights=cum, k=n)
        step = rng.randint(8, 16)
        for i in range(step, n, step):  # sentence ends
            ws[i] += "."
        paras.append(ws)
    return paras


def edit(rng: random.Random, vocab, paras: list[list[str]], rate: float) -> list[list[str]]:
    words, cum = vocab
    out = []
    for ws in paras:
        new: list[str] = []
        for w in ws:
            if rng.random() < rate:
                op = rng.randrange(3)
                if op == 0:
                    new.append(rng.choices(words, cum_weights=cum)[0])
                elif op == 2:
                    new.extend([w, rng.choices(words, cum_weights=cum)[0]])
            else:
                new.append(w)
        out.append(new or ws[:1])
    return out


def render(paras: list[list[str]]) -> str:
    return "\n".join(" ".join(ws) for ws in paras)


def planted_docs(seed: int = 0, n_orig: int = 1000, n_copies: int = 80, rates=RATES) -> list[dict]:
    """Originals (``orig-<i>``) first, then shuffled copies (``copy-<rate>-<i>``)."""
    rng = random.Random(seed)
    vocab = make_vocab(rng)
    origs = [make_doc(rng, vocab) for _ in range(n_orig)]
    docs = [{"id": f"orig-{i:05d}", "text": render(p), "url": None, "source": "synthetic"}
            for i, p in enumerate(origs)]
    src = rng.sample(range(n_orig), n_copies * len(rates))
    copies = []
    for j, rate in enumerate(rates):
        for i in src[j * n_copies:(j + 1) * n_copies]:
            copies.append({"id": f"copy-{rate:.3f}-{i:05d}",
                           "text": render(edit(rng, vocab, origs[i], rate)),
                           "url": None, "source": "synthetic"})
    rng.shuffle(copies)
    return docs + copies


def write_shards(folder: Path, docs: list[dict], per_shard: int) -> list[Path]:
    paths = []
    for k in range(0, len(docs), per_shard):
        p = folder / f"shard_{k // per_shard:05d}.jsonl.zst"
        write_docs(p, docs[k:k + per_shard])
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> list[Path]:
    return write_shards(tmp_path_factory.mktemp("planted"), planted_docs(), per_shard=260)


def rate_of(doc_id: str) -> float | None:
    return None if doc_id.startswith("orig-") else float(doc_id.split("-")[1])


def score(inputs: list[Path], outputs: list[Path], dup: set[float], keep: set[float]) -> dict:
    """Removal rate per edit rate, and recall / precision over the scored classes."""
    kept = {d["id"] for p in outputs for d in read_docs(p)}
    n: dict[str, int] = defaultdict(int)
    removed: dict[str, int] = defaultdict(int)
    tp = fn = fp = 0
    for p in inputs:
        for d in read_docs(p):
            rate = rate_of(d["id"])
            label = "orig" if rate is None else f"{rate:.3f}"
            gone = d["id"] not in kept
            n[label] += 1
            removed[label] += gone
            if rate in dup:
                tp += gone
                fn += not gone
            elif rate is None or rate in keep:
                fp += gone
    return {"removed": {k: round(removed[k] / n[k], 4) for k in sorted(n)},
            "recall": tp / max(tp + fn, 1), "precision": tp / max(tp + fp, 1)}


def file_hashes(paths: list[Path]) -> dict[str, str]:
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


# --------------------------------------------------------------------------- MinHash

def test_minhash_defaults_and_s_curve():
    step = MinHashDedup()
    assert (step.ngram, step.bands, step.rows, step.num_perm) == (5, 14, 8, 112)
    assert s_curve_threshold(14, 8) == pytest.approx(0.719, abs=1e-3)
    assert s_curve(0.9, 14, 8) > 0.999 and s_curve(0.8, 14, 8) == pytest.approx(0.924, abs=1e-3)
    assert s_curve(0.5, 14, 8) < 0.06
    t = MinHashDedup(threshold=0.8)  # datasketch's MinHashLSH picks (bands, rows) for it
    assert t.bands * t.rows <= 112 and 0.6 < s_curve_threshold(t.bands, t.rows) < 0.9


@pytest.mark.parametrize("kwargs, param", [
    ({"ngram": 0}, "ngram"), ({"bands": 0}, "bands"), ({"num_perm": 50}, "num_perm"),
    ({"threshold": 0.8, "bands": 10}, "threshold"), ({"threshold": 1.5}, "threshold"),
    ({"seed": "x"}, "seed"),
])
def test_minhash_param_errors_name_the_parameter(kwargs, param):
    with pytest.raises(ParamError) as e:
        MinHashDedup(**kwargs)
    assert e.value.param == param


def test_minhash_planted_recall_precision(planted, tmp_path):
    step = MinHashDedup()
    outs = step.run(planted, tmp_path / "out", CTX)
    s = score(planted, outs, dup={0.0, 0.005, 0.01}, keep={0.10, 0.20})
    print("minhash_dedup removal by edit rate:", s)
    assert s["recall"] >= 0.95 and s["precision"] >= 0.95, s
    c = step.counters
    assert c.docs_in == sum(1 for p in planted for _ in read_docs(p))
    assert c.docs_in - c.docs_out == c.dropped["near_duplicate"] > 0
    assert c.info["removal_rate"] == pytest.approx(c.n_dropped / c.docs_in, abs=1e-6)
    assert c.info["clusters"] > 0 and c.info["bands"] == 14 and c.info["rows"] == 8
    assert [p.name for p in outs] == [p.name for p in planted]
    # the drop sample names the kept document of each cluster
    sample = [d for p in planted for d in read_docs(tmp_path / "out" / "dropped" / p.name)]
    assert sample and all(d["reason"] == "near_duplicate" and d["meta"]["duplicate_of"]
                          for d in sample)
    assert not (tmp_path / "out" / "_partial" / "sig").exists()  # bulky state cleaned up


def test_minhash_keeps_first_and_is_deterministic(tmp_path):
    base = " ".join(f"w{i}" for i in range(200))
    near = base.replace("w100", "changed")
    docs = [{"id": "b", "text": "something else entirely " * 20, "url": None, "source": "s"},
            {"id": "a1", "text": base, "url": None, "source": "s"},
            {"id": "a2", "text": near, "url": None, "source": "s"},
            {"id": "empty", "text": "  ...  ", "url": None, "source": "s"},
            {"id": "empty2", "text": "", "url": None, "source": "s"},
            {"id": "a3", "text": base.upper(), "url": None, "source": "s"}]
    shards = write_shards(tmp_path / "in", docs, per_shard=2)
    out1 = MinHashDedup().run(shards, tmp_path / "o1", CTX)
    assert [d["id"] for p in out1 for d in read_docs(p)] == ["b", "a1", "empty", "empty2"]
    out2 = MinHashDedup().run(shards, tmp_path / "o2", StepContext(seed=0, workers=2))
    assert file_hashes(out1) == file_hashes(out2)  # any number of workers: the same bytes


def test_minhash_resume_after_crash(planted, tmp_path, monkeypatch):
    ref = MinHashDedup().run(planted, tmp_path / "ref", CTX)
    ref_counters = MinHashDedup()
    ref_counters.run(planted, tmp_path / "ref", CTX)  # already complete: no recompute

    class Crash(Exception):
        pass

    for crash_after in (1, len(planted) + 2):  # after the first signatures; after output 1
        out = tmp_path / f"crash{crash_after}"
        real_mark = PartialDir.mark
        calls = []

        def mark(self, *parts, real_mark=real_mark, calls=calls, n=crash_after):
            real_mark(self, *parts)
            calls.append(parts)
            if len(calls) == n:
                raise Crash(parts)

        monkeypatch.setattr(PartialDir, "mark", mark)
        with pytest.raises(Crash):
            MinHashDedup().run(planted, out, CTX)
        monkeypatch.setattr(PartialDir, "mark", real_mark)
        hashed = []
        real_sig = minhash_mod._signature_shard
        monkeypatch.setattr(minhash_mod, "_signature_shard",
                            lambda job: hashed.append(Path(job[1]).name) or real_sig(job))
        step = MinHashDedup()
        outs = step.run(planted, out, CTX)
        monkeypatch.setattr(minhash_mod, "_signature_shard", real_sig)
        assert planted[0].name not in hashed  # resumed, not redone
        assert file_hashes(outs) == file_hashes(ref)
        assert step.counters.to_dict() == ref_counters.counters.to_dict()


# --------------------------------------------------------------------------- Bloom (BFF)

def test_bloom_sizing_matches_bff_formula():
    m, k = bloom_size(1_000_000, 0.01)
    assert m % 64 == 0 and k == 7
    assert false_positive_rate(m, 1_000_000, k) <= 0.01
    assert false_positive_rate(int(m * 0.97), 1_000_000, k) > 0.01  # about the smallest
    assert 9.5e6 < m < 9.7e6  # -n ln p / ln^2 2 = 9.59 Mbit


def test_bloom_semantics_on_handwritten_text(tmp_path):
    p = " ".join(f"tok{i}" for i in range(30))  # 30 tokens: 18 13-grams
    q = " ".join(f"other{i}" for i in range(30))
    short = "a short line that repeats"
    docs = [{"id": "d1", "text": f"{p}\n{short}\n{p}", "url": None, "source": "s"},
            {"id": "d2", "text": f"{q}\n{short}\n{p}", "url": None, "source": "s"},
            {"id": "d3", "text": f"{p}\n{q}", "url": None, "source": "s"},
            {"id": "d4", "text": "   ", "url": None, "source": "s"}]
    shards = write_shards(tmp_path / "in", docs, per_shard=4)

    def run(**kw):
        step = BloomDedup(**kw)
        out = step.run(shards, tmp_path / json.dumps(kw, sort_keys=True), CTX)
        return {d["id"]: d for d in read_docs(out[0])}, step.counters

    got, c = run(mode="paragraph")
    # a paragraph repeated inside one document goes from its second occurrence (with its \n);
    # short paragraphs (< 13 tokens) are never removed
    assert got["d1"]["text"] == f"{p}\n{short}"
    assert got["d2"]["text"] == f"{q}\n{short}"
    assert "d3" not in got and c.dropped == {"duplicate_paragraphs": 1}  # nothing new left
    assert got["d4"]["text"] == "   "  # blank to begin with: passed through

    got, c = run(mode="document")
    assert set(got) == {"d1", "d2", "d3", "d4"}  # each whole text is new enough (not > 0.8)

    got, c = run(mode="both")
    assert got["d1"]["text"] == f"{p}\n{short}"  # paragraphs as above, 18 of 36 seen: kept
    assert "d3" not in got and c.dropped == {"near_duplicate_document": 1}

    got, c = run(mode="both", annotate=True)
    assert set(got) == {"d1", "d2", "d3", "d4"} and not c.dropped
    assert got["d1"]["text"] == f"{p}\n{short}\n{p}"  # annotate never changes text
    third = len(p) + 1 + len(short)  # the third paragraph's window starts at its newline
    assert got["d1"]["meta"]["bff_duplicate_spans"] == [[third, len(got["d1"]["text"])]]
    assert got["d3"]["meta"]["bff_duplicate_spans"] == [[0, len(got["d3"]["text"])]]
    assert got["d3"]["meta"]["bff_contained_ngram_count"] == 36


def test_bloom_document_threshold_is_strict(tmp_path):
    toks = [f"t{i}" for i in range(22)]  # 10 13-grams
    a = " ".join(toks)
    b8 = " ".join(toks[:20] + ["x1", "x2"])  # 8 of 10 13-grams seen: 0.8 is not > 0.8
    b9 = " ".join(toks[:21] + ["x3"])  # 9 of 10 seen: removed
    docs = [{"id": i, "text": t, "url": None, "source": "s"}
            for i, t in (("a", a), ("b8", b8), ("b9", b9))]
    out = BloomDedup(mode="document").run(write_shards(tmp_path / "in", docs, 3),
                                          tmp_path / "o", CTX)
    assert [d["id"] for d in read_docs(out[0])] == ["a", "b8"]


@pytest.mark.parametrize("mode", ["both", "document"])
def test_bloom_planted_recall_precision(planted, tmp_path, mode):
    step = BloomDedup(mode=mode)
    outs = step.run(planted, tmp_path / "out", CTX)
    s = score(planted, outs, dup={0.0, 0.005}, keep={0.05, 0.10, 0.20})
    print(f"bloom_dedup mode={mode} removal by edit rate:", s)
    assert s["recall"] >= 0.95 and s["precision"] >= 0.95, s
    c = step.counters
    assert c.dropped["near_duplicate_document"] == c.docs_in - c.docs_out
    assert c.info["bloom_fp_rate_est"] < 0.01 and c.info["expected_ngram_count"] > 0
    assert 0 < c.info["byte_removal_rate"] < 1 and c.info["ngrams_contained"] > 0
    originals = {d["id"]: d["text"] for d in read_docs(planted[0])}
    kept = {d["id"]: d["text"] for d in read_docs(outs[0])}
    assert kept == originals  # nothing in the first (all-original) shard is touched


def test_bloom_paragraph_mode_removes_planted_paragraphs(tmp_path):
    """Boilerplate-like planted paragraphs: a paragraph of one document copied into another,
    exactly (two in three) or with 0.5% of its words edited; recall and precision counted over
    paragraphs."""
    rng = random.Random(5)
    vocab = make_vocab(rng)
    docs = [make_doc(rng, vocab) for _ in range(400)]
    planted_paras = {}
    for i in range(200, 400):
        donor = docs[rng.randrange(200)]
        para = donor[rng.randrange(len(donor))]
        kind = "edited" if i % 3 == 0 else "exact"
        if kind == "edited":
            para = edit(rng, vocab, [para], 0.005)[0]
        docs[i].insert(rng.randrange(len(docs[i]) + 1), para)
        planted_paras[(i, " ".join(para))] = kind
    shards = write_shards(tmp_path / "in", [{"id": f"d{i:04d}", "text": render(p), "url": None,
                                             "source": "s"} for i, p in enumerate(docs)], 100)
    step = BloomDedup(mode="paragraph")
    outs = step.run(shards, tmp_path / "out", CTX)
    kept = {d["id"]: set(d["text"].split("\n")) for p in outs for d in read_docs(p)}
    tp = fn = fp = 0
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, paras in enumerate(docs):
        for para in paras:
            line = " ".join(para)
            gone = line not in kept.get(f"d{i:04d}", set())
            kind = planted_paras.get((i, line))
            if kind:
                tp += gone
                fn += not gone
                by_kind[kind][0] += gone
                by_kind[kind][1] += 1
            else:
                fp += gone
    recall, precision = tp / (tp + fn), tp / max(tp + fp, 1)
    print(f"bloom_dedup mode=paragraph: paragraph recall {recall:.3f} precision {precision:.3f}",
          {k: round(a / b, 3) for k, (a, b) in by_kind.items()})
    assert recall >= 0.95 and precision >= 0.95
    assert by_kind["exact"][0] == by_kind["exact"][1]
    assert step.counters.info["units_removed"] == tp + fp
    assert step.counters.docs_out == 400  # paragraphs go, documents stay


def test_bloom_memory_refused_before_start(planted, tmp_path):
    with pytest.raises(MemoryLimitError) as e:  # explicit numbers: refused at construction
        BloomDedup(expected_ngram_count=10**10, max_memory="1GiB")
    msg = str(e.value)
    assert e.value.param == "max_memory"
    for needle in ("needs about 11.2 GiB", "expected_ngram_count=10,000,000,000",
                   "fp_rate=0.01", "max_memory='1GiB' (1.0 GiB)", "Raise max_memory",
                   "raise fp_rate", "lower expected_ngram_count"):
        assert needle in msg, msg
    # estimated from the input at run time: refused before any output is written
    step = BloomDedup(max_memory="65MiB")  # the 64 MiB working memory alone nearly fills it
    with pytest.raises(MemoryLimitError, match="more than max_memory='65MiB'"):
        step.run(planted, tmp_path / "out", CTX)
    assert not list((tmp_path / "out").glob("*.jsonl.zst"))
    assert BloomDedup().memory_limit() > 0  # auto: 80% of physical memory
    with pytest.raises(ParamError) as e:
        BloomDedup(max_memory="lots")
    assert e.value.param == "max_memory"


def test_bloom_memory_refusal_in_recipe_validation(tmp_path):
    (tmp_path / "recipe.yaml").write_text(
        "name: t\ntrack: filtering\nsteps:\n  - step: bloom_dedup\n"
        "    expected_ngram_count: 100000000000\n    max_memory: 2GiB\n")
    with pytest.raises(RecipeError, match="max_memory"):
        load_recipe(tmp_path / "recipe.yaml")


@pytest.mark.parametrize("kwargs, param", [
    ({"mode": "both-ways"}, "mode"), ({"ngram": 0}, "ngram"),
    ({"min_ngram": 14}, "min_ngram"), ({"threshold": 1.2}, "threshold"),
    ({"fp_rate": 0}, "fp_rate"), ({"expected_ngram_count": -3}, "expected_ngram_count"),
    ({"num_hashers": -1}, "num_hashers"),
])
def test_bloom_param_errors_name_the_parameter(kwargs, param):
    with pytest.raises(ParamError) as e:
        BloomDedup(**kwargs)
    assert e.value.param == param


def test_bloom_tokens_are_uax29_word_bounds():
    """BFF tokenizes with unicode-segmentation's ``split_word_bounds`` (UAX #29): an opening
    quote is its own token, never joined to the word it opens (the ``regex`` module joins
    ``'inside``), so the same words give the same 13-grams whatever quote precedes them."""
    from winnow.curate.steps.bloom import Tokens

    split = Tokens(0).split
    assert split("Quotes 'inside' and \u2018curly\u2019 don't") == \
        ["Quotes", "'", "inside", "'", "and", "\u2018", "curly", "\u2019", "don't"]
    assert split("and 'inside'") == split("and 'quoted'")[:2] + ["inside", "'"]
    uniseg = pytest.importorskip("uniseg.wordbreak")
    for text in ("Quotes 'inside' and \u2018curly\u2019 and \"double\" \u2014 dashes\u2026",
                 "Don't stop: it's 3,000.50 dollars (e.g. U.S.A.) at www.example.com/path?q=1",
                 "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 tabs\tand\r\nlines",
                 "emoji \U0001f44d\U0001f3fd and ZWJ \U0001f468\u200d\U0001f469 'ok'"):
        assert split(text) == [w for w in uniseg.words(text) if not w.isspace()], text


def test_bloom_fill_counts_bits_a_slice_at_a_time():
    """``fill()`` runs on the whole filter at the end of a run: it must not unpack it into
    eight times its size (an 8 GiB filter would need 64 GiB more)."""
    import tracemalloc

    import numpy as np

    from winnow.curate.steps.bloom import BloomFilter

    bf = BloomFilter(1 << 26, 3, 0)  # 8 MiB of bits
    bf.words[::7] = np.uint64(0xFF)
    bf.words[3] = np.uint64(2**64 - 1)
    expected = (len(bf.words[::7]) * 8 + 64) / (1 << 26)  # word 3 is not one of every 7th
    tracemalloc.start()
    try:
        got = bf.fill()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == pytest.approx(expected, abs=0)
    assert peak < 4 * 2**20, peak  # unpackbits of the whole filter: 64 MiB


def test_bloom_huge_unit_is_looked_up_in_slices(monkeypatch):
    """A unit with many n-grams (a long line, or a whole document in ``document`` mode) is
    located a slice at a time: same decisions and filter, bounded ``[n-grams, k]`` arrays."""
    import tracemalloc

    from winnow.curate.steps import bloom

    step = BloomDedup(mode="document", num_hashers=40)
    text = " ".join(f"w{i % 5000}" for i in range(60000))  # 59,988 13-grams, 5,000 distinct

    def run():
        bf, tok = bloom.BloomFilter(1 << 24, 40, 0), bloom.Tokens(0)
        tracemalloc.start()
        try:
            first, second = step.process(text, bf, tok), step.process(text, bf, tok)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return first, second, bf.words.copy(), peak

    first, second, words, peak = run()
    assert first["contained"] == 0 and not first["whole"]  # looked up before any insertion
    assert second["contained"] == second["ngrams"] == 59988 and second["whole"]
    assert peak < 40 * 2**20, peak  # one pass over 59,988 x 40 located bits: ~80 MiB
    monkeypatch.setattr(bloom, "LOCATE_CHUNK", 1 << 30)  # everything in one slice
    one = run()
    assert (one[0], one[1]) == (first, second) and (one[2] == words).all()


def test_bloom_resume_after_crash(planted, tmp_path, monkeypatch):
    ref_step = BloomDedup()
    ref = ref_step.run(planted, tmp_path / "ref", CTX)

    class Crash(Exception):
        pass

    # a crash after the first shard is complete, then one in the middle of shard 3
    out = tmp_path / "crash"
    real_mark = PartialDir.mark

    def mark(self, *parts):
        real_mark(self, *parts)
        raise Crash(parts)

    monkeypatch.setattr(PartialDir, "mark", mark)
    with pytest.raises(Crash):
        BloomDedup().run(planted, out, CTX)
    monkeypatch.setattr(PartialDir, "mark", real_mark)

    real_process, real_shard, seen, shards = BloomDedup.process, BloomDedup._shard, [], []

    def process(self, text, bloom, tok):
        seen.append(1)
        if len(seen) == 600:  # 260 + 260 + 80: in the middle of the fourth shard
            raise Crash("mid-shard")
        return real_process(self, text, bloom, tok)

    def shard(self, path, *args):
        shards.append(path.name)
        return real_shard(self, path, *args)

    monkeypatch.setattr(BloomDedup, "process", process)
    monkeypatch.setattr(BloomDedup, "_shard", shard)
    with pytest.raises(Crash):
        BloomDedup().run(planted, out, CTX)
    assert shards == [p.name for p in planted[1:4]]  # resumed after the first shard
    monkeypatch.setattr(BloomDedup, "process", real_process)

    shards.clear()
    step = BloomDedup()
    outs = step.run(planted, out, CTX)
    assert shards == [p.name for p in planted[3:]]  # the unfinished fourth shard is redone
    assert file_hashes(outs) == file_hashes(ref)
    assert step.counters.to_dict() == ref_step.counters.to_dict()
    assert not list((out / "_partial").glob("bloom_*.npy"))  # the filter is not left behind


# --------------------------------------------------------------------------- kill -9, pipeline

KILL_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    from winnow.curate import StepContext, curate, load_recipe
    from winnow.curate.engine import LocalEngine
    from winnow.curate.common import partial
    from winnow.curate.steps import bloom, minhash

    recipe, pool, out, kill_at = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    calls = {"marks": 0, "signatures": [], "bloom_shards": []}
    real_mark, real_sig = partial.PartialDir.mark, minhash._signature_shard
    real_shard = bloom.BloomDedup._shard

    def mark(self, *parts):
        real_mark(self, *parts)
        calls["marks"] += 1
        if calls["marks"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def sig(job):
        calls["signatures"].append(Path(job[1]).name)
        return real_sig(job)

    def shard(self, path, *a):
        calls["bloom_shards"].append(path.name)
        return real_shard(self, path, *a)

    partial.PartialDir.mark, minhash._signature_shard, bloom.BloomDedup._shard = mark, sig, shard
    curate(load_recipe(recipe), sorted(pool.glob("*.jsonl.zst")), out,
           StepContext(seed=1, workers=1), LocalEngine(1, progress=False))
    print(json.dumps(calls))
""")


def test_kill9_during_dedup_then_rerun_resumes_with_same_content(tmp_path):
    docs = planted_docs(seed=3, n_orig=240, n_copies=20, rates=(0.0, 0.01, 0.1))
    pool = tmp_path / "pool"
    write_shards(pool, docs, per_shard=50)  # 6 shards
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text(
        "name: t\ntrack: filtering\nsteps:\n  - minhash_dedup\n  - step: bloom_dedup\n"
        "    mode: both\n")
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def run(out: Path, kill_at: int = 0) -> dict | None:
        p = subprocess.run([sys.executable, str(script), str(tmp_path / "r"), str(pool), str(out),
                            str(kill_at)], capture_output=True, text=True, env=env, timeout=300)
        if kill_at:
            assert p.returncode == -9, p.stderr[-3000:]
            return None
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(p.stdout.strip().splitlines()[-1])

    ref = run(tmp_path / "ref")
    assert len(ref["signatures"]) == 6 and len(ref["bloom_shards"]) == 6
    out = tmp_path / "killed"
    run(out, kill_at=1)  # minhash: right after the first shard's signatures
    run(out, kill_at=7)  # minhash: 5 more signatures, the clusters, then 1 output shard
    run(out, kill_at=8)  # bloom: right after its third shard (minhash's 5 outputs come first)
    last = run(out)
    assert last["signatures"] == [] and len(last["bloom_shards"]) == 3  # resumed, not redone
    ref_shards = sorted((tmp_path / "ref" / "shards").iterdir())
    got_shards = sorted((out / "shards").iterdir())
    assert file_hashes(got_shards) == file_hashes(ref_shards)
    ref_stats = json.loads((tmp_path / "ref" / "stats.json").read_text())
    got_stats = json.loads((out / "stats.json").read_text())
    strip = lambda s: [{k: v for k, v in row.items() if k not in ("seconds", "cpu_seconds")} for row in s["steps"]]
    assert strip(got_stats) == strip(ref_stats)


# --------------------------------------------------------------------------- url_dedup

def test_url_dedup(tmp_path):
    docs = [{"id": "1", "text": "a", "url": "HTTP://Example.com/page#top", "source": "s"},
            {"id": "2", "text": "b", "url": "http://example.com/page", "source": "s"},
            {"id": "3", "text": "c", "url": "http://example.com/Page", "source": "s"},
            {"id": "4", "text": "d", "url": None, "source": "s"},
            {"id": "5", "text": "e", "url": None, "source": "s"},
            {"id": "6", "text": "f", "url": "http://example.com/page?x=1", "source": "s"}]
    shards = write_shards(tmp_path / "in", docs, 3)
    step = UrlDedup()
    out = step.run(shards, tmp_path / "o", CTX)
    assert [d["id"] for p in out for d in read_docs(p)] == ["1", "3", "4", "5", "6"]
    assert step.counters.dropped == {"duplicate_url": 1}
    raw = UrlDedup(normalize=False)
    out = raw.run(shards, tmp_path / "o2", CTX)
    assert [d["id"] for p in out for d in read_docs(p)] == ["1", "2", "3", "4", "5", "6"]


def test_steps_are_registered():
    from winnow.curate.base import STEPS

    for name in ("minhash_dedup", "url_dedup"):
        assert STEPS.get(name).version == 1
    assert STEPS.get("bloom_dedup").version == 2  # 2: UAX #29 quote tokens
