"""Trust under hostile input (issue 21) at the command line: every verb tells a bad file or flag
in one line, and a ``slow`` end-to-end test replays hostile cases through ``python -m winnow run``
in a subprocess (nonzero exit, no traceback, the file or field named, nothing marked finished).
The classes themselves are tested in tests/test_hostile.py and tests/test_hostile_more.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_hostile_more import BOMB


# -------------------------------------------------------------- every verb: bad files and flags
def _cli_files(tmp_path) -> Path:
    d = tmp_path / "in"
    (d / "model").mkdir(parents=True)
    (d / "model" / "config.json").write_text("{not json")
    (d / "model" / "model.safetensors").write_bytes(b"garbage")
    (d / "bin.yaml").write_bytes(bytes(range(256)))
    (d / "bad.csv").write_bytes(b"a,b\n1\n\x00\n")
    (d / "runlike").mkdir()
    (d / "runlike" / "run.json").write_text("[1,2")
    (d / "tok.json").write_text("root:x:0:0\n")
    return d


CLI_CASES = [   # argv ({IN}: the files above), what the one error line must say
    (["import-dclm", "{IN}/bin.yaml"], "bin.yaml: not a text file"),
    (["check-aggregates", "--csv", "{IN}/bad.csv"], "bad.csv"),
    (["eval", "--model", "{IN}/model"], "not a loadable Hugging Face model folder"),
    (["convert", "to-open-lm", "{IN}/model", "--out", "{IN}/o.pt"], "config.json"),
    (["eval", "--model", "{IN}/model", "--tokenizer", "{IN}/tok.json"], "not a loadable"),
    (["eval", "--model", "{IN}/model", "--seq-len", "0"], "--seq-len: 0 is below 2"),
    (["inspect", "{IN}/runlike", "--limit", "-5"], "--limit: -5 is below 0"),
    (["verify", "{IN}/runlike"], "runlike/run.json: not valid JSON"),
    (["submit", "{IN}/runlike"], "runlike/run.json: not valid JSON"),
    (["pool", "scale=[debug,tiny-1x]"], "scale takes one name"),
    (["pool", "-m", "scale=debug", "seed=0,abc"], "seed='abc' is not a whole number"),
    (["pool", "scale=debug", "submission=http://127.0.0.1:9/sub"], "http://127.0.0.1:9/sub: could not be read"),
    (["leaderboard", "check", "--rows", "/nonexistent/rows"], "--rows is for `leaderboard export`"),
]


@pytest.mark.parametrize("argv, says", CLI_CASES, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(CLI_CASES)])
def test_every_verb_tells_a_bad_file_or_flag_in_one_line(tmp_path, monkeypatch, capsys, argv, says):
    import winnow.cli as cli

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    d = _cli_files(tmp_path)
    try:
        rc = cli.main([a.replace("{IN}", str(d)) for a in argv])
    except SystemExit as e:   # argparse's own usage error
        rc = e.code
    out, err = capsys.readouterr()
    assert rc not in (0, None) and "Traceback" not in err, err
    assert says in err, err
    assert not (tmp_path / "home" / "runs").exists()   # a sweep's bad job stops it before the first runs


# ------------------------------------------ end to end: hostile cases through the real command line
def _data_root_with_pool_source(tmp_path, data: bytes) -> Path:
    """A data root whose pool/ holds one source file (``data``, zstd-compressed); eval/, tokenizers/
    and the rest link to the real data root's."""
    import zstandard

    from winnow.paths import data_root

    root = tmp_path / "data"
    (root / "pool").mkdir(parents=True)
    for x in data_root().iterdir():
        if x.name != "pool":
            (root / x.name).symlink_to(x)
    (root / "pool" / "bad.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    return root


E2E = {   # name: (files of the submission folder, extra overrides, what the message must name)
    "huge integer": ({"recipe.yaml": "name: h\ntrack: filtering\nsteps:\n  - {step: length_filter, min_chars: "
                      + "9" * 5000 + "}\n"}, [], "recipe.yaml:4"),
    "alias bomb": ({"recipe.yaml": BOMB}, [], "recipe.yaml:1:1"),
    "unpinned url": ({"recipe.yaml": "name: h\ntrack: filtering\nsteps:\n  - {step: substring_filter, banlist_file: "
                      "'http://127.0.0.1:9/ban.txt'}\n"}, [], "'banlist_file' names the URL"),
    "allow_code maybe": ({"recipe.yaml": "name: h\ntrack: filtering\nplugins: [p.py]\nsteps: []\n",
                          "p.py": "open(__file__ + '.RAN', 'w')\n"}, ["allow_code=maybe"], "allow_code"),
    "seed 1e3": ({"recipe.yaml": "name: h\ntrack: filtering\nsteps: []\n"}, ["seed=1e3"], "seed="),
    "empty external file": ({"recipe.yaml": "name: h\ntrack: mixing\nexternal: [x.jsonl]\nsteps: []\n",
                             "x.jsonl": "\n"}, [], "x.jsonl"),
    "NaN in a pool source": ({"recipe.yaml": "name: h\ntrack: filtering\nsteps: []\n"}, ["POOL"], "bad.jsonl.zst:2"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(E2E))
def test_hostile_cases_through_the_real_cli(tmp_path, case):
    import subprocess
    import sys

    from tests.helpers import REPO

    files, extra, names = E2E[case]
    sub = tmp_path / "submissions" / "hostile"
    sub.mkdir(parents=True)
    for name, text in files.items():
        (sub / name).write_text(text)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}
    env.update(WINNOW_HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if "POOL" in extra:
        extra = []
        env["WINNOW_DATA"] = str(_data_root_with_pool_source(
            tmp_path, b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "t", "meta": {"x": NaN}}\n'))
    res = subprocess.run([sys.executable, "-m", "winnow", "run", "scale=debug", "progress=false", "engine.workers=1",
                          f"submission={sub}", *extra], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode != 0, res.stdout[-2000:]
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]
    assert names in res.stderr + res.stdout, res.stderr[-2000:]
    # nothing but a (good) pool is marked finished: no curated, tokenized, train or eval manifest
    finished = [m.relative_to(home) for m in home.glob("**/manifest.json")]
    assert not [m for m in finished if m.parts[0] != "pools"], finished
    if case == "NaN in a pool source":
        assert not finished   # the pool is not marked built either
    assert not (sub / "p.py.RAN").exists()
