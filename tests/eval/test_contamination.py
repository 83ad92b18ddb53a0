"""Contamination of the trained tokens with the evaluated items (winnow.eval.contamination).

Hand-made token arrays pin the rule: a gold shorter than 13 tokens is measured in its context,
a long gold only by windows inside it, context overlap separately, items under 13 tokens are
counted apart, windows across a row boundary of tokens.npy and across scan chunks are found,
and a hash hit alone never counts. End to end at the debug scale, a mixing-track submission
whose external data holds the evaluated items' text is flagged on its leaderboard row (and the
page says so), a clean one is measured and not flagged, and both rows check.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from winnow.eval import contamination as contam
from winnow.eval.contamination import Item, found_windows, measure, summary
from winnow.io import read_json

CTX = np.arange(100, 120)          # 20 context tokens, distinct from everything else
FILLER = np.arange(5000, 5400)     # training text unrelated to the items


def item(context, gold, doc_id: int = 0) -> Item:
    return Item(doc_id, np.asarray(context, dtype=np.int64), np.asarray(gold, dtype=np.int64))


def stream(*pieces) -> np.ndarray:
    return np.concatenate([FILLER[:50], *[np.asarray(p) for q in pieces for p in (q, FILLER[60:70])]]
                          ).astype(np.uint16)


def one(it: Item, tokens: np.ndarray, **kw) -> dict:
    return measure({"t": [it]}, tokens, **kw)["t"]


# ----------------------------------------------------------------------------- the rule


def test_a_short_gold_is_measured_with_the_context_tokens_before_it():
    it = item(CTX, [7, 8])                       # gold of 2 tokens
    tail = np.concatenate([CTX[-11:], [7, 8]])   # the last 11 context tokens + the gold: 13
    got = one(it, stream(tail))
    assert (got["gold_items"], got["context_items"], got["too_short"]) == (1, 0, 0)
    assert got["gold_doc_ids"] == [0]
    # the gold after other text is no overlap; so is the gold cut one token short of a window
    assert one(it, stream(np.concatenate([FILLER[200:211], [7, 8]])))["gold_items"] == 0
    assert one(it, stream(np.concatenate([CTX[-10:], [7, 8]])))["gold_items"] == 0
    # one gold token in the window is enough: 12 context tokens + the first gold token
    assert one(it, stream(np.concatenate([CTX[-12:], [7]])))["gold_items"] == 1


def test_context_overlap_is_counted_apart_from_gold_overlap():
    it = item(CTX, [7, 8])
    got = one(it, stream(CTX[:13]))              # a window wholly inside the context
    assert (got["gold_items"], got["context_items"]) == (0, 1)
    got = one(it, stream(np.concatenate([CTX, [7, 8]])))   # the whole item
    assert (got["gold_items"], got["context_items"]) == (1, 1)


def test_a_long_gold_counts_only_windows_inside_it():
    gold = np.arange(300, 315)                   # 15 gold tokens
    it = item(CTX, gold)
    astride = np.concatenate([CTX[-6:], gold[:7]])   # 13 tokens across the context/gold seam
    assert one(it, stream(astride))["gold_items"] == 0
    assert one(it, stream(gold[2:15]))["gold_items"] == 1


def test_items_under_13_tokens_are_too_short_and_leave_the_denominators():
    short = item([1, 2, 3, 4, 5], [6, 7, 8])    # 8 tokens: no window at all
    planted = item(CTX, [7, 8], doc_id=1)
    got = measure({"t": [short, planted]}, stream(np.concatenate([[1, 2, 3, 4, 5, 6, 7, 8]]),
                                                   np.concatenate([CTX, [7, 8]])))["t"]
    assert (got["n"], got["too_short"], got["gold_items"]) == (2, 1, 1)
    s = summary({"t": got})
    assert s["tasks"]["t"] == {"n": 2, "too_short": 1, "gold": 1.0, "context": 1.0}
    none = summary({"t": {"n": 3, "too_short": 3, "gold_items": 0, "context_items": 0}})
    assert none["tasks"]["t"]["gold"] is None and none["gold_share"] is None and not none["flagged"]


def test_a_window_across_a_row_boundary_of_tokens_npy_is_found(tmp_path):
    """tokens.npy rows are consecutive slices of one stream (pack.py repeats no token across
    rows), so the file is read as that stream: an item cut by a row boundary is found."""
    it = item(CTX, [7, 8])
    flat = np.concatenate([FILLER[:5], CTX, [7, 8], FILLER[:13]]).astype(np.uint16)   # 40 tokens
    rows = flat.reshape(5, 8)                    # seq_len + 1 = 8: the item spans rows 0-3
    np.save(tmp_path / "tokens.npy", rows)
    got = one(it, tmp_path / "tokens.npy")
    assert (got["gold_items"], got["context_items"]) == (1, 1)


def test_scan_chunks_overlap_so_no_window_is_lost():
    it = item(CTX, [7, 8])
    toks = stream(np.concatenate([CTX, [7, 8]]))
    for chunk in (1, 7, 16, 64, 10_000):
        got = one(it, toks, chunk=chunk)
        assert (got["gold_items"], got["context_items"]) == (1, 1), chunk


def test_a_hash_hit_alone_never_counts(monkeypatch):
    """Every hit is confirmed token by token: with a weak hash (a window's first token), windows
    that merely share the hash are no overlap, even when they come before the real one."""
    monkeypatch.setattr(contam, "ngram_hashes", lambda x, n: np.asarray(x[:max(len(x) - n + 1, 0)], np.uint64))
    monkeypatch.setattr(contam, "row_hashes", lambda rows: np.asarray(rows[:, 0], np.uint64))
    wins = np.stack([CTX[:13], CTX[1:14]])
    fakes = np.concatenate([[100], FILLER[300:312], [101], FILLER[320:332]])   # same first tokens
    assert not found_windows(stream(fakes), wins).any()
    assert found_windows(stream(fakes, CTX[:13]), wins).tolist() == [True, False]


def test_summary_pools_items_and_flags_on_the_most_contaminated_task():
    counts = {"a": {"n": 200, "too_short": 0, "gold_items": 0, "context_items": 40},
              "b": {"n": 100, "too_short": 20, "gold_items": 5, "context_items": 0}}
    s = summary(counts, threshold=0.05)
    assert s["tasks"]["b"] == {"n": 100, "too_short": 20, "gold": 5 / 80, "context": 0.0}
    assert s["gold_share"] == pytest.approx(5 / 280) and s["context_share"] == pytest.approx(40 / 280)
    assert s["max_task_gold"] == pytest.approx(5 / 80) and s["flagged"]   # 6.25% > 5%
    counts["b"]["gold_items"] = 4                                          # 5% is not over 5%
    assert not summary(counts, threshold=0.05)["flagged"]
    assert contam.format_summary({**s, "threshold": 0.05}).startswith("FLAGGED: gold 1.8%, context 14.3%")


def test_gold_request_takes_the_scored_gold_and_drops_a_fewshot_block():
    from winnow.eval import foundry

    mc = {"doc": {"gold": 1}, "arguments": [("Q?\nAnswer:", " no"), ("Q?\nAnswer:", " yes")]}
    assert contam.gold_request(mc, "multiple_choice") == ("Q?\nAnswer:", " yes")
    schema = {"doc": {"gold": 0}, "arguments": [("The cat", " ran."), ("The dog", " ran.")]}
    assert contam.gold_request(schema, "schema") == ("The cat", " ran.")
    lm = {"doc": {}, "arguments": [("In my palm", " signs")]}
    assert contam.gold_request(lm, "language_modeling") == ("In my palm", " signs")
    gen = {"doc": {"_demo_answer": "2 + 2 = 4 #### 4"}, "arguments": [("Q: 2+2?\nA:", {"until": ["\n"]})]}
    assert contam.gold_request(gen, "generation") == ("Q: 2+2?\nA:", " 2 + 2 = 4 #### 4")
    demos = "Q: 1+1?\nA: 2"
    ctx = demos + "\nQ: 2+2?\nA:"
    foundry.PREAMBLE_SPLITS[ctx] = len(demos)
    try:
        assert contam.gold_request({"doc": {}, "arguments": [(ctx, " 4")]}, "language_modeling") == \
            ("\nQ: 2+2?\nA:", " 4")
    finally:
        del foundry.PREAMBLE_SPLITS[ctx]


def test_task_items_tokenise_context_and_gold_apart_in_doc_order():
    samples = [{"doc_id": 9, "doc": {}, "arguments": [("b c", " d")]},
               {"doc_id": 3, "doc": {}, "arguments": [("a", " e")]}]
    encode = lambda texts: [[ord(ch) for ch in t] for t in texts]   # noqa: E731
    its = contam.task_items(samples, "language_modeling", encode)
    assert [i.doc_id for i in its] == [3, 9]
    assert its[1].context.tolist() == [98, 32, 99] and its[1].gold.tolist() == [32, 100]


# ---------------------------------------------------------------------- end to end (debug)

DEBUG = ["scale=debug", "progress=false", "engine.workers=1"]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A leaderboard folder of this module's own."""
    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.mktemp("contam_board")
    mp.setenv("WINNOW_LEADERBOARD", str(d))
    yield d
    mp.undo()


def suite_item_texts(suite_name: str) -> dict[str, list[str]]:
    """The evaluated items of a suite as text (context + gold, as scored), by task: the
    requests lm-eval builds for the suite's seeded subsample, without a model."""
    from winnow.eval.runner import cut_to_rows, load_suite, subsample, suite_entries, task_manager
    from winnow.eval.taskgen import spec

    suite = load_suite(suite_name)
    tm = task_manager()
    out = {}
    for e in suite_entries(suite):
        name = e["task"]
        task = tm.load([name])["tasks"][name]
        task.set_config(key="num_fewshot", value=int(e.get("num_fewshot") or 0))
        rows = subsample(len(task.eval_docs), e.get("limit"), suite["seed"], name)
        cut_to_rows(task, rows)
        task.build_all_requests(rank=0, world_size=1)
        by_doc = defaultdict(list)
        for inst in task.instances:
            by_doc[inst.doc_id].append(inst)
        texts = []
        for insts in by_doc.values():
            insts.sort(key=lambda i: i.idx)
            sample = {"doc": insts[0].doc, "arguments": [i.args for i in insts]}
            texts.append("".join(contam.gold_request(sample, spec(name).kind)))
        out[name] = texts
    return out


@pytest.fixture(scope="module")
def planted_row(mini_pool, board, tmp_path_factory):
    """A mixing-track debug submission whose external file holds every evaluated item's text."""
    from winnow.leaderboard.submit import submit
    from winnow.paths import DataRootError, data_root
    from winnow.run import STAGES, prepare, run_stages

    try:
        data_root()
    except DataRootError:
        pytest.skip("no data root: the DCLM task files are needed")
    folder = tmp_path_factory.mktemp("subs") / "submissions" / "planted"
    folder.mkdir(parents=True)
    texts = suite_item_texts("debug")
    with open(folder / "eval_items.jsonl", "w", encoding="utf-8") as f:
        for task, ts in texts.items():
            for k, t in enumerate(ts):
                f.write(json.dumps({"id": f"{task}/{k}", "text": t}) + "\n")
    # half the budget from the pool and the planted items: the data repeats, so every planted
    # document is in the trained tokens
    (folder / "recipe.yaml").write_text(
        "name: planted\ntrack: mixing\nexternal:\n  - eval_items.jsonl\nsteps:\n"
        "  - step: random_sample\n    tokens: budget\n    multiplier: 0.5\n"
        "    keep_sources: ['external/*']\n")
    run = prepare(DEBUG + [f"submission={folder}"])
    run_stages(run, STAGES)
    return run, submit(run.dir), texts


@pytest.fixture(scope="module")
def clean_row(mini_pool, board):
    from winnow.leaderboard.submit import submit
    from winnow.run import STAGES, prepare, run_stages

    run = prepare(DEBUG + ["submission=baselines/simple_heuristics"])
    run_stages(run, STAGES)
    return run, submit(run.dir)


def test_planted_eval_items_are_flagged_on_the_row(planted_row):
    run, path, texts = planted_row
    res = read_json(run.dir / "eval" / "debug" / "results.json")
    assert res["contamination"]["rule"] == "ngram13_tokens_v1"
    c = read_json(path)["contamination"]
    assert c["measured"] and c["rule"] == "ngram13_tokens_v1" and c["ngram"] == 13
    assert c["flagged"] and c["threshold"] == contam.THRESHOLD
    assert set(c["tasks"]) == set(texts)
    assert c["gold_share"] > 0.9 and c["max_task_gold"] > 0.9
    for task, v in c["tasks"].items():
        assert v["n"] == len(texts[task]) == 20 and v["gold"] > 0.9, (task, v)
    detail = read_json(run.dir / "eval" / "debug" / contam.FILE)
    assert sum(len(d["gold"]) for d in detail["doc_ids"].values()) == round(c["gold_share"] * sum(
        v["n"] - v["too_short"] for v in c["tasks"].values()))


def test_a_clean_run_is_measured_and_not_flagged(clean_row):
    _, path = clean_row
    c = read_json(path)["contamination"]
    assert c["measured"] and not c["flagged"]
    assert c["max_task_gold"] <= contam.THRESHOLD and c["gold_share"] < 0.01
    assert all(v["n"] == 20 for v in c["tasks"].values())


def test_rows_check_and_the_board_shows_the_flag(planted_row, clean_row, board):
    from winnow.leaderboard.html import page
    from winnow.leaderboard.render import render
    from winnow.leaderboard.rows import load_rows, row_hash
    from winnow.leaderboard.tables import Board
    from winnow.leaderboard.verify import check_row, check_rows

    problems, n = check_rows()
    assert (problems, n) == ([], 2)
    rows = load_rows()
    md = render(Board.of(rows))["debug"]
    planted_line = next(line for line in md.splitlines() if "submissions/planted" in line)
    clean_line = next(line for line in md.splitlines() if "baselines/simple_heuristics" in line)
    assert "FLAGGED: gold" in planted_line and "FLAGGED" not in clean_line and "gold 0.0%" in clean_line
    assert "not measured" not in planted_line + clean_line
    html = page(Board.of(rows))
    assert html.count('<tr class="flagged">') == 1
    # the flag is recomputed from the evidence: a row that hides it fails the check
    _, path, _ = planted_row
    row = read_json(path)
    row["contamination"]["flagged"] = False
    row["contamination"]["tasks"]["dclm_arc_easy"]["gold"] = 0.0
    row["row_hash"] = row_hash(row)
    edited = path.with_name("edited.json")
    edited.write_text(json.dumps(row))
    try:
        probs = check_row(edited)
        assert any("contamination.flagged" in p for p in probs), probs
        assert any("contamination.tasks.dclm_arc_easy.gold" in p for p in probs), probs
    finally:
        edited.unlink()
