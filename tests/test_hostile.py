"""Trust under hostile input (issue 21): code runs only when truly allowed, rows cannot be
relabelled or counted twice, files stay inside the submission, bad data gets a clear error.

Each class of bad input has a few hand-written cases here; every one must end in the
harness's own error (a message naming what is wrong and the fix), never a traceback and never a
silent accept. The cases that need a whole debug run are marked ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from winnow.config import ConfigError, parse_bool
from winnow.curate.recipe import RecipeError

PLUGIN = '''
from pathlib import Path
Path(__file__).with_name("PLUGIN_RAN").write_text("imported")
from winnow.curate.base import STEPS, Mapper

@STEPS.register("hostile_noop_{tag}")
class Noop(Mapper):
    version = 1
    def __call__(self, doc):
        return [doc]
'''


def _plugin_submission(root: Path, tag: str) -> Path:
    folder = root / "submissions" / f"plug_{tag}"
    folder.mkdir(parents=True)
    (folder / "steps.py").write_text(PLUGIN.replace("{tag}", tag))
    (folder / "recipe.yaml").write_text(f"name: plug_{tag}\ntrack: filtering\nplugins: [steps.py]\n"
                                        f"steps:\n  - {{step: hostile_noop_{tag}}}\n")
    return folder


# ----------------------------------------------------------------------- 1. strict booleans
@pytest.mark.parametrize("spelling", ["no", "'false'", "False", "FALSE", "0", "No", "'no'", "'0'", "false"])
def test_allow_code_false_spellings_never_run_plugin_code(tmp_path, monkeypatch, spelling):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # runs stay out of the session's home
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"f{abs(hash(spelling)) % 10**6}")
    with pytest.raises(RecipeError, match="allow_code=true"):
        prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert not (folder / "PLUGIN_RAN").exists()


@pytest.mark.parametrize("spelling", ["off", "2", "''", "null", "[true]", "enabled", "-1"])
def test_allow_code_other_spellings_are_an_error_before_any_code(tmp_path, monkeypatch, spelling):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # runs stay out of the session's home
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"o{abs(hash(spelling)) % 10**6}")
    with pytest.raises(ConfigError, match="allow_code=.* is not a boolean"):
        prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert not (folder / "PLUGIN_RAN").exists()


@pytest.mark.parametrize("spelling", ["true", "True", "yes", "YES", "1", "'true'"])
def test_allow_code_true_spellings_run_plugin_code_and_say_so(tmp_path, monkeypatch, spelling):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # runs stay out of the session's home
    from winnow.io import read_json
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"t{abs(hash(spelling)) % 10**6}")
    run = prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert (folder / "PLUGIN_RAN").exists()
    assert read_json(run.dir / "run.json")["allow_code"] is True


def test_every_boolean_flag_is_strict():
    from winnow.config import load_run_config

    cfg = load_run_config(["scale=debug", "progress=no", "scale.train.compile=No",
                           "runtime.activation_checkpointing=0"]).cfg
    assert cfg["progress"] is False and cfg["scale"]["train"]["compile"] is False
    assert cfg["runtime"]["activation_checkpointing"] is False
    for bad in ("progress=nope", "scale.train.compile=maybe", "runtime.activation_checkpointing=2"):
        with pytest.raises(ConfigError, match="not a boolean"):
            load_run_config(["scale=debug", bad])
    assert parse_bool(" Yes ", "x") is True and parse_bool(0, "x") is False
    with pytest.raises(ConfigError):
        parse_bool(0.0, "x")


# ------------------------------------------------------------------------ 2. evidence binding
def _committed(scale: str = "quickstart", track: str = "filtering", name: str = "baselines-random") -> Path:
    from winnow.paths import REPO_ROOT

    return next((REPO_ROOT / "leaderboard" / "rows" / scale / track).glob(f"{name}__seed0__*.json"))


def _board(tmp_path, monkeypatch, *rows: Path) -> Path:
    """A board of copies of committed rows (with bundles), and no run folders on this machine."""
    import shutil

    from winnow.leaderboard.evidence import bundle_path

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "no_runs"))
    board = tmp_path / "rows"
    for r in rows:
        dest = board / r.parent.parent.name / r.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(r, dest / r.name)
        shutil.copy(bundle_path(r), dest / bundle_path(r).name)
    return board


def test_a_row_copied_into_another_scale_or_track_folder_is_refused(tmp_path, monkeypatch):
    import shutil

    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.verify import check_rows

    src = _committed()
    board = _board(tmp_path, monkeypatch, src)
    assert check_rows(board) == ([], 1)
    for where in ("tiny-1x/filtering", "quickstart/mixing"):
        (board / where).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, board / where / src.name)
        shutil.copy(bundle_path(src), board / where / bundle_path(src).name)
    problems, n = check_rows(board)
    assert n == 3
    assert sum("belongs at rows/quickstart/filtering/" in p for p in problems) == 2, problems
    assert sum("built from the same evidence as" in p for p in problems) == 2, problems


def test_a_relabelled_seed_is_caught_by_the_run_id_and_the_manifests():
    from winnow.leaderboard.evidence import bundle_path, read_bundle
    from winnow.leaderboard.identity import evidence_problems
    from winnow.runid import run_id_of, run_key_of

    ev, _ = read_bundle(bundle_path(_committed()))
    assert evidence_problems(ev) == []
    ev["run"]["seed"] = ev["run"]["config"]["seed"] = 1
    probs = evidence_problems(ev)
    assert any("run.json was edited" in p for p in probs), probs
    # a forger who also recomputes the run key and id is still caught by the manifests' seeds
    run = ev["run"]
    run["run_key"] = run_key_of(run["config"], run["submission"], run["fingerprint"])
    run["run_id"] = run_id_of(run["submission"], run["scale"], run["run_key"])
    probs = evidence_problems(ev)
    assert any("tokenized manifest was made with seed 0" in p for p in probs), probs
    assert any("train manifest was made with seed 0" in p for p in probs), probs
    run["seed"] = 2   # run.json's field against its own config
    assert any("run.json says seed 2" in p for p in evidence_problems(ev))


def test_one_submission_name_one_fingerprint_and_baselines_from_this_repository(tmp_path):
    from winnow.leaderboard.identity import (baseline_folder_problems, baseline_problems, board_problems,
                                             name_conflicts)
    from winnow.paths import REPO_ROOT

    a = {"submission": "submissions/x", "fingerprint": "a" * 64, "manifests": {"train": "1" * 64}}
    b = {"submission": "submissions/x", "fingerprint": "b" * 64, "manifests": {"train": "2" * 64}}
    rows = [(Path("r1.json"), a), (Path("r2.json"), dict(a, manifests={"train": "3" * 64})), (Path("r3.json"), b)]
    probs = board_problems(rows)
    assert probs == ["r3.json: submission submissions/x has recipe fingerprint bbbbbbbb here but aaaaaaaa in 2 "
                     "other row(s): one name, one recipe (submit a changed recipe under a new name)"]
    assert name_conflicts(b, rows[:2]) and not name_conflicts(a, rows[:2])
    # one trained model cited by a second row of the same scale version: refused at submit time too
    from winnow.leaderboard.identity import model_conflicts

    where = {"scale": "tiny-1x", "scale_version": 4, "seed": 0}
    on_board = [(Path("rw.json"), dict(a, submission="baselines/refinedweb", **where))]
    same_model = dict(b, submission="baselines/dclm_refinedweb", manifests={"train": "1" * 64}, **where)
    assert model_conflicts(same_model, on_board) == [
        "rw.json (baselines/refinedweb, seed 0) already stands for this trained model (train 11111111, tiny-1x v4): "
        "the run's training tokens are that row's, and a trained model counts once in a scale version (a recipe "
        "that selects the same documents within the token budget trains the same model)"]
    assert model_conflicts(dict(same_model, scale_version=3), on_board) == []   # another version's table
    assert model_conflicts(dict(same_model, manifests={"train": "9" * 64}), on_board) == []
    # a folder elsewhere named baselines/random
    fake = tmp_path / "baselines" / "random"
    assert baseline_folder_problems({"submission": "baselines/random", "submission_folder": str(fake)})
    assert not baseline_folder_problems({"submission": "baselines/random",
                                         "submission_folder": str(REPO_ROOT / "baselines" / "random")})
    # a copy elsewhere (a git worktree of this repository at another commit) with the same recipe
    # counts as the repository's; the same name with another recipe does not
    from winnow.submission import load_submission

    fp = load_submission(REPO_ROOT / "baselines" / "random").fingerprint
    assert not baseline_folder_problems({"submission": "baselines/random", "submission_folder": str(fake),
                                         "fingerprint": fp})
    assert baseline_folder_problems({"submission": "baselines/random", "submission_folder": str(fake),
                                     "fingerprint": "0" * 64})
    row = {"submission": "baselines/random", "fingerprint": "f" * 64, "track": "filtering"}
    assert any("was not made from this repository's baselines/random" in p
               for p in baseline_problems(Path("r.json"), row, {}))
    assert any("not a baseline of this repository" in p
               for p in baseline_problems(Path("r.json"), dict(row, submission="baselines/nope"), {}))


@pytest.mark.parametrize("content", ["[1, 2]", '{"note": "hello"}', "\"text\"", "\xff\xfe"])
def test_stray_files_in_rows_are_a_clear_problem(tmp_path, monkeypatch, content):
    from winnow.leaderboard.rows import RowError, load_rows
    from winnow.leaderboard.verify import check_rows

    board = _board(tmp_path, monkeypatch, _committed())
    (board / "notes.json").write_bytes(content.encode("latin-1"))
    problems, n = check_rows(board)
    assert n == 2 and len(problems) == 1 and "notes.json" in problems[0], problems
    assert "not a leaderboard row" in problems[0] or "unreadable row" in problems[0]
    with pytest.raises(RowError, match="notes.json"):
        load_rows(board)


# ------------------------------------------------------------------ 3. corruption is never skipped
def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_byte_in_a_finished_stage_is_noticed_and_redone(mini_pool, tmp_path, monkeypatch, caplog):
    import logging

    from winnow.run import prepare, run_stages

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    run = prepare(["scale=debug", "progress=false", "engine.workers=1", "submission=baselines/random"])
    first = {k: m.content_id for k, m in run_stages(run, ("pool", "curate", "tokenize")).items()}
    _flip(run.dir / "tokenized" / "tokens.npy")
    shard = sorted((run.dir / "curated" / "shards").glob("*.jsonl.zst"))[0]
    _flip(shard, 0.99)
    with caplog.at_level(logging.INFO, logger="winnow"):
        again = {k: m.content_id for k, m in run_stages(run, ("pool", "curate", "tokenize")).items()}
    log = caplog.text
    assert "no longer matches its manifest" in log and "tokens.npy changed" in log, log
    assert f"{shard.name} changed" in log, log
    assert again == first   # redone, to the same bytes
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="winnow"):
        run_stages(run, ("curate", "tokenize"))
    assert "no longer matches" not in caplog.text and "tokenize: up to date" in caplog.text


def test_damaged_checks_sizes_samples_and_small_files_fully(tmp_path):
    from winnow.manifest import damaged, write_manifest

    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 4096)
    (tmp_path / "small.txt").write_text("hello\n")
    m = write_manifest(tmp_path, "x", "k")
    assert damaged(tmp_path, m) == []
    _flip(tmp_path / "big.bin", 0.37)   # between sampled blocks: only the full hash sees it
    assert damaged(tmp_path, m) == ["big.bin changed (sha256)"]
    assert damaged(tmp_path, m, full_bytes=0) == []
    _flip(tmp_path / "big.bin", 0.0)   # a sampled block
    assert damaged(tmp_path, m, full_bytes=0) == ["big.bin changed (sample hash)"]
    (tmp_path / "small.txt").write_text("hello!\n")
    (tmp_path / "big.bin").unlink()
    assert damaged(tmp_path, m) == ["big.bin is missing", "small.txt has 7 bytes, the manifest 6"]


# ------------------------------------------------------------------------------- 4. confinement
def _recipe(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text(body)
    return folder / "recipe.yaml"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
@pytest.mark.parametrize("field", ["ids", "ids_file", "external", "plugin"])
def test_submission_files_outside_the_folder_are_refused(tmp_path, how, field):
    from winnow.curate.recipe import load_recipe

    secret = tmp_path / "secret" / "ids.txt"
    secret.parent.mkdir()
    secret.write_text("SECRET-LINE-1\nSECRET-LINE-0\n")
    if field == "plugin":
        secret = secret.with_name("steps.py")
        secret.write_text("raise SystemExit('outside plugin ran')\n")
    folder = tmp_path / "sub" / "s"
    folder.mkdir(parents=True)
    ref = {"dotdot": f"../../secret/{secret.name}", "absolute": str(secret), "symlink": "link"}[how]
    if how == "symlink":
        (folder / "link").symlink_to(secret)
    body = {"ids": f"name: s\ntrack: filtering\nids: {ref}\n",
            "ids_file": f"name: s\ntrack: filtering\nsteps:\n  - {{step: select_ids, ids_file: '{ref}'}}\n",
            "external": f"name: s\ntrack: mixing\nexternal: ['{ref}']\nsteps: []\n",
            "plugin": f"name: s\ntrack: filtering\nplugins: ['{ref}']\nsteps: []\n"}[field]
    with pytest.raises(RecipeError) as e:
        load_recipe(_recipe(folder, body), allow_code=True)
    assert "outside the submission folder" in str(e.value) and "SECRET" not in str(e.value)


def test_an_id_file_that_is_not_an_id_list_is_never_printed(tmp_path):
    from winnow.curate.recipe import load_recipe

    f = tmp_path / "passwd"
    f.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(f)
    assert "root:x" not in str(e.value) and "daemon" not in str(e.value) and "passwd:2" in str(e.value)


# --------------------------------------------------------------- 5. run and step parameters, files
@pytest.mark.parametrize("seed", ["abc", "-1", "12345678901234567890", "1.5", "true", "null", "[1]"])
def test_bad_seeds_are_refused_before_any_folder_exists(tmp_path, monkeypatch, seed):
    from winnow.run import prepare

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="seed=.* is not a whole number"):
        prepare(["scale=debug", f"seed={seed}"])
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("param, value", [("multiplier", ".nan"), ("multiplier", ".inf"), ("multiplier", "-.inf"),
                                          ("tokens", "1.0e+38"), ("tokens", "100000000000000000000"),
                                          ("tokens", "1e38")])
def test_numeric_step_parameters_reject_nan_inf_and_absurd_values(tmp_path, param, value):
    from winnow.curate.recipe import load_recipe

    p = _recipe(tmp_path / "s", f"name: s\ntrack: filtering\nsteps:\n  - {{step: random_sample, {param}: {value}}}\n")
    with pytest.raises(RecipeError, match=f"parameter '{param}'"):
        load_recipe(p)


@pytest.mark.parametrize("data", [bytes(range(256)), b"\xff\xfe\x00n\x00a", b"name: x\xc3\x28\n"])
def test_a_binary_recipe_or_id_file_is_a_clear_error(tmp_path, data):
    from winnow.curate.recipe import load_recipe

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recipe.yaml").write_bytes(data)
    with pytest.raises(RecipeError, match="not a text file|not UTF-8|YAML"):
        load_recipe(folder / "recipe.yaml")
    (folder / "ids.txt").write_bytes(b"d001\n" + data)
    with pytest.raises(RecipeError):
        load_recipe(folder / "ids.txt")


# ---------------------------------------------------------------------------- 6. bad data lines
GOOD = b'{"id": "a1", "text": "fine text"}\n'
BAD_LINES = {   # the bad line (line 2 of the file), what the message must say
    "invalid utf-8": (b'{"id": "a2", "text": "caf\xe9"}\n', "not UTF-8"),
    "lone surrogate": (b'{"id": "a2", "text": "x\\ud800y"}\n', "lone surrogate"),
    "deep nesting": (b'{"id": "a2", "text": "t", "meta": ' + b"[" * 100000 + b"]" * 100000 + b"}\n",
                     "nested too deeply"),
    "missing id": (b'{"text": "no id"}\n', "field 'id' is missing"),
    "number id": (b'{"id": 7, "text": "t"}\n', "field 'id' is int"),
    "empty id": (b'{"id": "", "text": "t"}\n', "field 'id' is str"),
    "number text": (b'{"id": "a2", "text": 5}\n', "field 'text' is int"),
    "list meta": (b'{"id": "a2", "text": "t", "meta": [1]}\n', "field 'meta' is list"),
    "not an object": (b'["id", "text"]\n', "not an object"),
    "bad json": (b'{"id": "a2", "text": \n', "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_pool_source_lines_name_file_line_and_field(tmp_path, case):
    from winnow.docs import DocumentError, read_source_docs

    line, says = BAD_LINES[case]
    f = tmp_path / "source.jsonl"
    f.write_bytes(GOOD + line)
    with pytest.raises(DocumentError) as e:
        list(read_source_docs(f))
    assert f"{f}:2" in str(e.value) and says in str(e.value), str(e.value)


def test_an_empty_pool_source_is_an_error(tmp_path):
    from winnow.docs import DocumentError, read_source_docs

    f = tmp_path / "empty.jsonl"
    f.write_bytes(b"\n")
    with pytest.raises(DocumentError, match="holds no documents"):
        list(read_source_docs(f))


def _external(tmp_path, data: bytes):
    from winnow.curate.external import external_shards, parse_external

    folder = tmp_path / "sub"
    folder.mkdir(exist_ok=True)
    (folder / "extra.jsonl").write_bytes(data)
    files, problems = parse_external(["extra.jsonl"], folder)
    assert not problems
    return external_shards(files, tmp_path / "out")


@pytest.mark.parametrize("case", sorted(set(BAD_LINES) - {"missing id"}))
def test_bad_external_lines_name_file_line_and_field(tmp_path, case):
    from winnow.curate.external import ExternalError
    from winnow.docs import DocumentError

    line, says = BAD_LINES[case]
    with pytest.raises((DocumentError, ExternalError)) as e:
        _external(tmp_path, GOOD + line)
    msg = str(e.value)
    assert "extra.jsonl:2" in msg and (says in msg or "needs a string `text`" in msg), msg


def test_external_ids_are_unique_and_an_empty_file_is_an_error(tmp_path):
    from winnow.curate.external import ExternalError
    from winnow.docs import DocumentError

    with pytest.raises(DocumentError, match="extra.jsonl:3: id 'a1' repeats line 1"):
        _external(tmp_path, GOOD + b'{"text": "x"}\n' + GOOD)
    with pytest.raises(DocumentError, match="id '2' repeats line 2"):   # a line number stands in for a missing id
        _external(tmp_path, GOOD + b'{"text": "x"}\n{"id": "2", "text": "y"}\n')
    with pytest.raises(ExternalError, match="holds no documents"):
        _external(tmp_path, b"")
    assert len(_external(tmp_path, GOOD + b'{"text": "no id: its line number"}\n')) == 1


# ---------------------------------------------------------------------------------- 7. full disk
def _enospc(path="/somewhere/out/.x.tmp"):
    import errno
    import os

    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def test_a_full_disk_leaves_nothing_under_a_final_name(tmp_path):
    from winnow.io import atomic_open, disk_full

    target = tmp_path / "out" / "tokens.json"
    with pytest.raises(OSError) as e:
        with atomic_open(target, "wt") as f:
            f.write("partial")
            raise _enospc(str(f.name) if hasattr(f, "name") else str(target))
    assert disk_full(e.value) and not target.exists() and not list(target.parent.glob("*.tmp"))
    wrapped = RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 1234 vs 1200")
    assert disk_full(wrapped) and not disk_full(RuntimeError("other")) and not disk_full(OSError(13, "denied"))


def test_the_cli_says_the_disk_is_full_in_one_line(tmp_path, monkeypatch, capsys):
    import winnow.cli as cli

    def full(*a, **k):
        raise _enospc(str(tmp_path / "pools" / "mini@v1" / ".shard.tmp"))

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # runs stay out of the session's home
    monkeypatch.setattr("winnow.run.build_pool", full)
    assert cli.main(["pool", "scale=debug"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the disk is full" in err and str(tmp_path / "pools" / "mini@v1") in err
    assert "MiB free" in err and "Traceback" not in err


def test_one_model_may_have_one_row_per_scale_version_but_not_two_in_one():
    """A version that changes only ranking re-evaluates its predecessor's model (winnow.reuse):
    one row each at v3 and v4 is allowed; two rows of one version citing the model are not."""
    from winnow.leaderboard.identity import board_problems

    def row(version, seed=0):
        return {"scale": "tiny-1x", "scale_version": version, "seed": seed, "submission": "baselines/random",
                "fingerprint": "f" * 64, "manifests": {"train": "t" * 64}}
    assert board_problems([(Path("a.json"), row(3)), (Path("b.json"), row(4))]) == []
    probs = board_problems([(Path("a.json"), row(4)), (Path("b.json"), row(4, seed=1))])
    assert len(probs) == 1 and "b.json: built from the same evidence as a.json" in probs[0]
