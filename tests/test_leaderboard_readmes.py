"""Generated results blocks of the baselines' READMEs and the seed-noise rule behind them."""

from __future__ import annotations

import math

import pytest

from winnow.leaderboard import stats
from winnow.leaderboard.readmes import RESULTS, SUMMARY, stale_readmes, write_readmes
from tests.test_leaderboard_stats import make_row


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
    write_readmes(_rows(), root)
    good = (root / "baselines/good/README.md").read_text()
    assert "| 1 | 0.0620 |" in good and "| mean ± sd (3) | 0.0600 ± 0.0020 |" in good
    assert good.endswith(f"{RESULTS[1]}\n\ntail\n")          # text outside the markers is kept
    assert "No leaderboard rows of `baselines/norows` yet" in (root / "baselines/norows/README.md").read_text()


def test_summary_marks_only_differences_beyond_the_seed_noise(tmp_path):
    root = _tree(tmp_path)
    write_readmes(_rows(), root)
    summary = (root / "baselines/README.md").read_text()
    assert "old" not in summary and "Seed noise (seed_noise_v1)" in summary
    lines = {ln.split(" | ")[1]: ln for ln in summary.splitlines() if ln.startswith("| ") and "filtering" in ln}
    assert "+0.0480 *" in lines["good"] and "+0.2000 *" in lines["good"]   # score and bpb both separated
    assert "+0.0010 |" in lines["close"] and "*" not in lines["close"]     # within one seed's noise


def test_check_reports_a_block_that_no_longer_matches_its_rows(tmp_path):
    root = _tree(tmp_path)
    rows = _rows()
    assert len(stale_readmes(rows, root)) == 5                   # nothing filled yet
    write_readmes(rows, root)
    assert stale_readmes(rows, root) == []
    rows[3]["aggregates"]["core_prob_v1"] = 0.07                 # a row changes: its README is stale
    stale = stale_readmes(rows, root)
    assert any("baselines/good/README.md" in s for s in stale) and any("baselines/README.md" in s for s in stale)
