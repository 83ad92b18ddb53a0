"""The filtering-track descent check: every curated document is its pool parent with text removed.

submissions/README.md ("Recipes"): on the filtering track every training document descends from a
pool document (named by ``meta.pool_id``) and is made only of text present in it; steps may drop
documents, split them, remove text and reflow lines, but never add text. ``submit`` runs this
check over every document of a run's ``curated/shards`` before it writes a row.

Rule ``descent_v1`` (exact: no sampling, no hashing shortcuts):

1. *Identity.* ``meta.pool_id`` names a document of the run's pool, and the curated ``id`` is that
   id or ``<pool_id>#<k>`` (a split part).
2. *Reflow.* Both texts are whitespace-normalised: every run of whitespace (spaces, tabs, line
   breaks) becomes one space and the ends are stripped. So re-wrapping, joining or splitting
   lines, indentation and blank-line changes are free; reordering is not.
3. *Removal only.* The curated normalised text is cut greedily into *pieces*: the longest prefix
   of what is left that occurs anywhere in the parent's normalised text. Each cut is where a step
   removed something (a line, a URL, a ``[1]`` citation, a long word). A piece that would end
   inside a curated word ends before that word instead (so ``Vote`` after a cut is not matched
   as the start of ``Voting``, leaving ``e`` stranded). Pieces are not required
   to keep the parent's order: a greedy in-order match can pick a later copy of repeated text
   and then refuse an honest document, and moving kept text adds none.
4. *No spelling.* A piece must be at least ``MIN_PIECE`` characters long, or hold no letter or
   digit (punctuation left where a ``[1]`` was cut out of ``word[1].``), or else be whole words
   in the parent (the parent has a space or an end on both sides of it; leading and trailing
   spaces of the piece are ignored). A document may also hold ``1 + len // SPLICE_CHARS``
   short pieces that break this (*splices*: what is left of a word when a modifier cuts next to
   it, e.g. ``Lancet`` of ``Lancet[1]that``): enough for honest modifiers, far too few to spell
   text. Deleting words and spans is removal; stitching
   new text out of a few letters picked here and there is not, and fails here.

A document fails with the first piece that breaks the rule, quoted with its offset. Cost: one
``str.find`` per piece and binary-search step, C speed; for documents that only lost whole lines
that is a handful of finds, so the 214k-document pool checks in seconds per core. Parents are
read once per run, keeping in memory only the texts of pool ids the curated shards cite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from winnow.docs import read_docs

DESCENT_RULE = "descent_v1"   # bump when the rule below changes what passes
MIN_PIECE = 8                 # characters; shorter pieces must be whole words of the parent ...
SPLICE_CHARS = 200            # ... except one short "splice" per this many curated characters
MAX_PROBLEMS = 5              # documents quoted in an error message

_WS = re.compile(r"\s+")
_WORDCHAR = re.compile(r"\w")


def normalise(text: str) -> str:
    """Every whitespace run -> one space, ends stripped (what ``descent_v1`` compares)."""
    return _WS.sub(" ", text).strip()


def _longest_prefix_at(cur: str, i: int, parent: str, j: int) -> tuple[int, int]:
    """(length, position) of the longest prefix of cur[i:] found in parent at or after j."""
    whole = parent.find(cur[i:], j)
    if whole >= 0:
        return len(cur) - i, whole
    lo, hi, pos = 0, len(cur) - i, -1   # prefix of length lo is found; hi is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        p = parent.find(cur[i:i + mid], j)
        if p >= 0:
            lo, pos = mid, p
        else:
            hi = mid
    if lo and pos < 0:
        pos = parent.find(cur[i:i + lo], j)
    return lo, pos


def _whole_words(parent: str, start: int, end: int) -> bool:
    while start < end and parent[start] == " ":
        start += 1
    while end > start and parent[end - 1] == " ":
        end -= 1
    if start >= end:
        return True
    return (start == 0 or parent[start - 1] == " ") and (end == len(parent) or parent[end] == " ")


def _word_piece(cur: str, i: int, parent: str, j: int) -> tuple[int, int] | None:
    """Match the next word of cur[i:] as a whole word of parent at or after j: (new i, new j)."""
    k = i
    while k < len(cur) and cur[k] == " ":
        k += 1
    end = cur.find(" ", k)
    end = len(cur) if end < 0 else end
    if k == end:
        return end, j
    m = re.compile(r"(?:(?<= )|^)" + re.escape(cur[k:end]) + r"(?= |$)").search(parent, j)
    return None if m is None else (end, m.end())


_PUNCT_RUN = re.compile(r" ?[^\w\s]+")


def _punct_piece(cur: str, i: int, parent: str) -> tuple[int, int] | None:
    """A run of punctuation at cur[i:] (after at most one space) found in parent: (new i, 0)."""
    m = _PUNCT_RUN.match(cur, i)
    if m is None or parent.find(m.group()) < 0:
        return None
    return m.end(), 0


def check_text(curated: str, parent: str) -> str | None:
    """None when ``curated`` is ``parent`` with text removed and whitespace reflowed; else why."""
    cur, par = normalise(curated), normalise(parent)
    splices, budget = 0, 1 + len(cur) // SPLICE_CHARS
    i = j = 0
    while i < len(cur):
        n, pos = _longest_prefix_at(cur, i, par, j)
        if 0 < n < len(cur) - i and cur[i + n - 1].isalnum() and cur[i + n].isalnum():
            cut = cur.rfind(" ", i + 1, i + n)   # a piece ending inside a word: end it before that word
            n = cut - i if cut > i else n
        if n >= MIN_PIECE or (n and not _WORDCHAR.search(cur, i, i + n)) or \
                (n and _whole_words(par, pos, pos + n) and _whole_words(cur, i, i + n)):
            i = i + n
            continue
        step = _punct_piece(cur, i, par) or _word_piece(cur, i, par, j)
        if step is None and n and splices < budget:
            splices, step = splices + 1, (i + n, 0)
        if step is None:
            shown = cur[max(0, i - 20):i + 40]
            return (f"text at character {i} of the normalised document is not in its pool parent "
                    f"(no piece of {MIN_PIECE}+ characters or whole words of it matches, and its "
                    f"{budget} short splices are used up): ...{shown!r}...")
        i = step[0]
    return None


@dataclass
class DescentReport:
    rule: str = DESCENT_RULE
    docs: int = 0
    parents: int = 0
    problems: list[str] = field(default_factory=list)
    failed: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> dict:
        return {"rule": self.rule, "min_piece": MIN_PIECE, "docs": self.docs, "parents": self.parents,
                "failed": self.failed}


def check_descent(curated_shards: Iterable[Path], pool_shards: Iterable[Path]) -> DescentReport:
    """Check every curated document against its pool parent (``descent_v1``)."""
    curated_shards = list(curated_shards)
    report = DescentReport()

    def fail(shard: Path, doc_id, why: str) -> None:
        report.failed += 1
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append(f"{shard.name}: document {doc_id!r}: {why}")

    wanted: set[str] = set()
    for shard in curated_shards:
        for doc in read_docs(shard):
            pid = (doc.get("meta") or {}).get("pool_id")
            if isinstance(pid, str):
                wanted.add(pid)
    parents: dict[str, str] = {}
    for shard in pool_shards:
        for doc in read_docs(shard):
            if doc["id"] in wanted:
                parents[doc["id"]] = doc["text"]
    report.parents = len(parents)
    for shard in curated_shards:
        for doc in read_docs(shard):
            report.docs += 1
            pid = (doc.get("meta") or {}).get("pool_id")
            if not isinstance(pid, str):
                fail(shard, doc.get("id"), "has no meta.pool_id (filtering-track documents keep their pool id)")
                continue
            if pid not in parents:
                fail(shard, doc.get("id"), f"meta.pool_id {pid!r} is not a document of the run's pool")
                continue
            did = doc.get("id")
            if did != pid and not (isinstance(did, str) and did.startswith(pid + "#")):
                fail(shard, did, f"id is neither its pool id {pid!r} nor a split part '{pid}#<k>'")
                continue
            why = check_text(doc.get("text") or "", parents[pid])
            if why:
                fail(shard, did, why)
    return report
