"""Helpers for winnow's DCLM task YAMLs: load llm-foundry JSONL files, build prompts, pick demos.

lm-eval imports this file by path (`!function utils.<name>` in the YAMLs next to it); the rules
themselves live in `winnow.eval.foundry` (llm-foundry 0.9.0's prompt construction, see
eval/README.md), so this file only adapts them to lm-eval's hooks:

- `load_dclm` is every task's `custom_dataset`: the file's rows, stripped, plus the prompt
  pieces (`_ctx`, `_demo`, `_demo_answer`, `_choices`, `_options`, `_cont`, `_answers`), the
  row number `_row` and the category `_cat`;
- `FoundrySampler` is every task's few-shot sampler: it returns llm-foundry's demos for a row
  (seeded walk over the file, per category, Python-set order) instead of lm-eval's draw;
- the small accessors below are the YAMLs' `doc_to_text` / `doc_to_choice` / `doc_to_target`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import datasets
from lm_eval.api.samplers import ContextSampler

from winnow.eval import foundry
from winnow.paths import data_root


@functools.lru_cache(maxsize=32)
def _load(path: str, settings: tuple) -> datasets.DatasetDict:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    prepared = foundry.prepare_rows(rows, **dict(settings))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(prepared)})


def _resolve(file: str | None, derived: str | None) -> Path:
    if derived:  # files winnow derives from an archive in the data root (GPQA)
        from winnow.eval.data import gpqa_jsonl

        return Path(gpqa_jsonl(derived))
    if not file:
        raise ValueError("winnow DCLM task: dataset_kwargs.file (path under <data>/eval/) is required")
    path = Path(data_root()) / "eval" / file
    if not path.is_file():
        raise FileNotFoundError(
            f"winnow DCLM task data {path} is missing: run `winnow data pull` to download and verify "
            f"it (see {path.parent.parent / 'SOURCE.md'} for its provenance)"
        )
    return path


def load_dclm(
    file: str | None = None,
    kind: str = "multiple_choice",
    continuation_delimiter: str = foundry.DEFAULT_CONTINUATION_DELIMITER,
    prelimiter: str = "",
    cot_delimiter: str = "",
    stop_sequences: list | None = None,
    has_categories: bool = False,
    derived: str | None = None,
    **_metadata,
) -> datasets.DatasetDict:
    """`custom_dataset` for every winnow task: one llm-foundry file as a `test` split.

    lm-eval calls `custom_dataset(**metadata, **dataset_kwargs)`; the prompt settings come from
    the task's `dataset_kwargs`, metadata (version, ...) is ignored. Rows keep file order, so a
    doc index is a row number of the file.
    """
    path = _resolve(file, derived)
    settings = (
        ("kind", kind),
        ("continuation_delimiter", continuation_delimiter),
        ("prelimiter", prelimiter),
        ("cot_delimiter", cot_delimiter),
        ("stop_sequences", tuple(stop_sequences or ())),
        ("has_categories", bool(has_categories)),
    )
    return _load(str(path), settings)


class FoundrySampler(ContextSampler):
    """llm-foundry's few-shot demos for each evaluated row (see winnow.eval.foundry)."""

    def __init__(self, df=None, *, rnd=None, **kwargs) -> None:
        super().__init__(df, rnd=rnd, **kwargs)
        self._seed = rnd
        self._plans: dict[int, list[list[int]]] = {}

    def set_rnd(self, rnd):
        super().set_rnd(rnd)
        self._seed = rnd
        self._plans = {}
        return self

    def sample(self, n: int, eval_doc=None, df=None, **kwargs):
        if n <= 0:
            return []
        if df:
            self.df, self._plans = df, {}
        docs = self.fewshot_docs()
        if eval_doc is None:
            raise ValueError("FoundrySampler draws demos per evaluated row; it needs the eval doc")
        if n not in self._plans:
            seed = foundry.FEWSHOT_SEED if self._seed is None else int(self._seed)
            self._plans[n] = foundry.fewshot_plan([d[foundry.CATEGORY] for d in docs], n, seed)
        demos = [docs[i] for i in self._plans[n][int(eval_doc[foundry.ROW])]]
        foundry.register_preamble(demos, eval_doc)
        return demos


# ------------------------------------------------------------------------------ accessors


def test_context(doc: dict) -> str:
    return doc["_ctx"]


def demo_context(doc: dict) -> str:
    return doc["_demo"]


def demo_answer(doc: dict) -> str:
    return doc["_demo_answer"]


def choices(doc: dict) -> list[str]:
    return doc["_choices"]


def gold(doc: dict) -> int:
    return int(doc["gold"])


def schema_options(doc: dict) -> list[str]:
    return doc["_options"]


def continuation(doc: dict) -> str:
    return doc["_cont"]


def first_answer(doc: dict) -> str:
    return doc["answer"]


def generation_results(doc: dict, results: list[str]) -> dict:
    """Exact match by llm-foundry's rule for plain lm-eval runs (winnow scores from samples)."""
    from winnow.eval.generation import score_generation

    ok = score_generation(results[0], doc["_answers"], doc["_cot_delimiter"], doc["_stop"])
    return {"exact_match": float(ok)}
