"""Scoring rules of DCLM's generation tasks, as llm-foundry 0.9.0 applies them (no model here).

DCLM's five generation tasks (triviaqa_sm_sub, gsm8k_cot, agi_eval_sat_math_cot, aqua_cot,
svamp_cot; `icl_task_type: generation_task_with_answers`) are scored by llm-foundry's
`InContextLearningGenerationExactMatchAccuracy.update` (llmfoundry/eval/metrics/nlp.py) on the
text that composer's `HuggingFaceModel.eval_forward` decodes from `model.generate`. The functions
below restate those rules; eval/README.md ("Generation tasks") has the full account.

- `normalize_answer`: the TriviaQA normalisation, in llm-foundry's order: `_` -> space, lower
  case, every `string.punctuation` character and ‘ ’ ´ ` -> a space, the words a/an/the
  (regex `\\b(a|an|the)\\b`) -> a space, whitespace runs collapsed, stripped.
- `early_stop`: `re.split('|'.join(stop_sequences), text)[0]`. The stop strings are joined into
  a regular expression *unescaped*, exactly as llm-foundry does: harmless for DCLM's
  `["\\n\\n", "Q:", "Q: "]`, but a stop string with regex metacharacters would not match
  literally. No stop strings (triviaqa) -> no cut.
- `extract_answer`: after the cut, `text.split(cot_delimiter)[-1]`: the text after the *last*
  delimiter, or the whole text when the delimiter never appears (so a chain of thought without
  " #### " is scored as the answer). Empty delimiter -> no split.
- `score_generation`: normalise the extracted answer and every label (the answer plus its
  aliases, as a set); correct when the normalised output `startswith` any normalised label. It
  is a prefix test on characters, not words: outputs "onions are tasty" and "onion" match label
  "onion", output "100" matches label "10", output "1" does not match label "10". A label that
  normalises to "" (triviaqa row 2102 "(a", agi_eval_sat_math row 130 "$a$") therefore makes
  its item correct whatever the output: llm-foundry's behaviour, kept. With
  `do_normalization=False` output and labels are only stripped.
- `max_new_tokens`: llm-foundry's `_get_max_answer_length` over the *whole* dataset file (not a
  subsample): for each row and each of answer + aliases, the token count of
  `chain_of_thought + cot_delimiter + answer` when the file has a `chain_of_thought` column, else
  of the answer alone; the maximum, plus 10 (`_MAX_ANSWER_BUFFER_LENGTH`) when `cot_delimiter`
  is non-empty; `generate` then gets `max(that, 1)`. llm-foundry measures the rows *before*
  `strip_data` (aqua has three answers with a leading space) and tokenises with the HF
  tokenizer's default `add_special_tokens=True` (no extra tokens for GPT-NeoX or winnow's
  byte-level BPEs, which have no post-processor; +1 for a BOS-adding Llama tokenizer): pass raw
  rows and an `encode` that adds the tokenizer's special tokens. The same number sets the
  context budget: llm-foundry left-trims every prompt to `max_seq_len - max_answer_length`
  tokens (WinnowLM.generate_until does the same with `max_gen_toks`).
- `clean_up_tokenization_spaces`: the clean-up HF tokenizers applied on decode by default in
  transformers 4.40 (the version llm-foundry 0.9.0 pins; " ." -> "." ... " n't" -> "n't").
  WinnowLM applies it to generated text, as composer's `batch_decode` did.
"""

from __future__ import annotations

import re
import string
from typing import Callable, Iterable, Mapping, Sequence

ANSWER_BUFFER_TOKENS = 10  # llm-foundry's _MAX_ANSWER_BUFFER_LENGTH, added when a cot delimiter is set
_PUNCTUATION = frozenset(string.punctuation + "‘’´`")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# normalize_answer, early_stop, extract_answer and score_generation are copied into eval/tasks/utils.py
# (plain lm-eval without winnow); tests/eval/test_tasks.py checks the copies are the same source.


def normalize_answer(s: str) -> str:
    """llm-foundry's normalisation of outputs and labels (the TriviaQA evaluation script's)."""
    s = s.replace("_", " ").lower()
    s = "".join(" " if ch in _PUNCTUATION else ch for ch in s)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split()).strip()


def early_stop(text: str, stop_sequences: Sequence[str] | None) -> str:
    """The text before the first stop-string match (llm-foundry: an unescaped regex alternation)."""
    if not stop_sequences:
        return text
    return re.split("|".join(stop_sequences), text)[0]


def extract_answer(text: str, cot_delimiter: str | None) -> str:
    """The text after the last `cot_delimiter` (all of it when absent or the delimiter is empty)."""
    if not cot_delimiter:
        return text
    return text.split(cot_delimiter)[-1]


def answer_set(doc: Mapping) -> set[str]:
    """The labels of a row: `answer` plus `aliases` (llm-foundry's `set([answer] + aliases)`)."""
    if "answer" not in doc:
        raise KeyError(f"generation row has no 'answer' field (fields: {sorted(doc)})")
    return {doc["answer"], *doc.get("aliases", [])}


def score_generation(
    output: str,
    answers: Iterable[str],
    cot_delimiter: str = "",
    stop_sequences: Sequence[str] | None = None,
    do_normalization: bool = True,
) -> bool:
    """Whether llm-foundry counts `output` (the decoded continuation) as correct."""
    labels = list(answers)
    if not labels:
        raise ValueError("score_generation needs at least one answer")
    final = extract_answer(early_stop(output, stop_sequences), cot_delimiter)
    if do_normalization:
        final = normalize_answer(final)
        cleaned = {normalize_answer(a) for a in labels}
    else:
        final = final.strip()
        cleaned = {a.strip() for a in labels}
    return any(final.startswith(label) for label in cleaned)


def max_new_tokens(
    docs: Iterable[Mapping], encode: Callable[[str], Sequence[int]], cot_delimiter: str = ""
) -> int:
    """llm-foundry's generation budget for a dataset: longest tokenised answer (+10 with a cot
    delimiter), at least 1. `docs` are the raw rows of the whole file; `encode` should add the
    tokenizer's special tokens, as llm-foundry's `tokenizer(response)` does."""
    rows = list(docs)
    if not rows:
        raise ValueError("max_new_tokens needs at least one row")
    with_cot = sum("chain_of_thought" in r for r in rows)
    if 0 < with_cot < len(rows):
        raise ValueError(
            f"{with_cot} of {len(rows)} rows have a chain_of_thought: llm-foundry would format the "
            "others' as 'None'; fix the data file"
        )
    has_cot = with_cot > 0
    longest = 0
    for r in rows:
        if "answer" not in r:
            raise KeyError(f"generation row has no 'answer' field (fields: {sorted(r)})")
        for answer in [r["answer"], *r.get("aliases", [])]:
            response = f"{r['chain_of_thought']}{cot_delimiter}{answer}" if has_cot else answer
            longest = max(longest, len(encode(response)))
    longest += ANSWER_BUFFER_TOKENS if cot_delimiter else 0
    return max(longest, 1)


def clean_up_tokenization_spaces(text: str) -> str:
    """HF's `clean_up_tokenization` (on by default when decoding in transformers 4.40)."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )
