"""The leaderboard as one DataFrame (``winnow.leaderboard.frame``) and ``winnow leaderboard
export``: the documented columns and values over a temporary board of hand-made rows, CSV and
parquet round trips, ``analyze signal --csv``, bad input as one error line; and, at debug scale, a
real submitted row in the frame and the README's ``datasets.load_dataset`` recipes for a run's
curated and tokenized outputs.
"""

from __future__ import annotations

import json
import math
from glob import glob

import pandas as pd
import pytest

from winnow.cli import main
from winnow.leaderboard import frame as F


def _row(sub: str, seed: int, score: float, schema: int = 4, **extra) -> dict:
    row = {"schema": schema, "submission": sub, "fingerprint": "f-" + sub, "track": "filtering",
           "scale": "tiny-1x", "scale_version": 3, "seed": seed, "suite": "cpu", "suite_version": 1,
           "run_id": f"{sub.replace('/', '-')}__tiny-1x__{seed}", "primary_metric": "core_gold_bpb_v1",
           "tasks": {"dclm_copa": {"acc": 0.5 + score, "prob": score, "bpb": 2.0 + score, "n": 100},
                     "dclm_piqa": {"acc": 0.25, "prob": None, "bpb": 3.0, "n": 50}},
           "aggregates": {"core_gold_bpb_v1": 2.5 + score, "core_prob_v1": score, "core_v2": None},
           "aggregates_stderr": {"core_gold_bpb_v1": 0.01},
           "heldout": {"bits_per_byte": 2.4 + score, "unigram_bits_per_byte": 3.4, "tokens": 5000},
           "training": {"tokens": 9000, "sequences": 18, "passes": 1.25, "steps": 9, "curated_docs": 40,
                        "docs_used": 44, "flops": 1.5e12, "budget_tokens": 9216},
           "curation_cost": {"cpu_seconds": 3.5, "wall_seconds": 4.25, "flops": None, "steps": 2},
           "contamination": {"measured": True, "gold_share": 0.125, "context_share": 0.0,
                             "flagged": ["dclm_copa"]},
           "flags": {"plugin_code": False, "allow_code": True, "ids_list": False, "targeted": True,
                     "external_data": False},
           "targets": ["dclm_copa"], "code": {"commit": "abc123"}, "row_hash": f"h{seed}"}
    row.update(extra)
    return row


ROWS = [_row("a/A", 0, 0.1), _row("a/A", 1, 0.2, schema=5, created="2026-12-06T17:53:45Z"),
        # an older row: schema 2 recorded wall time as cpu_seconds; no task piqa, no heldout tokens
        _row("b/B", 0, 0.3, schema=2, tasks={"dclm_copa": {"acc": 0.7, "prob": 0.3, "bpb": 2.3}},
             curation_cost={"cpu_seconds": 7.0, "flops": 2e9, "steps": 1}, contamination={"measured": False},
             flags={"plugin_code": False, "targeted": False, "external_data": False}, targets=[], code={})]


def _board(root, rows=ROWS):
    for r in rows:
        p = root / "rows" / r["scale"] / r["track"] / f"{r['submission'].replace('/', '-')}__seed{r['seed']}__0.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    return root


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path / "board"))
    return _board(tmp_path / "board")


def test_the_frame_has_the_documented_columns_and_the_rows_values(board):
    df = F.leaderboard_frame()
    assert len(df) == 3
    assert list(df.columns[:16]) == [*F.IDENTITY, "primary_value"]
    for col in ("aggregates.core_gold_bpb_v1", "aggregates.core_prob_v1", "aggregates.core_v2",
                "aggregates_stderr.core_gold_bpb_v1", "heldout.bits_per_byte", "heldout.unigram_bits_per_byte",
                "training.tokens", "training.flops", "training.passes", "curation.cpu_seconds",
                "curation.wall_seconds", "contamination.gold_share", "contamination.context_share",
                "flags.targeted", "targets"):
        assert col in df.columns, col
    tasks = [c for c in df.columns if c.startswith("task.")]
    assert tasks == [f"task.{t}.{m}" for t in ("dclm_copa", "dclm_piqa") for m in ("acc", "bpb", "prob")]
    assert str(df["seed"].dtype) == "Int64" and str(df["flags.targeted"].dtype) == "boolean"
    assert str(df["submission"].dtype) == "string" and df["aggregates.core_v2"].isna().all()

    a1 = df[(df.submission == "a/A") & (df.seed == 1)].iloc[0]
    assert a1["primary_metric"] == "core_gold_bpb_v1" and a1["primary_value"] == pytest.approx(2.7)
    assert a1["task.dclm_copa.acc"] == pytest.approx(0.7) and a1["task.dclm_copa.bpb"] == pytest.approx(2.2)
    assert math.isnan(a1["task.dclm_piqa.prob"]) and a1["task.dclm_piqa.bpb"] == 3.0
    assert (a1["training.tokens"], a1["training.flops"], a1["training.passes"]) == (9000, 1.5e12, 1.25)
    assert (a1["curation.cpu_seconds"], a1["curation.wall_seconds"]) == (3.5, 4.25)
    assert (a1["contamination.gold_share"], a1["contamination.flagged"]) == (0.125, "dclm_copa")
    assert a1["targets"] == "dclm_copa" and bool(a1["flags.allow_code"]) and a1["code_commit"] == "abc123"
    assert a1["row_file"] == "a-A__seed1__0.json" and a1["heldout.tokens"] == 5000
    assert a1["created"] == "2026-12-06T17:53:45Z" and a1["schema"] == 5   # schema 5: when it was written

    b = df[df.submission == "b/B"].iloc[0]   # schema 2: wall time only; missing values are missing
    assert math.isnan(b["curation.cpu_seconds"]) and b["curation.wall_seconds"] == 7.0
    assert b["curation.flops"] == 2e9 and b["contamination.measured"] == False  # noqa: E712
    assert math.isnan(b["task.dclm_piqa.acc"]) and pd.isna(b["flags.allow_code"]) and pd.isna(b["targets"])
    assert pd.isna(b["code_commit"]) and b["training.steps"] == 9 and pd.isna(b["created"])


def test_rows_can_be_files_folders_or_globs_and_the_order_is_kept(board):
    files = sorted(str(p) for p in board.rglob("*.json"))
    assert F.leaderboard_frame(files[:1])["row_file"].tolist() == [files[0].rsplit("/", 1)[1]]
    assert len(F.leaderboard_frame([str(board / "rows")])) == 3
    assert len(F.leaderboard_frame([str(board / "rows/**/a-A*.json")])) == 2


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_round_trips(board, tmp_path, capsys, ext):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / "out" / f"leaderboard{ext}"
    assert main(["leaderboard", "export", "--out", str(out)]) == 0
    assert f"wrote {out}: 3 rows" in capsys.readouterr().err
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]   # no temporary left behind
    pd.testing.assert_frame_equal(F.read_export(out), F.leaderboard_frame(), check_exact=True)
    plain = pd.read_csv(out) if ext == ".csv" else pd.read_parquet(out)   # plain pandas reads it too
    assert plain["aggregates.core_gold_bpb_v1"].tolist() == pytest.approx([2.6, 2.7, 2.8])


def test_export_without_out_is_csv_on_stdout(board, capsys):
    assert main(["leaderboard", "export", "--rows", str(board / "rows")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("submission,fingerprint,track,scale,") and len(out.splitlines()) == 4


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_input_is_one_clear_line(board, tmp_path, monkeypatch, capsys):
    assert main(["leaderboard", "export", "--out", str(tmp_path / "x.xlsx")]) == 2
    assert "unknown extension '.xlsx'" in _one_error_line(capsys)
    (tmp_path / "a_file").write_text("")
    assert main(["leaderboard", "export", "--out", str(tmp_path / "a_file" / "x.csv")]) == 2
    assert "cannot write" in _one_error_line(capsys)
    (tmp_path / "a_dir.csv").mkdir()
    assert main(["leaderboard", "export", "--out", str(tmp_path / "a_dir.csv")]) == 2
    assert "cannot write" in _one_error_line(capsys)
    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path / "empty"))
    assert main(["leaderboard", "export", "--out", str(tmp_path / "y.csv")]) == 2
    assert "no leaderboard rows in" in _one_error_line(capsys)
    assert main(["leaderboard", "export", "--rows", str(tmp_path / "nowhere")]) == 2
    assert "no such folder or file" in _one_error_line(capsys)
    assert not (tmp_path / "y.csv").exists()


def test_analyze_signal_csv_writes_the_analysed_rows_and_leaves_json_alone(tmp_path, monkeypatch, capsys):
    rows = [_row(s, seed, v) for s, vs in {"a/A": [0.1, 0.3], "a/B": [0.5, 0.6]}.items() for seed, v in enumerate(vs)]
    monkeypatch.setenv("WINNOW_LEADERBOARD", str(_board(tmp_path / "b", rows)))
    argv = ["analyze", "signal", "--scale", "tiny-1x", "--metric", "core_gold_bpb_v1", "--json"]
    assert main(argv) == 0
    before = capsys.readouterr().out
    assert main([*argv, "--csv", str(tmp_path / "signal.csv")]) == 0
    assert capsys.readouterr().out == before
    df = F.read_export(tmp_path / "signal.csv")
    assert sorted(df["aggregates.core_gold_bpb_v1"]) == pytest.approx([2.6, 2.8, 3.0, 3.1])


# ------------------------------------------------------------------------------- debug scale
@pytest.fixture(scope="module")
def debug_row(mini_pool, tmp_path_factory):
    from winnow.leaderboard.submit import submit
    from winnow.run import STAGES, prepare, run_stages

    mp = pytest.MonkeyPatch()
    board = tmp_path_factory.mktemp("frame_board")
    mp.setenv("WINNOW_LEADERBOARD", str(board))
    try:
        run = prepare(["scale=debug", "progress=false", "engine.workers=1", "submission=baselines/random"])
        run_stages(run, STAGES)
        yield run, submit(run.dir), board
    finally:
        mp.undo()


def test_a_submitted_debug_row_in_the_frame(debug_row):
    run, path, board = debug_row
    row = json.loads(path.read_text())
    (r,) = F.leaderboard_frame(root=board / "rows").to_dict("records")
    assert (r["submission"], r["scale"], r["seed"], r["run_id"]) == ("baselines/random", "debug", row["seed"],
                                                                      row["run_id"])
    assert r["row_file"] == path.name and r["primary_metric"] == row["primary_metric"]
    for name, v in row["aggregates"].items():
        assert r[f"aggregates.{name}"] == pytest.approx(v) if v is not None else math.isnan(r[f"aggregates.{name}"])
    for task, vals in row["tasks"].items():
        for m in F.TASK_MEASURES:
            if isinstance(vals.get(m), (int, float)):
                assert r[f"task.{task}.{m}"] == pytest.approx(vals[m])
    assert r["training.tokens"] == row["training"]["tokens"] and r["heldout.bits_per_byte"] == pytest.approx(
        row["heldout"]["bits_per_byte"])


def test_readme_load_dataset_recipes_open_a_debug_runs_outputs(debug_row):
    """The README's "Results as data": curated shards with the json loader, tokens.npy with numpy."""
    import numpy as np
    from datasets import Dataset, load_dataset

    run, _, _ = debug_row
    shards = sorted(glob(str(run.dir / "curated" / "shards" / "*.jsonl.zst")))
    ds = load_dataset("json", data_files=shards, split="train")
    stats = json.loads((run.dir / "curated" / "stats.json").read_text())
    assert set(ds.column_names) >= {"id", "text"} and len(ds) == stats["totals"]["docs_out"] > 0
    tokens = np.load(run.dir / "tokenized" / "tokens.npy", mmap_mode="r")
    tok = Dataset.from_dict({"input_ids": tokens})
    assert len(tok) == tokens.shape[0] and tok[0]["input_ids"] == tokens[0].tolist()
