"""Corpus-wide exact line dedup (C4's "remove every line seen before"), keeping the first copy.

DCLM's ``baselines_configs/c4.yaml`` splits pages into lines (``split_lines_modifier``), runs
``exact_dedup`` on the lines with ``normalize: normalize_whitespace_and_lowercase`` and joins
the survivors with ``\\n`` (``join_lines_modifier``), dropping pages left without lines.
``line_dedup`` is that pass as one GlobalStep:

* Lines are ``text.split("\\n")``; with ``normalize: true`` (the default) a line is compared
  lower-cased with every whitespace run collapsed to one space and the ends stripped.
* A line is removed when an equal line occurred earlier in the corpus: earlier in the same page
  or in an earlier page. Order is deterministic: shards in the order given (the pipeline keeps
  the pool's shard order), then documents in line order, so the kept copy never depends on the
  number of workers. (DCLM chooses the surviving copy by a hash of the page URL,
  ``selection_key: url``; winnow keeps the first copy in pool order. The set of distinct lines
  kept is the same; which page keeps each one differs.)
* Blank (whitespace-only) lines are never duplicates with ``keep_blank: true`` (the default), so
  paragraph breaks survive; ``keep_blank: false`` treats them like any other line (only the
  first blank line of the corpus survives).
* A page whose lines were all removed (or that is left with blank lines only) is dropped with
  reason ``empty_after_line_dedup``; the kept lines are joined with ``\\n``, unstripped.

Memory: lines are compared by a 64-bit blake2b digest kept in a sorted NumPy array, 8 bytes
per distinct line in the corpus (plus the current shard's new digests in a Python set); with
``max_memory`` (bytes, or a size such as ``2GiB``) the step fails, naming the count, as soon
as the digest array outgrows it. A 64-bit digest makes a false match (a unique line removed) about n^2 / 2^65 likely
for n distinct lines: under 0.03 for a billion lines.

Resumable: after each shard its output, drop sample, counters and the digest array so far are
written under ``<out_dir>/_partial`` (``winnow.curate.common.partial``); a retried run continues
at the first unfinished shard and writes the same outputs.

Counters: ``info.lines``, ``info.lines_removed``, ``info.docs_modified``, ``info.bytes_in``,
``info.bytes_removed``, ``info.distinct_lines`` and ``info.line_removal_rate``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, StepContext, StepError
from winnow.curate.common.text import normalize_text
from winnow.curate.common.partial import (open_partial, PartialDir, human_bytes, load_array, merge_shard_stats,
                                         load_json, parse_bytes, save_array, save_json)
from winnow.docs import read_docs, write_docs

REASON = "empty_after_line_dedup"
_INFO = ("lines", "lines_removed", "docs_modified", "bytes_in", "bytes_removed")


def line_digest(line: str, normalize: bool) -> int:
    if normalize:
        line = normalize_text(line)
    return int.from_bytes(hashlib.blake2b(line.encode("utf-8"), digest_size=8).digest(), "little")


class LineDedup(GlobalStep):
    """Remove every line (normalised) seen earlier in the corpus; first copy kept.
    Reason for pages left empty: ``empty_after_line_dedup``.

    Parameters:

    * ``normalize``: compare lines lower-cased, whitespace runs collapsed, ends stripped
    * ``keep_blank``: never treat blank lines as duplicates (paragraph breaks survive)
    * ``max_memory``: fail once the line digests outgrow this many bytes (or a size such as
      ``2GiB``; null: no limit)
    """

    version = 1
    seed_dependent = budget_dependent = False  # unseeded digests, first copy in input order
    resumable = True

    def __init__(self, normalize: bool = True, keep_blank: bool = True,
                 max_memory: int | str | None = None):
        self.normalize = bool(normalize)
        self.keep_blank = bool(keep_blank)
        self.max_memory = None if max_memory is None else parse_bytes(max_memory, "max_memory")

    def settings(self) -> dict:
        return {"normalize": self.normalize, "keep_blank": self.keep_blank}

    # ------------------------------------------------------------------ one page

    def dedup_text(self, text: str, seen: np.ndarray, new: set[int]) -> tuple[str | None, int, int]:
        """(kept text or None when nothing but blanks is left, lines, lines removed); adds the
        page's new digests to ``new``."""
        lines = text.split("\n")
        digests = [None if (self.keep_blank and not line.strip())
                   else line_digest(line, self.normalize) for line in lines]
        present = self._in_seen([d for d in digests if d is not None], seen)
        kept, removed, j = [], 0, 0
        for line, d in zip(lines, digests):
            if d is None:
                kept.append(line)
                continue
            dup = present[j] or d in new
            j += 1
            if dup:
                removed += 1
                continue
            new.add(d)
            kept.append(line)
        if not removed:
            return text, len(lines), 0
        out = "\n".join(kept)
        return (out if out.strip() else None), len(lines), removed

    @staticmethod
    def _in_seen(digests: list[int], seen: np.ndarray) -> list[bool]:
        if not digests or seen.size == 0:
            return [False] * len(digests)
        q = np.asarray(digests, dtype=np.uint64)
        pos = np.searchsorted(seen, q)
        pos[pos == seen.size] = 0
        return (seen[pos] == q).tolist()

    # ------------------------------------------------------------------ the corpus

    def _check_memory(self, seen: np.ndarray) -> None:
        if self.max_memory is not None and seen.nbytes > self.max_memory:
            raise StepError(f"line_dedup: the digests of {seen.size} distinct lines take "
                            f"{human_bytes(seen.nbytes)}, over max_memory "
                            f"{human_bytes(self.max_memory)} (8 bytes a distinct line)")

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        shards, out_dir, part = open_partial("line_dedup", self.version, self.settings(), input_shards, out_dir)
        names = [p.name for p in shards]
        start, seen = 0, np.zeros(0, dtype=np.uint64)
        state_file = part.root / "state.json"
        if state_file.exists():
            state = load_json(state_file)
            n = int(state["next"])
            ok = (all((out_dir / x).exists() for x in names[:n])
                  and (part.root / state["seen"]).exists())
            if ok:
                start, seen = n, load_array(part.root / state["seen"])
        for i in range(start, len(shards)):
            seen = self._shard(shards[i], out_dir, part, seen)
            self._check_memory(seen)
            save_array(part.path(f"seen_{i + 1}.npy"), seen)
            save_json(state_file, {"next": i + 1, "seen": f"seen_{i + 1}.npy"})
            part.remove(f"seen_{i}.npy")
            part.mark("out", shards[i].name)
        return self._finish(names, part, int(seen.size))

    def _shard(self, shard: Path, out_dir: Path, part: PartialDir,
               seen: np.ndarray) -> np.ndarray:
        c = {"in": 0, "out": 0, "dropped": {}, **{k: 0 for k in _INFO}}
        sampler = DropSampler()
        name = self.step_name or "line_dedup"
        new: set[int] = set()

        def kept():
            for doc in read_docs(shard):
                text = doc["text"]
                nbytes = len(text.encode("utf-8"))
                c["in"] += 1
                c["bytes_in"] += nbytes
                out, lines, removed = self.dedup_text(text, seen, new)
                c["lines"] += lines
                c["lines_removed"] += removed
                if out is None:
                    c["dropped"][REASON] = c["dropped"].get(REASON, 0) + 1
                    c["bytes_removed"] += nbytes
                    sampler.add(self.step_index, name, REASON, doc)
                    continue
                if removed:
                    c["docs_modified"] += 1
                    c["bytes_removed"] += nbytes - len(out.encode("utf-8"))
                    doc = dict(doc)
                    doc["text"] = out
                c["out"] += 1
                yield doc

        write_docs(out_dir / shard.name, kept())
        sampler.write(out_dir / "dropped" / shard.name)
        save_json(part.path("out", shard.name + ".json"), c)
        if not new:
            return seen
        return np.union1d(seen, np.fromiter(new, dtype=np.uint64, count=len(new)))

    def _finish(self, names: list[str], part: PartialDir, distinct: int) -> list[Path]:
        c, info = merge_shard_stats(part, names, _INFO)
        info["distinct_lines"] = distinct
        info["line_removal_rate"] = (round(info["lines_removed"] / info["lines"], 6)
                                     if info["lines"] else 0.0)
        c.info = info
        self.counters = c
        return [part.root.parent / n for n in names]
