"""Leaderboard submissions at the debug scale: verified submit, refusals, tamper checks, id lists,
concurrency, and the committed rows.

One debug run (module-scoped, shared with the other checks) is submitted; refusals use copies
of its run folder with one thing changed (an override, a token count, a number in the row or
in the bundle). An id-list submission runs end to end with plugin code disabled. Twenty
processes submit twenty runs at once (clones of the shared run under other submission names,
whose stages are all skipped): they share one trained model, so exactly one row is written and
the other 19 are refused by name.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from winnow.io import read_json, write_json

DEBUG = ["scale=debug", "progress=false", "engine.workers=1"]
SUB = "baselines/simple_heuristics"


@pytest.fixture(scope="module")
def board(tmp_path_factory, monkeypatch_module):
    """A leaderboard folder of this module's own (rows start empty)."""
    d = tmp_path_factory.mktemp("board")
    monkeypatch_module.setenv("WINNOW_LEADERBOARD", str(d))
    return d


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def debug_run(mini_pool, board):
    from winnow.run import STAGES, prepare, run_stages

    run = prepare(DEBUG + [f"submission={SUB}"])
    run_stages(run, STAGES)
    return run


@pytest.fixture(scope="module")
def submitted(debug_run):
    from winnow.leaderboard.submit import submit

    return submit(debug_run.dir)


def _clone_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("_work", "checkpoints"))
    return dest


# ------------------------------------------------------------------------------- accept
def test_valid_run_is_accepted_with_a_schema3_row_and_bundle(submitted, debug_run):
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.rows import ROW_SCHEMA
    from winnow.leaderboard.verify import check_rows
    from winnow.manifest import read_manifest

    row = read_json(submitted)
    assert row["schema"] == ROW_SCHEMA == 6
    assert "core_gold_bpb_v2" in row["aggregates"]   # eval stage 6 on
    cost = row["curation_cost"]   # measured CPU time of the recipe's steps, and their wall time
    assert cost["steps"] >= 1 and cost["cpu_seconds"] > 0 and cost["wall_seconds"] > 0
    assert row["manifests"]["eval"] == read_manifest(debug_run.dir / "eval" / "debug").content_id
    assert row["descent"]["rule"] == "descent_v1" and row["descent"]["failed"] == 0
    assert row["descent"]["docs"] == row["training"]["curated_docs"] > 0
    assert row["flags"] == {"plugin_code": False, "allow_code": False, "ids_list": False,
                            "targeted": False, "external_data": False}
    assert row["training"]["flops"] > 0 and row["training"]["budget_tokens"] == 98304
    assert row["primary_metric"] == "core_prob_v1"   # a CPU scale without leaderboard.primary
    assert "core_prob_v1" in row["aggregates_stderr"]
    assert bundle_path(submitted).exists() and row["bundle"]["file"] == bundle_path(submitted).name
    problems, n = check_rows()
    assert (problems, n) == ([], 1)


def test_a_row_records_when_it_was_written_and_old_rows_need_not(submitted, tmp_path):
    """Schema 5 rows carry ``created`` (UTC, to the second), under the row hash; check requires it
    of them and refuses a malformed one, while rows of earlier schemas keep checking without it."""
    from datetime import datetime, timedelta, timezone

    from winnow.leaderboard.rows import CREATED_FORMAT, created_problem, row_date, row_hash

    row = read_json(submitted)
    made = datetime.strptime(row["created"], CREATED_FORMAT).replace(tzinfo=timezone.utc)
    assert timedelta(0) <= datetime.now(timezone.utc) - made < timedelta(hours=2)
    assert row_date(row) == row["created"][:10] and created_problem(row) is None
    for bad in (None, "yesterday", 1700000000, "2026-01-31 12:00:00"):
        edited = {**row, "created": bad} if bad is not None else {k: v for k, v in row.items() if k != "created"}
        edited["row_hash"] = row_hash(edited)          # re-hashed: only the date is wrong
        assert created_problem(edited) and row_date(edited) is None
    old = {k: v for k, v in row.items() if k != "created"} | {"schema": 4}
    assert created_problem(old) is None and row_date(old) is None


def test_check_refuses_a_schema5_row_without_its_date(submitted, tmp_path):
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.rows import row_hash
    from winnow.leaderboard.verify import check_row

    dest = tmp_path / "rows" / "debug" / "filtering"
    dest.mkdir(parents=True)
    row = {k: v for k, v in read_json(submitted).items() if k != "created"}
    row["row_hash"] = row_hash(row)
    path = dest / submitted.name
    write_json(path, row)
    shutil.copyfile(bundle_path(submitted), bundle_path(path))
    assert [p for p in check_row(path) if "created" in p] == [
        f"{path}: has no created timestamp (schema 5 rows record when they were written)"]


def test_check_uses_the_bundle_when_the_run_folder_is_gone(submitted, debug_run, tmp_path, monkeypatch):
    from winnow.leaderboard.verify import check_row

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "elsewhere"))   # no runs here
    assert check_row(submitted) == []


# ------------------------------------------------------------------------------- refuse
def test_unofficial_scale_override_is_refused(debug_run):
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit
    from winnow.run import prepare

    run = prepare(DEBUG + [f"submission={SUB}", "scale.train.lr=0.01"])
    assert not run.rc.official
    with pytest.raises(RowError, match=r"unofficial run \(scale.train.lr"):
        submit(run.dir)


def test_forged_official_flag_is_caught_by_the_manifests(debug_run, tmp_path):
    """run.json says official, but the config it and the manifests record is not the committed one."""
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit

    d = _clone_run(debug_run.dir, tmp_path / debug_run.dir.name)
    info = read_json(d / "run.json")
    info["config"]["scale"]["train"]["lr"] = 0.01
    write_json(d / "run.json", info)
    with pytest.raises(RowError, match=r"unofficial scale: .* differs from conf/scale/debug.yaml in train"):
        submit(d)


def test_short_training_is_refused(debug_run, tmp_path):
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit

    d = _clone_run(debug_run.dir, tmp_path / debug_run.dir.name)
    m = read_json(d / "train" / "manifest.json")
    m["stats"]["tokens"] = 50000
    write_json(d / "train" / "manifest.json", m)
    with pytest.raises(RowError, match=r"trained 50000 tokens but scale debug v1 derives a budget of 98304"):
        submit(d)


def test_changed_artifact_byte_is_refused_and_named(debug_run, tmp_path):
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit

    d = _clone_run(debug_run.dir, tmp_path / debug_run.dir.name)
    res = d / "eval" / "debug" / "results.json"
    res.write_text(res.read_text().replace('"acc": 0.', '"acc": 0.9', 1))
    with pytest.raises(RowError, match=r"results.json: sha256 differs"):
        submit(d)


# ------------------------------------------------------------------------------- tamper
def _edit(path: Path, tmp: Path, fn) -> Path:
    """A copy of a row (and its bundle) in another rows folder, with ``fn`` applied to the row."""
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.rows import row_hash

    out = tmp / "rows" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bundle_path(path), bundle_path(out))
    row = read_json(path)
    fn(row)
    row["row_hash"] = row_hash(row)   # the forger recomputes the self-hash
    write_json(out, row)
    return out


@pytest.mark.parametrize("where", ["run folder", "bundle"])
def test_edited_row_fails_even_with_its_hash_recomputed(submitted, tmp_path, monkeypatch, where):
    from winnow.leaderboard.verify import check_row

    if where == "bundle":
        monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "no_runs"))
    task = next(iter(read_json(submitted)["tasks"]))

    def bump_task(r):
        r["tasks"][task]["prob"] += 0.01

    def bump_tokens(r):
        r["training"]["tokens"] += 128

    for fn, what in ((bump_task, f"tasks.{task}.prob"), (bump_tokens, "training.tokens")):
        edited = _edit(submitted, tmp_path / fn.__name__, fn)
        probs = check_row(edited)
        assert any(what in p and str(edited) in p for p in probs), probs


def test_edited_bundle_fails(submitted, tmp_path, monkeypatch):
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.verify import check_row

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "no_runs"))
    edited = _edit(submitted, tmp_path, lambda r: None)
    b = bundle_path(edited)
    ev = json.loads(b.read_bytes())
    res = json.loads(ev["results_json"])
    task = next(iter(res["tasks"]))
    res["tasks"][task]["prob"] += 0.01
    ev["results_json"] = json.dumps(res)
    b.write_bytes(json.dumps(ev).encode())
    probs = check_row(edited)
    assert any("bundle" in p and "sha256" in p for p in probs), probs
    assert any("results.json has sha256" in p for p in probs), probs


def test_row_without_artifacts_or_bundle_is_reported_not_passed(submitted, tmp_path, monkeypatch):
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.verify import check_row

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "no_runs"))
    edited = _edit(submitted, tmp_path, lambda r: None)
    bundle_path(edited).unlink()
    probs = check_row(edited)
    assert any("artifacts not on this machine and no bundle" in p for p in probs), probs


def test_committed_rows_check_from_their_bundles(tmp_path, monkeypatch):
    from winnow.leaderboard.verify import check_rows
    from winnow.paths import REPO_ROOT

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "no_runs"))
    problems, n = check_rows(REPO_ROOT / "leaderboard" / "rows")
    assert n >= 4 and problems == []


# ------------------------------------------------------------------------------- id lists
def test_id_list_submission_runs_end_to_end_without_code(debug_run, tmp_path):
    """A sorted file of pool ids is a complete filtering-track submission: no steps, no plugins."""
    from winnow.config import group_file
    from winnow.docs import read_docs
    from winnow.leaderboard.submit import submit
    from winnow.pool.build import pool_shards
    from winnow.run import STAGES, prepare, run_stages

    cfg = group_file("pool", "mini")
    ids = sorted(d["id"] for s in pool_shards(cfg, 2) for d in read_docs(s) if int(d["id"][-1], 16) % 2 == 0)
    folder = tmp_path / "submissions" / "even_ids"
    folder.mkdir(parents=True)
    (folder / "ids.txt").write_text("\n".join(ids) + "\n")
    (folder / "recipe.yaml").write_text("name: even_ids\ntrack: filtering\nids: ids.txt\n")
    run = prepare(DEBUG + [f"submission={folder}"])
    assert run.cfg.get("allow_code") in (None, False)
    run_stages(run, STAGES)
    row = read_json(submit(run.dir))
    assert row["submission"] == "submissions/even_ids"
    assert row["flags"]["ids_list"] and not row["flags"]["plugin_code"] and not row["flags"]["allow_code"]
    assert row["descent"]["failed"] == 0 and row["training"]["curated_docs"] == len(ids)


def test_plugin_code_needs_the_opt_in_and_the_row_records_it(submitted, tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe
    from winnow.leaderboard.evidence import read_bundle, bundle_path
    from winnow.leaderboard.rows import row_numbers

    folder = tmp_path / "plugged"
    folder.mkdir()
    (folder / "my_step.py").write_text("raise SystemExit('plugin code ran')\n")
    (folder / "recipe.yaml").write_text("name: plugged\ntrack: filtering\nplugins: [my_step.py]\nsteps: []\n")
    with pytest.raises(RecipeError, match="--allow-code"):
        load_recipe(folder / "recipe.yaml")
    ev, _ = read_bundle(bundle_path(submitted))
    ev["run"].update(allow_code=True, plugins=[str(folder / "my_step.py")])
    assert row_numbers(ev)["flags"]["plugin_code"] is True
    assert row_numbers(ev)["flags"]["allow_code"] is True


# ------------------------------------------------------------------------------- concurrency
def _submit_one(run_dir: str, q) -> None:
    try:
        from winnow.leaderboard.submit import submit

        q.put(("ok", str(submit(Path(run_dir)))))
    except BaseException as e:  # report, never hang the parent
        q.put(("error", f"{run_dir}: {type(e).__name__}: {e}"))


def test_twenty_concurrent_submits_of_one_model_leave_exactly_one_row(debug_run, submitted, tmp_path, monkeypatch):
    from winnow.leaderboard.rows import row_files
    from winnow.leaderboard.verify import check_row, check_rows
    from winnow.run import STAGES, prepare, run_stages

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path / "board"))
    src = (Path(debug_run.submission.folder) / "recipe.yaml").read_text()
    dirs = []
    for k in range(20):
        folder = tmp_path / "many" / f"s{k:02d}"
        folder.mkdir(parents=True)
        (folder / "recipe.yaml").write_text(src)
        run = prepare(DEBUG + [f"submission={folder}"])
        for stage in ("curated", "tokenized", "train", "eval"):
            shutil.copytree(debug_run.dir / stage, run.dir / stage, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("_work", "checkpoints"))
        run_stages(run, STAGES)   # every stage is skipped: same input keys
        dirs.append(run.dir)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_submit_one, args=(str(d), q)) for d in dirs]
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # the clones share one trained model and the board counts it once: the board lock makes the
    # check and the write one step, so exactly one of the racing submits wins and 19 are refused
    refused = [m for s, m in results if s != "ok"]
    assert len(refused) == 19, results
    assert all("already stands for this trained model" in m for m in refused), refused
    assert len(row_files()) == 1
    assert not list((tmp_path / "board").rglob("*.tmp"))
    assert check_row(row_files()[0]) == [] and check_rows() == ([], 1)


def test_concurrent_resubmits_of_one_run_leave_one_intact_row(debug_run, tmp_path, monkeypatch):
    from winnow.leaderboard.rows import row_files
    from winnow.leaderboard.verify import check_rows

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path / "board"))
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_submit_one, args=(str(debug_run.dir), q)) for _ in range(8)]
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(s == "ok" for s, _ in results), results
    assert len(row_files()) == 1 and check_rows() == ([], 1)


# ------------------------------------------------------------------------------- CLI
def test_cli_submit_refusal_is_a_clear_error(debug_run, capsys):
    from winnow.cli import main
    from winnow.run import prepare

    run = prepare(DEBUG + [f"submission={SUB}", "scale.model.d_model=64"])
    assert main(["submit", str(run.dir)]) == 2
    err = capsys.readouterr().err
    assert "winnow submit: error:" in err and "unofficial run (scale.model.d_model" in err


# ------------------------------------------------------------------------------- test scales
def test_only_leaderboard_scales_use_the_repository_board(monkeypatch, tmp_path):
    """debug says `leaderboard: {board: false}`; every other committed scale keeps the default."""
    from winnow.config import group_file
    from winnow.leaderboard.boards import board_for, on_board
    from winnow.paths import REPO_ROOT, conf_dir

    scales = sorted(p.stem for p in (conf_dir() / "scale").glob("*.yaml"))
    assert [s for s in scales if not on_board(group_file("scale", s))] == ["debug"]
    monkeypatch.delenv("WINNOW_LEADERBOARD", raising=False)
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path))
    assert board_for("debug") == tmp_path / "leaderboard"
    assert board_for("tiny-1x") == board_for("400m-1x") == REPO_ROOT / "leaderboard"
    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path / "board"))   # an explicit board takes all
    assert board_for("debug") == board_for("tiny-1x") == tmp_path / "board"


def test_debug_rows_go_to_the_home_board_and_leave_the_checkout_alone(debug_run, monkeypatch, capsys):
    """With no WINNOW_LEADERBOARD, `winnow submit` and `winnow run --submit` of a debug run write
    the row, its bundle and the board's README under $WINNOW_HOME/leaderboard; the repository's
    leaderboard/ gets no rows/debug and its pages do not change."""
    from winnow.cli import main
    from winnow.paths import REPO_ROOT, winnow_home

    repo = REPO_ROOT / "leaderboard"
    pages = {p: p.read_bytes() for p in (repo / "README.md", REPO_ROOT / "README.md") if p.exists()}
    monkeypatch.delenv("WINNOW_LEADERBOARD")
    home = winnow_home() / "leaderboard"
    assert main(["submit", str(debug_run.dir)]) == 0
    out = capsys.readouterr().out
    assert f"leaderboard row: {home / 'rows' / 'debug'}" in out and "debug is a test scale" in out
    assert main(["run", *DEBUG, f"submission={SUB}", "--submit"]) == 0   # every stage skipped
    rows = sorted(p.name for p in (home / "rows" / "debug").rglob("*.json"))
    assert len(rows) == 2 and any(r.endswith(".bundle.json") for r in rows)
    assert "baselines/simple_heuristics" in (home / "README.md").read_text()
    assert not (repo / "rows" / "debug").exists()
    assert {p: p.read_bytes() for p in pages} == pages
