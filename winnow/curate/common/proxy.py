"""A tiny proxy LM for model-based curation steps: sample, train from seed, score documents.

Shared by ``dsdm_select`` (projected head gradients) and ``curriculum_stages`` (per-document
loss). The proxy is winnow's ``OpenLMForCausalLM`` with a small fixed shape over a committed
tokenizer (``bpe1k-v1`` by default), trained from seed in fp32:

* **Sample** (``sample_texts``): the ``n`` input documents of lowest keyed hash
  ``rank_key(seed, id)`` (``random_sample``'s ranking), in that hash order.
* **Stream**: each document's first ``4 * seq_len`` tokens (text capped at
  ``CHARS_PER_TOKEN_CAP`` characters per token before tokenizing), EOS-separated, cut into
  ``seq_len + 1`` windows.
* **Training** (``train_proxy``): ``torch.manual_seed(seed)`` then the model is built; AdamW
  (betas 0.9/0.95, no weight decay), lr with ``max(1, steps // 10)`` linear warmup steps then
  constant, gradient clipping at 1.0; batches of ``batch`` windows drawn from a
  ``torch.Generator`` seeded with ``seed`` (a fresh permutation whenever the windows run out).
  FLOPs: ``flops_per_token(config) x steps x batch x seq_len`` (6N-style, forward + backward).
* **Scoring** (``doc_losses``): each document's mean next-token cross-entropy over its first
  ``seq_len`` tokens after an EOS (what the proxy saw at training time), batched with right
  padding (causal: padding never changes the scored positions). Forward FLOPs per scored token:
  a third of ``flops_per_token``.

The code here is the one ``dsdm_select`` has always run (its outputs are byte-identical to its
version 1); changing anything that moves a number needs a version bump in both steps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from winnow.curate.base import ParamError, StepError
from winnow.curate.common.keys import rank_key
from winnow.docs import read_docs
from winnow.registry import RegistryError
from winnow.tokenize import bpe

CHARS_PER_TOKEN_CAP = 16
SCORE_BATCH = 32
EOS = "<|endoftext|>"


def check_proxy_params(**values) -> None:
    """ParamError for a proxy setting out of range (integers with their minimum, lr, heads) or an
    unknown proxy tokenizer."""
    minimum = {"proxy_docs": 1, "proxy_steps": 0, "proxy_batch": 1, "proxy_d_model": 8,
               "proxy_layers": 1, "proxy_heads": 1, "seq_len": 8}
    for name, lo in minimum.items():
        if name not in values:
            continue
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ParamError(name, f"must be an integer >= {lo}, got {v!r}")
    d, h = values.get("proxy_d_model"), values.get("proxy_heads")
    if d is not None and h is not None and (d % h or (d // h) % 2):
        raise ParamError("proxy_d_model", f"must split into {h} heads of even size, got {d}")
    lr = values.get("proxy_lr")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ParamError("proxy_lr", f"must be > 0, got {lr}")
    if "tokenizer" in values:   # known now, not after the curation before it
        try:
            bpe.spec(values["tokenizer"])
        except RegistryError as e:
            raise ParamError("tokenizer", str(e)) from None


def load_tokenizer(name: str):
    """A committed tokenizer by name, without padding or truncation."""
    tok = bpe.load(name)
    tok.no_padding()
    tok.no_truncation()
    return tok


def eos_id(tok) -> int:
    return tok.token_to_id(EOS) or 0


def proxy_config(vocab_size: int, d_model: int, n_layers: int, n_heads: int, seq_len: int):
    from winnow.train.model import OpenLMConfig

    return OpenLMConfig(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers,
                        n_heads=n_heads, ffn_multiple_of=16, seq_len=seq_len, z_loss=0.0)


def sample_texts(shards: list[Path], seed: int, n: int) -> list[str]:
    """Texts of the ``n`` documents of lowest ``rank_key(seed, id)``, in that order."""
    keyed = []  # (keyed hash, position): the proxy sample is random_sample's ranking
    for shard in shards:
        for doc in read_docs(shard):
            keyed.append(rank_key(seed, doc["id"]))
    chosen = set(np.argsort(np.array(keyed, dtype=np.uint64), kind="stable")[:n].tolist())
    picked: list[tuple[int, str]] = []
    pos = 0
    for shard in shards:
        for doc in read_docs(shard):
            if pos in chosen:
                picked.append((keyed[pos], doc["text"]))
            pos += 1
    picked.sort(key=lambda kv: kv[0])
    return [t for _, t in picked]


def train_proxy(texts: list[str], tok, config, *, steps: int, batch: int, lr: float, seed: int,
                who: str):
    """Train the proxy from seed on ``texts``; (model in eval mode, stats). ``who`` names the
    step in errors. Stats: ``final_loss``, ``params``, ``flops``, ``tokens``."""
    import torch
    from winnow.train.model import OpenLMForCausalLM, count_params, flops_per_token

    seq_len = config.seq_len
    eos = eos_id(tok)
    stream: list[int] = []
    cap = CHARS_PER_TOKEN_CAP * 4 * seq_len
    for enc in tok.encode_batch([t[:cap] for t in texts]):
        stream.extend(enc.ids[:4 * seq_len])
        stream.append(eos)
    win = seq_len + 1
    n_win = len(stream) // win
    if n_win == 0:
        raise StepError(f"{who}: the proxy sample holds {len(stream)} tokens, fewer "
                        f"than one training sequence of {win}; the input is too small")
    data = torch.tensor(stream[:n_win * win], dtype=torch.long).view(n_win, win)
    torch.manual_seed(seed)
    model = OpenLMForCausalLM(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    warmup = max(1, steps // 10)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_win, generator=gen)
    pos = 0
    loss_val = float("nan")
    for step in range(steps):
        idx = []
        while len(idx) < batch:
            if pos == n_win:
                order, pos = torch.randperm(n_win, generator=gen), 0
            take = min(batch - len(idx), n_win - pos)
            idx.extend(order[pos:pos + take].tolist())
            pos += take
        rows = data[idx]
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warmup)
        logits = model(input_ids=rows[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_val = float(loss.detach())
    trained_tokens = steps * batch * seq_len
    stats = {"final_loss": loss_val, "params": int(count_params(model)["total"]),
             "flops": float(flops_per_token(config) * trained_tokens), "tokens": trained_tokens}
    return model.eval(), stats


def load_proxy(path: Path, config, seed: int):
    """A proxy saved with ``torch.save(model.state_dict())``, in eval mode."""
    import torch
    from winnow.train.model import OpenLMForCausalLM

    torch.manual_seed(seed)
    model = OpenLMForCausalLM(config)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def doc_losses(model, tok, texts: list[str], seq_len: int) -> tuple[np.ndarray, int]:
    """Mean next-token loss of each text's first ``seq_len`` tokens after an EOS (NaN for an
    empty text), and the number of tokens scored."""
    import torch

    eos = eos_id(tok)
    cap = CHARS_PER_TOKEN_CAP * seq_len
    seqs = [[eos] + e.ids[:seq_len] for e in tok.encode_batch([t[:cap] for t in texts])]
    out = np.full(len(seqs), np.nan, dtype=np.float64)
    for b in range(0, len(seqs), SCORE_BATCH):
        chunk = seqs[b:b + SCORE_BATCH]
        width = max(len(s) for s in chunk)
        if width < 2:
            continue
        x = torch.full((len(chunk), width), eos, dtype=torch.long)
        mask = torch.zeros((len(chunk), width - 1), dtype=torch.float64)
        for r, s in enumerate(chunk):
            x[r, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, :len(s) - 1] = 1.0
        with torch.no_grad():
            logits = model(input_ids=x[:, :-1]).logits
            ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                   x[:, 1:].reshape(-1), reduction="none")
        ce = ce.reshape(len(chunk), width - 1).double() * mask
        n = mask.sum(dim=1)
        mean = torch.where(n > 0, ce.sum(dim=1) / n.clamp(min=1), torch.full_like(n, math.nan))
        out[b:b + len(chunk)] = mean.numpy()
    return out, sum(len(s) - 1 for s in seqs)
