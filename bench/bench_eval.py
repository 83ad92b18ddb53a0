"""Evaluation speed: winnow's ``WinnowLM`` against lm-eval's stock ``HFLM``, same tasks, same model.

Both sides run through the same ``lm_eval.simple_evaluate`` call (one call per task, as
``winnow.eval.runner`` does): the same model object (fp32, inference only, same torch thread count),
the same tokenizer (``HFLM`` gets it wrapped as a ``PreTrainedTokenizerFast`` with eos = pad = the
end-of-text token), the same fixed seeded row subsample of each task (``winnow.eval.runner.subsample``)
and the same seeds. ``HFLM`` runs with a fixed batch size (never "auto") and ``max_length`` = the
model's training context.

Timing: ``time.perf_counter`` around each ``simple_evaluate`` call (model and task loading excluded);
"model" is the part of it spent inside the adapter's ``loglikelihood``. The paths alternate
(winnow, HFLM, winnow, HFLM, ... ``--repeats`` times) and each keeps its fastest time per task,
to damp noise on a shared machine; quote the ratios, not the seconds.

Agreement, per request (lm-eval's logged ``resps``): the largest absolute log-likelihood difference
over requests both paths feed the model identically. ``HFLM`` tokenises context + continuation
jointly (and moves trailing context spaces into the continuation) and truncates to
``max_length + 1`` tokens, WinnowLM tokenises them separately (llm-foundry) and truncates to
``max_length``; requests where the token ids differ for either reason are counted apart, with their
largest difference. Accuracy: lm-eval's own ``acc`` per task from both runs, and llm-foundry's
accuracy (``winnow.eval.scoring``, lowest mean per-token loss) from each path's own log-likelihoods
and continuation token counts.

    python bench/bench_eval.py                       # the tiny-1x baseline model, 4 tasks, 200 rows each
    python bench/bench_eval.py --model PATH --tokenizer TOKENIZER --limit 100 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

DEFAULT_MODEL = "/tmp/wh/runs/baselines-random__tiny-1x__1c6a6711/train/model"
DEFAULT_TASKS = "dclm_arc_easy,dclm_hellaswag_zeroshot,dclm_winogrande,dclm_lambada_openai"
SEED = 1234  # the quick suite's seed: subsample rows and every lm-eval seed


# ------------------------------------------------------------------------------------ setup


def hf_tokenizer(tokenizer, eos_id: int):
    """A ``PreTrainedTokenizerFast`` over the same BPE for HFLM, with eos and pad = ``eos_id``.

    No bos is set, so HFLM's prefix token for an empty context is the eos, as in WinnowLM."""
    import copy

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    if isinstance(tokenizer, PreTrainedTokenizerFast):
        tok = copy.deepcopy(tokenizer)
        if tok.eos_token_id is None:
            tok.eos_token = tok.convert_ids_to_tokens(eos_id)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return tok
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"expected a tokenizers.Tokenizer or PreTrainedTokenizerFast, got {type(tokenizer).__name__}")
    name = tokenizer.id_to_token(eos_id)
    return PreTrainedTokenizerFast(tokenizer_object=copy.deepcopy(tokenizer), eos_token=name, pad_token=name)


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """Mute lm-eval's warnings and both paths' progress bars (stderr) while evaluating."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("lm_eval", "transformers")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, lvl in zip(loggers, old):
            lg.setLevel(lvl)


def fresh_task(tm, name: str, num_fewshot: int = 0):
    """A newly loaded lm-eval task object (simple_evaluate mutates the ones it is given)."""
    task = tm.load([name])["tasks"][name]
    task.set_config(key="num_fewshot", value=num_fewshot)
    return task


class _Timed:
    """Wraps an adapter's ``loglikelihood``: total seconds spent inside it."""

    def __init__(self, fn: Callable):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t0


def run_path(lm, tm, rows: dict[str, list[int]], *, seed: int = SEED, num_fewshot: int = 0,
             verbose: bool = False) -> dict[str, dict]:
    """Evaluate `lm` on each task (one simple_evaluate call per task, as winnow's runner does):
    {task: {"seconds", "model_seconds", "samples", "results"}}."""
    import lm_eval

    out = {}
    for name, task_rows in rows.items():
        with quiet(not verbose):
            task = fresh_task(tm, name, num_fewshot)
        timed = _Timed(lm.loglikelihood)
        lm.loglikelihood = timed  # simple_evaluate looks the method up on the instance
        try:
            with quiet(not verbose):
                t0 = time.perf_counter()
                res = lm_eval.simple_evaluate(
                    model=lm, tasks=[task], samples={name: task_rows}, task_manager=tm, log_samples=True,
                    bootstrap_iters=0, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                    fewshot_random_seed=seed,
                )
                dt = time.perf_counter() - t0
        finally:
            del lm.loglikelihood
        out[name] = {"seconds": dt, "model_seconds": timed.seconds, "samples": res["samples"][name],
                     "results": res["results"][name]}
    return out


# ------------------------------------------------------------------------------- agreement


def hflm_request_tokens(hflm, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) exactly as HFLM's ``loglikelihood`` builds them."""
    if context == "":
        cont = hflm.tok_encode(continuation, add_special_tokens=False)
        prefix = hflm.prefix_token_id
        return ([prefix], cont) if not cont or prefix != cont[0] else (cont[:1], cont[1:])
    return hflm._encode_pair(context, continuation)


def hflm_window(ctx: list[int], cont: list[int], max_length: int) -> tuple[list[int], int]:
    """(model input ids, continuation length) of one HFLM request: ctx + cont cut to
    ``max_length + 1`` tokens from the left, last token dropped."""
    return (ctx + cont)[-(max_length + 1):][:-1], len(cont)


def winnow_request_tokens(wlm, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as WinnowLM tokenises a request (before truncation)."""
    parts = wlm._context_parts(context) if hasattr(wlm, "_context_parts") else (context,)
    return [i for p in parts for i in wlm.encode(p)], wlm.encode(continuation)


def winnow_window(ctx: list[int], cont: list[int], max_length: int, eos_id: int) -> tuple[list[int], int]:
    """(model input ids, continuation length) of one WinnowLM request (llm-foundry truncation:
    ctx + cont fit in ``max_length`` tokens, context loses tokens from the left)."""
    ctx = ctx or [eos_id]
    if len(cont) > max_length - 1:
        cont = cont[-(max_length - 1):]
    room = max_length - len(cont)
    ctx = ctx[-room:] if len(ctx) > room else ctx
    return (ctx + cont)[:-1], len(cont)


def _lp(resp) -> tuple[float, bool]:
    """(log-likelihood, greedy) from one logged ``resps`` entry: [[lp, greedy]] or [lp, greedy]."""
    r = resp[0] if isinstance(resp[0], (list, tuple)) else resp
    return float(r[0]), bool(r[1])


@dataclass
class TaskAgreement:
    requests: int = 0
    same_input: int = 0  # requests both paths feed to the model identically
    max_abs_diff: float = 0.0  # over same_input requests
    greedy_mismatch: int = 0  # over same_input requests
    tokenised_differently: int = 0  # joint vs separate tokenisation (no truncation involved)
    truncated: int = 0  # over max_length on either side
    max_abs_diff_other: float = 0.0  # over the requests counted in the two lines above
    lm_eval_acc: tuple[float | None, float | None] = (None, None)  # (winnow, HFLM)
    foundry_acc: tuple[float, float] = (math.nan, math.nan)  # (winnow, HFLM)
    foundry_pred_mismatch: int = 0  # items whose llm-foundry prediction differs
    examples: list[str] = field(default_factory=list)

    @property
    def lm_eval_acc_agrees(self) -> bool:
        return self.lm_eval_acc[0] == self.lm_eval_acc[1]

    @property
    def foundry_acc_agrees(self) -> bool:
        return self.foundry_acc[0] == self.foundry_acc[1] and self.foundry_pred_mismatch == 0


def compare_task(name: str, w: dict, h: dict, wlm, hflm, max_length: int) -> TaskAgreement:
    """Per-request and per-task agreement of one task's winnow (w) and HFLM (h) runs."""
    from winnow.eval.lm import LLRecord
    from winnow.eval.scoring import score_task

    try:
        from winnow.eval.taskgen import spec

        kind = spec(name).kind
    except Exception:  # noqa: BLE001 - not a winnow task: let scoring infer the kind
        kind = None
    a = TaskAgreement()
    hs = {s["doc_id"]: s for s in h["samples"]}
    h_records: dict[tuple[str, str], LLRecord] = {}
    for sw in w["samples"]:
        sh = hs[sw["doc_id"]]
        args_w = [tuple(x) for x in sw["arguments"]]
        if args_w != [tuple(x) for x in sh["arguments"]]:
            raise AssertionError(f"{name} doc {sw['doc_id']}: the two paths got different requests")
        for (ctx, cont), rw, rh in zip(args_w, sw["resps"], sh["resps"]):
            a.requests += 1
            (lw, gw), (lh, gh) = _lp(rw), _lp(rh)
            hc, ht = hflm_request_tokens(hflm, ctx, cont)
            wc, wt = winnow_request_tokens(wlm, ctx, cont)
            h_records[(ctx, cont)] = LLRecord(logprob=lh, tokens=len(ht), bytes=len(cont.encode("utf-8")), greedy=gh)
            diff = abs(lw - lh)
            if hflm_window(hc, ht, max_length) == winnow_window(wc, wt, max_length, wlm.eos_id):
                a.same_input += 1
                a.max_abs_diff = max(a.max_abs_diff, diff)
                a.greedy_mismatch += gw != gh
                continue
            a.max_abs_diff_other = max(a.max_abs_diff_other, diff)
            if len(hc) + len(ht) > max_length + 1 or len(wc or [0]) + len(wt) > max_length:
                a.truncated += 1
                why = f"truncated (HFLM {len(hc) + len(ht)} tokens, winnow {len(wc or [0]) + len(wt)})"
            else:
                a.tokenised_differently += 1
                why = f"tokenised differently: HFLM cont {ht[:6]}, winnow cont {wt[:6]}"
            if len(a.examples) < 3:
                a.examples.append(f"doc {sw['doc_id']} cont {cont[:30]!r}: {why}, |dlp| {diff:.3g}")
    a.lm_eval_acc = (w["results"].get("acc,none"), h["results"].get("acc,none"))
    vw, items_w = score_task(w["samples"], wlm.records, kind=kind)
    vh, items_h = score_task(h["samples"], h_records, kind=kind)
    a.foundry_acc = (vw["acc"], vh["acc"])
    a.foundry_pred_mismatch = sum(iw.get("pred", iw["acc"]) != ih.get("pred", ih["acc"])
                                  for iw, ih in zip(items_w, items_h))
    return a


# ----------------------------------------------------------------------------- comparison


@dataclass
class Report:
    tasks: list[str]
    rows: dict[str, int]
    requests: dict[str, int]
    seconds: dict[str, dict[str, float]]  # path -> task -> best seconds of the simple_evaluate call
    model_seconds: dict[str, dict[str, float]]  # path -> task -> best seconds inside loglikelihood
    total: dict[str, float]  # path -> best total over repeats
    total_model: dict[str, float]
    agreement: dict[str, TaskAgreement]
    settings: dict[str, Any]

    @property
    def max_abs_diff(self) -> float:
        return max((a.max_abs_diff for a in self.agreement.values()), default=0.0)

    def ratio(self, task: str | None = None, model_only: bool = False) -> float:
        src = self.model_seconds if model_only else self.seconds
        if task is None:
            tot = self.total_model if model_only else self.total
            return tot["hflm"] / tot["winnow"]
        return src["hflm"][task] / src["winnow"][task]


def compare(model, tokenizer, seq_len: int, tasks: Sequence[str], *, limit: int | None = 200, seed: int = SEED,
            hf_batch_size: int = 32, repeats: int = 2, winnow_kwargs: dict | None = None, tm=None,
            verbose: bool = False, log: Callable[[str], None] | None = None) -> Report:
    """Run WinnowLM and HFLM alternately `repeats` times on `tasks` and compare them."""
    from lm_eval.models.huggingface import HFLM

    from winnow.eval.lm import WinnowLM, find_eos_id
    from winnow.eval.runner import subsample, task_manager

    if tm is None:
        with quiet(not verbose):
            tm = task_manager()
    rows = {}
    for name in tasks:
        with quiet(not verbose):
            n_docs = len(fresh_task(tm, name).eval_docs)
        rows[name] = subsample(n_docs, limit, seed, name)
    eos_id = find_eos_id(tokenizer, model)
    hf_tok = hf_tokenizer(tokenizer, eos_id)
    winnow_kwargs = {"progress": False, **(winnow_kwargs or {})}

    def make(path: str):
        if path == "winnow":
            return WinnowLM(model, tokenizer, max_length=seq_len, eos_id=eos_id, **winnow_kwargs)
        with quiet(not verbose):
            return HFLM(pretrained=model, tokenizer=hf_tok, backend="causal", max_length=seq_len,
                        batch_size=hf_batch_size, device=str(next(model.parameters()).device))

    best: dict[str, dict[str, float]] = {"winnow": {}, "hflm": {}}
    best_model: dict[str, dict[str, float]] = {"winnow": {}, "hflm": {}}
    total = {"winnow": math.inf, "hflm": math.inf}
    total_model = {"winnow": math.inf, "hflm": math.inf}
    last: dict[str, tuple[Any, dict]] = {}
    for r in range(repeats):
        for path in ("winnow", "hflm"):
            lm = make(path)  # fresh adapter per run: no cache carried over from the previous one
            runs = run_path(lm, tm, rows, seed=seed, verbose=verbose)
            for name, run in runs.items():
                best[path][name] = min(best[path].get(name, math.inf), run["seconds"])
                best_model[path][name] = min(best_model[path].get(name, math.inf), run["model_seconds"])
            total[path] = min(total[path], sum(x["seconds"] for x in runs.values()))
            total_model[path] = min(total_model[path], sum(x["model_seconds"] for x in runs.values()))
            last[path] = (lm, runs)
            if log:
                log(f"repeat {r + 1}/{repeats} {path:<6} " + " ".join(
                    f"{n} {x['seconds']:.2f}s" for n, x in runs.items()))
    (wlm, wruns), (hflm, hruns) = last["winnow"], last["hflm"]
    agreement = {name: compare_task(name, wruns[name], hruns[name], wlm, hflm, seq_len) for name in tasks}
    requests = {name: sum(len(s["arguments"]) for s in wruns[name]["samples"]) for name in tasks}
    settings = {
        "seq_len": seq_len, "limit": limit, "seed": seed, "repeats": repeats, "hf_batch_size": hf_batch_size,
        "winnow_batch_size": wlm.batch_size, "winnow_max_batch_tokens": wlm.max_batch_tokens,
        "threads": torch.get_num_threads(), "dtype": str(next(model.parameters()).dtype),
    }
    return Report(tasks=list(tasks), rows={n: len(v) for n, v in rows.items()}, requests=requests, seconds=best,
                  model_seconds=best_model, total=total, total_model=total_model, agreement=agreement,
                  settings=settings)


def format_report(rep: Report) -> str:
    s = rep.settings
    lines = [
        f"seq_len {s['seq_len']}, {s['dtype']}, threads {s['threads']}, limit {s['limit']}, seed {s['seed']}, "
        f"best of {s['repeats']} alternating runs; HFLM batch {s['hf_batch_size']}, "
        f"WinnowLM batch {s['winnow_batch_size']} / {s['winnow_max_batch_tokens']} tokens",
        f"{'task':<26}{'rows':>5}{'reqs':>6}{'winnow s':>10}{'HFLM s':>9}{'ratio':>7}"
        f"{'model ratio':>12}{'max|dlp|':>10}{'same in':>9}{'lm-eval acc W/H':>17}{'foundry acc W/H':>17}",
    ]
    for t in rep.tasks:
        a = rep.agreement[t]
        le = "/".join("-" if v is None else f"{v:.3f}" for v in a.lm_eval_acc)
        fa = "/".join(f"{v:.3f}" for v in a.foundry_acc)
        lines.append(
            f"{t:<26}{rep.rows[t]:>5}{rep.requests[t]:>6}{rep.seconds['winnow'][t]:>10.2f}"
            f"{rep.seconds['hflm'][t]:>9.2f}{rep.ratio(t):>7.2f}{rep.ratio(t, model_only=True):>12.2f}"
            f"{a.max_abs_diff:>10.2e}{a.same_input:>5}/{a.requests:<4}{le:>16}{'' if a.lm_eval_acc_agrees else '!':1}"
            f"{fa:>16}{'' if a.foundry_acc_agrees else '!':1}"
        )
    lines.append(
        f"{'total':<26}{sum(rep.rows.values()):>5}{sum(rep.requests.values()):>6}{rep.total['winnow']:>10.2f}"
        f"{rep.total['hflm']:>9.2f}{rep.ratio():>7.2f}{rep.ratio(model_only=True):>12.2f}{rep.max_abs_diff:>10.2e}"
    )
    ag = rep.agreement.values()
    lines.append(
        f"HFLM/winnow time ratio {rep.ratio():.2f}x (whole simple_evaluate call), "
        f"{rep.ratio(model_only=True):.2f}x (inside loglikelihood only: "
        f"winnow {rep.total_model['winnow']:.2f}s, HFLM {rep.total_model['hflm']:.2f}s)"
    )
    lines.append(
        f"max |log-likelihood difference| over {sum(a.same_input for a in ag)} requests with identical model input: "
        f"{rep.max_abs_diff:.2e}; greedy-flag mismatches {sum(a.greedy_mismatch for a in ag)}"
    )
    other = sum(a.tokenised_differently + a.truncated for a in ag)
    lines.append(
        f"requests fed differently: {sum(a.tokenised_differently for a in ag)} tokenised differently "
        f"(HFLM: joint context+continuation), {sum(a.truncated for a in ag)} over the context "
        f"(HFLM keeps max_length+1 tokens, winnow max_length)"
        + (f"; max |difference| there {max(a.max_abs_diff_other for a in ag):.3g}" if other else "")
    )
    for t in rep.tasks:
        for ex in rep.agreement[t].examples:
            lines.append(f"  {t}: {ex}")
    lines.append(
        "accuracy agrees: lm-eval acc "
        + ("yes" if all(a.lm_eval_acc_agrees for a in ag) else "NO")
        + ", llm-foundry acc "
        + ("yes" if all(a.foundry_acc_agrees for a in ag) else "NO")
        + f" (items with a different llm-foundry prediction: {sum(a.foundry_pred_mismatch for a in ag)})"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="a HF causal-LM folder (or anything load_for_eval takes)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json or HF folder (default: found with the model)")
    p.add_argument("--seq-len", type=int, default=None, help="context length (default: found with the model)")
    p.add_argument("--tasks", default=DEFAULT_TASKS)
    p.add_argument("--limit", type=int, default=200, help="rows per task (a fixed seeded subsample)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--batch-size", type=int, default=32, help="HFLM's fixed batch size")
    p.add_argument("--winnow-batch-size", type=int, default=None, help="WinnowLM batch_size (default: its own)")
    p.add_argument("--repeats", type=int, default=2, help="alternate winnow/HFLM this often, keep the best of each")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--verbose", action="store_true", help="keep lm-eval's warnings and progress bars")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import winnow.train.model  # noqa: F401  (registers winnow's architecture with the Auto classes)
    from winnow.eval.model_io import load_for_eval

    loaded = load_for_eval(args.model, tokenizer=args.tokenizer, seq_len=args.seq_len)
    model = loaded.model.float().eval()
    print(f"torch {torch.__version__}, model {loaded.source['model']} ({loaded.source['kind']}), "
          f"tokenizer {loaded.source['tokenizer']}, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    wkw = {} if args.winnow_batch_size is None else {"batch_size": args.winnow_batch_size}
    rep = compare(model, loaded.tokenizer, loaded.seq_len, [t for t in args.tasks.split(",") if t],
                  limit=args.limit, seed=args.seed, hf_batch_size=args.batch_size, repeats=args.repeats,
                  winnow_kwargs=wkw, verbose=args.verbose, log=lambda m: print(m, flush=True))
    print(format_report(rep))
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
