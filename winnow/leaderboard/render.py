"""The leaderboard in Markdown: ``leaderboard/README.md`` and the tables between the repository README's markers.

``render(board)`` gives one Markdown section per scale (a table per track, each version of a CPU
scale opened by its signal line) from a ``tables.Board``; ``leaderboard_markdown`` makes them the
whole ``leaderboard/README.md`` (with ``HOW`` a row gets there and the ``LEGEND``, which the HTML
page shows too). ``replace_marked`` fills a block between two marker lines, for the README
sections here and the submission READMEs (``winnow.leaderboard.readmes``). Writing the files is
``winnow.leaderboard.build``'s.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from winnow.eval.contamination import THRESHOLD
from winnow.leaderboard.fmt import primary_text, rank_text
from winnow.leaderboard.stats import INTERVAL_RULE, TIE_RULE
from winnow.leaderboard.tables import Board, Table, is_lead


def markdown(t: Table) -> str:
    cols = t.columns
    head = ["rank", "submission", f"**{t.primary}** (95% CI)", *(c.header for c in cols), "rows"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in t.entries:
        files = ", ".join(f"`{Path(r['_path']).name}`" for r in e.rows if "_path" in r)
        cells = [rank_text(e), e.first["submission"], primary_text(e), *(c.fmt(c.get(e)) for c in cols), files]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(board: Board) -> dict[str, str]:
    """{scale: markdown} with one section per track, each version of a CPU scale opened by its
    ``signal_line``."""
    out: dict[str, list[str]] = defaultdict(list)
    seen = set()
    for t in board.tables:
        if t.model_key not in seen and (line := board.signal(t.scale, t.version)) is not None:
            seen.add(t.model_key)
            out[t.scale].append(f"*Signal of {t.scale} v{t.version}:* " + line)
        out[t.scale].append(f"**{t.scale} / {t.track} track** ({t.versions}; ranked by {t.primary}; "
                            f"seeds averaged, {t.noise_rule}, {INTERVAL_RULE}, {TIE_RULE})\n\n{markdown(t)}")
    return {scale: "\n\n".join(parts) for scale, parts in out.items()}

def replace_marked(text: str, markers: tuple[str, str], body: str) -> str:
    """``text`` with what lies between the ``markers`` lines (start, end) replaced by ``body``."""
    pat = re.compile(rf"({re.escape(markers[0])}\n).*?({re.escape(markers[1])})", re.S)
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)

HOW = """\
How a row gets here and how it is checked:

* `winnow submit <run folder>` refuses, naming each reason: unofficial runs (any `scale.*` /
  `suite.*` override, or manifests whose model, train, tokenizer or suite config is not the
  committed YAML at the recorded version), changed artifact bytes or broken parent links, a
  trained token count that is not the scale's derived budget, and filtering-track documents that
  are not their pool parent with text removed (rule `descent_v1`, `winnow/leaderboard/descent.py`:
  whitespace may reflow freely; the kept text must be pieces of the parent of 8+ characters or
  whole words, plus one short splice per 200 characters for what modifiers leave next to a cut).
* An id list (`ids: ids.txt` in recipe.yaml, a sorted file of pool ids) is a complete
  filtering-track submission and runs no submitter code; plugin code runs only with
  `allow_code=true` on the run's command line, and the row's `flags.plugin_code` / `flags.allow_code` record it.
* Curation CPU s: the CPU time (all threads and waited-for child processes) of the recipe's
  steps, summed over workers, as each step measured it. Rows from before schema 3 measured only
  wall-clock time: their figure is shown with `(wall)`, and never averaged with CPU time.
* Each row (schema 2 and later) has an evidence bundle beside it (`<row>.bundle.json`: run.json, every
  manifest of the chain, results.json). `winnow leaderboard check` recomputes every number of
  every row from its run folder when it is on the machine (`--runs DIR` adds places to look),
  else from the bundle, whose hashes chain to the manifest ids the row cites; a row with neither
  is reported, never passed. `winnow analyze agreement --scales A,B` compares two scales;
  `winnow analyze signal --scale S` gives every metric's and task's SNR, seed-to-seed Kendall tau
  and the pairs separated beyond seed noise.
"""

LEGEND = ("Ranks: `=k` marks entries whose 95% intervals overlap (rank = 1 + the number of entries "
          "whose interval lies wholly on the better side: above, or below for a lower-is-better metric). "
          "Intervals: t · the pooled seed sd / √n where some entry of the scale version has 2+ seeds, else "
          "t over the entry's own seeds, else 1.96 × the aggregate's per-task stderr; the pool is the "
          "table's seed-noise rule, chosen per scale version by the scale YAML (`leaderboard.noise`): "
          "seed_noise_v1 pools all tracks of the scale version, seed_noise_v2 pools within each track (a "
          "track with under 2 df takes all tracks'). Signal lines: the primary metric's SNR (sd of the "
          "means of the entries with 2+ seeds / their pooled seed sd) and seed-to-seed Kendall tau, as "
          "`winnow analyze signal` computes them. Flags: plugin code (the run opted in with allow_code=true and the "
          "recipe has plugins), targeted (recipe `targets:`), external data (mixing track), id list. "
          "A table with targeted entries shows their CORE without the targets (core_heldout_prob_v1) "
          "and, beside it, baselines/random's value of that aggregate over the same tasks. "
          "Curation seconds marked (wall) are wall-clock time (rows that did not measure CPU time). "
          "Contamination (rule ngram13_tokens_v1, eval/README.md): the shares of the evaluated items whose "
          "gold continuation, and whose context, share a 13-token n-gram with the trained tokens (the "
          "entry's most contaminated seed); FLAGGED when some task's gold share exceeds the threshold "
          f"({THRESHOLD:.0%}). Context overlap is reported, not flagged: the pool holds encyclopedic and book text.")


def leaderboard_markdown(sections: dict[str, str]) -> str:
    """The text of ``leaderboard/README.md`` from ``render``'s sections."""
    doc = ["# winnow leaderboard", "",
           "Generated by `winnow leaderboard build` from `rows/`; checked by `winnow leaderboard check`.",
           "", HOW, LEGEND, ""]
    for scale, body in sections.items():
        doc += [f"## {scale}" + (" (the CPU leaderboard track)" if is_lead(scale) else ""), "", body, ""]
    return "\n".join(doc)
