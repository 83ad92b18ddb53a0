"""Selection steps: a seeded uniform sample, and an explicit list of ids.

``random_sample`` ranks every document by a keyed hash — ``blake2b(id, key=seed, 8 bytes)``
read as an unsigned integer, ties broken by position — and keeps the lowest-ranked documents:

* ``tokens: N`` (or ``tokens: budget`` = the scale's ``train_tokens``, times ``multiplier``):
  the longest prefix of the ranking whose estimated tokens stay within the budget (tokens are
  estimated as UTF-8 bytes / ``ctx.bytes_per_token``, no tokenizer is run). If the input holds
  fewer tokens than the budget, everything is kept.
* ``fraction: f``: the ``round(f * n)`` lowest-ranked of the ``n`` documents.
* ``keep_sources: [pattern, ...]`` (optional; ``fnmatch`` patterns on a document's ``source``,
  e.g. ``["external/*"]``, the mixing track's external documents): matching documents are kept
  unconditionally and only the others are ranked and sampled. With ``tokens``, the kept
  documents' estimated tokens count against the budget first and the others fill what remains
  (none when the kept ones already reach it; ``info.kept_sources_tokens`` and
  ``info.kept_sources_docs`` say how much was kept this way); with ``fraction``, ``n`` counts
  the other documents only. Left out (the default), every document is sampled, exactly as
  before the parameter existed (so the step's version and existing fingerprints are unchanged).

A document's fate depends only on (seed, its id, the rest of the corpus' ranks), so the sample is
the same for any shard layout or worker count, and nested: a smaller budget keeps a subset of a
larger one. Kept documents are written in input order (shard order, then line order) into shards
of the same names. Reason: ``not_sampled``.

``select_ids`` keeps exactly the documents whose ``id`` is listed in a sorted ids file (one id a
line): it implements ``ids:`` recipes. Listing an id that is not in the input is an error.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

from winnow.curate.base import (DropSampler, GlobalStep, ParamError, StepContext, StepError,
                                source_tag)
from winnow.curate.common.keys import rank_key
from winnow.curate.common.params import check_budget
from winnow.docs import read_docs, write_docs
from winnow.pool.ids import shown_id


def _write_selected(step: GlobalStep, input_shards: list[Path], out_dir: Path, keep, reason: str
                    ) -> list[Path]:
    """Second pass shared by the selection steps: copy kept documents, count and sample drops."""
    c = step.counters
    outputs = []
    pos = 0
    for shard in input_shards:
        sampler = DropSampler()

        def kept(shard=shard, sampler=sampler):
            nonlocal pos
            for doc in read_docs(shard):
                c.docs_in += 1
                if keep(pos, doc):
                    c.docs_out += 1
                    yield doc
                else:
                    c.drop(reason)
                    sampler.add(step.step_index, step.step_name, reason, doc)
                pos += 1

        out = Path(out_dir) / Path(shard).name
        write_docs(out, kept())
        sampler.write(Path(out_dir) / "dropped" / Path(shard).name)
        outputs.append(out)
    return outputs


class RandomSample(GlobalStep):
    """Seeded uniform sample to a token budget or a fraction of documents (exactly one),
    optionally keeping every document of the ``keep_sources`` sources.

    * ``tokens``: keep documents until their estimated tokens reach N (``budget``: the scale's
      training tokens)
    * ``fraction``: keep this share of the documents instead
    * ``multiplier``: scales ``tokens``
    * ``keep_sources``: ``fnmatch`` patterns of sources kept unconditionally
    """

    version = 1
    seed_dependent = True    # the ranking is keyed by the seed
    budget_dependent = True  # with `tokens:` (__init__)
    added_params = ("keep_sources",)

    def __init__(self, tokens: int | str | None = None, fraction: float | None = None,
                 multiplier: float = 1.0, keep_sources: list[str] | None = None):
        check_budget(tokens, fraction, multiplier)
        if fraction is not None and multiplier != 1.0:
            raise ParamError("multiplier", "applies to `tokens` only; scale `fraction` instead")
        if keep_sources is not None and (
                not keep_sources or not all(isinstance(p, str) and p for p in keep_sources)):
            raise ParamError("keep_sources", "must be a non-empty list of source patterns (e.g. "
                             "['external/*']); leave it out to sample every document")
        self.tokens = tokens
        self.fraction = fraction
        self.multiplier = multiplier
        self.budget_dependent = tokens is not None  # a fraction needs no budget
        self.keep_sources = list(keep_sources) if keep_sources is not None else None
        self.step_name = "random_sample"

    def always_kept(self, doc: dict) -> bool:
        """Whether ``doc``'s source matches a ``keep_sources`` pattern (kept unconditionally)."""
        src = source_tag(doc)
        return any(fnmatch.fnmatchcase(src, p) for p in self.keep_sources or ())

    def budget(self, ctx: StepContext) -> float:
        if self.tokens == "budget":
            if not ctx.train_tokens:
                raise StepError("random_sample tokens: budget needs the scale's train_tokens "
                                "(StepContext.train_tokens), which the caller did not set")
            return ctx.train_tokens * self.multiplier
        return float(self.tokens) * self.multiplier

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        import numpy as np

        budget = None
        if self.fraction is None:
            budget = self.budget(ctx)
            ctx.estimate_tokens(0)  # fail early if bytes_per_token is missing
        keys: list[int] = []
        nbytes: list[int] = []
        fixed: list[bool] = []  # kept unconditionally (keep_sources)
        for shard in input_shards:
            for doc in read_docs(shard):
                keys.append(rank_key(ctx.seed, doc["id"]))
                nbytes.append(len(doc["text"].encode("utf-8")))
                fixed.append(self.always_kept(doc))
        always = np.array(fixed, dtype=bool)
        order = np.argsort(np.array(keys, dtype=np.uint64), kind="stable")
        order = order[~always[order]]  # the ranked candidates (all documents by default)
        m = len(order)
        if budget is None:
            n_keep = min(m, math.floor(self.fraction * m + 0.5))
        else:
            tokens = np.array(nbytes, dtype=np.float64) / ctx.bytes_per_token
            fixed_tokens = float(tokens[always].sum())  # 0.0 without keep_sources
            cum = np.cumsum(tokens[order])
            n_keep = int(np.searchsorted(cum, budget - fixed_tokens, side="right"))
            self.counters.info["budget_tokens"] = budget
            self.counters.info["est_tokens_in"] = fixed_tokens + (float(cum[-1]) if m else 0.0)
            self.counters.info["est_tokens_kept"] = fixed_tokens + (
                float(cum[n_keep - 1]) if n_keep else 0.0)
            if self.keep_sources is not None:
                self.counters.info["kept_sources_tokens"] = fixed_tokens
        if self.keep_sources is not None:
            self.counters.info["kept_sources_docs"] = int(always.sum())
        keep = always.copy()
        keep[order[:n_keep]] = True
        return _write_selected(self, input_shards, out_dir, lambda pos, doc: bool(keep[pos]),
                               "not_sampled")


def read_ids(path: str | Path) -> list[str]:
    """Read an ids file (one id a line, blank lines ignored); check it is sorted and unique."""
    path = Path(path)
    if not path.is_file():
        raise ParamError("ids_file", f"no such file: {path}")
    ids: list[str] = []
    prev = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            doc_id = line.strip()
            if "\ufffd" in doc_id or "\x00" in doc_id:
                raise ParamError("ids_file", f"{path}:{lineno}: not UTF-8 text; an ids file has one pool "
                                 "document id a line (`winnow pool ids --scale S --out FILE` writes one)")
            if not doc_id:
                continue
            if prev is not None and doc_id <= prev:
                what = "repeats" if doc_id == prev else "is out of order after"
                raise ParamError("ids_file", f"{path}:{lineno}: id {shown_id(doc_id)} {what} {shown_id(prev)}; the "
                                 "ids file must be sorted and unique (fix with `LC_ALL=C sort -u`)")
            ids.append(doc_id)
            prev = doc_id
    if not ids:
        raise ParamError("ids_file", f"{path} lists no ids")
    return ids


class SelectIds(GlobalStep):
    """Keep exactly the documents whose id is listed in ``ids_file``. Reason: not_listed.

    Parameters:

    * ``ids_file``: a file of pool document ids, one a line, sorted and unique
    """

    version = 1
    seed_dependent = budget_dependent = False  # the ids file decides

    def __init__(self, ids_file: str):
        read_ids(ids_file)  # validates at recipe load: exists, sorted, unique, not empty
        self.ids_file = ids_file
        self.step_name = "select_ids"

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        wanted = set(read_ids(self.ids_file))
        found: set[str] = set()

        def keep(pos: int, doc: dict) -> bool:
            if doc["id"] in wanted:
                found.add(doc["id"])
                return True
            return False

        outputs = _write_selected(self, input_shards, out_dir, keep, "not_listed")
        missing = sorted(wanted - found)
        if missing:
            few = ", ".join(shown_id(m) for m in missing[:5])
            raise StepError(f"select_ids: {len(missing)} of {len(wanted)} ids in {self.ids_file} "
                            f"are not in the input (for example {few}); an ids file must list "
                            "pool document ids of the pool this run curates")
        return outputs
