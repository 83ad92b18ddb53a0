"""Ranking statistics and rendering, on hand-made rows: seed grouping, intervals, tie ranks,
primary-metric choice, cross-scale agreement (checked against scipy), tables and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from winnow.leaderboard import stats
from winnow.leaderboard.rows import CPU_PRIMARY, GPU_PRIMARY, primary_metric, row_primary


def make_row(sub: str, seed: int, score: float, scale: str = "tiny-1x", se: float | None = 0.01,
             flops: float = 1e13, **extra) -> dict:
    row = {"schema": 2, "submission": sub, "fingerprint": "f-" + sub, "track": "filtering", "scale": scale,
           "scale_version": 1, "seed": seed, "suite": "quick", "suite_version": 1,
           "run_id": f"{sub.replace('/', '-')}__{scale}__{seed:08d}", "primary_metric": "core_prob_v1",
           "tasks": {"dclm_copa": {"acc": 0.5 + score, "prob": score, "n": 100},
                     "dclm_piqa": {"acc": 0.5 + score / 2, "prob": score / 2, "n": 100}},
           "aggregates": {"core_prob_v1": score, "core_v2_partial": score / 2, "extended_v2_partial": score / 3,
                          "category_commonsense_reasoning_v2_partial": score},
           "aggregates_stderr": {"core_prob_v1": se} if se is not None else {},
           "training": {"tokens": 1000, "passes": 1.0, "flops": flops},
           "curation_cost": {"cpu_seconds": 1.5, "flops": None},
           "contamination": {"measured": False},
           "flags": {"plugin_code": False, "targeted": False, "external_data": False},
           "_path": f"/rows/{sub}__seed{seed}.json"}
    row.update(extra)
    return row


def test_seeds_are_grouped_with_a_t_interval():
    rows = [make_row("a/x", s, v) for s, v in enumerate([0.10, 0.12, 0.14])]
    (e,) = stats.group(rows, "core_prob_v1")
    assert e.seeds == [0, 1, 2] and e.mean == pytest.approx(0.12)
    half = 4.303 * 0.02 / math.sqrt(3)   # t(0.975, 2) * sd / sqrt(n)
    assert (e.low, e.high) == (pytest.approx(0.12 - half), pytest.approx(0.12 + half))


def test_one_seed_uses_the_aggregate_stderr_or_none():
    m, lo, hi = stats.mean_interval([0.3], 0.01)
    assert (m, lo, hi) == (0.3, pytest.approx(0.3 - 0.0196, abs=1e-4), pytest.approx(0.3 + 0.0196, abs=1e-4))
    assert stats.mean_interval([0.3]) == (0.3, 0.3, 0.3)
    assert stats.mean_interval([None]) == (None, None, None)


def test_ranks_within_noise_are_ties():
    rows = [make_row("a/best", 0, 0.50, se=0.001), make_row("a/close", 0, 0.499, se=0.001),
            make_row("a/far", 0, 0.30, se=0.001), make_row("a/far2", 0, 0.2995, se=0.001)]
    es = stats.group(rows, "core_prob_v1")
    got = [(e.first["submission"], e.rank, e.tied) for e in es]
    assert got == [("a/best", 1, True), ("a/close", 1, True), ("a/far", 3, True), ("a/far2", 3, True)]


def test_primary_metric_from_the_scale_config_with_fallbacks():
    assert primary_metric({"tokenizer": {"name": "bpe8k-v1"}}) == CPU_PRIMARY == "core_prob_v1"
    assert primary_metric({"tokenizer": {"name": "gpt-neox-20b"}}) == GPU_PRIMARY == "core_v2"
    assert primary_metric({"tokenizer": {"name": "bpe8k-v1"}, "leaderboard": {"primary": "prob_mean_v1"}}) == "prob_mean_v1"
    old = make_row("a/x", 0, 0.1, schema=1, primary_metric="prob_mean_v1")
    assert row_primary(old) == "core_prob_v1"          # schema 1: today's rule for its scale
    assert row_primary(make_row("a/x", 0, 0.1, primary_metric="prob_mean_v1")) == "prob_mean_v1"


def test_kendall_tau_b_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    a = [0.1, 0.4, 0.35, 0.8, 0.2, 0.2]
    b = [0.15, 0.3, 0.5, 0.9, 0.1, 0.25]
    assert stats.kendall_tau_b(a, b) == pytest.approx(scipy_stats.kendalltau(a, b).statistic)


def test_markdown_table_has_the_columns_and_tie_marks():
    from winnow.leaderboard.render import render
    from winnow.leaderboard.tables import Board

    rows = [make_row("a/x", 0, 0.2), make_row("a/x", 1, 0.22), make_row("a/y", 0, 0.21, flags={
        "plugin_code": True, "targeted": True, "external_data": False})]
    md = render(Board.of(rows))["tiny-1x"]
    for col in ("**core_prob_v1** (95% CI)", "CORE (partial)", "EXTENDED (partial)", "commonsense reasoning",
                "train tokens", "passes", "train FLOPs", "curation CPU s", "contamination", "seeds", "flags"):
        assert col in md, col
    assert "| =1 | a/x | 0.2100 ± " in md and "plugin code, targeted" in md


def test_cli_analyze_agreement(tmp_path, monkeypatch, capsys):
    from winnow.cli import main

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path))
    for sub, (x, y) in {"a/p": (0.1, 0.2), "a/q": (0.3, 0.1), "a/r": (0.5, 0.6)}.items():
        for r in (make_row(sub, 0, x), make_row(sub, 0, y, scale="1m-1x")):
            p = tmp_path / "rows" / r["scale"] / "filtering" / f"{sub.replace('/', '-')}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({k: v for k, v in r.items() if k != "_path"}))
    assert main(["analyze", "agreement", "--scales", "tiny-1x,1m-1x"]) == 0
    out = capsys.readouterr().out
    assert "3 entries at both, 3 pairs" in out
    assert "aggregates.core_prob_v1" in out and " 0.667 " in out and "+0.33" in out   # accuracy, Kendall tau
    assert main(["analyze", "agreement", "--scales", "tiny-1x"]) == 2


def test_targeted_rows_also_carry_core_without_their_targets():
    from winnow.eval.scoring import untargeted_values
    from winnow.leaderboard.rows import targeted_aggregates

    tasks = {f"dclm_{t}": {"acc": 0.3 + 0.01 * i, "prob": 0.01 * i, "kind": "multiple_choice"}
             for i, t in enumerate(("arc_easy", "piqa", "lambada_openai", "copa"))}
    assert targeted_aggregates(tasks, []) == {}
    got = targeted_aggregates(tasks, ["dclm_lambada_openai"])
    want = untargeted_values(tasks, ["dclm_lambada_openai"], gold_versions=())
    assert got and all(got[k] == want[k] for k in want)
    # schema 4 on: the gold-bpb analogues too, schema 6 of both versions (None here: these tasks carry no gold bpb)
    assert set(got) - set(want) == {"core_heldout_gold_bpb_v1", "core_heldout_gold_bpb_pooled_v1",
                                    "core_heldout_gold_bpb_v2", "core_heldout_gold_bpb_pooled_v2"}
    assert got["core_heldout_gold_bpb_v1"] is None


def test_curation_seconds_show_cpu_time_and_mark_wall_time():
    """Schema-3 rows report measured CPU seconds; schema-2 rows (and schema-3 rows whose stats lack
    CPU time) only had wall time, which is shown marked, and never averaged with CPU time."""
    from winnow.leaderboard.fmt import seconds_text
    from winnow.leaderboard.render import render
    from winnow.leaderboard.tables import Board, curation_seconds
    from winnow.leaderboard.rows import curation_cost

    steps = [{"seconds": 2.0, "cpu_seconds": 1.25}, {"seconds": 1.0, "cpu_seconds": 0.5, "info": {"flops": 3.0}}]
    assert curation_cost({"steps": steps}) == {"cpu_seconds": 1.75, "wall_seconds": 3.0, "flops": 3.0, "steps": 2}
    assert curation_cost({"steps": steps}, schema=2) == {"cpu_seconds": 3.0, "flops": 3.0, "steps": 2}
    assert curation_cost({"steps": [steps[0], {"seconds": 4.0}]})["cpu_seconds"] is None

    cpu = [make_row("a/x", s, 0.2, schema=3, curation_cost={"cpu_seconds": c, "wall_seconds": 9.0, "flops": None})
           for s, c in ((0, 1.0), (1, 2.0))]
    assert seconds_text(curation_seconds(cpu)) == "1.5"
    old = make_row("a/y", 0, 0.2)                     # schema 2: its cpu_seconds field was wall time
    assert seconds_text(curation_seconds([old])) == "1.5 (wall)"
    unknown = make_row("a/x", 2, 0.2, schema=3, curation_cost={"cpu_seconds": None, "wall_seconds": 6.0})
    assert seconds_text(curation_seconds(cpu + [unknown])) == "8.0 (wall)"   # wall of all three: 9, 9, 6
    md = render(Board.of(cpu + [old]))["tiny-1x"]
    assert "| 1.5 |" in md and "| 1.5 (wall) |" in md


def test_measured_seed_noise_sets_every_interval_one_seed_entries_included():
    # a/multi's three seeds give the pooled sd 0.02 (2 df); the one-seed entries' per-task stderrs
    # (0.001) would separate them, the seed noise a rerun shows does not.
    rows = [make_row("a/multi", s, v) for s, v in enumerate([0.10, 0.12, 0.14])]
    rows += [make_row("a/one", 0, 0.30, se=0.001), make_row("a/two", 0, 0.27, se=0.001)]
    noise = stats.seed_noise(rows, "core_prob_v1")
    assert noise == (pytest.approx(0.02), 2)
    by_stderr = {e.first["submission"]: e for e in stats.group(rows, "core_prob_v1")}
    assert by_stderr["a/two"].rank == 2 and not by_stderr["a/two"].tied
    es = {e.first["submission"]: e for e in stats.group(rows, "core_prob_v1", noise=noise)}
    assert (es["a/one"].low, es["a/one"].high) == (pytest.approx(0.30 - 4.303 * 0.02), pytest.approx(0.30 + 4.303 * 0.02))
    half3 = 4.303 * 0.02 / math.sqrt(3)
    assert (es["a/multi"].low, es["a/multi"].high) == (pytest.approx(0.12 - half3), pytest.approx(0.12 + half3))
    assert [(s, es[s].rank, es[s].tied) for s in ("a/one", "a/two", "a/multi")] == [
        ("a/one", 1, True), ("a/two", 1, True), ("a/multi", 3, False)]


def test_board_pools_seed_noise_over_the_tracks_of_a_scale_version():
    from winnow.leaderboard.tables import board

    rows = [make_row("a/multi", s, v) for s, v in enumerate([0.10, 0.12, 0.14])]
    rows += [make_row("a/ordered", 0, 0.30, se=0.001, track="order"),
             make_row("a/other_version", 0, 0.30, se=0.001, track="order", scale_version=2)]
    tables = {(t.track, t.entries[0].first["scale_version"]): t for t in board(rows)}
    (ordered,) = tables[("order", 1)].entries
    assert ordered.high - ordered.low == pytest.approx(2 * 4.303 * 0.02)   # the filtering track's seeds
    (other,) = tables[("order", 2)].entries    # another scale version: no seeds measured, stderr
    assert other.high - other.low == pytest.approx(2 * stats.Z95 * 0.001)
