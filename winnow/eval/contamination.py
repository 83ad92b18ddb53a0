"""Contamination: how many of the evaluated items the trained tokens hold (rule ``ngram13_tokens_v1``).

The CPU tracks rank by the likelihood of evaluation text, so training on that text is a ranking
attack. The eval stage therefore measures, on every run, the overlap of the tokens actually
trained (``<run>/tokenized/tokens.npy``: pool and external documents alike, after every curation
step) with exactly the items its suite evaluates (each task's seeded subsample).

**Items** are taken as the eval stage scored them: the strings of the gold request lm-eval
logged (``winnow.eval.foundry``'s prompts). Multiple choice: the test context and the gold
choice; schema: the gold context option and the shared continuation; language modelling: the
context and the continuation; generation: the test context and the gold answer as a
demonstration shows it (chain of thought, delimiter, answer). A few-shot block is left out: its
demos are other rows of the file. Context and gold are tokenised apart with the scale's own
tokenizer and no special tokens, as ``WinnowLM`` scores them; the whole context counts, also
where the model's window truncates it.

**Rule.** n = 13 tokens (the n-gram length of GPT-3's and DCLM's decontamination, here on token
ids of the scale's tokenizer rather than on words). With c context and g gold tokens:

* *gold overlap*: a 13-token window of context + gold that holds gold text occurs in the
  training tokens. When g >= 13, the windows wholly inside the gold; when g < 13, every window
  holding at least one gold token (a one-word answer is measured with the 12 tokens before it);
* *context overlap*: a window wholly inside the context occurs;
* *too short*: c + g < 13 (no window at all); counted, and left out of both denominators.

A task's ``gold`` / ``context`` share is its items with overlap over its items that are not too
short; ``gold_share`` / ``context_share`` pool the items of every task; ``max_task_gold`` is the
largest task share. A run is **flagged** when ``max_task_gold`` exceeds ``THRESHOLD``: planting
one task's items is enough to move that task's gold likelihood, so the flag looks per task.
Context overlap is reported, never flagged: the pool holds encyclopedic and book text, and the
reading-comprehension passages (squad, coqa, boolq) are such text.

**Threshold**, from measurement (bpe8k-v1, the CPU tracks' tokenizer; the ``cpu`` suite's 4,132
items; eval/README.md has the table). Gold overlap, in items: quickstart baselines/random and
baselines/c4 (3.15M trained tokens each): 0 on every task; the whole embedded pool, every
document once (93.4M tokens, a bound for the filtering and order tracks, whose documents all
come from it): 1 of 200 on jeopardy and on squad (answers that are long entity names found in
encyclopedic text), 0 on the other 20 tasks. Context overlap of the whole pool: coqa 5.0%,
boolq 4.0%, squad and bigbench_language_identification 2.5%, 0 elsewhere. The debug items
planted as external documents: 100% gold on every task. ``THRESHOLD = 0.05`` is ten times the
pool's bound on any task, one item in twenty of a task.

**Training tokens.** The rows of tokens.npy are consecutive, non-overlapping slices of one token
stream (``winnow.tokenize.pack`` cuts the stream every seq_len + 1 tokens and repeats no token
across rows), so the array is read flattened, as that stream, and windows across a row boundary
count. The model sees the two halves of such a window in different rows, but the data holds the
text, and a planted item cut by a row boundary must still be found. The only joins that are not
text are the starts of the order track's stages (each starts a fresh stream), where a false
match would need 13 tokens spanning two unrelated documents to reproduce an eval window.

**Implementation**, hand-written NumPy: no well-kept library tests a fixed set of token-id
n-grams against a token array (infini-gram builds a suffix-array index for counting arbitrary
n-grams in trillion-token corpora; datatrove's decontamination works on document text before
tokenisation). The item windows' 64-bit hashes (``winnow.ngrams.ngram_hashes``) form a sorted
table of a few hundred thousand keys; the training stream is hashed in chunks of ``CHUNK``
tokens (n - 1 tokens of overlap between chunks, so no window is lost), a 2^24-bit prefilter on
the hashes' top bits discards most windows with one gather, ``searchsorted`` resolves the rest,
and every hash hit is confirmed by comparing the 13 token ids, so a hash collision can never
count as overlap. (Two distinct item windows with one hash would share one representative and
the second could be missed: with ~4e5 item windows the chance is ~1e-8 a run.) Linear in the
training tokens, memory bounded by the chunk: 1.8 s for tiny-1x's 9.5M tokens (0.6 s of it the
items' windows), 10 s for the whole pool's 93M, on the loaded 2-core development machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from winnow.eval.foundry import prefix_space, split_preamble
from winnow.io import write_json
from winnow.ngrams import ngram_hashes, row_hashes

RULE = "ngram13_tokens_v1"
NGRAM = 13
THRESHOLD = 0.05     # flagged when some task's gold share exceeds it (see the module docstring)
FILE = "contamination.json"
CHUNK = 1 << 22      # training tokens hashed at a time
_PREFILTER_BITS = 24
_CONFIRM = 1 << 16   # hash hits compared token by token at a time

CHOICE_KINDS = ("multiple_choice", "schema")


@dataclass(frozen=True)
class Item:
    """One evaluated item: its row number and the token ids of its context and gold."""

    doc_id: int
    context: np.ndarray
    gold: np.ndarray


# ----------------------------------------------------------------------------------- items


def gold_request(sample: Mapping[str, Any], kind: str) -> tuple[str, str]:
    """(test context, gold text) of one lm-eval logged sample, as the model was scored on it."""
    args = sample["arguments"]
    doc = sample["doc"]
    if kind in CHOICE_KINDS:
        context, gold = args[int(doc["gold"])]
    elif kind == "generation":
        context, gold = args[0][0], prefix_space(doc["_demo_answer"])
    else:
        context, gold = args[0]
    return split_preamble(context)[-1], gold


def task_items(samples: Sequence[Mapping[str, Any]], kind: str,
               encode_batch: Callable[[list[str]], list[list[int]]]) -> list[Item]:
    """The items of one task from its logged samples (doc order); ``encode_batch`` tokenises a
    list of strings without special tokens (the scale's tokenizer)."""
    pairs = [(int(s["doc_id"]), *gold_request(s, kind)) for s in sorted(samples, key=lambda s: s["doc_id"])]
    ids = encode_batch([t for _, c, g in pairs for t in (c, g)])
    return [Item(doc_id, np.asarray(ids[2 * k], dtype=np.int64), np.asarray(ids[2 * k + 1], dtype=np.int64))
            for k, (doc_id, _, _) in enumerate(pairs)]


def tokenizer_batch(tokenizer) -> Callable[[list[str]], list[list[int]]]:
    """``encode_batch`` for a ``tokenizers.Tokenizer``: ids without special tokens."""
    return lambda texts: [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def item_windows(item: Item, n: int = NGRAM) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(window token ids (w, n), gold mask, context mask) of an item; None when it is too short.

    Window j covers tokens j .. j+n-1 of context + gold. Gold windows: j >= c when the gold has n
    tokens or more, else every window holding a gold token (j >= c - n + 1). Context windows:
    wholly inside the context (j <= c - n)."""
    c, g = len(item.context), len(item.gold)
    if c + g < n:
        return None
    seq = np.concatenate([item.context, item.gold]).astype(np.int64)
    wins = np.lib.stride_tricks.sliding_window_view(seq, n)
    j = np.arange(len(wins))
    gold = j >= (c if g >= n else c - n + 1)
    return wins, gold, j <= c - n


# ------------------------------------------------------------------------------- scanning


def _flat_tokens(tokens: Path | np.ndarray) -> np.ndarray:
    """The training token stream: tokens.npy (memory-mapped) or an array, flattened."""
    arr = np.load(tokens, mmap_mode="r") if isinstance(tokens, (str, Path)) else np.asarray(tokens)
    return arr.reshape(-1)


def found_windows(stream: np.ndarray, windows: np.ndarray, n: int = NGRAM,
                  chunk: int = CHUNK) -> np.ndarray:
    """For each row of ``windows`` (w, n), whether those n token ids occur contiguously in
    ``stream`` (1-D). Hash table + prefilter + exact confirmation; see the module docstring."""
    if len(windows) == 0:
        return np.zeros(0, dtype=bool)
    if windows.shape[1] != n:
        raise ValueError(f"windows of {windows.shape[1]} tokens, expected {n}")
    keys, first, inverse = np.unique(row_hashes(windows), return_index=True, return_inverse=True)
    reps = windows[first]
    shift = np.uint64(64 - _PREFILTER_BITS)
    bitmap = np.zeros(1 << _PREFILTER_BITS, dtype=bool)
    bitmap[(keys >> shift).astype(np.int64)] = True
    found = np.zeros(len(keys), dtype=bool)
    offsets = np.arange(n)
    for start in range(0, max(len(stream) - n + 1, 0), chunk):
        piece = np.asarray(stream[start:start + chunk + n - 1])
        h = ngram_hashes(piece, n)
        cand = np.flatnonzero(bitmap[(h >> shift).astype(np.int64)])
        if not len(cand):
            continue
        hc = h[cand]
        pos = np.minimum(np.searchsorted(keys, hc), len(keys) - 1)
        hit = (keys[pos] == hc) & ~found[pos]
        at, kp = cand[hit], pos[hit]
        for s in range(0, len(at), _CONFIRM):  # every hash hit, token by token, in slices
            a, k = at[s:s + _CONFIRM], kp[s:s + _CONFIRM]
            same = (piece[a[:, None] + offsets] == reps[k]).all(axis=1)
            found[k[same]] = True
    return found[inverse]


def measure(items: Mapping[str, Sequence[Item]], tokens: Path | np.ndarray, *, n: int = NGRAM,
            chunk: int = CHUNK) -> dict:
    """Per task: {"n", "too_short", "gold_items", "context_items", "gold_doc_ids",
    "context_doc_ids"} (doc ids: the row numbers of the items with overlap)."""
    owners, gold_mask, ctx_mask, wins = [], [], [], []
    flat: list[tuple[str, Item]] = []
    too_short: dict[str, int] = {t: 0 for t in items}
    for task, its in items.items():
        for item in its:
            w = item_windows(item, n)
            if w is None:
                too_short[task] += 1
                continue
            keep = w[1] | w[2]  # windows that are neither (astride a long gold) are not looked up
            owners.append(np.full(int(keep.sum()), len(flat), dtype=np.int64))
            wins.append(w[0][keep])
            gold_mask.append(w[1][keep])
            ctx_mask.append(w[2][keep])
            flat.append((task, item))
    if wins:
        all_w = np.concatenate(wins)
        owner = np.concatenate(owners)
        hit = found_windows(_flat_tokens(tokens), all_w, n, chunk)
        gold_hit = np.bincount(owner[hit & np.concatenate(gold_mask)], minlength=len(flat)) > 0
        ctx_hit = np.bincount(owner[hit & np.concatenate(ctx_mask)], minlength=len(flat)) > 0
    else:
        gold_hit = ctx_hit = np.zeros(0, dtype=bool)
    out = {t: {"n": len(its), "too_short": too_short[t], "gold_items": 0, "context_items": 0,
               "gold_doc_ids": [], "context_doc_ids": []} for t, its in items.items()}
    for k, (task, item) in enumerate(flat):
        if gold_hit[k]:
            out[task]["gold_items"] += 1
            out[task]["gold_doc_ids"].append(item.doc_id)
        if ctx_hit[k]:
            out[task]["context_items"] += 1
            out[task]["context_doc_ids"].append(item.doc_id)
    return out


# ------------------------------------------------------------------------------- summaries


def _share(k: int, n: int) -> float | None:
    return k / n if n > 0 else None


def summary(counts: Mapping[str, Mapping[str, int]], threshold: float = THRESHOLD) -> dict:
    """The shares and the flag from per-task counts ({"n", "too_short", "gold_items",
    "context_items"}); pure, so a row recomputes it from results.json."""
    tasks = {}
    gold = ctx = measured = 0
    for t in sorted(counts):
        c = counts[t]
        m = int(c["n"]) - int(c["too_short"])
        tasks[t] = {"n": int(c["n"]), "too_short": int(c["too_short"]),
                    "gold": _share(int(c["gold_items"]), m), "context": _share(int(c["context_items"]), m)}
        gold, ctx, measured = gold + int(c["gold_items"]), ctx + int(c["context_items"]), measured + m
    shares = [v["gold"] for v in tasks.values() if v["gold"] is not None]
    top = max(shares) if shares else None
    return {"tasks": tasks, "gold_share": _share(gold, measured), "context_share": _share(ctx, measured),
            "max_task_gold": top, "flagged": bool(top is not None and top > threshold)}


def section(measured: Mapping[str, Mapping[str, Any]], train_tokens: int,
            threshold: float = THRESHOLD, n: int = NGRAM) -> dict:
    """results.json's ``contamination``: the rule, per-task counts, and their summary."""
    counts = {t: {k: int(v[k]) for k in ("n", "too_short", "gold_items", "context_items")}
              for t, v in sorted(measured.items())}
    return {"rule": RULE, "ngram": n, "threshold": threshold, "train_tokens": int(train_tokens),
            "counts": counts, **summary(counts, threshold)}


def row_summary(sec: Mapping[str, Any]) -> dict:
    """A leaderboard row's ``contamination`` from results.json's section (shares recomputed)."""
    return {"measured": True, "rule": sec["rule"], "ngram": sec["ngram"], "threshold": sec["threshold"],
            **summary(sec["counts"], sec["threshold"])}


def measure_suite(items: Mapping[str, Sequence[Item]], tokens: Path, out_dir: Path) -> dict:
    """Measure, write ``out_dir/contamination.json`` (the section plus the row numbers of the
    items with overlap, per task) and return results.json's section."""
    stream = _flat_tokens(tokens)
    measured = measure(items, stream)
    sec = section(measured, len(stream))
    detail = {**sec, "doc_ids": {t: {"gold": v["gold_doc_ids"], "context": v["context_doc_ids"]}
                                 for t, v in sorted(measured.items())}}
    write_json(Path(out_dir) / FILE, detail)
    return sec


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def format_summary(c: Mapping[str, Any] | None) -> str:
    """One line (results or a row): gold and context shares; a flagged run says so first, with
    its most contaminated task's share and the threshold."""
    if not c:
        return "not measured"
    text = f"gold {_pct(c.get('gold_share'))}, context {_pct(c.get('context_share'))}"
    if c.get("flagged"):
        return (f"FLAGGED: {text}; task max gold {_pct(c.get('max_task_gold'))} "
                f"> {_pct(c.get('threshold'))}")
    return text
