"""The command line: verbs exist, recipe errors are specific, a missing data root is explained."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_a_run_without_scale_says_which_scale_it_uses(monkeypatch, capsys):
    import winnow.commands.compute as compute

    monkeypatch.setattr(compute, "run_stages", lambda run, stages: {})
    assert main(["pool", "submission=baselines/random", "progress=false"]) == 0
    err = capsys.readouterr().err
    assert "no scale= given" in err and "'quickstart'" in err and "scale=NAME" in err
    assert main(["pool", "scale=debug", "progress=false"]) == 0
    assert "no scale= given" not in capsys.readouterr().err


def test_pool_ids_lists_the_scale_pool_and_an_id_file_is_a_submission(mini_pool, tmp_path, capsys):
    """`winnow pool ids` writes the ids a scale's curation sees; a plain subset of them is a
    filtering submission (validate and run accept it); bad ids are shown a few, with a count."""
    from winnow.run import prepare

    out = tmp_path / "all.txt"
    assert main(["pool", "ids", "progress=false", "--scale", "debug", "--out", str(out)]) == 0
    ids = out.read_text().split()
    assert ids == sorted(set(ids)) and len(ids) > 100
    assert f"wrote {len(ids):,} ids" in capsys.readouterr().err
    # overrides may come after the options too; what is neither is still refused by name
    again = tmp_path / "again.txt"
    assert main(["pool", "ids", "--scale", "debug", "progress=false", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    with pytest.raises(SystemExit):
        main(["pool", "ids", "--scale", "debug", "--bogus", "progress=false"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    kept = tmp_path / "kept.txt"
    kept.write_text("".join(f"{i}\n" for i in ids[::2]))
    assert main(["validate", str(kept)]) == 0
    assert "ok; its ids were not checked against any pool" in capsys.readouterr().out
    run = prepare(["scale=debug", f"submission={kept}", "progress=false"])
    assert run.submission.name == f"{tmp_path.name}/kept" and run.submission.recipe.track == "filtering"
    assert [s.name for s in run.submission.recipe.steps] == ["select_ids"]
    # an unsorted file: one line names the place and the fix; a long list is never printed whole
    bad = tmp_path / "unsorted.txt"
    bad.write_text("".join(f"{i}\n" for i in reversed(ids)))
    assert main(["validate", str(bad)]) == 2
    text = capsys.readouterr().out
    assert "LC_ALL=C sort -u" in text and len(text) < 600
    # the id list given as YAML: the error cuts the string
    yml = tmp_path / "ids.yaml"
    yml.write_text("\n".join(ids) + "\n")
    assert main(["validate", str(yml)]) == 2
    text = capsys.readouterr().out
    assert "characters)" in text and ids[-1] not in text


def test_validate_checks_ids_against_a_scales_pool_only_when_given_one(mini_pool, tmp_path, capsys):
    """Issue 22: an id no pool holds passed `validate` and stopped the run seconds in. With a scale
    (--scale S or scale=S) validate counts the unknown ids and shows at most 5; without one it says
    plainly that the ids were not checked. A recipe's `ids:` file is checked the same way."""
    out = tmp_path / "all.txt"
    assert main(["pool", "ids", "progress=false", "--scale", "debug", "--out", str(out)]) == 0
    ids = out.read_text().split()
    bogus = tmp_path / "bogus.txt"
    bogus.write_text("".join(f"{i}\n" for i in sorted(ids[:10] + [f"zz_not_an_id_{n:02d}" for n in range(7)])))
    capsys.readouterr()
    assert main(["validate", str(bogus)]) == 0
    assert "not checked against any pool" in capsys.readouterr().out
    for how in (["--scale", "debug"], ["scale=debug"]):
        assert main(["validate", *how, str(bogus)]) == 2
        text = capsys.readouterr().out
        assert "7 of the 17 ids" in text and "winnow pool ids --scale debug" in text
        assert "'zz_not_an_id_04'" in text and "zz_not_an_id_05" not in text   # at most 5 examples
    folder = tmp_path / "by_ids"
    folder.mkdir()
    (folder / "kept.txt").write_text(bogus.read_text())
    (folder / "recipe.yaml").write_text("name: by_ids\ntrack: filtering\nids: kept.txt\n")
    assert main(["validate", "--scale", "debug", str(folder)]) == 2
    assert "7 of the 17 ids" in capsys.readouterr().out
    (folder / "kept.txt").write_text("".join(f"{i}\n" for i in ids[:10]))
    assert main(["validate", "--scale", "debug", str(folder)]) == 0
    assert "all 10 ids are in the pool of scale debug" in capsys.readouterr().out
    assert main(["validate", "--scale", "debug", "scale=tiny-1x", str(folder)]) == 2
    assert "one scale" in capsys.readouterr().err


def test_ls_runs_says_which_runs_finished(monkeypatch, tmp_path, capsys):
    """Issue 22: `ls runs` listed names only. Each run's state now comes from its manifests:
    finished (eval's), the last finished stage, or a stage begun and not finished."""
    from winnow.manifest import write_manifest

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path))
    runs = tmp_path / "runs"
    stages = [("curated", "curated"), ("tokenized", "tokenized"), ("train", "train"), ("eval/quick", "eval")]
    for name, n_done, begun in (("a_done", 4, False), ("b_train", 3, False), ("c_tok", 2, True),
                                ("d_none", 0, False), ("e_cur", 0, True)):
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_text('{"suite": "quick"}')
        for folder, kind in stages[:n_done]:
            (runs / name / folder).mkdir(parents=True)
            write_manifest(runs / name / folder, kind, "key", files=[])
        if begun:
            (runs / name / stages[n_done][0]).mkdir(parents=True)
    (runs / "f_damaged" / "curated").mkdir(parents=True)
    (runs / "f_damaged" / "run.json").write_text('{"suite": "quick"}')
    (runs / "f_damaged" / "curated" / "manifest.json").write_text("{not json")
    assert main(["ls", "runs"]) == 0
    state = {line.split()[0]: " ".join(line.split()[1:]) for line in capsys.readouterr().out.splitlines()}
    assert state == {"a_done": "finished", "b_train": "stopped after train",
                     "c_tok": "train unfinished: running or stopped (last finished: tokenize)",
                     "d_none": "no stage finished", "e_cur": "curate unfinished: running or stopped",
                     "f_damaged": "curate unfinished: running or stopped"}


def test_a_missing_submission_names_each_place_once(capsys, tmp_path):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"found in {tmp_path / 'nope'};" in err and "id file" in err  # not "in X or X"


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    """`winnow ls steps | head -1`: the reader gone, winnow ends with 141 (as SIGPIPE would) and
    no BrokenPipeError traceback."""
    r, w = os.pipe()
    os.close(r)   # no reader at all: the first write fails, whatever the pipe's buffer
    try:
        res = subprocess.run([sys.executable, "-m", "winnow.cli", "ls", "steps"], stdout=w,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert res.returncode == 141 and "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def test_run_submit_rebuilds_the_repository_boards_html_page(monkeypatch, tmp_path, capsys):
    """`winnow run --submit` at a leaderboard scale rebuilds leaderboard/index.html with the
    Markdown (as `winnow leaderboard build --html`); another board gets its Markdown only."""
    import types

    import winnow.commands.compute as compute
    from winnow.paths import REPO_ROOT

    built = []
    run = types.SimpleNamespace(dir=tmp_path / "run", scale={"name": "tiny-1x"})
    monkeypatch.setattr(compute, "prepare", lambda overrides: run)
    monkeypatch.setattr(compute, "run_stages", lambda run, stages: {})
    monkeypatch.setattr(compute, "submit", lambda d: tmp_path / "row.json")
    monkeypatch.setattr(compute, "build", lambda **kw: built.append(kw) or [])
    for board, html in ((REPO_ROOT / "leaderboard", True), (tmp_path / "board", False)):
        monkeypatch.setattr(compute, "board_for", lambda scale, b=board: b)
        monkeypatch.setattr("winnow.commands.board.board_for", lambda scale, b=board: b)
        built.clear()
        assert main(["run", "scale=tiny-1x", "--submit"]) == 0
        assert built == [{"folder": board, "html": html}]
