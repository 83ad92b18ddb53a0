"""Decision accuracy between scales (winnow.leaderboard.agreement, `winnow analyze agreement`)."""

import json

import pytest

from winnow.cli import main
from winnow.leaderboard.agreement import analyze, compare, decision_accuracy
from winnow.leaderboard.rowsets import SignalError
from winnow.leaderboard.signal import Metric


def row(scale, sub, seed, bpb, prob=None, version=3, task_bpb=None):
    return {"scale": scale, "scale_version": version, "suite": "cpu", "suite_version": 2, "track": "filtering",
            "submission": f"baselines/{sub}", "fingerprint": f"fp-{sub}", "seed": seed,
            "primary_metric": "core_gold_bpb_v1",
            "aggregates": {"core_gold_bpb_v1": bpb, "core_prob_v1": prob if prob is not None else -bpb},
            "tasks": {"dclm_a": {"bpb": task_bpb if task_bpb is not None else bpb},
                      "dclm_b": {"bpb": 5.0 - bpb}}}


def two_scales(large_flip=0.0):
    """Entries w < x < y < z in quality at both scales (bpb falls), two seeds each, small noise;
    ``large_flip`` moves z's large-scale value to test a flipped pair."""
    rows = []
    for i, sub in enumerate("wxyz"):
        for seed, eps in ((0, 0.001), (1, -0.001)):
            rows.append(row("small", sub, seed, 3.0 - 0.1 * i + eps))
            rows.append(row("large", sub, seed, 2.5 - 0.1 * i + eps + (large_flip if sub == "z" else 0.0)))
    return rows


def test_same_order_at_both_scales_is_full_accuracy_whatever_the_metric_direction():
    rep = analyze(two_scales(), "small", "large", target="core_prob_v1")
    by = {m.metric: m for m in rep.metrics}
    # bpb (lower better) at the small scale predicts core_prob (higher better) at the large one
    assert by["aggregates.core_gold_bpb_v1"].decision_accuracy == 1.0
    assert by["aggregates.core_prob_v1"].decision_accuracy == 1.0
    assert by["aggregates.core_gold_bpb_v1"].kendall_tau == pytest.approx(1.0)
    assert rep.target == "aggregates.core_prob_v1"
    assert by["aggregates.core_gold_bpb_v1"].flips == []


def test_a_flip_beyond_noise_at_both_scales_is_real_and_one_within_noise_is_not():
    rep = analyze(two_scales(large_flip=+0.15), "small", "large")   # z falls behind y at the large scale
    g = rep.metrics[0]
    assert g.metric == "aggregates.core_gold_bpb_v1" and g.target == "aggregates.core_gold_bpb_v1"
    assert g.pairs == 6 and g.decision_accuracy == pytest.approx(5 / 6)
    assert len(g.flips) == 1 and g.real_flips == 1
    f = g.flips[0]
    assert (f.better_at_a, f.better_at_b) == ("baselines/z", "baselines/y")
    rep = analyze(two_scales(large_flip=+0.1005), "small", "large")   # z and y now within noise at the large scale
    f = rep.metrics[0].flips[0]
    assert f.within_noise_a is False and f.within_noise_b is True and rep.metrics[0].real_flips == 0


def test_bootstrap_interval_is_reproducible_and_brackets_a_noisy_accuracy():
    m = Metric("m", False, lambda r: None, "aggregate")
    small = {("t", s, "f"): {0: v, 1: v + d} for s, v, d in (("a", 1.0, 0.3), ("b", 1.1, -0.3), ("c", 2.0, 0.01))}
    large = {("t", s, "f"): {0: v, 1: v} for s, v in (("a", 1.0), ("b", 1.1), ("c", 2.0))}
    g1, g2 = compare(small, m, large, m), compare(small, m, large, m)
    assert g1.interval == g2.interval
    lo, hi = g1.interval
    assert lo < hi and lo <= g1.decision_accuracy <= hi
    assert g1.one_seed == []


def test_one_seed_entries_are_named_and_decision_accuracy_counts_ties_as_half():
    rows = [r for r in two_scales() if not (r["submission"] == "baselines/w" and r["seed"] == 1)]
    g = analyze(rows, "small", "large").metrics[0]
    assert g.one_seed == ["baselines/w"]
    assert decision_accuracy([1.0, 1.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx((0.5 + 1 + 1) / 3)


def test_per_task_reports_each_task_against_the_target():
    rep = analyze(two_scales(), "small", "large", per_task="bpb")
    names = {t.metric: t.decision_accuracy for t in rep.tasks}
    assert names["task.dclm_a.bpb"] == 1.0
    assert names["task.dclm_b.bpb"] == 0.0      # dclm_b's bpb rises as the others fall: always the wrong way


def test_errors_say_what_is_missing():
    with pytest.raises(SignalError, match="share 0 entries"):
        analyze([row("small", "a", 0, 1.0), row("large", "b", 0, 1.0)], "small", "large")
    with pytest.raises(SignalError, match="two different scales"):
        analyze(two_scales(), "small", "small")
    with pytest.raises(SignalError, match="no metric"):
        analyze(two_scales(), "small", "large", target="nope_v9")


def test_cli_reads_row_files_and_prints_json(tmp_path, capsys):
    for i, r in enumerate(two_scales(large_flip=0.15)):
        (tmp_path / f"r{i}.json").write_text(json.dumps(r))
    assert main(["analyze", "agreement", "--scales", "small,large", "--rows", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"][0]["decision_accuracy"] == pytest.approx(5 / 6) and out["metrics"][0]["real_flips"] == 1
    assert main(["analyze", "agreement", "--scales", "small", "--rows", str(tmp_path)]) == 2
    assert "two values" in capsys.readouterr().err
    assert main(["analyze", "agreement", "--scales", "small,large", "--rows", str(tmp_path), "--per-task"]) == 0
    text = capsys.readouterr().out
    assert "decision accuracy" in text and "task.dclm_a.bpb" in text and "beyond noise / beyond noise" in text


def test_page_section_compares_the_smaller_scale_with_the_larger_one():
    from winnow.leaderboard.html import _agreement

    rows = two_scales(large_flip=0.15)
    for r in rows:
        r["training"] = {"tokens": 10 if r["scale"] == "small" else 40}
    html = _agreement(rows, ["large", "small"])            # the page's order: lead scale first
    assert "small v3 → large v3: 4 entries" in html        # compared smaller → larger all the same
    assert "<td>0.83</td>" in html and "per task (2)" in html and "How to read it" in html
    assert "nothing to compare" in _agreement([r for r in rows if r["scale"] == "small"], ["small"])


def test_decision_accuracy_counts_concordant_pairs_and_half_ties():
    a = [0.1, 0.4, 0.35, 0.8, 0.2, 0.2]
    b = [0.15, 0.3, 0.5, 0.9, 0.1, 0.25]
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    agree = sum((a[i] - a[j]) * (b[i] - b[j]) > 0 for i, j in pairs) + 0.5 * sum(
        (a[i] - a[j]) * (b[i] - b[j]) == 0 for i, j in pairs)
    assert decision_accuracy(a, b) == pytest.approx(agree / 15)
