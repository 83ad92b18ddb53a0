"""Evaluation speed: winnow's ``WinnowLM`` against lm-eval's stock ``HFLM``, same tasks, same model.

winnow runs a suite its runner's way (``winnow.eval.runner.run_tasks``: each task's eval split cut to
its fixed subsample, one ``simple_evaluate`` call for all tasks), lm-eval the stock way (one
``simple_evaluate(..., samples=rows)`` call for all tasks). Both get the same model object (fp32, inference only, same torch thread count),
the same tokenizer (``HFLM`` gets it wrapped as a ``PreTrainedTokenizerFast`` with eos = pad = the
end-of-text token), the same fixed seeded row subsample of each task (``winnow.eval.runner.subsample``)
and the same seeds. ``HFLM`` runs with a fixed batch size (never "auto") and ``max_length`` = the
model's training context.

Timing: ``time.perf_counter`` around each path's whole suite run, task loading included (model
loading excluded); "model" is the part of it spent inside the adapter's ``loglikelihood``. The
paths alternate (winnow, HFLM, winnow, HFLM, ... ``--repeats`` times) and each keeps its fastest
run, to damp noise on a shared machine; quote the ratios, not the seconds.

Agreement, per request (lm-eval's logged ``resps``): the largest absolute log-likelihood difference
over requests both paths feed the model identically. ``HFLM`` tokenises context + continuation
jointly (and moves trailing context spaces into the continuation) and truncates to
``max_length + 1`` tokens, WinnowLM tokenises them separately (llm-foundry) and truncates to
``max_length``; requests where the token ids differ for either reason are counted apart, with their
largest difference. Accuracy: lm-eval's own ``acc`` per task from both runs, and llm-foundry's
accuracy (``winnow.eval.scoring``, lowest mean per-token loss) from each path's own log-likelihoods
and continuation token counts.

    python bench/bench_eval.py                       # newest trained tiny-1x / 1m-1x model, 4 tasks, 200 rows
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

DEFAULT_TASKS = "dclm_arc_easy,dclm_hellaswag_zeroshot,dclm_winogrande,dclm_lambada_openai"
SEED = 1234  # the quick suite's seed: subsample rows and every lm-eval seed


# ------------------------------------------------------------------------------------ setup


def default_model() -> str:
    """The newest trained model of a CPU scale under $WINNOW_HOME/runs (tiny-1x, else 1m-1x)."""
    from winnow.paths import winnow_home

    for scale in ("tiny-1x", "1m-1x"):
        found = sorted(winnow_home().glob(f"runs/*__{scale}__*/train/model/config.json"),
                       key=lambda p: p.stat().st_mtime)
        if found:
            return str(found[-1].parent)
    raise SystemExit(f"no trained tiny-1x or 1m-1x model under {winnow_home()}/runs: train one "
                     "(winnow run scale=tiny-1x submission=baselines/random) or pass --model PATH")


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


def run_path(path: str, lm, tm, rows: dict[str, list[int]], *, limit: int | None, seed: int = SEED,
             verbose: bool = False) -> dict[str, Any]:
    """Evaluate `lm` on every task in one go, the way `path` runs a suite:

    - "winnow": ``winnow.eval.runner.run_tasks``, the runner's own code (tasks loaded, each eval
      split cut to its fixed subsample, one ``simple_evaluate`` call);
    - "hflm": stock lm-eval (tasks loaded, one ``simple_evaluate(..., samples=rows)`` call).

    Both timed from task loading to results. Returns {"seconds", "model_seconds",
    "tasks": {task: {"samples", "results"}}}; samples' doc_id are row numbers of the task file
    on both paths."""
    import lm_eval

    from winnow.eval.runner import run_tasks

    timed = _Timed(lm.loglikelihood)
    lm.loglikelihood = timed  # simple_evaluate looks the method up on the instance
    try:
        with quiet(not verbose):
            t0 = time.perf_counter()
            if path == "winnow":
                entries = [{"task": n, "num_fewshot": 0, "limit": limit} for n in rows]
                runs, missing = run_tasks(lm, tm, entries, seed=seed)
                if missing:
                    raise FileNotFoundError("; ".join(missing.values()))
                tasks = {n: {"samples": r["samples"], "results": r["results"]} for n, r in runs.items()}
                if any(r["rows"] != rows[n] for n, r in runs.items()):
                    raise AssertionError("the runner picked other rows than the bench")
            else:
                res = lm_eval.simple_evaluate(
                    model=lm, tasks=[fresh_task(tm, n) for n in rows], samples=rows, task_manager=tm,
                    log_samples=True, bootstrap_iters=0, random_seed=seed, numpy_random_seed=seed,
                    torch_random_seed=seed, fewshot_random_seed=seed,
                )
                tasks = {n: {"samples": res["samples"][n], "results": res["results"][n]} for n in rows}
            dt = time.perf_counter() - t0
    finally:
        del lm.loglikelihood
    return {"seconds": dt, "model_seconds": timed.seconds, "tasks": tasks}


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
    seconds: dict[str, float]  # path -> best seconds of a whole suite run (task loading to results)
    model_seconds: dict[str, float]  # path -> best seconds inside loglikelihood
    agreement: dict[str, TaskAgreement]
    settings: dict[str, Any]

    @property
    def max_abs_diff(self) -> float:
        return max((a.max_abs_diff for a in self.agreement.values()), default=0.0)

    def ratio(self, model_only: bool = False) -> float:
        src = self.model_seconds if model_only else self.seconds
        return src["hflm"] / src["winnow"]


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

    best = {"winnow": math.inf, "hflm": math.inf}
    best_model = {"winnow": math.inf, "hflm": math.inf}
    last: dict[str, tuple[Any, dict]] = {}
    for r in range(repeats):
        for path in ("winnow", "hflm"):
            lm = make(path)  # fresh adapter per run: no cache carried over from the previous one
            run = run_path(path, lm, tm, rows, limit=limit, seed=seed, verbose=verbose)
            best[path] = min(best[path], run["seconds"])
            best_model[path] = min(best_model[path], run["model_seconds"])
            last[path] = (lm, run["tasks"])
            if log:
                log(f"repeat {r + 1}/{repeats} {path:<6} {run['seconds']:.2f}s "
                    f"(inside loglikelihood {run['model_seconds']:.2f}s)")
    (wlm, wruns), (hflm, hruns) = last["winnow"], last["hflm"]
    agreement = {name: compare_task(name, wruns[name], hruns[name], wlm, hflm, seq_len) for name in tasks}
    requests = {name: sum(len(s["arguments"]) for s in wruns[name]["samples"]) for name in tasks}
    settings = {
        "seq_len": seq_len, "limit": limit, "seed": seed, "repeats": repeats, "hf_batch_size": hf_batch_size,
        "winnow_batch_size": wlm.batch_size, "winnow_max_batch_tokens": wlm.max_batch_tokens,
        "threads": torch.get_num_threads(), "dtype": str(next(model.parameters()).dtype),
    }
    return Report(tasks=list(tasks), rows={n: len(v) for n, v in rows.items()}, requests=requests, seconds=best,
                  model_seconds=best_model, agreement=agreement, settings=settings)


def format_report(rep: Report) -> str:
    s = rep.settings
    lines = [
        f"seq_len {s['seq_len']}, {s['dtype']}, threads {s['threads']}, limit {s['limit']}, seed {s['seed']}, "
        f"best of {s['repeats']} alternating runs; HFLM batch {s['hf_batch_size']}, "
        f"WinnowLM batch {s['winnow_batch_size']} / {s['winnow_max_batch_tokens']} tokens",
        f"{'task':<26}{'rows':>5}{'reqs':>6}{'max|dlp|':>10}{'same in':>10}{'lm-eval acc W/H':>17}"
        f"{'foundry acc W/H':>17}",
    ]
    for t in rep.tasks:
        a = rep.agreement[t]
        le = "/".join("-" if v is None else f"{v:.3f}" for v in a.lm_eval_acc)
        fa = "/".join(f"{v:.3f}" for v in a.foundry_acc)
        lines.append(
            f"{t:<26}{rep.rows[t]:>5}{rep.requests[t]:>6}{a.max_abs_diff:>10.2e}{a.same_input:>5}/{a.requests:<4}"
            f"{le:>17}{'' if a.lm_eval_acc_agrees else '!':1}{fa:>16}{'' if a.foundry_acc_agrees else '!':1}"
        )
    ag = rep.agreement.values()
    lines.append(
        f"whole run (task loading to results): winnow {rep.seconds['winnow']:.2f}s, HFLM {rep.seconds['hflm']:.2f}s; "
        f"inside loglikelihood: winnow {rep.model_seconds['winnow']:.2f}s, HFLM {rep.model_seconds['hflm']:.2f}s"
    )
    lines.append(
        f"HFLM/winnow time ratio {rep.ratio():.2f}x (whole run), {rep.ratio(model_only=True):.2f}x (inside "
        f"loglikelihood only)"
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
    p.add_argument("--model", default=None, help="a HF causal-LM folder (or anything load_for_eval takes); "
                   "default: the newest tiny-1x / 1m-1x model under $WINNOW_HOME/runs")
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

    loaded = load_for_eval(args.model or default_model(), tokenizer=args.tokenizer, seq_len=args.seq_len)
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
