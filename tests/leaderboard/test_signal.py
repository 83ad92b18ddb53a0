"""`winnow analyze signal` on hand-made rows: spread, pooled seed sd, SNR, seed-to-seed tau,
separated pairs and the paired (two-way) residual against numbers worked out by hand; the derived
gold-bpb metrics; bad input named with its file; the command line."""

from __future__ import annotations

import json
import math

import pytest

from tests.leaderboard.test_stats import make_row
from winnow.leaderboard import signal as S

# entry -> {seed: value}. Worked by hand below.
VALUES = {"a/A": {0: 1.0, 1: 3.0}, "a/B": {0: 14.0, 1: 16.0, 2: 15.0}, "a/C": {0: 0.0}, "a/D": {0: 2.0, 1: 2.0}}


def rows_of(values: dict, scale: str = "tiny-1x", **extra) -> list[dict]:
    return [make_row(sub, seed, v, scale=scale, **extra) for sub, vs in values.items() for seed, v in vs.items()]


def test_plain_figures_match_the_hand_computation():
    s = S.measure(rows_of(VALUES), "aggregates.core_prob_v1")
    # pooled variance (1·2 + 2·1 + 1·0) / (1 + 2 + 1) = 1 over 4 df
    assert (s.seed_sd, s.df) == (pytest.approx(1.0), 4)
    # means of the entries with 2+ seeds: 2, 15, 2 -> sd √(169/3); all four (with C's 0): √(142.75/3)
    assert s.multi == 3 and s.entries == 4
    assert s.spread == pytest.approx(math.sqrt(169 / 3)) and s.spread_all == pytest.approx(math.sqrt(142.75 / 3))
    assert s.snr == pytest.approx(math.sqrt(169 / 3))
    # seeds 0 vs 1 over A, B, D: (A,B) concordant, (A,D) discordant (1<2, 3>2), (B,D) concordant
    assert s.taus == {"0~1": {"tau": pytest.approx(1 / 3), "entries": 3}}   # 0~2, 1~2: B alone, no tau
    assert s.tau == pytest.approx(1 / 3)
    # t(0.975, 4) = 2.776: B is separated from A, C and D (13 > 2.53, 15 > 3.21, 13 > 2.53); A-C, A-D, C-D are not
    assert (s.separated, s.pairs) == (3, 6)


def test_paired_residual_of_the_two_way_fit_matches_the_hand_computation():
    p = S.measure(rows_of(VALUES), "aggregates.core_prob_v1").paired
    # 7 values, 3 entry + 2 seed effects: 2 df; B's seed 2 is fitted exactly, the 3x2 rest leaves
    # residuals ±1/3 (A, B) and ±2/3 (D): RSS 4/3, residual variance 2/3
    assert p.df == 2 and p.resid_sd == pytest.approx(math.sqrt(2 / 3))
    assert p.snr == pytest.approx(math.sqrt(169 / 3) / math.sqrt(2 / 3))
    # t(0.975, 2) = 4.303: the threshold is 3.51 with 2 shared seeds, 4.97 with one; B beats all three
    assert (p.separated, p.pairs) == (3, 6)


def test_tau_is_reported_for_every_seed_pair_and_averaged():
    values = {"a/p": {0: 1.0, 1: 1.0, 2: 3.0}, "a/q": {0: 2.0, 1: 2.0, 2: 2.0}, "a/r": {0: 3.0, 1: 3.0, 2: 1.0}}
    s = S.signal(values)
    assert {k: v["tau"] for k, v in s.taus.items()} == {"0~1": pytest.approx(1.0), "0~2": pytest.approx(-1.0),
                                                         "1~2": pytest.approx(-1.0)}
    assert s.tau == pytest.approx(-1 / 3)


def test_lower_is_better_for_bits_per_byte_and_the_direction_does_not_change_the_figures():
    rows = rows_of(VALUES)
    for r in rows:
        r["heldout"] = {"bits_per_byte": r["aggregates"]["core_prob_v1"]}
    a, b = S.measure(rows, "aggregates.core_prob_v1"), S.measure(rows, "heldout.bits_per_byte")
    assert a.higher_better and not b.higher_better
    assert (a.snr, a.tau, a.separated) == (b.snr, b.tau, b.separated)


def _task_rows() -> list[dict]:
    rows = []
    for sub, shift, seeds in (("a/x", 0.0, (0, 1)), ("a/y", 0.5, (0, 1)), ("a/z", 1.0, (0,))):
        for seed in seeds:
            d = 0.1 * seed
            rows.append(make_row(sub, seed, 0.1, tasks={
                "dclm_long": {"n": 10, "gold_bytes": 100, "bpb": 1.0 + shift + d, "prob": 0.2, "acc": 0.5},
                "dclm_longer": {"n": 10, "gold_bytes": 300, "bpb": 2.0 + shift + d, "prob": 0.4, "acc": 0.5},
                "dclm_letter": {"n": 10, "gold_bytes": 20, "bpb": 9.0, "prob": 0.6, "acc": 0.25}}))
    return rows


def test_derived_gold_bpb_metrics_use_only_tasks_with_five_gold_bytes_per_item():
    rows = _task_rows()
    assert S.gold_tasks(rows) == ["dclm_long", "dclm_longer"]          # dclm_letter: 2 bytes per item
    ms = {m.name: m for m in S.metrics_of(rows)}
    x0 = rows[0]
    assert ms["derived.gold_bpb_mean"].get(x0) == pytest.approx(1.5)
    assert ms["derived.gold_bpb_bytes"].get(x0) == pytest.approx((1.0 * 100 + 2.0 * 300) / 400)
    assert ms["derived.prob_mean"].get(x0) == pytest.approx(0.4)
    # z per task over the entries' means (x 1.05, y 1.55, z 2.0 for dclm_long; the same shifts for dclm_longer)
    means = [1.05, 1.55, 2.0]
    m, sd = sum(means) / 3, math.sqrt(sum((v - sum(means) / 3) ** 2 for v in means) / 2)
    assert ms["derived.gold_bpb_z"].get(x0) == pytest.approx((1.0 - m) / sd)
    for name in ("derived.gold_bpb_mean", "task.dclm_long.bpb", "heldout.bits_per_byte"):
        assert not ms[name].higher_better if name in ms else True
    assert ms["task.dclm_long.prob"].higher_better and ms["task.dclm_letter.acc"].higher_better


def test_metric_selection_by_name_glob_and_suffix_with_a_suggestion_when_none_matches():
    ms = S.metrics_of(_task_rows())
    names = lambda pats: [m.name for m in S.select_metrics(ms, pats)]  # noqa: E731
    assert names(["core_prob_v1"]) == ["aggregates.core_prob_v1"]
    assert names(["task.*.bpb"]) == ["task.dclm_letter.bpb", "task.dclm_long.bpb", "task.dclm_longer.bpb"]
    assert names(["task.dclm_long"]) == ["task.dclm_long.bpb", "task.dclm_long.prob", "task.dclm_long.acc"]
    with pytest.raises(S.SignalError, match="did you mean 'core_prob_v1'"):
        S.select_metrics(ms, ["core_prob_v2"])


def _write(root, rows, sub="rows/tiny-1x/filtering"):
    for r in rows:
        p = root / sub / f"{r['submission'].replace('/', '-')}__seed{r['seed']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({k: v for k, v in r.items() if k != "_path"}))


def test_cli_prints_the_primary_metric_first_and_marked(tmp_path, monkeypatch, capsys):
    from winnow.cli import main

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path))
    _write(tmp_path, rows_of(VALUES))
    assert main(["analyze", "signal", "--scale", "tiny-1x"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(("* ", "  aggregates", "  heldout", "  derived"))]
    assert lines[0].startswith("* aggregates.core_prob_v1") and "2/" not in lines[0]
    assert f"{math.sqrt(169 / 3):.2f}" in lines[0] and "+0.33" in lines[0] and "3/6" in lines[0]
    assert "Secondary, paired" in out and "tiny-1x v1, suite quick v1: 8 rows, 4 entries (3 with 2+ seeds)" in out
    assert main(["analyze", "signal", "--scale", "tiny-1x", "--metric", "core_prob_v1", "--json"]) == 0
    (rep,) = json.loads(capsys.readouterr().out)
    (m,) = rep["metrics"]
    assert m["metric"] == "aggregates.core_prob_v1" and m["separated"] == 3 and m["df"] == 4
    assert m["paired"]["df"] == 2


def test_cli_default_version_is_the_newest_and_an_absent_one_is_named(tmp_path, monkeypatch, capsys):
    from winnow.cli import main

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path))
    _write(tmp_path, rows_of(VALUES))
    _write(tmp_path, rows_of({"a/A": {0: 1.0, 1: 2.0}, "a/B": {0: 5.0, 1: 7.0}}, scale_version=2), "rows/tiny-1x/v2")
    assert main(["analyze", "signal", "--scale", "tiny-1x", "--metric", "core_prob_v1"]) == 0
    assert "tiny-1x v2, suite quick v1: 4 rows, 2 entries" in capsys.readouterr().out
    assert main(["analyze", "signal", "--scale", "tiny-1x", "--version", "7"]) == 2
    assert "versions with rows: 1, 2" in capsys.readouterr().err


@pytest.mark.parametrize("argv,needle", [
    (["--scale", "tiny-1y"], "unknown scale 'tiny-1y': did you mean 'tiny-1x'"),
    (["--scale", "1b-1x"], "no rows of scale '1b-1x'"),
])
def test_cli_bad_scale_is_a_clear_error(tmp_path, monkeypatch, capsys, argv, needle):
    from winnow.cli import main

    monkeypatch.setenv("WINNOW_LEADERBOARD", str(tmp_path))
    _write(tmp_path, rows_of(VALUES))
    assert main(["analyze", "signal", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and "scales with rows" in err and "tiny-1x" in err


def test_fewer_than_two_entries_with_seeds_is_a_clear_error(tmp_path, capsys):
    from winnow.cli import main

    _write(tmp_path, rows_of({"a/A": {0: 1.0, 1: 3.0}, "a/C": {0: 0.0}}), "runs")
    assert main(["analyze", "signal", "--rows", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "2 entries, 1 with 2+ seeds" in err and "at least two entries with 2+ seeds" in err


def test_rows_that_are_not_rows_are_named_with_their_file(tmp_path, capsys):
    from winnow.cli import main

    d = tmp_path / "study"
    _write(tmp_path, rows_of(VALUES), "study")
    (d / "list.json").write_text("[1, 2]")
    (d / "broken.json").write_text("{not json")
    (d / "noseed.json").write_text(json.dumps({"submission": "a/x", "aggregates": {}}))
    (d / "x.bundle.json").write_text("[]")                       # evidence bundles are skipped
    assert main(["analyze", "signal", "--rows", str(d)]) == 2
    err = capsys.readouterr().err
    assert f"{d / 'list.json'}: a row is a JSON object, this holds a list" in err
    assert f"{d / 'broken.json'}: not readable JSON" in err
    assert f"{d / 'noseed.json'}: lacks the field 'seed'" in err
    assert "bundle" not in err and "Traceback" not in err
    assert main(["analyze", "signal", "--rows", str(tmp_path / "nowhere")]) == 2
    assert "no such folder or file" in capsys.readouterr().err


def test_rows_mode_groups_by_study_config_and_any_field(tmp_path, capsys):
    from winnow.cli import main

    base = rows_of(VALUES, scale="quickstart")
    for r in base:
        r["study_config"] = "lr1e-2"
    other = rows_of({k: {s: 2 * v for s, v in vs.items()} for k, vs in VALUES.items()}, scale="quickstart")
    for r in other:
        r["study_config"], r["submission"] = "lr1e-3", r["submission"]
        r["run_id"] += "-b"
    _write(tmp_path, base, "studies/noise/rows/lr1e-2")
    _write(tmp_path, other, "studies/noise/rows/lr1e-3")
    assert main(["analyze", "signal", "--rows", str(tmp_path / "studies/noise/rows/*"), "--metric", "core_prob_v1"]) == 0
    out = capsys.readouterr().out
    assert "study_config lr1e-2: 8 rows" in out and "study_config lr1e-3: 8 rows" in out
    assert main(["analyze", "signal", "--rows", str(tmp_path / "studies"), "--group-by", "none",
                 "--metric", "core_prob_v1"]) == 2     # both configs' rows in one group: seeds collide
    assert "share a seed" in capsys.readouterr().err


def test_rows_mode_reports_every_scale_version_and_version_narrows(tmp_path, capsys):
    """A study's row files span scale versions (protocols measured before and after a scale took
    their settings): each version is its own table, none hidden behind the newest; on the
    leaderboard the newest stays the default."""
    from winnow.cli import main

    old = rows_of(VALUES, scale="quickstart")
    new = rows_of(VALUES, scale="quickstart", scale_version=2)
    for r in new:
        r["run_id"] += "-v2"
    _write(tmp_path, old, "rows/v1")
    _write(tmp_path, new, "rows/v2")
    assert main(["analyze", "signal", "--rows", str(tmp_path / "rows"), "--metric", "core_prob_v1"]) == 0
    out = capsys.readouterr().out
    assert "quickstart v1, suite quick v1" in out and "quickstart v2, suite quick v1" in out
    assert main(["analyze", "signal", "--rows", str(tmp_path / "rows"), "--version", "2", "--metric", "core_prob_v1"]) == 0
    out = capsys.readouterr().out
    assert "quickstart v2" in out and "quickstart v1" not in out


def test_the_page_and_the_readme_print_what_analyze_signal_computes():
    from winnow.leaderboard.html import page
    from winnow.leaderboard.render import render
    from winnow.leaderboard.tables import Board, signal_line

    rows = rows_of(VALUES)
    s = S.measure(rows, "aggregates.core_prob_v1")
    line = signal_line(rows, "tiny-1x", 1)
    assert f"SNR {s.snr:.2f}" in line and f"Kendall tau {s.tau:+.2f}" in line and "over 3 entries with 2+ seeds" in line
    assert "winnow analyze signal --scale tiny-1x --version 1" in line
    assert line in render(Board.of(rows))["tiny-1x"]
    import html as h

    assert h.escape(line, quote=True).replace("`", "") in page(Board.of(rows)).replace("<code>", "").replace("</code>", "")


def test_a_protocol_still_short_of_seeds_does_not_hide_the_others(tmp_path, capsys):
    """In a study, a protocol whose runs have not all landed is reported as not measurable yet,
    while the finished protocols print their figures; with no measurable group it is an error."""
    from winnow.cli import main

    done = rows_of(VALUES, scale="quickstart")
    for r in done:
        r["study_config"] = "done"
    started = [dict(r, study_config="started", run_id=r["run_id"] + "-s") for r in done if r["seed"] == 0][:1]
    _write(tmp_path, done, "rows/done")
    _write(tmp_path, started, "rows/started")
    assert main(["analyze", "signal", "--rows", str(tmp_path / "rows"), "--metric", "core_prob_v1"]) == 0
    out = capsys.readouterr().out
    assert "study_config done: 8 rows" in out and "study_config started: no metric that two entries" in out
    assert main(["analyze", "signal", "--rows", str(tmp_path / "rows/started"), "--metric", "core_prob_v1"]) == 2
