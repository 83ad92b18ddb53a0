"""Generated results blocks of the baselines' READMEs and the seed-noise rule behind them."""

from __future__ import annotations

import math

import pytest

from winnow.leaderboard import stats
from winnow.leaderboard.readmes import RESULTS, SUMMARY, stale_readmes, write_readmes
from winnow.leaderboard.tables import Board
from tests.leaderboard.test_stats import make_row


def test_pooled_sd_weights_each_group_by_its_degrees_of_freedom():
    s, df = stats.pooled_sd([[1.0, 2.0, 3.0], [10.0, 14.0], [5.0]])   # sd² 1 (df 2) and 8 (df 1)
    assert df == 3 and s == pytest.approx(math.sqrt((2 * 1 + 1 * 8) / 3))
    assert stats.pooled_sd([[1.0], [2.0]]) == (None, 0)


def test_beyond_noise_is_a_pooled_two_sample_t_test():
    # t(0.975, 4) = 2.776; sd 0.01 over 3 and 1 seeds: threshold 2.776 * 0.01 * sqrt(4/3) = 0.03205
    assert stats.beyond_noise(0.10, 3, 0.0675, 1, 0.01, 4)
    assert not stats.beyond_noise(0.10, 3, 0.0685, 1, 0.01, 4)


def _rows():
    bpb = lambda v: {"bits_per_byte": v, "unigram_bits_per_byte": 3.4}   # noqa: E731
    rows = [make_row("baselines/random", s, v, heldout=bpb(b)) for s, v, b in
            [(0, 0.010, 2.40), (1, 0.012, 2.42), (2, 0.014, 2.41)]]
    rows += [make_row("baselines/good", s, v, heldout=bpb(b)) for s, v, b in
             [(0, 0.060, 2.60), (1, 0.062, 2.61), (2, 0.058, 2.62)]]
    rows.append(make_row("baselines/close", 0, 0.013, heldout=bpb(2.41)))
    return rows


def _tree(tmp_path):
    for name in ("random", "good", "close", "norows"):
        d = tmp_path / "baselines" / name
        d.mkdir(parents=True)
        (d / "README.md").write_text(f"# {name}\n\n## Results\n\n{RESULTS[0]}\n{RESULTS[1]}\n\ntail\n")
    (tmp_path / "baselines" / "README.md").write_text(f"# Baselines\n\n{SUMMARY[0]}\nold\n{SUMMARY[1]}\n")
    return tmp_path


def test_blocks_carry_each_seed_and_the_seed_mean(tmp_path):
    root = _tree(tmp_path)
    write_readmes(Board.of(_rows()), root)
    good = (root / "baselines/good/README.md").read_text()
    assert "| 1 | 0.0620 |" in good and "| mean ± sd (3) | 0.0600 ± 0.0020 |" in good
    assert good.endswith(f"{RESULTS[1]}\n\ntail\n")          # text outside the markers is kept
    assert "No leaderboard rows of `baselines/norows` yet" in (root / "baselines/norows/README.md").read_text()


def test_summary_marks_only_differences_beyond_the_seed_noise(tmp_path):
    root = _tree(tmp_path)
    write_readmes(Board.of(_rows()), root)
    summary = (root / "baselines/README.md").read_text()
    assert "old" not in summary and "Seed noise (seed_noise_v1)" in summary
    lines = {ln.split(" | ")[1]: ln for ln in summary.splitlines() if ln.startswith("| ") and "filtering" in ln}
    assert "+0.0480 *" in lines["good"] and "+0.2000 *" in lines["good"]   # score and bpb both separated
    assert "+0.0010 |" in lines["close"] and "*" not in lines["close"]     # within one seed's noise


def test_check_reports_a_block_that_no_longer_matches_its_rows(tmp_path):
    root = _tree(tmp_path)
    rows = _rows()
    assert len(stale_readmes(Board.of(rows), root)) == 5                   # nothing filled yet
    write_readmes(Board.of(rows), root)
    assert stale_readmes(Board.of(rows), root) == []
    rows[3]["aggregates"]["core_prob_v1"] = 0.07                 # a row changes: its README is stale
    stale = stale_readmes(Board.of(rows), root)
    assert any("baselines/good/README.md" in s for s in stale) and any("baselines/README.md" in s for s in stale)


def _targeted_rows():
    """random and good (3 seeds each) plus `aimed`, targeted at LAMBADA: near chance on the CORE tasks
    it did not aim at, far above it on its target (which its primary metric includes)."""
    rows = _rows()[:6]
    for r in rows:   # every row is scored on lambada too, at chance
        r["tasks"] = {**r["tasks"], "dclm_lambada_openai": {"acc": 0.0, "prob": 0.0, "n": 100}}
    aimed = make_row("baselines/aimed", 0, 0.30, targets=["dclm_lambada_openai"])
    aimed["flags"] = {**aimed["flags"], "targeted": True}
    aimed["tasks"] = {"dclm_copa": {"acc": 0.5, "prob": -0.02, "n": 100}, "dclm_piqa": {"acc": 0.5, "prob": 0.0, "n": 100},
                      "dclm_lambada_openai": {"acc": 0.9, "prob": 0.9, "n": 100}}
    aimed["aggregates"]["core_heldout_prob_v1"] = -0.01    # as submit derives it from these tasks
    return rows + [aimed]


def test_a_targeted_entry_is_read_against_random_on_the_same_held_out_tasks(tmp_path):
    root = _tree(tmp_path)
    (root / "baselines/aimed").mkdir()
    (root / "baselines/aimed/README.md").write_text(f"# aimed\n\n{RESULTS[0]}\n{RESULTS[1]}\n")
    write_readmes(Board.of(_targeted_rows()), root)
    # random's CORE without lambada: the mean of copa (score) and piqa (score / 2) over its seeds
    want = sum(0.75 * s for s in (0.010, 0.012, 0.014)) / 3
    summary = (root / "baselines/README.md").read_text()
    (line,) = [ln for ln in summary.splitlines() if ln.startswith("- aimed")]
    assert "core_heldout_prob_v1 -0.0100 against random's" in line
    assert f"{want:.4f} ± 0.0015 on the same tasks, Δ {-0.01 - want:+.4f} *" in line   # beyond the pooled noise
    assert not any(ln.startswith("- good") for ln in summary.splitlines())            # untargeted: no line
    aimed = (root / "baselines/aimed/README.md").read_text()
    assert "baselines/random on the same tasks (CORE without dclm_lambada_openai" in aimed
    assert f"{want:.4f} ± 0.0015 over seeds 0,1,2." in aimed and "| 0 | 0.3000 | -0.0100 |" in aimed


def test_leaderboard_shows_held_out_columns_only_beside_targeted_entries():
    from winnow.leaderboard.render import render

    text = render(Board.of(_targeted_rows()))["tiny-1x"]
    head, _, *body = [ln for ln in text.splitlines() if ln.startswith("|")]
    cols = [c.strip() for c in head.strip("|").split("|")]
    i, j = cols.index("CORE w/o targets (prob)"), cols.index("random, same tasks")
    cells = {ln.split(" | ")[1]: [c.strip() for c in ln.strip("|").split("|")] for ln in body}
    assert cells["baselines/aimed"][i] == "-0.0100" and cells["baselines/aimed"][j] == "0.0090"
    assert cells["baselines/good"][i] == cells["baselines/good"][j] == "–"
    assert "CORE w/o targets" not in render(Board.of(_rows()))["tiny-1x"]                 # no targeted entry, no columns


def _dclm_rows(c4: float, rw: float):
    """random, c4 and refinedweb at three seeds each (core_prob_v1, higher is better)."""
    rows = []
    for name, m in (("random", 0.010), ("c4", c4), ("refinedweb", rw)):
        rows += [make_row(f"baselines/{name}", s, m + d) for s, d in enumerate((-0.001, 0.0, 0.001))]
    return rows


def _dclm_line(rows, tmp_path) -> str:
    (tmp_path / "baselines").mkdir(parents=True)
    (tmp_path / "baselines" / "README.md").write_text(f"# Baselines\n\n{SUMMARY[0]}\n{SUMMARY[1]}\n")
    write_readmes(Board.of(rows), tmp_path)
    summary = (tmp_path / "baselines/README.md").read_text()
    return next(ln for ln in summary.splitlines() if ln.startswith("Against DCLM's published order"))


def test_summary_reads_the_dclm_recipes_against_dclm_order(tmp_path):
    line = _dclm_line(_dclm_rows(c4=0.030, rw=0.050), tmp_path / "a")
    assert "orders them refinedweb > c4 > random, Kendall tau +1.00" in line
    assert "c4 − random +0.0200 * (as DCLM)" in line and "refinedweb − c4 +0.0200 * (as DCLM)" in line
    line = _dclm_line(_dclm_rows(c4=0.0105, rw=0.0102), tmp_path / "b")      # c4 above rw, within noise
    assert "orders them c4 > refinedweb > random" in line and "tau +0.33" in line
    assert "refinedweb − c4 -0.0003 (reversed)" in line and "c4 − random +0.0005 (as DCLM)" in line


def test_summary_has_no_dclm_line_with_fewer_than_two_of_its_recipes(tmp_path):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "README.md").write_text(f"# Baselines\n\n{SUMMARY[0]}\n{SUMMARY[1]}\n")
    write_readmes(Board.of(_dclm_rows(0.03, 0.05)[:3]), tmp_path)
    assert "Against DCLM" not in (tmp_path / "baselines/README.md").read_text()
