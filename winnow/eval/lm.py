"""WinnowLM: the lm-eval model adapter (three request methods) around any HF causal LM.

Scoring follows llm-foundry 0.9.0, the evaluator DCLM used (see eval/README.md):

- context and continuation are tokenised *separately* (no special tokens) and the ids
  concatenated, and so are the few-shot block and the test context when winnow's few-shot
  sampler built the context (`winnow.eval.foundry.PREAMBLE_SPLITS`); an empty context becomes
  the end-of-text token;
- inputs longer than `max_length` (the training context) lose tokens from the left of the
  context, so that context + continuation fit in `max_length` tokens;
- log-softmax in fp32 at the continuation positions only; a request returns
  (sum of log-probabilities, whether greedy argmax reproduces every continuation token).

Every scored `loglikelihood` request also leaves an `LLRecord` in `self.records`, keyed by
(context, continuation): the sum log-probability, the number of continuation tokens and
UTF-8 bytes, and the greedy flag. winnow's scoring (per-token normalisation, bits per byte)
needs the token counts, which lm-eval's (logprob, is_greedy) answers do not carry.

Speed: identical requests are computed once; requests are sorted by length (longest first)
and packed into right-padded batches under a token budget, so the options of one question
land in the same batch. Right padding needs no attention mask for a causal model (real tokens
never attend to the padding after them), so any HF causal LM works, including ones that ignore
masks. `torch.inference_mode` throughout; no automatic batch-size search.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from lm_eval.api.model import LM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tokenizers import Tokenizer
from tqdm import tqdm

from winnow.eval.foundry import split_preamble
from winnow.eval.generation import clean_up_tokenization_spaces


EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eos|>")


@dataclass(frozen=True)
class LLRecord:
    """One scored (context, continuation): what winnow's scoring needs beyond lm-eval's answer."""

    logprob: float  # sum of log-probabilities of the continuation tokens (nats)
    tokens: int  # continuation tokens scored
    bytes: int  # UTF-8 bytes of the continuation scored
    greedy: bool  # greedy argmax reproduces every continuation token

    def to_dict(self) -> dict:
        return asdict(self)


def as_tokenizer(tokenizer) -> Tokenizer:
    """A `tokenizers.Tokenizer` from a tokenizer JSON path, a Tokenizer or a PreTrainedTokenizerFast."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if isinstance(tokenizer, (str, Path)):
        return Tokenizer.from_file(str(tokenizer))
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if isinstance(backend, Tokenizer):
        return backend
    raise TypeError(
        f"expected a tokenizers JSON file, a tokenizers.Tokenizer or a PreTrainedTokenizerFast, "
        f"got {type(tokenizer).__name__}"
    )


def find_eos_id(tokenizer, model=None) -> int:
    """The end-of-text id: the HF tokenizer's, else a known special token, else the model's."""
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        return eos
    tk = as_tokenizer(tokenizer)
    for name in EOS_CANDIDATES:
        tid = tk.token_to_id(name)
        if tid is not None:
            return tid
    cfg_eos = getattr(getattr(model, "config", None), "eos_token_id", None)
    if isinstance(cfg_eos, int):
        return cfg_eos
    raise ValueError("could not find an end-of-text token id; pass eos_id=")


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params


class WinnowLM(LM):
    """lm-eval `LM` over a HF causal-LM `PreTrainedModel` and a `tokenizers` tokenizer."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        max_length: int,
        eos_id: int | None = None,
        pad_id: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = 8192,
        max_gen_toks: int = 256,
        progress: bool = True,
    ) -> None:
        super().__init__()
        if max_length < 2:
            raise ValueError("max_length must be at least 2")
        self.model = model.eval()
        self.tok = as_tokenizer(tokenizer)
        self.max_length = int(max_length)
        self.eos_id = int(eos_id) if eos_id is not None else find_eos_id(tokenizer, model)
        self.pad_id = int(pad_id) if pad_id is not None else self.eos_id
        self.batch_size = int(batch_size)
        self.max_batch_tokens = int(max_batch_tokens)
        self.max_gen_toks = int(max_gen_toks)
        self.progress = progress
        self._device = next(model.parameters()).device
        self.records: dict[tuple[str, str], LLRecord] = {}
        self._pass_use_cache = True
        self._keep_arg = _accepts(model.forward, "logits_to_keep")
        get_head = getattr(model, "get_output_embeddings", None)
        self._head = get_head() if callable(get_head) else None
        if not isinstance(self._head, torch.nn.Module):
            self._head = None
        self._enc_cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------------- tokenising

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    @staticmethod
    def _context_parts(context: str) -> tuple[str, ...]:
        """llm-foundry tokenises the few-shot block and the test context separately: split a
        context where winnow's few-shot sampler recorded the block's end (one part otherwise)."""
        return split_preamble(context)

    def _encode_many(self, texts: Iterable[str]) -> None:
        todo = sorted({t for t in texts if t not in self._enc_cache})
        for i in range(0, len(todo), 1024):
            chunk = todo[i : i + 1024]
            for text, enc in zip(chunk, self.tok.encode_batch(chunk, add_special_tokens=False)):
                self._enc_cache[text] = enc.ids

    # ---------------------------------------------------------------------------- forward

    def _logits(self, input_ids: torch.Tensor, keep: int = 0, raw: bool = False) -> torch.Tensor:
        """Logits of the last `keep` positions (all if 0), computing only those when the model's
        forward takes HF's `logits_to_keep` (the output head dominates small models). `raw`
        returns the model's logits as they come (for `_continuation_logits`' hooked head)."""
        kwargs = {"input_ids": input_ids}
        if keep and self._keep_arg:
            kwargs["logits_to_keep"] = keep
        if self._pass_use_cache:
            try:
                out = self.model(**kwargs, use_cache=False)
            except TypeError:
                self._pass_use_cache = False
                out = self.model(**kwargs)
        else:
            out = self.model(**kwargs)
        logits = out.logits if hasattr(out, "logits") else out[0]
        if raw:
            return logits
        if keep and logits.shape[1] != keep:
            logits = logits[:, -keep:]
        return logits

    def _continuation_logits(self, input_ids: torch.Tensor, r: torch.Tensor, c: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits at positions (r[k], c[k]) only, as (len(r), vocab).

        The output head dominates the cost of small models, and a batch needs it at the
        continuation positions alone (often a fifth of the rows from the earliest continuation
        on). A forward pre-hook on the model's output-embedding module hands the head just those
        hidden states; a model without such a module (or whose forward bypasses it) falls back
        to slicing the full logits. Both give the same numbers: the head is applied per position.
        """
        head = self._head
        if head is None:
            logits = self._logits(input_ids, keep=keep)
            return logits[r, c - (input_ids.shape[1] - logits.shape[1])]
        width = input_ids.shape[1]
        fired: list[bool] = []

        def pick(_module, args):
            h = args[0]
            fired.append(True)
            return (h[r, c - (width - h.shape[1])].unsqueeze(0), *args[1:])

        handle = head.register_forward_pre_hook(pick)
        try:
            logits = self._logits(input_ids, keep=keep, raw=True)
        finally:
            handle.remove()
        if not fired:  # the forward never called its head module: do it the plain way
            self._head = None
            return logits[r, c - (width - logits.shape[1])]
        return logits[0]

    def _fit(self, ctx: list[int], cont: list[int]) -> tuple[list[int], list[int]]:
        """llm-foundry truncation: drop context tokens from the left until ctx + cont fit."""
        if not ctx:
            ctx = [self.eos_id]
        if len(cont) > self.max_length - 1:  # keep at least one context token
            cont = cont[-(self.max_length - 1) :]
        room = self.max_length - len(cont)
        if len(ctx) > room:
            ctx = ctx[-room:]
        return ctx, cont

    @torch.inference_mode()
    def score_tokens(
        self, pairs: Sequence[tuple[list[int], list[int]]], desc: str = "loglikelihood"
    ) -> list[tuple[float, bool, int]]:
        """(sum logprob, greedy, tokens scored) for each (context ids, continuation ids) pair."""
        fitted = [self._fit(list(c), list(t)) for c, t in pairs]
        results: list[tuple[float, bool, int] | None] = [None] * len(fitted)
        for i, (_, cont) in enumerate(fitted):
            if not cont:  # an empty continuation has probability 1
                results[i] = (0.0, True, 0)
        todo = [i for i in range(len(fitted)) if results[i] is None]
        order = sorted(todo, key=lambda i: (-(len(fitted[i][0]) + len(fitted[i][1])), i))
        batches: list[list[int]] = []
        cur: list[int] = []
        cur_len = 0
        for i in order:
            n = len(fitted[i][0]) + len(fitted[i][1]) - 1
            width = max(cur_len, n)
            if cur and (len(cur) >= self.batch_size or width * (len(cur) + 1) > self.max_batch_tokens):
                batches.append(cur)
                cur, cur_len, width = [], 0, n
            cur.append(i)
            cur_len = width
        if cur:
            batches.append(cur)

        bar = tqdm(total=len(order), desc=desc, disable=not self.progress, leave=False)
        for batch in batches:
            seqs = [fitted[i][0] + fitted[i][1] for i in batch]
            width = max(len(s) for s in seqs) - 1
            inp = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            rows, cols, targets, lens = [], [], [], []
            for b, (i, seq) in enumerate(zip(batch, seqs)):
                inp[b, : len(seq) - 1] = seq[:-1]
                n_ctx, n_cont = len(fitted[i][0]), len(fitted[i][1])
                rows.extend([b] * n_cont)
                cols.extend(range(n_ctx - 1, n_ctx - 1 + n_cont))
                targets.extend(fitted[i][1])
                lens.append(n_cont)
            first = min(cols)  # only positions from the earliest continuation start are needed
            r = torch.tensor(rows, device=self._device)
            c = torch.tensor(cols, device=self._device)
            sel = self._continuation_logits(torch.from_numpy(inp).to(self._device), r, c, width - first)
            sel = sel.float()  # fp32 log-softmax, continuation positions only
            tgt = torch.tensor(targets, device=self._device)
            tok_lp = (sel.gather(1, tgt[:, None])[:, 0] - torch.logsumexp(sel, dim=-1)).double().cpu().numpy()
            hit = (sel.argmax(dim=-1) == tgt).cpu().numpy()
            starts = np.cumsum([0] + lens[:-1])
            sums = np.add.reduceat(tok_lp, starts)
            alls = np.logical_and.reduceat(hit, starts)
            for k, (i, n) in enumerate(zip(batch, lens)):
                results[i] = (float(sums[k]), bool(alls[k]), n)
            bar.update(len(batch))
        bar.close()
        return results  # type: ignore[return-value]

    # -------------------------------------------------------------------- request methods

    @staticmethod
    def _per_task(fn: Callable[[list], list], requests) -> list:
        """`fn` applied to the requests of each task (lm-eval's `Instance.task_name`) apart, the
        answers put back in request order. A task's batches, and so its numbers to the last bit,
        then do not depend on which other tasks share the `simple_evaluate` call."""
        groups: dict[Any, list[int]] = {}
        for k, r in enumerate(requests):
            groups.setdefault(getattr(r, "task_name", None), []).append(k)
        out: list = [None] * len(requests)
        for idx in groups.values():
            for k, v in zip(idx, fn([requests[k] for k in idx])):
                out[k] = v
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return self._per_task(self._loglikelihood, requests)

    def _loglikelihood(self, requests) -> list[tuple[float, bool]]:
        args = [tuple(r.args) if hasattr(r, "args") else tuple(r) for r in requests]
        unique = sorted(set(args))
        ctx_parts = {c: self._context_parts(c) for c, _ in unique}
        self._encode_many([p for parts in ctx_parts.values() for p in parts] + [t for _, t in unique])
        pairs = [([i for p in ctx_parts[c] for i in self._enc_cache[p]], self._enc_cache[t]) for c, t in unique]
        scored = self.score_tokens(pairs)
        out: dict[tuple[str, str], tuple[float, bool]] = {}
        for (ctx, cont), (lp, greedy, n), (_, cont_ids) in zip(unique, scored, pairs):
            n_bytes = len(cont.encode("utf-8"))
            if n < len(cont_ids):  # continuation longer than the window: bytes of what was scored
                n_bytes = len(self.tok.decode(cont_ids[-n:]).encode("utf-8"))
            self.records[(ctx, cont)] = LLRecord(logprob=lp, tokens=n, bytes=n_bytes, greedy=greedy)
            out[(ctx, cont)] = (lp, greedy)
        return [out[a] for a in args]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Sum log-probability of each whole string, in disjoint windows of the model context."""
        return self._per_task(self._loglikelihood_rolling, requests)

    def _loglikelihood_rolling(self, requests) -> list[float]:
        pairs: list[tuple[list[int], list[int]]] = []
        owner: list[int] = []
        for k, r in enumerate(requests):
            (text,) = tuple(r.args) if hasattr(r, "args") else tuple(r)
            windows = get_rolling_token_windows(
                token_list=self.encode(text),
                prefix_token=self.eos_id,
                max_seq_len=self.max_length - 1,
                context_len=1,
            )
            for w in windows:
                pairs.append(make_disjoint_window(w))
                owner.append(k)
        scored = self.score_tokens(pairs, desc="loglikelihood_rolling")
        totals = [0.0] * len(requests)
        for k, (lp, _, _) in zip(owner, scored):
            totals[k] += lp
        return totals

    @torch.inference_mode()
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy decoding, as HF `generate(do_sample=False)`, cut the way lm-eval cuts `until`.

        Each request is (context, gen_kwargs): `until` (stop strings) and `max_gen_toks` (or
        `max_new_tokens`; default: the constructor's). Sampling is refused. The context is
        tokenised with `encode` and loses tokens from the left so that context + max_gen_toks
        fit in `max_length` (llm-foundry trims to max_seq_len - max_answer_length the same way).
        When max_gen_toks >= max_length llm-foundry keeps the whole prompt (its trim slices
        `[-0:]`); here the model then sees the last `max_length` tokens, a window that slides
        as tokens are generated.
        Decoding stops at the end-of-text token, once a stop string appears in the decoded
        continuation, or after max_gen_toks tokens. The text is decoded the way composer's
        `eval_forward` decodes `generate` output: new tokens only, special tokens skipped, HF
        4.40's clean-up of tokenisation spaces, a leading space for tokenizers that encode " a"
        as more than one token; then cut before the first stop string (lm-eval's `until`).

        Requests are sorted by context length and decoded together in right-padded batches
        (`batch_size`, `max_batch_tokens`): each row's next token is read at its own last real
        position, so with causal attention no row ever attends to the padding after it and no
        attention mask is needed. No KV cache: every step recomputes the window. Each task's
        requests are decoded apart (`_per_task`).
        """
        return self._per_task(lambda reqs: self._generate(reqs, disable_tqdm), requests)

    def _generate(self, requests, disable_tqdm: bool) -> list[str]:
        index: dict[tuple[str, tuple[str, ...], int], int] = {}
        keys = []
        for r in requests:
            ctx, kwargs = tuple(r.args) if hasattr(r, "args") else tuple(r)
            until, max_new = self._generation_args(kwargs)
            key = (ctx, tuple(until), max_new)
            keys.append(key)
            index.setdefault(key, len(index))
        jobs = []
        for ctx, until, max_new in index:  # identical requests are decoded once
            ids = [t for part in self._context_parts(ctx) for t in self.encode(part)] or [self.eos_id]
            room = self.max_length - max_new if max_new < self.max_length else self.max_length
            jobs.append((ids[-room:], list(until), max_new))
        texts = self._greedy_generate(jobs, disable=disable_tqdm or not self.progress)
        return [texts[index[k]] for k in keys]

    def _generation_args(self, kwargs) -> tuple[list[str], int]:
        """(non-empty stop strings, max new tokens) from lm-eval generation kwargs."""
        kwargs = dict(kwargs or {})
        do_sample = kwargs.get("do_sample")
        temperature = float(kwargs.get("temperature") or 0.0)
        if do_sample or (do_sample is None and temperature > 0.0):
            raise ValueError(
                f"WinnowLM.generate_until decodes greedily only; got do_sample={do_sample!r}, "
                f"temperature={temperature}"
            )
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        if not all(isinstance(s, str) for s in until):
            raise TypeError(f"`until` must be a string or a list of strings, got {until!r}")
        max_new = kwargs.get("max_gen_toks", kwargs.get("max_new_tokens"))
        max_new = self.max_gen_toks if max_new is None else int(max_new)
        if max_new < 0:
            raise ValueError(f"max_gen_toks must be >= 0, got {max_new}")
        return [s for s in until if s], max_new

    def _decode_generated(self, ids: list[int]) -> str:
        """Generated ids as composer's eval_forward decodes them (see generate_until)."""
        text = clean_up_tokenization_spaces(self.tok.decode(ids, skip_special_tokens=True))
        prefix = getattr(self, "_generation_prefix", None)
        if prefix is None:  # composer: sentencepiece-style tokenizers get their space back
            prefix = self._generation_prefix = "" if len(self.encode(" a")) == 1 else " "
        return prefix + text

    def _greedy_generate(self, jobs: list[tuple[list[int], list[str], int]], disable: bool = False) -> list[str]:
        """Greedy continuations of (context ids, stop strings, max new tokens), cut at the stops."""
        out = [""] * len(jobs)
        order = sorted((i for i, j in enumerate(jobs) if j[2] > 0), key=lambda i: (-len(jobs[i][0]), i))
        batches: list[list[int]] = []
        cur: list[int] = []
        width = 0
        for i in order:  # budget on the widest window the batch can reach
            final = min(len(jobs[i][0]) + jobs[i][2], self.max_length)
            w = max(width, final)
            if cur and (len(cur) >= self.batch_size or w * (len(cur) + 1) > self.max_batch_tokens):
                batches.append(cur)
                cur, w = [], final
            cur.append(i)
            width = w
        if cur:
            batches.append(cur)

        bar = tqdm(total=len(order), desc="generate_until", disable=disable, leave=False)
        for batch in batches:
            seqs = {i: list(jobs[i][0]) for i in batch}
            new: dict[int, list[int]] = {i: [] for i in batch}
            text = {i: self._decode_generated([]) for i in batch}
            active = list(batch)
            while active:
                rows = [seqs[i][-self.max_length :] for i in active]
                lens = [len(r) for r in rows]
                width = max(lens)
                keep = width - min(lens) + 1  # logits from the shortest row's last position on
                inp = np.full((len(rows), width), self.pad_id, dtype=np.int64)
                for b, row in enumerate(rows):
                    inp[b, : len(row)] = row
                logits = self._logits(torch.from_numpy(inp).to(self._device), keep=keep)
                pos = torch.tensor([n - 1 - (width - keep) for n in lens], device=self._device)
                rows_idx = torch.arange(len(rows), device=self._device)
                nxt = logits[rows_idx, pos].float().argmax(dim=-1).tolist()
                still = []
                for i, tok in zip(active, nxt):
                    _, until, max_new = jobs[i]
                    if tok != self.eos_id:
                        new[i].append(tok)
                        seqs[i].append(tok)
                        text[i] = self._decode_generated(new[i])
                        if len(new[i]) < max_new and not any(s in text[i] for s in until):
                            still.append(i)
                            continue
                    cut = min((text[i].find(s) for s in until if s in text[i]), default=len(text[i]))
                    out[i] = text[i][:cut]
                    bar.update(1)
                active = still
        bar.close()
        return out

    # ------------------------------------------------------------------------------ misc

    def record(self, context: str, continuation: str) -> LLRecord:
        return self.records[(context, continuation)]

    def get_model_info(self) -> dict:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"model_num_parameters": n_params, "max_length": self.max_length, "eos_id": self.eos_id}
