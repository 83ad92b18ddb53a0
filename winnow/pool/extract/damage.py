"""Records left out and damaged files, for every reader of a raw source.

A record that is fine but has no usable text is *skipped and counted by reason* in
:class:`Skips` (the pool manifest's ``stats.skipped``, with a few examples per reason). A
*damaged* file (a truncated or corrupt compressed stream, a record shorter than its
``Content-Length``, unparseable bytes, a line that is not JSON) goes through :func:`corrupt`:
by default (``on_error: raise``) it stops the build with a :class:`SourceError` naming the file,
the record and the offset; with ``on_error: skip`` it is counted like a skip and the build goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A source file that is corrupt where it should not be (see the module docstring)."""


@dataclass
class Skips:
    """Counts of records left out, by reason, with a few examples for the log and the manifest."""

    counts: Counter = field(default_factory=Counter)
    by_file: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)  # sha256 of each file read to its end

    def add(self, reason: str, where: str, detail: str = "") -> None:
        """Count one record; ``where`` is ``<file name>`` or ``<file name>#<place in it>``."""
        self.counts[reason] += 1
        file = where.split("#", 1)[0]
        self.by_file.setdefault(file, Counter())[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 3:
            ex.append(f"{where}: {detail}" if detail else where)
            log.info("skipped %s (%s) %s", where, reason, detail)

    def stats(self) -> dict:
        return {"skipped": dict(sorted(self.counts.items())),
                "skipped_by_file": {f: dict(sorted(c.items())) for f, c in sorted(self.by_file.items())},
                "skip_examples": dict(sorted(self.examples.items()))}


def corrupt(spec: dict, skips: Skips, reason: str, where: str, detail: str) -> None:
    """A damaged record or file: raise (the default) or count it, as the source says."""
    if spec.get("on_error", "raise") == "skip":
        skips.add(reason, where, detail)
        return
    raise SourceError(f"{where}: {detail} ({reason}); the source file is damaged. Fetch it again, "
                      "or set `on_error: skip` on this pool source to count such records as "
                      "skipped and go on")

