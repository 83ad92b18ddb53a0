"""DCLM generation tasks: llm-foundry's answer rules on hand-written outputs, its generation budget
on a made-up dataset with winnow's bpe1k tokenizer, and WinnowLM.generate_until on stub models
whose greedy choice is known (plus a random GPT-2 against HF `generate`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from winnow.eval.generation import (
    ANSWER_BUFFER_TOKENS,
    answer_set,
    clean_up_tokenization_spaces,
    early_stop,
    extract_answer,
    max_new_tokens,
    normalize_answer,
    score_generation,
)
from winnow.tokenize import bpe

COT = " #### "
STOPS = ["\n\n", "Q:", "Q: "]  # DCLM's early_stopping_criteria for the four cot tasks


@pytest.fixture(scope="module")
def tok():
    return bpe.load("bpe1k-v1")


# ------------------------------------------------------------------------ answer rules


@pytest.mark.parametrize(
    "raw, want",
    [
        ("The Beatles!", "beatles"),
        ("  An apple a  day ", "apple day"),
        ("snake_case_name", "snake case name"),
        ("Farmer’s market", "farmer s market"),  # curly quote is punctuation too
        ("`quoted´", "quoted"),
        ("theatre, anthem", "theatre anthem"),  # articles only as whole words
        ("$-1+12 i$", "1 12 i"),
        ("(a", ""),
    ],
)
def test_normalize_answer(raw, want):
    assert normalize_answer(raw) == want


def test_early_stop_is_llm_foundrys_regex_split():
    assert early_stop("x = 3 #### 3\n\nQ: next", STOPS) == "x = 3 #### 3"
    assert early_stop("abcQ:def\n\nghi", STOPS) == "abc"  # the earliest match of any stop
    assert early_stop("no stop here", STOPS) == "no stop here"
    assert early_stop("keep\n\nall", None) == "keep\n\nall" and early_stop("a\n\nb", []) == "a\n\nb"
    assert early_stop("a.b", ["."]) == ""  # unescaped: "." matches any character, as in llm-foundry


def test_extract_answer_takes_the_text_after_the_last_delimiter():
    assert extract_answer("2 + 3 = 5 #### 5", COT) == "5"
    assert extract_answer("first #### 4 #### 18", COT) == "18"
    assert extract_answer("no delimiter, 18", COT) == "no delimiter, 18"
    assert extract_answer("a #### b", "") == "a #### b"


def test_score_cot_outputs():
    ans = answer_set({"answer": "18", "chain_of_thought": "16 - 3 - 4 = 9; 9 * 2 = 18"})
    # the model's chain of thought, the delimiter, the answer, then the next question
    out = "16 - 3 - 4 = 9 eggs.\n9 * 2 = $18 #### 18\n\nQ: Another question?"
    assert score_generation(out, ans, COT, STOPS)
    assert score_generation(" #### $18.", ans, COT, STOPS)  # "$18." normalises to "18"
    # without the delimiter the whole text is the answer, and it does not start with 18
    assert not score_generation("She makes 9 * 2 = 18 dollars", ans, COT, STOPS)
    assert score_generation("18 dollars a day", ans, COT, STOPS)
    # a stop string before the delimiter cuts the answer away
    assert not score_generation("9 * 2 = 18\n\n#### 18", ans, COT, STOPS)
    assert not score_generation("9 * 2 = 18 Q: #### 18", ans, COT, STOPS)
    # the last delimiter wins
    assert score_generation("guess #### 7 #### 18", ans, COT, STOPS)
    assert not score_generation("guess #### 18 #### 7", ans, COT, STOPS)


def test_score_startswith_and_aliases():
    doc = {"answer": "Onion", "aliases": ["Bulb onion", "Allium cepa", "Onion"]}
    assert answer_set(doc) == {"Onion", "Bulb onion", "Allium cepa"}
    assert score_generation(" The onion.\nQuestion: what", answer_set(doc))  # no stops: startswith
    assert score_generation(" Onions", answer_set(doc))  # character prefix, not a whole word
    assert score_generation("allium cepa, the bulb", answer_set(doc))
    assert not score_generation(" A red onion", answer_set(doc))
    assert score_generation("100", ["10"]) and not score_generation("1", ["10"])
    # a label normalising to "" makes every output correct (triviaqa row 2102 in DCLM's data)
    assert score_generation("anything at all", ["(a"])


def test_score_without_normalization_only_strips():
    assert score_generation("  Onion rings ", ["Onion "], do_normalization=False)
    assert not score_generation("onion", ["Onion"], do_normalization=False)
    assert not score_generation("The Onion", ["Onion"], do_normalization=False)
    with pytest.raises(ValueError, match="at least one answer"):
        score_generation("x", [])


def test_clean_up_tokenization_spaces():
    assert clean_up_tokenization_spaces("do n't stop , ok ? it 's 5 .") == "don't stop, ok? it's 5."


# ---------------------------------------------------------------------- generation budget


def test_max_new_tokens_with_cot(tok):
    def enc(s):
        return tok.encode(s).ids  # add_special_tokens=True, as llm-foundry's tokenizer(response)

    docs = [
        {"context": "Q1", "chain_of_thought": "3 + 4 = 7", "answer": "7"},
        {"context": "Q2", "chain_of_thought": "It takes 2/2 = 1 bolt of white fiber, so 2 + 1 = 3", "answer": "3"},
        {"context": "Q3", "chain_of_thought": "x", "answer": "   15.8113"},  # raw, unstripped (aqua)
    ]
    lens = [len(enc(f"{d['chain_of_thought']}{COT}{d['answer']}")) for d in docs]
    assert lens[1] == max(lens) and lens[1] > 10
    assert max_new_tokens(docs, enc, COT) == lens[1] + ANSWER_BUFFER_TOKENS == lens[1] + 10
    # the leading spaces of a raw answer count
    assert len(enc("x #### " + "   15.8113")) > len(enc("x #### 15.8113"))
    # a chain of thought without a delimiter: no buffer (llm-foundry keys it on the delimiter)
    assert max_new_tokens(docs, enc, "") == max(len(enc(d["chain_of_thought"] + d["answer"])) for d in docs)
    # whatever the encode adds counts (a BOS-adding tokenizer gets one more)
    assert max_new_tokens(docs, lambda s: [1] + enc(s), COT) == lens[1] + 11
    with pytest.raises(ValueError, match="chain_of_thought"):
        max_new_tokens(docs + [{"answer": "1"}], enc, COT)


def test_max_new_tokens_over_aliases_without_cot(tok):
    def enc(s):
        return tok.encode(s).ids

    docs = [
        {"context": "Q: a?", "answer": "Onion", "aliases": ["Allium cepa var. aggregatum shallots"]},
        {"context": "Q: b?", "answer": "Horse"},
    ]
    want = len(enc("Allium cepa var. aggregatum shallots"))
    assert want > len(enc("Onion"))
    assert max_new_tokens(docs, enc) == want  # longest alias, no +10 without a delimiter
    assert max_new_tokens([{"answer": ""}], enc) == 1  # generate gets at least one token
    with pytest.raises(KeyError, match="answer"):
        max_new_tokens([{"context": "x"}], enc)
    with pytest.raises(ValueError, match="at least one row"):
        max_new_tokens([], enc)


# ---------------------------------------------------------------------- generate_until


class PrefixTableLM(torch.nn.Module):
    """A causal stub: the next token after a prefix is table[prefix] (EOS when absent).

    Logits are one-hot at every position and depend on the prefix only, as a causal model's must,
    so the padding after a row never changes its predictions. `calls` records every input."""

    def __init__(self, table: dict[tuple[int, ...], int], vocab: int, eos: int, default: int | None = None):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # WinnowLM reads the device from it
        self.table, self.vocab, self.eos = table, vocab, eos
        self.default = eos if default is None else default
        self.calls: list[torch.Tensor] = []

    def forward(self, input_ids, use_cache=None):
        self.calls.append(input_ids.clone())
        b, t = input_ids.shape
        logits = torch.zeros(b, t, self.vocab)
        for r in range(b):
            ids = input_ids[r].tolist()
            for p in range(t):
                logits[r, p, self.table.get(tuple(ids[: p + 1]), self.default)] = 1.0
        return SimpleNamespace(logits=logits)


def _scripted(tok, scripts: dict[str, str]):
    """A PrefixTableLM that continues each prompt with its scripted text, then EOS."""
    eos = tok.token_to_id("<|endoftext|>")
    table = {}
    for prompt, text in scripts.items():
        p, c = tok.encode(prompt).ids, tok.encode(text).ids
        for k in range(len(c)):
            table[tuple(p + c[:k])] = c[k]
    return PrefixTableLM(table, tok.get_vocab_size(), eos)


def _lm(model, max_length=128, **kw):
    from winnow.eval.lm import WinnowLM

    return WinnowLM(model, bpe.tokenizer_file("bpe1k-v1"), max_length=max_length, progress=False, **kw)


def test_generate_until_cuts_at_the_first_stop_and_stops_decoding(tok):
    prompt = "Q: Janet has 16 eggs and eats 3.\nA: Let's think step by step."
    script = " 16 - 3 = 13 #### 13\n\nQ: A new question about ducks"
    model = _scripted(tok, {prompt: script})
    lm = _lm(model)
    (out,) = lm.generate_until([(prompt, {"until": STOPS, "max_gen_toks": 40})])
    assert out == " 16 - 3 = 13 #### 13"
    assert score_generation(out, ["13"], COT, STOPS)
    # decoding stopped at the first token whose text completes a stop string
    c = tok.encode(script).ids
    first = next(k for k in range(1, len(c) + 1) if "\n\n" in tok.decode(c[:k]))
    assert len(model.calls) == first < len(c)
    # "Q:" alone also stops it; without stops the whole script comes back, ended by EOS
    (q,) = lm.generate_until([(prompt, {"until": ["Q:"], "max_gen_toks": 40})])
    assert q == " 16 - 3 = 13 #### 13\n\n"
    (free,) = lm.generate_until([(prompt, {"until": [], "max_gen_toks": 40})])
    assert free == script


def test_generate_until_eos_and_max_tokens(tok):
    prompt = "Question: What type of animal is a dik-dik?\nAnswer:"
    model = _scripted(tok, {prompt: " Antelope"})
    lm = _lm(model)
    n = len(tok.encode(" Antelope").ids)
    (out,) = lm.generate_until([(prompt, {"until": [], "max_gen_toks": 30})])
    assert out == " Antelope" and len(model.calls) == n + 1  # the last step produced EOS
    long_model = _scripted(tok, {prompt: " Antelope of Africa"})
    lm = _lm(long_model)
    (two,) = lm.generate_until([(prompt, {"until": ["\n\n"], "max_gen_toks": 2})])
    ids = tok.encode(" Antelope of Africa").ids
    assert two == tok.decode(ids[:2]) and len(long_model.calls) == 2
    (none,) = lm.generate_until([(prompt, {"until": [], "max_gen_toks": 0})])
    assert none == ""


def test_generate_until_batches_mixed_lengths_and_deduplicates(tok):
    scripts = {
        "Q: short?\nA:": " yes.\n\nQ: more",
        "Q: a much longer question about the farmers' market and eggs?\nA:": " 18 dollars\n\nQ:",
        "Q: mid length question here?\nA:": " no\n\n",
    }
    model = _scripted(tok, scripts)
    lm = _lm(model, max_length=128, batch_size=8)
    prompts = list(scripts)
    reqs = [(p, {"until": ["\n\n"], "max_gen_toks": 20}) for p in prompts + prompts[:1]]
    outs = lm.generate_until(reqs)
    assert outs == [" yes.", " 18 dollars", " no", " yes."]
    assert model.calls[0].shape[0] == 3  # one batch of the three distinct prompts, right-padded
    # the same answers one at a time
    single = [lm.generate_until([r])[0] for r in reqs[:3]]
    assert single == outs[:3]


def test_generate_until_left_truncates_the_context(tok):
    prompt = " ".join(f"word{i}" for i in range(60))
    ids = tok.encode(prompt).ids
    assert len(ids) > 40
    model = PrefixTableLM({}, tok.get_vocab_size(), eos=tok.token_to_id("<|endoftext|>"))
    lm = _lm(model, max_length=32)
    (out,) = lm.generate_until([(prompt, {"until": [], "max_gen_toks": 10})])
    assert out == ""  # the stub says EOS at once
    assert model.calls[0][0].tolist() == ids[-(32 - 10) :]  # room for max_gen_toks kept


def test_generate_until_slides_the_window_when_the_budget_exceeds_it(tok):
    prompt = " ".join(f"word{i}" for i in range(30))
    ids = tok.encode(prompt).ids
    x = tok.encode(" x").ids[0]
    model = PrefixTableLM({}, tok.get_vocab_size(), eos=tok.token_to_id("<|endoftext|>"), default=x)
    (out,) = _lm(model, max_length=16).generate_until([(prompt, {"until": [], "max_gen_toks": 20})])
    assert out == tok.decode([x] * 20)
    assert len(model.calls) == 20 and all(c.shape[1] == 16 for c in model.calls)
    assert model.calls[0][0].tolist() == ids[-16:]
    assert model.calls[-1][0].tolist() == (ids + [x] * 19)[-16:]


def test_generate_until_cleans_up_like_hf_decode(tok):
    prompt = "Q: why?\nA:"
    model = _scripted(tok, {prompt: " It is 5 . I do n't know"})
    (out,) = _lm(model).generate_until([(prompt, {"until": [], "max_gen_toks": 30})])
    assert out == " It is 5. I don't know"


def test_generate_until_refuses_sampling(tok):
    lm = _lm(PrefixTableLM({}, tok.get_vocab_size(), eos=0))
    with pytest.raises(ValueError, match="greedily"):
        lm.generate_until([("x", {"do_sample": True})])
    with pytest.raises(ValueError, match="greedily"):
        lm.generate_until([("x", {"temperature": 0.7})])
    with pytest.raises(TypeError, match="until"):
        lm.generate_until([("x", {"until": [3]})])


def test_generate_until_matches_hf_greedy_generate(tok):
    """A random GPT-2: batched right-padded decoding equals HF generate(do_sample=False) per prompt."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    eos = tok.token_to_id("<|endoftext|>")
    cfg = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(), n_layer=2, n_embd=32, n_head=2, n_positions=96,
        bos_token_id=eos, eos_token_id=eos, initializer_range=0.5, tie_word_embeddings=False,
    )  # a wide init and untied head: varied text, not one token repeated
    model = transformers.GPT2LMHeadModel(cfg).eval()
    prompts = ["Q: What is 2 + 2?\nA:", "The river ran quickly over the stone and", "Answer:"]
    lm = _lm(model, max_length=96)
    got = lm.generate_until([(p, {"until": [], "max_gen_toks": 12}) for p in prompts])
    assert len(set(got)) == 3 and all(len(set(g)) > 5 for g in got)
    for p, g in zip(prompts, got):
        ids = torch.tensor([tok.encode(p).ids])
        with torch.no_grad():
            seq = model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                eos_token_id=eos, pad_token_id=eos,
            )
        new = [t for t in seq[0, ids.shape[1]:].tolist() if t != eos]
        assert g == clean_up_tokenization_spaces(tok.decode(new))
