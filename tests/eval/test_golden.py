"""Golden request hashes: per DCLM task, the exact token ids winnow would score, hashed.

For every task whose data is present, the first three rows are turned into lm-eval requests at
DCLM's shot count (llm-foundry's few-shot draw, seed 1234) and tokenised the way WinnowLM
tokenises them (few-shot block, test context and answer apart) with the committed bpe1k-v1
tokenizer. The sha256 of those ids must equal tests/golden/request_hashes.json: any change to a
prompt template, a delimiter, the few-shot draw or the tokenisation fails the task's test.

After an intended prompt change (bump winnow.eval.taskgen.TASKS_VERSION), regenerate with
`WINNOW_UPDATE_GOLDEN=1 pytest tests/eval/test_golden.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from winnow.paths import DataRootError, data_root, eval_tasks_dir

pytest.importorskip("lm_eval")
try:
    data_root()
except DataRootError:  # pragma: no cover
    pytest.skip("no data root with eval/", allow_module_level=True)

from winnow.eval.taskgen import TASKS  # noqa: E402
from tests.helpers import GOLDEN_DIR

GOLDEN = GOLDEN_DIR / "request_hashes.json"
UPDATE = os.environ.get("WINNOW_UPDATE_GOLDEN") == "1"
ROWS = (0, 1, 2)


@pytest.fixture(scope="module")
def tm():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(eval_tasks_dir()), include_defaults=False)


@pytest.fixture(scope="module")
def tok():
    from tokenizers import Tokenizer

    from winnow.tokenize.bpe import tokenizer_file

    return Tokenizer.from_file(str(tokenizer_file("bpe1k-v1")))


@pytest.fixture(scope="module")
def golden():
    table = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.is_file() else {}
    yield table
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n", encoding="utf-8")


def request_ids(task, tok, rows=ROWS) -> list:
    """The token ids (and generation settings) of the requests of `rows`, as WinnowLM builds them."""
    from winnow.eval.lm import WinnowLM

    def enc(text):
        return tok.encode(text, add_special_tokens=False).ids

    task.set_fewshot_seed(1234)
    out = []
    for i in rows:
        doc = task.eval_docs[i]
        ctx = task.fewshot_context(doc, task.config.num_fewshot)
        reqs = task.construct_requests(doc, ctx, metadata=(task.config.task, i, 1))
        for r in reqs if isinstance(reqs, list) else [reqs]:
            context, second = r.args
            ids = [enc(p) for p in WinnowLM._context_parts(context)]
            out.append([i, ids, second if isinstance(second, dict) else enc(second)])
    return out


def _present(t) -> bool:
    from winnow.eval.data import files_for_task, task_data_status

    return task_data_status(files_for_task(t.name)) != "missing"


@pytest.mark.parametrize("spec", TASKS, ids=[t.name for t in TASKS])
def test_request_hash(tm, tok, golden, spec):
    if not _present(spec):
        pytest.skip(f"{spec.name}: data missing here (winnow data pull)")
    task = tm.load([spec.lm_eval_name])["tasks"][spec.lm_eval_name]
    digest = hashlib.sha256(json.dumps(request_ids(task, tok)).encode()).hexdigest()
    if UPDATE:
        golden[spec.name] = digest
    assert spec.name in golden, f"no golden hash for {spec.name}: run with WINNOW_UPDATE_GOLDEN=1"
    assert golden[spec.name] == digest, (
        f"{spec.name}: its requests changed (prompt template, delimiter, few-shot draw or tokenisation). "
        "If intended, bump TASKS_VERSION and regenerate the golden hashes.")


def test_a_changed_template_fails_the_golden_hash(tmp_path, tok, golden, monkeypatch):
    """The golden test can fail: arc_easy with one changed delimiter hashes differently."""
    import dataclasses
    import shutil

    from lm_eval.tasks import TaskManager

    from winnow.eval.taskgen import BY_NAME, render, task_config

    for name in ("utils.py", "_dclm_defaults.yaml"):
        shutil.copy(eval_tasks_dir() / name, tmp_path / name)
    monkeypatch.setenv("WINNOW_DATA", str(data_root()))  # the copy is outside the checkout
    spec = dataclasses.replace(BY_NAME["arc_easy"], continuation_delimiter="\nA: ")
    (tmp_path / "dclm_arc_easy.yaml").write_text(render(task_config(spec)), encoding="utf-8")
    task = TaskManager(include_path=str(tmp_path), include_defaults=False).load(["dclm_arc_easy"])["tasks"][
        "dclm_arc_easy"]
    digest = hashlib.sha256(json.dumps(request_ids(task, tok)).encode()).hexdigest()
    assert "arc_easy" in golden and digest != golden["arc_easy"]
