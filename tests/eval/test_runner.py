"""WinnowLM, held-out bits per byte and the suite runner on a tiny random GPT-2 and a BPE trained here.

The model is a stand-in for winnow's own architecture: any local HF causal-LM folder must work.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("lm_eval")
transformers = pytest.importorskip("transformers")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

from winnow.eval.heldout import heldout_bpb, select_heldout, unigram_bpb  # noqa: E402
from winnow.eval.lm import WinnowLM  # noqa: E402

torch.set_num_threads(1)

SEQ = 96
WORDS = (
    "the a cat dog sun water light energy plant food web question answer because therefore "
    "man woman city council permit violence trophy suitcase small large went saw made took "
    "ran quickly slowly over under into from with without river stone house tree green blue"
).split()


def _corpus(n: int = 400, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(6, 14)))
        out.append(" ".join(words).capitalize() + ". Question: why? Answer: yes.")
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model folder, tokenizer file, model, tokenizer): BPE with <|endoftext|> = 0, GPT-2 2x32."""
    root = tmp_path_factory.mktemp("tiny_eval")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    assert tok.token_to_id("<|endoftext|>") == 0
    tok_file = root / "tokenizer.json"
    tok.save(str(tok_file))
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(), n_layer=2, n_embd=32, n_head=2, n_positions=SEQ,
        bos_token_id=0, eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(str(root / "model"))
    return root / "model", tok_file, model, tok


def _manual(model, ids: list[int], n_cont: int) -> tuple[float, bool]:
    """Sum log-prob and greedy flag of the last n_cont of ids, by hand, unbatched."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0].float()
    logp = F.log_softmax(logits, dim=-1)
    pos = range(len(ids) - 1 - n_cont, len(ids) - 1)
    lp = sum(float(logp[p, ids[p + 1]]) for p in pos)
    greedy = all(int(logp[p].argmax()) == ids[p + 1] for p in pos)
    return lp, greedy


def test_loglikelihood_records_and_separate_tokenisation(tiny):
    _, tok_file, model, tok = tiny
    lm = WinnowLM(model, tok_file, max_length=SEQ, progress=False)
    reqs = [("The cat saw the dog.", " Answer: yes."), ("Question: why?", " because"), ("", " water")]
    out = lm.loglikelihood(reqs)
    for (ctx, cont), (lp, greedy) in zip(reqs, out):
        c = tok.encode(ctx, add_special_tokens=False).ids or [0]  # empty context -> EOS
        t = tok.encode(cont, add_special_tokens=False).ids
        exp_lp, exp_greedy = _manual(model, c + t, len(t))
        assert lp == pytest.approx(exp_lp, abs=1e-4) and greedy == exp_greedy
        r = lm.record(ctx, cont)
        assert r.logprob == lp and r.tokens == len(t) and r.bytes == len(cont.encode("utf-8"))
    # a batch of many gives the same numbers as one at a time; a PreTrainedTokenizerFast works too
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    single = WinnowLM(model, hf_tok, max_length=SEQ, progress=False).loglikelihood(reqs[:1])
    assert single[0][0] == pytest.approx(out[0][0], abs=1e-5)
    assert lm.loglikelihood([("The cat", "")]) == [(0.0, True)]


def test_left_truncation_keeps_the_continuation(tiny):
    _, tok_file, model, tok = tiny
    lm = WinnowLM(model, tok_file, max_length=SEQ, progress=False)
    ctx, cont = " ".join(_corpus(20)), " the river"
    ((lp, _),) = lm.loglikelihood([(ctx, cont)])
    c = tok.encode(ctx, add_special_tokens=False).ids
    t = tok.encode(cont, add_special_tokens=False).ids
    assert len(c) > SEQ
    exp_lp, _ = _manual(model, c[-(SEQ - len(t)):] + t, len(t))  # context + continuation = SEQ
    assert lp == pytest.approx(exp_lp, abs=1e-4)


def test_greedy_flag_on_token_ids(tiny):
    _, tok_file, model, _ = tiny
    lm = WinnowLM(model, tok_file, max_length=SEQ, progress=False)
    ctx = [5, 17, 42, 9]
    with torch.no_grad():
        best = int(model(input_ids=torch.tensor([ctx])).logits[0, -1].argmax())
    other = (best + 1) % model.config.vocab_size
    (lp_best, g_best, n), (lp_other, g_other, _) = lm.score_tokens([(ctx, [best]), (ctx, [other])])
    assert g_best and not g_other and n == 1 and lp_best > lp_other


def test_rolling_and_generate(tiny):
    _, tok_file, model, tok = tiny
    lm = WinnowLM(model, tok_file, max_length=SEQ, progress=False)
    text = "The cat saw the dog over the river."
    ids = tok.encode(text, add_special_tokens=False).ids
    (total,) = lm.loglikelihood_rolling([(text,)])
    assert total == pytest.approx(_manual(model, [0] + ids, len(ids))[0], abs=1e-4)
    # a text longer than the context: disjoint windows predict every token exactly once
    long_text = " ".join(_corpus(30))
    long_ids = tok.encode(long_text, add_special_tokens=False).ids
    seen = []
    score = lm.score_tokens
    lm.score_tokens = lambda pairs, desc="": (seen.extend(pairs), score(pairs))[1]
    assert math.isfinite(lm.loglikelihood_rolling([(long_text,)])[0])
    assert len(long_ids) > 2 * SEQ and [t for _, cont in seen for t in cont] == long_ids
    assert all(len(c) + len(t) <= SEQ for c, t in seen) and seen[0][0] == [0]

    (free,) = lm.generate_until([("The cat", {"until": [], "max_gen_toks": 6})])
    assert isinstance(free, str)
    if len(free) >= 3:
        stop = free[1:3]
        (cut,) = lm.generate_until([("The cat", {"until": [stop], "max_gen_toks": 6})])
        assert cut == free[: free.find(stop)]


def test_heldout_bpb_matches_a_hand_computation(tiny):
    _, tok_file, model, tok = tiny
    texts = _corpus(8, seed=1)
    result = heldout_bpb(model, tok_file, texts, seq_len=12, max_tokens=30)
    assert result["tokens"] == 30  # 12 + 12 + 6: the budget is exact
    nats, n_bytes, left = 0.0, 0, 30
    for text in texts[:3]:
        enc = tok.encode(text, add_special_tokens=False)
        keep = min(12, left)
        left -= keep
        ids = enc.ids[:keep]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[0] + ids[:-1]])).logits[0]
        nats += float(F.cross_entropy(logits, torch.tensor(ids), reduction="sum"))
        n_bytes += len(text[: enc.offsets[keep - 1][1]].encode("utf-8"))
    assert result["bytes"] == n_bytes
    assert result["bits_per_byte"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)


def test_unigram_scores_the_same_tokens(tiny, tmp_path):
    _, tok_file, _, tok = tiny
    train = np.array([i for t in _corpus(50, seed=2) for i in tok.encode(t).ids + [0]], dtype=np.uint16)
    np.save(tmp_path / "train.npy", train)
    texts = _corpus(8, seed=1)
    uni = unigram_bpb(tmp_path / "train.npy", tok.get_vocab_size(), tok_file, texts, 12, 30)
    sel = select_heldout(tok, texts, 12, 30)
    assert (uni["tokens"], uni["bytes"]) == (sel.n_tokens, sel.n_bytes) == (30, uni["bytes"])
    counts = np.bincount(train, minlength=tok.get_vocab_size())
    p = (counts + 1) / (counts.sum() + tok.get_vocab_size())
    bits = -sum(math.log2(p[t]) for d in sel.docs for t in d)
    assert uni["bits_per_byte"] == pytest.approx(bits / sel.n_bytes, rel=1e-9)


def test_debug_suite_end_to_end_is_deterministic(tiny, tmp_path):
    from winnow.eval.runner import evaluate, load_suite

    model_dir, tok_file, _, tok = tiny
    suite = load_suite("debug")
    train = np.array([i for t in _corpus(50, seed=2) for i in tok.encode(t).ids + [0]], dtype=np.uint16)
    np.save(tmp_path / "train.npy", train)
    kwargs = dict(model_dir=model_dir, tokenizer_file=tok_file, suite=suite, seq_len=SEQ,
                  heldout_texts=_corpus(40, seed=3), train_tokens=tmp_path / "train.npy", progress=False)
    first = evaluate(out_dir=tmp_path / "a", **kwargs)
    evaluate(out_dir=tmp_path / "b", **kwargs)
    a, b = (tmp_path / "a" / "results.json").read_bytes(), (tmp_path / "b" / "results.json").read_bytes()
    assert a == b
    for entry in suite["tasks"]:
        name = entry["task"]
        sa = (tmp_path / "a" / "samples" / f"{name}.jsonl").read_bytes()
        assert sa == (tmp_path / "b" / "samples" / f"{name}.jsonl").read_bytes()
        lines = [json.loads(x) for x in sa.decode().splitlines()]
        assert len(lines) == entry["limit"] and all("options" in x and "acc" in x for x in lines)
        if name != "dclm_lambada_openai":
            assert all(x["pred"] in range(len(x["options"])) and "gold" in x for x in lines)

    results = json.loads(a)
    assert set(results) == {"schema", "suite", "tasks", "missing", "aggregates", "aggregates_stderr", "aggregates_missing",
                            "heldout", "contamination"}
    contam = results["contamination"]  # the training tokens were given: measured on the scored items
    assert contam["rule"] == "ngram13_tokens_v1" and contam["ngram"] == 13 and contam["train_tokens"] == train.size
    assert set(contam["counts"]) == set(contam["tasks"]) == set(results["tasks"])
    assert all(c["n"] == 20 for c in contam["counts"].values())
    detail = json.loads((tmp_path / "a" / "contamination.json").read_text())
    assert set(detail["doc_ids"]) == set(results["tasks"]) and detail["counts"] == contam["counts"]
    assert results["missing"] == {}
    assert results["suite"]["name"] == "debug" and "stats" not in results
    kinds = {v["kind"] for v in results["tasks"].values()}
    assert kinds == {"multiple_choice", "schema", "language_modeling"}
    for values in results["tasks"].values():
        assert values["n"] == 20
        assert {"acc", "acc_stderr", "prob", "prob_stderr", "bpb", "lm_eval"} <= set(values)
    from winnow.eval.scoring import aggregate

    assert results["aggregates"] == aggregate(results["tasks"])
    held = results["heldout"]
    assert held["model"]["tokens"] == held["unigram"]["tokens"] > 0
    assert held["model"]["bytes"] == held["unigram"]["bytes"] > 0
    assert held["unigram"]["bits_per_byte"] > 0 and held["model"]["bits_per_byte"] > 0
    assert set(first["stats"]["seconds"]) >= {"load", "total", "heldout", "contamination", *results["tasks"]}


def test_one_call_for_the_suite_equals_one_call_per_task(tiny):
    """run_tasks cuts each task to its rows and runs all tasks in one simple_evaluate call: every
    logged request, response and doc_id (a row number of the file) equals what a separate call
    with lm-eval's own `samples=` selection gives, bit for bit."""
    import lm_eval

    from winnow.eval.runner import load_suite, run_tasks, subsample, task_manager
    from winnow.paths import DataRootError, data_root

    try:
        data_root()
    except DataRootError:
        pytest.skip("no data root: the DCLM task files are needed")
    _, _, model, tok = tiny
    tm = task_manager()
    entries = [dict(e, num_fewshot=1) for e in load_suite("debug")["tasks"]]  # demos from the whole file
    lm = WinnowLM(model, tok, max_length=SEQ, progress=False)
    runs, missing = run_tasks(lm, tm, entries, seed=7)
    assert missing == {} and list(runs) == [e["task"] for e in entries]
    for e in entries:
        name = e["task"]
        task = tm.load([name])["tasks"][name]
        task.set_config(key="num_fewshot", value=1)
        rows = subsample(len(task.eval_docs), e["limit"], 7, name)
        assert runs[name]["rows"] == rows and len(rows) < len(task.eval_docs)
        alone = lm_eval.simple_evaluate(
            model=WinnowLM(model, tok, max_length=SEQ, progress=False), tasks=[task], samples={name: rows},
            task_manager=tm, log_samples=True, bootstrap_iters=0, random_seed=7, numpy_random_seed=7,
            torch_random_seed=7, fewshot_random_seed=7,
        )["samples"][name]
        got = sorted(runs[name]["samples"], key=lambda s: s["doc_id"])
        want = sorted(alone, key=lambda s: s["doc_id"])
        assert [s["doc_id"] for s in got] == [s["doc_id"] for s in want] == rows
        assert [s["arguments"] for s in got] == [s["arguments"] for s in want]
        assert [s["resps"] for s in got] == [s["resps"] for s in want]


def test_requests_are_scored_task_by_task():
    """One simple_evaluate call hands WinnowLM every task's requests at once; they are batched per
    task (so a task's numbers never depend on its neighbours) and answered in request order."""
    from types import SimpleNamespace

    calls = []

    def fn(reqs):
        calls.append([r.task_name for r in reqs])
        return [r.args[0] * 10 for r in reqs]

    reqs = [SimpleNamespace(task_name=t, args=(i,)) for i, t in enumerate("abbab")]
    assert WinnowLM._per_task(fn, reqs) == [0, 10, 20, 30, 40]
    assert calls == [["a", "a"], ["b", "b", "b"]]
