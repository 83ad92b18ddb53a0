"""The local engine: same bytes for any worker count, shard-level resume, the document contract
(steps see only the allowed fields, the engine owns id and meta.pool_id), drop reasons/samples."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from winnow.curate.base import StepContext, StepError
from winnow.curate.engine import LocalEngine, counters_file, done_marker, dropped_file
from winnow.curate.recipe import load_recipe
from winnow.docs import POOL_FIELDS, read_docs, write_docs
from tests.helpers import CURATE_FIXTURES

PLUGIN = CURATE_FIXTURES / "plugins" / "plugin_steps.py"


def fixture_docs() -> list[dict]:
    return [json.loads(line) for line in (CURATE_FIXTURES / "docs.jsonl").read_text().splitlines()]


def make_pool(folder: Path, n_shards: int = 4, docs: list[dict] | None = None) -> list[Path]:
    docs = fixture_docs() if docs is None else docs
    paths = []
    for k in range(n_shards):
        p = folder / f"shard_{k:05d}.jsonl.zst"
        write_docs(p, docs[k::n_shards])
        paths.append(p)
    return paths


def recipe(folder: Path, steps: str, name: str = "recipe.yaml"):
    p = folder / name
    shutil.copy(PLUGIN, folder / PLUGIN.name)   # a submission's files live in its folder
    p.write_text(f"name: t\ntrack: filtering\nplugins: [{PLUGIN.name}]\nsteps:\n"
                 + textwrap.indent(textwrap.dedent(steps), "  "))
    return load_recipe(p, allow_code=True)


def run(r, shards, seg_dir, workers=1):
    engine = LocalEngine(workers, progress=False, batch_size=3)
    return engine.run_segment(r.job(r.steps, StepContext(seed=0)), shards, seg_dir)


STEPS = """\
- step: line_cleanup
  min_line_chars: 8
- split_paragraphs
- step: length_filter
  min_chars: 20
"""


def test_two_workers_give_the_same_bytes_as_one(tmp_path):
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, STEPS)
    one = run(r, shards, tmp_path / "w1", workers=1)
    two = run(r, shards, tmp_path / "w2", workers=2)
    assert [p.name for p in one.shards] == [p.name for p in shards]
    for a, b in zip(one.shards, two.shards):
        assert a.read_bytes() == b.read_bytes()
        assert dropped_file(a.parent, a.name).read_bytes() == \
            dropped_file(b.parent, b.name).read_bytes()
    assert [c.to_dict()["dropped"] for c in one.counters] == \
        [c.to_dict()["dropped"] for c in two.counters]
    assert one.sources.to_dict() == two.sources.to_dict()
    assert sum(len(list(read_docs(p))) for p in one.shards) == one.counters[-1].docs_out > 0


def test_resume_recomputes_only_missing_shards(tmp_path):
    shards = make_pool(tmp_path / "pool")
    r = recipe(tmp_path, STEPS)
    seg = tmp_path / "seg"
    first = run(r, shards, seg)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.shards}
    victim = first.shards[2]
    victim.unlink()
    done_marker(seg, victim.name).unlink()

    again = run(r, shards, seg)
    assert again.skipped == 3
    for p in again.shards:
        data, mtime = before[p.name]
        assert p.read_bytes() == data  # identical content
        if p.name != victim.name:
            assert p.stat().st_mtime_ns == mtime  # not rewritten
    assert p.name and victim.exists() and done_marker(seg, victim.name).exists()
    times = {"seconds": 0, "cpu_seconds": 0}
    assert [c.to_dict() | times for c in again.counters] == [c.to_dict() | times for c in first.counters]
    # a shard whose output exists but whose marker is missing (killed mid-way) is redone too
    done_marker(seg, shards[0].name).unlink()
    assert run(r, shards, seg).skipped == 3
    assert run(r, shards, seg).skipped == 4


def test_steps_see_only_allowed_fields_and_engine_owns_ids(tmp_path):
    docs = [{"id": "p1", "text": "first para\n\nsecond para", "url": "u", "source": "web",
             "labels": {"spam": True}, "annotations": "secret"},
            {"id": "p2", "text": "single paragraph", "url": None, "source": "wiki"}]
    shards = make_pool(tmp_path / "pool", 1, docs)
    r = recipe(tmp_path, "- spy\n- split_paragraphs\n")
    res = run(r, shards, tmp_path / "seg")
    out = list(read_docs(res.shards[0]))
    assert [d["id"] for d in out] == ["p1#0", "p1#1", "p2"]
    for d in out:
        assert list(d) == list(POOL_FIELDS) + ["meta"]
        assert d["meta"]["seen_keys"] == ["id", "meta", "source", "text", "url"]
        assert d["meta"]["setups"] == 1  # setup() ran once for the worker
    assert [d["meta"]["pool_id"] for d in out] == ["p1", "p1", "p2"]
    assert [d["text"] for d in out] == ["first para", "second para", "single paragraph"]

    # a later segment keeps meta.pool_id of curated input, and nested splits extend the id
    write_docs(tmp_path / "again" / "s.jsonl.zst",
               [dict(out[0], text="x\n\ny"), out[2]])
    r2 = recipe(tmp_path, "- split_paragraphs\n", "r2.yaml")
    out2 = list(read_docs(run(r2, [tmp_path / "again" / "s.jsonl.zst"], tmp_path / "seg2")
                          .shards[0]))
    assert [(d["id"], d["meta"]["pool_id"]) for d in out2] == [("p1#0#0", "p1"),
                                                               ("p1#0#1", "p1"), ("p2", "p2")]
    assert out2[0]["meta"]["seen_keys"]  # meta written by earlier steps survives


def test_a_step_adding_a_top_level_field_is_an_error(tmp_path):
    shards = make_pool(tmp_path / "pool", 1)
    r = recipe(tmp_path, "- bad_field\n")
    with pytest.raises(StepError, match=r"step 1 \(bad_field\).*score.*meta"):
        run(r, shards, tmp_path / "seg")
    assert not done_marker(tmp_path / "seg", shards[0].name).exists()
    assert not (tmp_path / "seg" / shards[0].name).exists()  # no half-written output


def test_drop_reasons_counters_and_samples(tmp_path):
    shards = make_pool(tmp_path / "pool", 2)
    r = recipe(tmp_path, "- drop_odd\n- step: length_filter\n  min_chars: 30\n")
    res = run(r, shards, tmp_path / "seg")
    drop_odd, length = res.counters
    assert drop_odd.dropped == {"drop_odd": 8}  # a bare [] counts under the step's name
    assert (drop_odd.docs_in, drop_odd.docs_out) == (16, 8)
    assert set(length.dropped) == {"too_short"} and length.docs_in == 8
    per_shard = json.loads(counters_file(tmp_path / "seg", shards[0].name).read_text())
    assert [s["step"] for s in per_shard["steps"]] == ["drop_odd", "length_filter"]
    assert per_shard["docs_in"] == 8
    sample = [s for p in shards for s in read_docs(dropped_file(tmp_path / "seg", p.name))]
    assert {(s["step"], s["step_index"], s["reason"]) for s in sample} == {
        ("drop_odd", 1, "drop_odd"), ("length_filter", 2, "too_short")}
    assert all(s["meta"]["pool_id"] == s["id"] for s in sample)
    assert res.sources.to_dict()["code"]["docs_in"] == 2


def test_listing_steps_imports_no_step_module():
    import subprocess
    import sys

    code = ("import sys; from winnow.curate.base import STEPS, ENGINES; "
            "names = STEPS.names(); ENGINES.names(); "
            "print(sorted(m for m in sys.modules if m.startswith(('winnow.curate.steps.', "
            "'winnow.curate.engine', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_lookup_and_worker_defaults():
    import os

    from winnow.curate.base import ENGINES

    assert ENGINES.get("local") is LocalEngine
    assert LocalEngine(None).workers == (os.cpu_count() or 1)
    assert StepContext(workers=None).workers == (os.cpu_count() or 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_pool_workers_die_with_a_killed_parent(tmp_path):
    """A curate killed by a signal must not leave its pool workers running (they would go on
    writing shards): workers ask the kernel for SIGTERM when their parent dies."""
    import signal
    import subprocess
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, time\n"
        "from winnow.curate.engine import _die_with_parent\n"
        "def child():\n"
        "    _die_with_parent()\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=child)\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # let the child reach _die_with_parent
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    def alive(pid: int) -> bool:  # a zombie (dead, not yet reaped by init) counts as gone
        try:
            return "\tZ" not in Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1][:4]
        except (FileNotFoundError, IndexError):
            return False

    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the worker outlived its killed parent")


def test_pool_worker_initializer_asks_to_die_with_its_parent(monkeypatch):
    from winnow.curate import engine as eng

    calls = []
    monkeypatch.setattr(eng, "_die_with_parent", lambda: calls.append(1))
    monkeypatch.setattr(eng, "_WORKER", {})
    eng._init_worker("job", {"x": 1})
    assert calls == [1] and eng._WORKER == {"job": "job", "opts": {"x": 1}}
