"""Helpers for winnow's DCLM task YAMLs: load llm-foundry JSONL files, build prompts, pick demos.

lm-eval imports this file by path (`!function utils.<name>` in the YAMLs next to it), in any
Python that has lm-eval, with or without winnow: it imports only the standard library and what
lm-eval itself depends on (`datasets`). Choices:

- The prompt rules are llm-foundry 0.9.0's, restated in `winnow.eval.foundry` (see its docstring
  and eval/README.md). They are *written twice*: copied here, so that plain lm-eval needs no
  winnow, as the model folder's modeling file is (issue 20). tests/eval/test_tasks.py checks that
  every copied function has the same source as winnow's and every constant the same value, and
  the golden request hashes (tests/eval/test_golden.py) go through this file, so the copies
  cannot drift apart silently. The same holds for the generation scoring rule
  (`winnow.eval.generation`) and DCLM's GPQA conversion (`winnow.eval.data.gpqa_records`).
- The one piece of state, where each few-shot context's preamble ends (`PREAMBLE_SPLITS`), is
  winnow's own dict when winnow can be imported (its adapter tokenises the two parts apart, as
  llm-foundry does); that optional import is the only mention of winnow that runs.
- The data root is found as winnow finds it ($WINNOW_DATA, ../shared/data beside the checkout,
  ~/.cache/winnow/data; winnow.paths.data_root). GPQA is derived from the password-protected
  archive in memory here; winnow's own eval reads the same records (gpqa_jsonl caches them).

What lm-eval calls:

- `load_dclm` is every task's `custom_dataset`: the file's rows, stripped, plus the prompt
  pieces (`_ctx`, `_demo`, `_demo_answer`, `_choices`, `_options`, `_cont`, `_answers`), the
  row number `_row` and the category `_cat`;
- `FoundrySampler` is every task's few-shot sampler: it returns llm-foundry's demos for a row
  (seeded walk over the file, per category, Python-set order) instead of lm-eval's draw;
- the small accessors at the end are the YAMLs' `doc_to_text` / `doc_to_choice` /
  `doc_to_target`, and `generation_results` their exact-match metric.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import random
import re
import string
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import datasets
from lm_eval.api.samplers import ContextSampler

CHECKOUT = Path(__file__).resolve().parent.parent.parent  # eval/tasks/utils.py -> the repository


class EvalDataError(Exception):
    """An evaluation data file is missing or cannot be read."""


# ============================================================ copied from winnow/eval/foundry.py

KINDS = ("multiple_choice", "schema", "language_modeling", "generation")
DEFAULT_CONTINUATION_DELIMITER = " "  # llm-foundry's default (get_icl_task_dataloader)
EXAMPLE_DELIMITER = "\n"
FEWSHOT_SEED = 1234  # llm-foundry's default fewshot_random_seed

ROW = "_row"  # row number in the file
CATEGORY = "_cat"  # category ("" when the task is not split by category)


def strip_row(row: Mapping[str, Any]) -> dict:
    """llm-foundry's strip_data: strip top-level strings, leave lists alone."""
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def prefix_space(text: str) -> str:
    """llm-foundry's prefix space for answers scored after a context."""
    return text if text.startswith(" ") else " " + text


def fewshot_sample_idxs(dataset_size: int, num_fewshot: int, example_idx: int, rng: random.Random) -> set[int]:
    """llm-foundry's get_fewshot_sample_idxs, operation for operation (the rng sequence and the
    set's iteration order both decide the demos, so the calls must be the same calls)."""
    num_fewshot = min(dataset_size - 1, num_fewshot)
    idxs = set(rng.sample(range(0, dataset_size), num_fewshot))
    if example_idx in idxs:
        idxs.remove(example_idx)
        if len(idxs) >= dataset_size - 1:
            return idxs
        replacement = rng.choice(range(0, dataset_size))
        while replacement in idxs or replacement == example_idx:
            replacement = rng.choice(range(0, dataset_size))
        idxs.add(replacement)
    return idxs


def fewshot_plan(categories: Sequence[str], num_fewshot: int, seed: int = FEWSHOT_SEED) -> list[list[int]]:
    """For each row (given its category, "" for none), the row numbers of its demos, in order.

    One rng per category, walking that category's rows in file order, as llm-foundry does after
    partitioning a file by category (each partition is its own dataset with its own rng).
    """
    by_cat: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        by_cat.setdefault(cat, []).append(i)
    plan: list[list[int]] = [[] for _ in categories]
    if num_fewshot <= 0:
        return plan
    for cat in sorted(by_cat):
        rows = by_cat[cat]
        rng = random.Random(seed)
        for j, row in enumerate(rows):
            picks = fewshot_sample_idxs(len(rows), num_fewshot, j, rng)
            plan[row] = [rows[p] for p in picks]  # set iteration order, as llm-foundry
    return plan


# ----------------------------------------------------------------------- tokenisation split

# llm-foundry tokenises the few-shot block ("preamble") and the test context separately and
# concatenates the ids; lm-eval hands a model one context string. The few-shot sampler records
# here, for every context it helps build, where the preamble ends, so that winnow's adapter
# (winnow.eval.lm.WinnowLM) can tokenise the two parts separately as llm-foundry does.
def _preamble_registry() -> dict[str, int]:
    """winnow's own dict when winnow is importable (its adapter reads it; lm-eval executes this
    file once per `!function`, so a dict of this file's own would not be seen there); a dict
    nobody reads otherwise (lm-eval's HF model tokenises the context whole)."""
    try:
        from winnow.eval.foundry import PREAMBLE_SPLITS as shared
    except ImportError:
        return {}
    return shared


PREAMBLE_SPLITS: dict[str, int] = _preamble_registry()


def split_preamble(context: str) -> tuple[str, ...]:
    """(few-shot block, test context) of a context the few-shot sampler built; (context,) when
    it built none (0-shot, or a context it never saw). llm-foundry tokenises the parts apart."""
    k = PREAMBLE_SPLITS.get(context)
    return (context[:k], context[k:]) if k else (context,)


def demo_text(doc: Mapping[str, Any]) -> str:
    """One demonstration as lm-eval writes it from the prepared fields (target delimiter "")."""
    if "_options" in doc:  # schema: the gold option, then delimiter + continuation
        return doc["_options"][int(doc["gold"])] + doc["_demo_answer"]
    return doc["_demo"] + doc["_demo_answer"]


def register_preamble(demos: Sequence[Mapping[str, Any]], doc: Mapping[str, Any]) -> None:
    """Record the preamble / test-context split of the contexts built for `doc` with `demos`."""
    if not demos:
        return
    preamble = EXAMPLE_DELIMITER.join(demo_text(d) for d in demos)
    tests = doc["_options"] if "_options" in doc else [doc["_ctx"]]
    for t in tests:
        PREAMBLE_SPLITS[preamble + EXAMPLE_DELIMITER + t] = len(preamble)


# ------------------------------------------------------------------------------- row fields


def _answer_text(row: Mapping, kind: str, cot_delimiter: str) -> str:
    """The gold answer as a demo shows it (llm-foundry get_answer_from_example, in context)."""
    if kind == "multiple_choice":
        return row["choices"][int(row["gold"])]
    if kind == "language_modeling":
        return row["continuation"]
    if kind == "generation":
        if "chain_of_thought" in row:
            return f"{row['chain_of_thought']}{cot_delimiter}{row['answer']}"
        return row["answer"]
    raise ValueError(f"no demo answer for kind {kind!r}")


def prepare_row(
    row: Mapping[str, Any],
    index: int,
    *,
    kind: str,
    continuation_delimiter: str = DEFAULT_CONTINUATION_DELIMITER,
    prelimiter: str = "",
    cot_delimiter: str = "",
    stop_sequences: Sequence[str] = (),
    has_categories: bool = False,
) -> dict:
    """One stripped row plus the prompt pieces lm-eval needs (fields starting with ``_``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {KINDS}")
    out = strip_row(row)
    out[ROW] = index
    out[CATEGORY] = str(out.get("category", "")) if has_categories else ""
    if kind == "schema":
        options = [f"{prelimiter}{c}" for c in out["context_options"]]
        out["_options"] = options
        out["_cont"] = prefix_space(out["continuation"])
        out["_demo"] = ""  # unused: the demo is the gold option (lm-eval indexes _options)
        out["_demo_answer"] = f"{continuation_delimiter}{out['continuation']}"
        return out
    key = "query" if kind == "multiple_choice" else "context"
    demo = f"{prelimiter}{out[key]}{continuation_delimiter}"
    out["_demo"] = demo
    out["_ctx"] = demo.rstrip()
    out["_demo_answer"] = _answer_text(out, kind, cot_delimiter)
    if kind == "multiple_choice":
        out["_choices"] = [prefix_space(c) for c in out["choices"]]
    elif kind == "language_modeling":
        out["_cont"] = prefix_space(out["continuation"])
    else:  # generation: every accepted answer (llm-foundry: set([answer] + aliases))
        out["_answers"] = sorted(set([out["answer"]] + list(out.get("aliases", []) or [])))
        out["_cot_delimiter"] = cot_delimiter
        out["_stop"] = list(stop_sequences)
    return out


def prepare_rows(rows: Iterable[Mapping[str, Any]], **settings) -> list[dict]:
    """:func:`prepare_row` over a file's rows (row numbers in file order)."""
    return [prepare_row(r, i, **settings) for i, r in enumerate(rows)]

# ========================================================= copied from winnow/eval/generation.py

_PUNCTUATION = frozenset(string.punctuation + "‘’´`")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """llm-foundry's normalisation of outputs and labels (the TriviaQA evaluation script's)."""
    s = s.replace("_", " ").lower()
    s = "".join(" " if ch in _PUNCTUATION else ch for ch in s)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split()).strip()


def early_stop(text: str, stop_sequences: Sequence[str] | None) -> str:
    """The text before the first stop-string match (llm-foundry: an unescaped regex alternation)."""
    if not stop_sequences:
        return text
    return re.split("|".join(stop_sequences), text)[0]


def extract_answer(text: str, cot_delimiter: str | None) -> str:
    """The text after the last `cot_delimiter` (all of it when absent or the delimiter is empty)."""
    if not cot_delimiter:
        return text
    return text.split(cot_delimiter)[-1]


def score_generation(
    output: str,
    answers: Iterable[str],
    cot_delimiter: str = "",
    stop_sequences: Sequence[str] | None = None,
    do_normalization: bool = True,
) -> bool:
    """Whether llm-foundry counts `output` (the decoded continuation) as correct."""
    labels = list(answers)
    if not labels:
        raise ValueError("score_generation needs at least one answer")
    final = extract_answer(early_stop(output, stop_sequences), cot_delimiter)
    if do_normalization:
        final = normalize_answer(final)
        cleaned = {normalize_answer(a) for a in labels}
    else:
        final = final.strip()
        cleaned = {a.strip() for a in labels}
    return any(final.startswith(label) for label in cleaned)

# ================================================ copied from winnow/eval/data.py (GPQA section)
GPQA_ZIP = "gpqa/dataset.zip"
GPQA_PASSWORD = b"deserted-untie-orchid"  # the GPQA authors' published archive password

# pandas.read_csv's default NA strings: DCLM reads the CSVs with pandas, so these cells become
# NaN, which numpy then turns into the string "nan" inside a choices array.
_PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                 "Incorrect Answer 3")


def _cell(value: str | None):
    return math.nan if value is None or value in _PANDAS_NA else value


def _as_numpy_list(values: list) -> list:
    """What ``np.array(values).tolist()`` gives for strings and NaNs (without numpy)."""
    if not any(isinstance(v, str) for v in values):
        return [float(v) for v in values]
    # numpy's fixed-width unicode dtype drops trailing NUL characters; NaN becomes "nan".
    return [(v if isinstance(v, str) else str(v)).rstrip("\x00") for v in values]


def gpqa_records(csv_bytes: bytes, source: str = "GPQA CSV") -> list[dict]:
    """DCLM's conversion of one GPQA CSV into multiple-choice records.

    Per row, in file order: query = ``Question`` as is (no prefix, no stripping); options =
    [``Correct Answer``, ``Incorrect Answer 1``, ``2``, ``3``] reordered by ``idx = [0, 1, 2, 3]``
    shuffled with one ``random.Random(42)`` per file (one ``shuffle`` per row); gold =
    ``idx.index(0)``. Cells are read the way ``pandas.read_csv`` defaults read them (blank lines
    skipped, NA strings become NaN).
    """
    text = csv_bytes.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not rows:
        raise EvalDataError(f"{source}: empty file")
    header = rows[0]
    missing = [c for c in _GPQA_COLUMNS if c not in header]
    if missing:
        raise EvalDataError(f"{source}: columns {missing} not found (header starts {header[:6]}); "
                            "is this a GPQA main/diamond/extended CSV?")
    cols = [header.index(c) for c in _GPQA_COLUMNS]  # first occurrence, as pandas does
    rng = random.Random(42)
    out = []
    for row in rows[1:]:
        cells = [_cell(row[c] if c < len(row) else None) for c in cols]
        question, options = cells[0], _as_numpy_list(cells[1:])
        idx = list(range(4))
        rng.shuffle(idx)
        out.append({"query": question, "choices": [options[i] for i in idx], "gold": idx.index(0)})
    return out


# =============================================================================== data files


def data_root() -> Path:
    """winnow's data root rule (winnow.paths.data_root): the first candidate holding pool/ or eval/."""
    candidates = [Path(os.environ["WINNOW_DATA"]).expanduser()] if os.environ.get("WINNOW_DATA") else []
    candidates += [CHECKOUT.parent / "shared" / "data", Path.home() / ".cache" / "winnow" / "data"]
    for path in candidates:
        if (path / "pool").is_dir() or (path / "eval").is_dir():
            return path
    raise FileNotFoundError(
        "winnow DCLM tasks: no data root found (looked in " + ", ".join(map(str, candidates)) + "). "
        "Set WINNOW_DATA to a folder holding eval/ (`winnow data pull` fetches it; see README.md, Data)")


def _read_gpqa_member(zip_path: Path, variant: str) -> bytes:
    member = f"dataset/gpqa_{variant}.csv"
    try:
        with zipfile.ZipFile(zip_path) as z:
            return z.read(member, pwd=GPQA_PASSWORD)
    except KeyError:
        raise EvalDataError(f"{zip_path}: no member {member}; is this the GPQA authors' dataset.zip?") from None
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
        raise EvalDataError(f"{zip_path}: cannot read {member} ({e}); fetch a fresh copy with: "
                            f"winnow data pull --only {GPQA_ZIP} --force") from None


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"winnow DCLM task data {path} is missing: run `winnow data pull` to download and verify "
        f"it (see {path.parent.parent / 'SOURCE.md'} for its provenance)")


def _rows(file: str | None, derived: str | None) -> list[dict]:
    """A task file's rows: a JSONL under <data>/eval/, or a GPQA CSV in its archive."""
    if derived:  # GPQA: DCLM's conversion of a CSV in the password-protected archive
        zip_path = data_root() / "eval" / GPQA_ZIP
        if not zip_path.is_file():
            raise _missing(zip_path)
        records = gpqa_records(_read_gpqa_member(zip_path, derived), f"{zip_path}:dataset/gpqa_{derived}.csv")
        # as written to and read back from a JSONL file (winnow's gpqa_jsonl), so NaN cells match
        return [json.loads(json.dumps(r)) for r in records]
    if not file:
        raise ValueError("winnow DCLM task: dataset_kwargs.file (path under <data>/eval/) is required")
    path = data_root() / "eval" / file
    if not path.is_file():
        raise _missing(path)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@functools.lru_cache(maxsize=32)
def _load(file: str | None, derived: str | None, root: str, settings: tuple) -> datasets.DatasetDict:
    # `root` keys the cache only: a changed WINNOW_DATA reads the new root's files
    prepared = prepare_rows(_rows(file, derived), **dict(settings))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(prepared)})


def load_dclm(
    file: str | None = None,
    kind: str = "multiple_choice",
    continuation_delimiter: str = DEFAULT_CONTINUATION_DELIMITER,
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
    settings = (
        ("kind", kind),
        ("continuation_delimiter", continuation_delimiter),
        ("prelimiter", prelimiter),
        ("cot_delimiter", cot_delimiter),
        ("stop_sequences", tuple(stop_sequences or ())),
        ("has_categories", bool(has_categories)),
    )
    return _load(file, derived, str(data_root()), settings)


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
            seed = FEWSHOT_SEED if self._seed is None else int(self._seed)
            self._plans[n] = fewshot_plan([d[CATEGORY] for d in docs], n, seed)
        demos = [docs[i] for i in self._plans[n][int(eval_doc[ROW])]]
        register_preamble(demos, eval_doc)
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
    ok = score_generation(results[0], doc["_answers"], doc["_cot_delimiter"], doc["_stop"])
    return {"exact_match": float(ok)}
