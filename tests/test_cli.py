"""The command line: verbs exist, recipe errors are specific, a missing data root is explained."""

from __future__ import annotations

import pytest

from winnow.cli import build_parser, main

VERBS = ["ls", "validate", "pool", "curate", "tokenize", "train", "eval", "run", "submit", "import-dclm",
         "leaderboard", "inspect", "verify", "data", "check-aggregates"]


def test_every_verb_is_registered():
    sub = next(a for a in build_parser()._actions if a.dest == "verb")
    assert set(VERBS) <= set(sub.choices)


def test_validate_suggests_a_misspelled_step(tmp_path, capsys):
    r = tmp_path / "recipe.yaml"
    r.write_text("name: x\ntrack: filtering\nsteps:\n  - step: lenght_filter\n    min_chars: 10\n")
    assert main(["validate", str(r)]) == 2
    out = capsys.readouterr().out
    assert "INVALID" in out and "did you mean 'length_filter'" in out


@pytest.mark.parametrize("text,needle", [("", "empty"), ("name: [unclosed\n", "line")])
def test_validate_empty_or_malformed_yaml(tmp_path, capsys, text, needle):
    r = tmp_path / "recipe.yaml"
    r.write_text(text)
    assert main(["validate", str(r)]) == 2
    assert needle in capsys.readouterr().out.lower()


def test_validate_the_committed_recipes(capsys):
    assert main(["validate", "baselines/random", "baselines/simple_heuristics", "submissions/template"]) == 0


def test_missing_data_root_says_where_it_looked(monkeypatch, tmp_path):
    from winnow import paths

    monkeypatch.setattr(paths, "data_root_candidates", lambda: [("$WINNOW_DATA", tmp_path / "nowhere")])
    with pytest.raises(paths.DataRootError) as e:
        paths.data_root()
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "WINNOW_DATA" in msg and "README" in msg


def test_ls_scales_prints_derived_numbers(capsys):
    assert main(["ls", "scales"]) == 0
    out = capsys.readouterr().out
    assert "quickstart" in out and "steps" in out and "FLOPs" in out


def test_unknown_scale_is_a_clear_error(capsys):
    assert main(["pool", "scale=quickstrat"]) == 2
    assert "quickstart" in capsys.readouterr().err
