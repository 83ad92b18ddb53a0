"""The static leaderboard page in headless Chromium: rows render, header clicks sort, plots draw,
and the page leads with the CPU leaderboard track's SNR line and forest plot.

The page is built from hand-made rows (three submissions, several seeds, two scales) plus the
committed rows. Chromium runs the page's own self-test (``index.html#selftest``: it clicks every
sortable header twice and reads the DOM order back) and the test reads the verdict from
``--dump-dom``; then it takes a screenshot, saved under pytest's tmp folder, with its path
printed. Chromium comes from Debian's ``chromium`` package: the fixture installs it with apt-get
when it is missing and it can (root), and otherwise skips saying how to install it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_leaderboard_stats import make_row

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _find() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find()
    if path is None and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=True,
                           capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip(f"headless Chromium is missing and `apt-get install chromium` failed ({e}); "
                        "install Debian's chromium package to run the browser test")
        path = _find()
    if path is None:
        pytest.skip("headless Chromium is missing: install Debian's chromium package "
                    "(`sudo apt-get install chromium`) to run the browser test")
    return path


def _headless(chromium: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _lead(scale_config):
    """tiny-1x marked as the leaderboard track, as its YAML's ``leaderboard: {lead: true}`` does."""
    def config(scale: str) -> dict:
        cfg = dict(scale_config(scale))
        if scale == "tiny-1x":
            cfg["leaderboard"] = {**(cfg.get("leaderboard") or {}), "lead": True}
        return cfg
    return config


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    from winnow.leaderboard import tables
    from winnow.leaderboard.html import write_html
    from winnow.leaderboard.rows import load_rows
    from winnow.paths import REPO_ROOT

    rows = []
    for scale, flops, shift in (("tiny-1x", 1.5e13, 0.0), ("1m-1x", 6e13, 0.05)):
        for sub, base, seeds in (("baselines/alpha", 0.10, 3), ("baselines/beta", 0.16, 2),
                                 ("submissions/gamma", 0.04, 1)):
            for s in range(seeds):
                rows.append(make_row(sub, s, base + shift + 0.01 * s, scale=scale, flops=flops * (1 + 0.1 * s)))
    rows += load_rows(REPO_ROOT / "leaderboard" / "rows")
    out = tmp_path_factory.mktemp("html") / "index.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tables, "scale_config", _lead(tables.scale_config))
        board = tables.Board.of(rows)
        write_html(board, out)
        shown = board.tables  # what the page must show: one table per scale, track and scale version
        order = tables.scale_order(rows)
        lead = [t for t in shown if t.scale == "tiny-1x"]
        newest = max(t.version for t in lead)
        signal = tables.signal_line(rows, "tiny-1x", newest)
    (out.parent / "expect.json").write_text(json.dumps({
        "tables": len(shown), "rows": sum(len(t.entries) for t in shown),
        "primary_tables": sum(t.primary == "core_prob_v1" for t in shown),
        "order": order, "lead_entries": sum(len(t.entries) for t in lead), "signal": signal}))
    return out


def test_page_is_self_contained(page):
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "the page must not load anything"
    assert "<svg" in text and "<style>" in text and "<script>" in text


def test_rows_render_and_sorting_works_in_chromium(chromium, page, tmp_path, capsys):
    res = _headless(chromium, "--virtual-time-budget=10000", "--dump-dom", page.as_uri() + "#selftest")
    m = re.search(r'<pre id="selftest">(.*?)</pre>', res.stdout, re.S)
    assert m and m.group(1), f"no self-test verdict in the DOM (chromium rc {res.returncode}): {res.stderr[-2000:]}"
    verdict = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert verdict["ok"], [c for c in verdict["checks"] if not c["sorted"]]
    expect = json.loads((page.parent / "expect.json").read_text())
    assert verdict["tables"] == expect["tables"] >= 3 and verdict["rows"] == expect["rows"]
    assert verdict["heatmaps"] == verdict["tables"] and verdict["plots"] >= 9   # 6 synthetic entries + legend (schema-1 rows carry no FLOPs)
    primary = [c for c in verdict["checks"] if c["column"] == "core_prob_v1" and c["order"] == "descending"]
    assert len(primary) == expect["primary_tables"]
    for c in primary:   # the DOM order after the click is the score order
        assert [float(v) for v in c["values"]] == sorted(map(float, c["values"]), reverse=True)
        ours = [s for s in c["submissions"] if s in ("baselines/alpha", "baselines/beta", "submissions/gamma")]
        assert ours in ([], ["baselines/beta", "baselines/alpha", "submissions/gamma"]), c
    names = [c for c in verdict["checks"] if c["column"] == "submission" and c["order"] == "ascending"]
    assert all(c["submissions"] == sorted(c["submissions"], key=str.lower) for c in names)
    # the CPU leaderboard track leads: its SNR line, then its forest plot before any table
    assert verdict["sections"] == expect["order"] and expect["order"][0] == "tiny-1x"
    assert verdict["forest_first"] and verdict["forest_scale"] == "tiny-1x" and verdict["forest_ordered"]
    assert verdict["forest_entries"] == expect["lead_entries"]       # one forest per tiny-1x version
    assert verdict["signal"][0].replace("`", "") == expect["signal"].replace("`", "")
    assert "winnow analyze signal --scale tiny-1x" in verdict["signal"][0]

    shot = tmp_path / "leaderboard.png"
    res = _headless(chromium, "--window-size=1500,2600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    with capsys.disabled():
        print(f"\nleaderboard screenshot: {shot}")
