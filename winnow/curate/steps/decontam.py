"""``decontaminate``: n-gram overlap of the curated data with the evaluation suite's texts.

The eval side is built once per run from the suite's task files under ``<data root>/eval/``
(the llm-foundry JSONL files of ``winnow.eval.taskgen.TASKS``). An *eval item* is one row of a
file; its text is what a model would see plus the gold answer:

* multiple choice: ``query`` + the gold choice;
* schema (Winograd-style): the gold ``context_options`` entry + ``continuation``;
* language modelling: ``context`` + ``continuation``;
* generation: ``context`` + ``chain_of_thought`` (when present) + ``answer``.

Text is compared as lower-cased ``\\w+`` words (Unicode), so case, punctuation and spacing do
not hide an overlap. An item contributes all its ``ngram``-grams (default 13, as GPT-3 and most
later decontamination work); an item shorter than ``ngram`` words contributes itself whole when
it has at least ``min_ngram`` words, and is skipped (counted) otherwise. N-grams found in more
than ``max_ngram_items`` distinct items are template text (prompt boilerplate) and ignored.

Memory: the eval side is a sorted array of 64-bit n-gram hashes with a 32-bit item number each
(12 bytes an eval n-gram, a few hundred MB at most for all 53 tasks), never the texts; the
corpus is streamed shard by shard. Hashes: each word is hashed with blake2b (8 bytes) and an
n-gram's hash is a polynomial of its word hashes modulo 2^64 (plus its length;
``winnow.ngrams``, shared with the eval stage's contamination measure), so the result is the
same in every process and on every machine.

A document is contaminated by an item when it contains at least one of the item's n-grams.
``counters.info`` (so ``stats.json``) gets, per task, ``<task>/items`` (items checked),
``<task>/contaminated_items`` and ``<task>/contaminated_docs`` (curated documents holding at
least one of that task's items), ``<task>/missing`` = 1 for a task whose file is absent
(skipped, with a warning), plus totals (``eval_items``, ``eval_ngrams``,
``eval_items_too_short``, ``contaminated_docs``). ``contamination.json`` in the step's folder
has the same per task, with up to 5 example document ids and item row numbers. With
``remove: true`` contaminated documents are dropped (reason ``contaminated``); otherwise every
document passes unchanged (the step only measures). Tasks come from ``tasks:`` (DCLM names or
``dclm_<name>``) or else from ``suite:`` (a ``conf/suite`` name; ``all`` = the 53 tasks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, ParamError, StepContext
from winnow.docs import read_docs, write_docs
from winnow.ngrams import ngram_hashes
from winnow.eval.data import gpqa_jsonl
from winnow.eval.runner import load_suite
from winnow.eval.taskgen import TASKS, spec
from winnow.paths import data_root

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
_VOCAB_CAP = 2_000_000  # word-hash cache entries before it is cleared (hashes are pure)
EXAMPLES = 5


def words(text: str) -> list[str]:
    """Lower-cased ``\\w+`` words: what decontamination compares."""
    return _WORD.findall(text.lower())


class _Hasher:
    """Deterministic 64-bit word hashes (cached) and n-gram hashes over them."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def word_hashes(self, ws: list[str]) -> np.ndarray:
        vocab = self.vocab
        if len(vocab) > _VOCAB_CAP:
            vocab.clear()
        out = np.empty(len(ws), dtype=np.uint64)
        for i, w in enumerate(ws):
            h = vocab.get(w)
            if h is None:
                h = vocab[w] = int.from_bytes(
                    hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(), "little")
            out[i] = h
        return out

    @staticmethod
    def ngrams(wh: np.ndarray, n: int) -> np.ndarray:
        """Hashes of every n-gram of the word-hash array (empty if it is shorter than n)."""
        return ngram_hashes(wh, n)


def item_text(row: dict, kind: str) -> str:
    """The text of one llm-foundry row: context plus gold answer (see the module docstring)."""
    parts: list[str] = []

    def add(v) -> None:
        if isinstance(v, str) and v.strip():
            parts.append(v)

    gold = row.get("gold")
    if kind == "schema":
        opts = row.get("context_options") or []
        if isinstance(gold, int) and 0 <= gold < len(opts):
            add(opts[gold])
        add(row.get("continuation"))
    elif kind == "multiple_choice":
        add(row.get("query") or row.get("context"))
        choices = row.get("choices") or []
        if isinstance(gold, int) and 0 <= gold < len(choices):
            add(choices[gold])
    else:  # language_modeling, generation
        add(row.get("context") or row.get("query"))
        add(row.get("continuation"))
        add(row.get("chain_of_thought"))
        add(row.get("answer"))
    return "\n".join(parts)


def suite_tasks(suite: str) -> list[str]:
    """DCLM task names of a ``conf/suite`` suite (``all``: the 53 tasks of ``TASKS``)."""
    if suite == "all":
        return [t.name for t in TASKS]
    names = [e["task"] for e in load_suite(suite)["tasks"]]
    return [n[len("dclm_"):] if n.startswith("dclm_") else n for n in names]


class Decontaminate(GlobalStep):
    """Measure (and with ``remove: true`` remove) n-gram overlap with the eval suite's items.

    Parameters:

    * ``suite``: the ``conf/suite`` whose tasks are checked (``all``: the 53 tasks), unless
      ``tasks`` is given
    * ``tasks``: the tasks to check, DCLM names or ``dclm_<name>`` (null: those of ``suite``)
    * ``ngram``: the n-gram size, in lower-cased words
    * ``min_ngram``: an item shorter than ``ngram`` words counts whole when it has at least this
      many words
    * ``max_ngram_items``: n-grams found in more than this many items are template text and
      ignored
    * ``remove``: drop contaminated documents (false: only measure)
    """

    version = 1
    seed_dependent = budget_dependent = False  # unseeded n-gram hashes of the eval items
    reason = "contaminated"

    def __init__(self, suite: str = "extended", tasks: list[str] | None = None, ngram: int = 13,
                 min_ngram: int = 8, max_ngram_items: int = 10, remove: bool = False):
        if ngram < 1:
            raise ParamError("ngram", f"must be >= 1, got {ngram}")
        if not 1 <= min_ngram <= ngram:
            raise ParamError("min_ngram", f"must be between 1 and ngram ({ngram}), got {min_ngram}")
        if max_ngram_items < 1:
            raise ParamError("max_ngram_items", f"must be >= 1, got {max_ngram_items}")
        if tasks is not None:
            if not isinstance(tasks, list) or not tasks:
                raise ParamError("tasks", "must be a non-empty list of DCLM task names")
            names = tasks
        else:
            try:
                names = suite_tasks(suite)
            except (OSError, ValueError) as e:
                raise ParamError("suite", f"{suite!r}: {e} (a conf/suite name, or 'all')") from None
        try:
            self.specs = [spec(t) for t in names]
        except KeyError as e:
            raise ParamError("tasks", str(e.args[0])) from None
        self.suite, self.tasks = suite, tasks
        self.ngram, self.min_ngram, self.max_ngram_items = ngram, min_ngram, max_ngram_items
        self.remove = remove

    # ----------------------------------------------------------------------- eval side

    def _task_file(self, t) -> Path | None:
        if t.derived:
            try:
                return Path(gpqa_jsonl(t.derived))
            except Exception as e:  # archive missing or unreadable: skip, with a note
                log.warning("decontaminate: task %s skipped: %s", t.name, e)
                return None
        path = data_root() / "eval" / t.file
        if not path.is_file():
            log.warning("decontaminate: task %s skipped: %s is missing", t.name, path)
            return None
        return path

    def build_index(self, hasher: _Hasher) -> dict:
        """Read the task files; return the sorted n-gram table and per-file item ranges."""
        files: dict[tuple, dict] = {}  # (file, derived) -> {"path", "start", "count", "tasks"}
        keys: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        n_items = too_short = 0
        lengths: set[int] = {self.ngram}
        missing: list[str] = []
        for t in self.specs:
            fkey = (t.file, t.derived)
            if fkey in files:
                files[fkey]["tasks"].append(t.name)
                continue
            path = self._task_file(t)
            if path is None:
                missing.append(t.name)
                files[fkey] = {"path": None, "start": n_items, "count": 0, "tasks": [t.name]}
                continue
            start = n_items
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    ws = words(item_text(json.loads(line), t.kind))
                    item = n_items
                    n_items += 1
                    if len(ws) >= self.ngram:
                        h = hasher.ngrams(hasher.word_hashes(ws), self.ngram)
                    elif len(ws) >= self.min_ngram:
                        h = hasher.ngrams(hasher.word_hashes(ws), len(ws))
                        lengths.add(len(ws))
                    else:
                        too_short += 1
                        continue
                    h = np.unique(h)
                    keys.append(h)
                    owners.append(np.full(len(h), item, dtype=np.int32))
            files[fkey] = {"path": str(path), "start": start, "count": n_items - start,
                           "tasks": [t.name]}
        if keys:
            k = np.concatenate(keys)
            o = np.concatenate(owners)
            order = np.lexsort((o, k))
            k, o = k[order], o[order]
            # drop template n-grams: shared by more than max_ngram_items distinct items
            uniq, counts = np.unique(k, return_counts=True)
            common = uniq[counts > self.max_ngram_items]
            if len(common):
                keep = ~np.isin(k, common)
                k, o = k[keep], o[keep]
        else:
            k, o = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32)
        return {"keys": k, "owners": o, "files": files, "n_items": n_items,
                "too_short": too_short, "lengths": sorted(lengths), "missing": missing,
                "templates": int(len(common)) if keys else 0}

    # ----------------------------------------------------------------------- corpus side

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        hasher = _Hasher()
        idx = self.build_index(hasher)
        keys, owners, files = idx["keys"], idx["owners"], idx["files"]
        item_file = np.empty(idx["n_items"], dtype=np.int32)  # item -> file number
        file_list = list(files.values())
        for fi, f in enumerate(file_list):
            item_file[f["start"]:f["start"] + f["count"]] = fi
        hit_items = np.zeros(idx["n_items"], dtype=bool)
        file_docs = [0] * len(file_list)
        file_examples: list[list[str]] = [[] for _ in file_list]
        c = self.counters
        state = {"contaminated": 0}
        outputs = []
        out_dir = Path(out_dir)

        def scan(shard: Path, sampler: DropSampler):
            """Yield the shard's kept documents, counting and recording matches."""
            for doc in read_docs(shard):
                c.docs_in += 1
                items = self._match(doc["text"], hasher, keys, owners, idx["lengths"])
                if items is not None:
                    state["contaminated"] += 1
                    hit_items[items] = True
                    for fi in np.unique(item_file[items]).tolist():
                        file_docs[fi] += 1
                        if len(file_examples[fi]) < EXAMPLES:
                            file_examples[fi].append(str(doc.get("id")))
                    if self.remove:
                        c.drop(self.reason)
                        sampler.add(self.step_index, self.step_name or "decontaminate",
                                    self.reason, doc)
                        continue
                c.docs_out += 1
                yield doc

        for shard in input_shards:
            sampler = DropSampler()
            out = out_dir / Path(shard).name
            if self.remove:
                write_docs(out, scan(shard, sampler))
                sampler.write(out_dir / "dropped" / Path(shard).name)
            else:  # measuring only: the shard passes unchanged
                for _ in scan(shard, sampler):
                    pass
                tmp = out.with_name(out.name + ".tmp")
                try:
                    os.link(shard, tmp)
                except OSError:
                    shutil.copyfile(shard, tmp)
                os.replace(tmp, out)
            outputs.append(out)

        report: dict = {"ngram": self.ngram, "min_ngram": self.min_ngram,
                        "max_ngram_items": self.max_ngram_items, "remove": self.remove,
                        "eval_items": idx["n_items"], "eval_ngrams": int(len(keys)),
                        "eval_items_too_short": idx["too_short"],
                        "template_ngrams_ignored": idx["templates"],
                        "contaminated_docs": state["contaminated"], "tasks": {}}
        info = c.info
        for fi, f in enumerate(file_list):
            rows = hit_items[f["start"]:f["start"] + f["count"]]
            for task in f["tasks"]:
                entry = {"file": f["path"], "items": f["count"],
                         "contaminated_items": int(rows.sum()),
                         "contaminated_docs": file_docs[fi],
                         "example_doc_ids": file_examples[fi],
                         "example_item_rows": np.flatnonzero(rows)[:EXAMPLES].tolist()}
                if f["path"] is None:
                    entry["missing"] = True
                    info[f"{task}/missing"] = 1
                else:
                    info[f"{task}/items"] = f["count"]
                    info[f"{task}/contaminated_items"] = entry["contaminated_items"]
                    info[f"{task}/contaminated_docs"] = file_docs[fi]
                report["tasks"][task] = entry
        info["eval_items"] = idx["n_items"]
        info["eval_ngrams"] = int(len(keys))
        info["eval_items_too_short"] = idx["too_short"]
        info["contaminated_docs"] = state["contaminated"]
        (out_dir / "contamination.json").write_text(json.dumps(report, indent=1, sort_keys=True),
                                                    encoding="utf-8")
        return outputs

    def _match(self, text: str, hasher: _Hasher, keys: np.ndarray, owners: np.ndarray,
               lengths: list[int]) -> np.ndarray | None:
        """Item numbers whose n-grams occur in ``text`` (None when there are none)."""
        if not len(keys):
            return None
        ws = words(text)
        if len(ws) < lengths[0]:
            return None
        wh = hasher.word_hashes(ws)
        found: list[np.ndarray] = []
        for n in lengths:
            h = hasher.ngrams(wh, n)
            if not len(h):
                continue
            h = np.unique(h)
            pos = np.searchsorted(keys, h)
            ok = pos < len(keys)
            ok[ok] = keys[pos[ok]] == h[ok]
            if not ok.any():
                continue
            lo = pos[ok]
            hi = np.searchsorted(keys, h[ok], side="right")
            for a, b in zip(lo.tolist(), hi.tolist()):
                found.append(owners[a:b])
        if not found:
            return None
        return np.unique(np.concatenate(found))
