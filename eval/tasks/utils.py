"""Helpers for winnow's DCLM task YAMLs: load llm-foundry JSONL files and build prompts.

lm-eval imports this file by path (`!function utils.<fn>` in the YAMLs next to it), so it
must stay importable on its own; it only needs `winnow.paths` to find the data root.

Prompt construction follows llm-foundry 0.9.0 (DCLM's evaluator), see eval/README.md:

- top-level string fields of every row are stripped on load; list entries are not;
- the context is `query + continuation_delimiter`, right-stripped, so `"\\nAnswer: "` becomes
  `"\\nAnswer:"`, and every answer carries its own leading space (added when missing);
- lm-eval's `target_delimiter` is therefore "" in every winnow task: the space lives in the
  choice / target strings, exactly where llm-foundry puts it, and few-shot demonstrations come
  out as `context + answer` the way llm-foundry writes them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import datasets

from winnow.paths import data_root


def _strip_top_level(row: dict) -> dict:
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


@functools.lru_cache(maxsize=16)
def _load_dataset_dict(path: str) -> datasets.DatasetDict:
    with open(path, encoding="utf-8") as f:
        rows = [_strip_top_level(json.loads(line)) for line in f if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def load_dclm(file: str | None = None, **_metadata) -> datasets.DatasetDict:
    """`custom_dataset` for every winnow task: `<data root>/eval/<file>` as a `test` split.

    lm-eval calls `custom_dataset(**metadata, **dataset_kwargs)`; `file` comes from the
    task's `dataset_kwargs`, everything else (version, ...) is ignored. Rows keep file order,
    so a doc index is a row number of the file.
    """
    if not file:
        raise ValueError("winnow DCLM task: dataset_kwargs.file (path under <data>/eval/) is required")
    path = Path(data_root()) / "eval" / file
    if not path.is_file():
        raise FileNotFoundError(
            f"winnow DCLM task data {path} is missing (see {path.parent.parent / 'SOURCE.md'})"
        )
    return _load_dataset_dict(str(path))


# ---------------------------------------------------------------------------------- pieces


def _space(answer: str) -> str:
    """llm-foundry's prefix space: added to an answer unless it already starts with one."""
    return answer if answer.startswith(" ") else " " + answer


def _context(text: str, continuation_delimiter: str) -> str:
    return (text + continuation_delimiter).rstrip()


# -------------------------------------------------------------- multiple choice (query/choices)


def mc_context_answer(doc: dict) -> str:
    """Context for DCLM tasks with `continuation_delimiter: "\\nAnswer: "` (arc, piqa, ...)."""
    return _context(doc["query"], "\nAnswer: ")


def mc_context(doc: dict) -> str:
    """Context for DCLM tasks with the default delimiter " " (copa, hellaswag, ...)."""
    return _context(doc["query"], " ")


def mc_choices(doc: dict) -> list[str]:
    return [_space(c) for c in doc["choices"]]


def gold(doc: dict) -> int:
    return int(doc["gold"])


# ------------------------------------------------------- schema (context_options/continuation)


def schema_options(doc: dict) -> list[str]:
    """Each context option as is (llm-foundry puts no delimiter before the continuation)."""
    return list(doc["context_options"])


def schema_continuation(doc: dict) -> str:
    return _space(doc["continuation"])


# ------------------------------------------------------ language modeling (context/continuation)


def lm_context(doc: dict) -> str:
    return _context(doc["context"], " ")


def lm_continuation(doc: dict) -> str:
    return _space(doc["continuation"])
