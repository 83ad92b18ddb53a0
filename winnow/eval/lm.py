"""WinnowLM: the lm-eval model adapter (three request methods) around any HF causal LM.

Scoring follows llm-foundry 0.9.0, the evaluator DCLM used (see eval/README.md):

- context and continuation are tokenised *separately* (no special tokens) and the ids
  concatenated; an empty context becomes the end-of-text token;
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
from typing import Iterable, Sequence

import numpy as np
import torch
from lm_eval.api.model import LM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tokenizers import Tokenizer
from tqdm import tqdm


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
        batch_size: int = 64,
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
        self._enc_cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------------- tokenising

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def _encode_many(self, texts: Iterable[str]) -> None:
        todo = sorted({t for t in texts if t not in self._enc_cache})
        for i in range(0, len(todo), 1024):
            chunk = todo[i : i + 1024]
            for text, enc in zip(chunk, self.tok.encode_batch(chunk, add_special_tokens=False)):
                self._enc_cache[text] = enc.ids

    # ---------------------------------------------------------------------------- forward

    def _logits(self, input_ids: torch.Tensor, keep: int = 0) -> torch.Tensor:
        """Logits of the last `keep` positions (all if 0), computing only those when the model's
        forward takes HF's `logits_to_keep` (the output head dominates small models)."""
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
        if keep and logits.shape[1] != keep:
            logits = logits[:, -keep:]
        return logits

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
            logits = self._logits(torch.from_numpy(inp).to(self._device), keep=width - first)
            r = torch.tensor(rows, device=self._device)
            c = torch.tensor(cols, device=self._device) - first
            sel = logits[r, c].float()  # fp32 log-softmax, continuation positions only
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

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        args = [tuple(r.args) if hasattr(r, "args") else tuple(r) for r in requests]
        unique = sorted(set(args))
        self._encode_many([c for c, _ in unique] + [t for _, t in unique])
        pairs = [(self._enc_cache[c], self._enc_cache[t]) for c, t in unique]
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
        """Greedy decoding, one request at a time, cut at the first stop string or EOS."""
        outs: list[str] = []
        for r in tqdm(requests, desc="generate_until", disable=not self.progress, leave=False):
            ctx, kwargs = tuple(r.args) if hasattr(r, "args") else tuple(r)
            kwargs = dict(kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            ids = self.encode(ctx) or [self.eos_id]
            new: list[int] = []
            text = ""
            for _ in range(max_new):
                window = (ids + new)[-self.max_length :]
                logits = self._logits(torch.tensor([window], device=self._device), keep=1)
                nxt = int(logits[0, -1].float().argmax())
                if nxt == self.eos_id:
                    break
                new.append(nxt)
                text = self.tok.decode(new)
                if any(s in text for s in until):
                    break
            cut = min((text.find(s) for s in until if s in text), default=len(text))
            outs.append(text[:cut])
        return outs

    # ------------------------------------------------------------------------------ misc

    def record(self, context: str, continuation: str) -> LLRecord:
        return self.records[(context, continuation)]

    def get_model_info(self) -> dict:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"model_num_parameters": n_params, "max_length": self.max_length, "eos_id": self.eos_id}
