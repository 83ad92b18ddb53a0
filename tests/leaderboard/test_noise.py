"""seed_noise_v2 (each entry against its own track's seed noise) and the per-table choice of the
rule from the scale YAML, on hand-made rows; old tables keep seed_noise_v1."""

from __future__ import annotations

import math

import pytest

from tests.leaderboard.test_stats import make_row
from winnow.config import ConfigError
from winnow.leaderboard import render, stats, tables


def _rows() -> list[dict]:
    # filtering: f/a seeds 0.10, 0.12 (var 2e-4), f/b 0.20, 0.22, 0.24 (var 4e-4) -> pool 10e-4/3 over 3 df
    # order: o/a 0.10, 0.30 (var 0.02), o/b 0.20, 0.40 (var 0.02) -> pool 0.02 over 2 df
    # mixing: m/a one seed, no pool of its own -> all tracks (0.0010 + 0.04) / 5 df
    rows = [make_row("f/a", s, v) for s, v in enumerate([0.10, 0.12])]
    rows += [make_row("f/b", s, v) for s, v in enumerate([0.20, 0.22, 0.24])]
    rows += [make_row("f/one", 0, 0.30, se=0.001)]
    rows += [make_row("o/a", s, v, track="order") for s, v in enumerate([0.10, 0.30])]
    rows += [make_row("o/b", s, v, track="order") for s, v in enumerate([0.20, 0.40])]
    rows += [make_row("m/a", 0, 0.25, track="mixing")]
    return rows


def _by_sub(noise: dict) -> dict:
    return {k[stats.ENTRY_FIELDS.index("submission")]: n for k, n in noise.items()}


def test_v2_pools_within_each_track_and_says_where_it_fell_back():
    n = _by_sub(stats.entry_noise(_rows(), "core_prob_v1", "seed_noise_v2"))
    filt = math.sqrt((1 * 2e-4 + 2 * 4e-4) / 3)
    assert (n["f/a"].sd, n["f/a"].df, n["f/a"].source) == (pytest.approx(filt), 3, "filtering track")
    assert n["f/one"] == n["f/a"] == n["f/b"]                          # one seed: its track's pool
    assert (n["o/a"].sd, n["o/a"].df, n["o/a"].source) == (pytest.approx(math.sqrt(0.02)), 2, "order track")
    everything = math.sqrt((1e-3 + 0.04) / 5)
    assert (n["m/a"].sd, n["m/a"].df) == (pytest.approx(everything), 5)
    assert n["m/a"].source == "all tracks (no mixing-track entry has 2+ seeds)"
    v1 = _by_sub(stats.entry_noise(_rows(), "core_prob_v1"))
    assert len(set(v1.values())) == 1 and v1["m/a"].pair == (pytest.approx(everything), 5)   # v1: one pool


def test_a_track_with_one_df_takes_the_scale_versions_pool():
    rows = [make_row("f/a", s, v) for s, v in enumerate([0.10, 0.12, 0.14])]
    rows += [make_row("o/a", s, v, track="order") for s, v in enumerate([0.10, 0.30])]
    n = _by_sub(stats.entry_noise(rows, "core_prob_v1", "seed_noise_v2"))
    assert n["o/a"].df == 3 and n["o/a"].source == "all tracks (the order track has 1 df)"
    assert n["f/a"].df == 2 and n["f/a"].sd == pytest.approx(0.02)


def test_v2_intervals_and_ranks_come_from_each_entrys_track():
    noise = stats.entry_noise(_rows(), "core_prob_v1", "seed_noise_v2")
    es = {e.first["submission"]: e for e in stats.group([r for r in _rows() if r["track"] == "filtering"],
                                                        "core_prob_v1", noise=noise)}
    s = math.sqrt((1 * 2e-4 + 2 * 4e-4) / 3)
    half = 3.182 * s / math.sqrt(2)                      # t(0.975, 3) · s / √n for f/a
    assert (es["f/a"].low, es["f/a"].high) == (pytest.approx(0.11 - half), pytest.approx(0.11 + half))
    assert es["f/one"].high - es["f/one"].low == pytest.approx(2 * 3.182 * s)
    # f/one (0.30) and f/b (0.22) overlap; f/a (0.11) lies below both
    assert [(k, es[k].rank, es[k].tied) for k in ("f/one", "f/b", "f/a")] == [
        ("f/one", 1, True), ("f/b", 1, True), ("f/a", 3, False)]
    # under v1 the order track's wide seeds widen every filtering interval: all tie
    v1 = stats.group([r for r in _rows() if r["track"] == "filtering"], "core_prob_v1",
                     noise=stats.entry_noise(_rows(), "core_prob_v1"))
    assert {e.rank for e in v1} == {1}


def test_differ_uses_the_pooled_test_within_a_pool_and_welch_across():
    a = stats.Noise(0.01, 6, "filtering track")
    b = stats.Noise(0.10, 2, "order track")
    assert stats.differ(0.0, 2, a, 0.05, 2, a) == stats.beyond_noise(0.0, 2, 0.05, 2, 0.01, 6) is True
    # Welch: se² = 0.01²/2 + 0.1²/2, df = se⁴ / (v_a²/6 + v_b²/2) ~ 2.04 -> t(0.975, 2)
    se = math.sqrt(0.01 ** 2 / 2 + 0.1 ** 2 / 2)
    assert stats.differ(0.0, 2, a, 4.2 * se, 2, b) is False and stats.differ(0.0, 2, a, 4.4 * se, 2, b) is True
    assert stats.differ(0.0, 2, a, 1.0, 2, stats.Noise(None, 0, "not measured")) is False


def test_lower_is_better_primary_ranks_the_smallest_first():
    rows = [make_row(f"a/{k}", s, v + 0.01 * s, primary_metric="gold_bpb_v1",
                     aggregates={"gold_bpb_v1": v + 0.01 * s}) for k, v in (("hi", 3.0), ("lo", 2.0)) for s in (0, 1)]
    es = stats.group(rows, "gold_bpb_v1", noise=stats.entry_noise(rows, "gold_bpb_v1", "seed_noise_v2"))
    assert [(e.first["submission"], e.rank, e.tied) for e in es] == [("a/lo", 1, False), ("a/hi", 2, False)]
    assert not stats.higher_better("gold_bpb_v1") and stats.higher_better("core_prob_v1")


@pytest.mark.parametrize("spec,want", [
    (None, ["seed_noise_v1"] * 3),
    ({"rule": "seed_noise_v2", "from_version": 3}, ["seed_noise_v1", "seed_noise_v1", "seed_noise_v2"]),
    ("seed_noise_v2", ["seed_noise_v1", "seed_noise_v2", "seed_noise_v2"]),    # from the YAML's own version (2)
    ([{"rule": "seed_noise_v2", "from_version": 2}, {"rule": "seed_noise_v1", "from_version": 3}],
     ["seed_noise_v1", "seed_noise_v2", "seed_noise_v1"]),
])
def test_the_rule_is_chosen_per_scale_version_by_the_scale_yaml(monkeypatch, spec, want):
    cfg = {"name": "x", "version": 2, "leaderboard": {"primary": "core_prob_v1"}}
    if spec is not None:
        cfg["leaderboard"]["noise"] = spec
    monkeypatch.setattr(tables, "scale_config", lambda scale: cfg)
    assert [tables.noise_rule("x", v) for v in (1, 2, 3)] == want


def test_a_bad_noise_spec_is_a_config_error(monkeypatch):
    monkeypatch.setattr(tables, "scale_config", lambda scale: {"version": 2, "leaderboard": {"noise": "seed_noise_v9"}})
    with pytest.raises(ConfigError, match="seed_noise_v2"):
        tables.noise_rule("x", 2)


def test_committed_scales_keep_seed_noise_v1_for_their_published_tables():
    for scale, version in (("tiny-1x", 2), ("quickstart", 1), ("1m-1x", 1), ("tiny-1x", 1)):
        assert tables.noise_rule(scale, version) == "seed_noise_v1"


def test_board_applies_the_tables_rule_and_records_it(monkeypatch):
    cfg = {"version": 1, "leaderboard": {"noise": {"rule": "seed_noise_v2", "from_version": 1}}}
    monkeypatch.setattr(tables, "scale_config", lambda scale: cfg)
    by_track = {t.track: t for t in tables.board(_rows())}
    assert by_track["filtering"].noise_rule == "seed_noise_v2"
    f_a = next(e for e in by_track["filtering"].entries if e.first["submission"] == "f/a")
    assert f_a.noise.source == "filtering track" and f_a.noise.df == 3
    md = render.render(tables.Board.of(_rows()))["tiny-1x"]
    assert "seed_noise_v2" in md


def test_a_primary_metric_brings_its_own_held_out_analogue_and_task_measure():
    """Targeted entries are read on the primary's own CORE-without-targets aggregate, and the
    heatmaps show the primary's per-task value: bpb for a gold-bpb primary, not prob."""
    from winnow.leaderboard.tables import heldout_name, heldout_values, task_measure

    assert heldout_name("core_prob_v1") == "core_heldout_prob_v1" and task_measure("core_prob_v1") == "prob"
    assert heldout_name("core_gold_bpb_v1") == "core_heldout_gold_bpb_v1" and task_measure("core_gold_bpb_v1") == "bpb"
    assert task_measure("core_v2") == "acc"
    row = {"tasks": {"dclm_squad": {"acc": 0.0, "prob": 0.01, "bpb": 2.0, "gold_bytes": 300},
                     "dclm_lambada_openai": {"acc": 0.0, "prob": 0.02, "bpb": 4.0, "gold_bytes": 100}}}
    assert heldout_values([row], ["squad"], "core_gold_bpb_v1") == [4.0]
    assert heldout_values([row], ["squad"], "core_prob_v1") == [pytest.approx(0.02)]


def test_the_seed_noise_line_names_the_shared_fallback_pool_once():
    from winnow.leaderboard.readmes import summary_table
    # filtering: one entry with 2 seeds (1 df, under the track minimum); order: one seed. Both tracks
    # fall back to the same all-tracks pool, for different reasons: one pool, both reasons
    rows = [make_row("baselines/random", s, v) for s, v in enumerate([0.10, 0.12])]
    rows += [make_row("baselines/o", 0, 0.2, track="order")]
    entries = stats.group(rows, "core_prob_v1", noise=stats.entry_noise(rows, "core_prob_v1", "seed_noise_v2"))
    line = summary_table("t", "core_prob_v1", entries, "seed_noise_v2").splitlines()[-1]
    assert line.count("core_prob_v1 0.0141 (1 df)") == 1, line
    assert ("all tracks (no order-track entry has 2+ seeds, the filtering track has 1 df): "
            "core_prob_v1 0.0141 (1 df);") in line
