"""Trust under hostile input (issue 21), continued from tests/test_hostile.py: the full disk's
space needed, pinned URLs for every file a submission names, and the classes of bad input a
second corpus (replayed through the real CLI against a clean clone) found.

Each test stands for one class: it must fail if the class comes back (a traceback, a silent
accept, a message that does not name the file or field).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest


def _enospc(path: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


# ------------------------------------------------------------------- full disk: the space needed
def test_a_full_disk_in_a_stage_names_its_folder_and_the_space_it_needs(tmp_path, monkeypatch, capsys):
    import winnow.cli as cli
    import winnow.run as run_mod

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # runs stay out of the session's home
    seen = {}

    def tokenize(run):
        out = run.folder(run_mod.TOKENIZE)
        seen["folder"] = out
        raise _enospc(str(out / ".tokens.npy.1234.tmp"))

    monkeypatch.setitem(run_mod.STAGE_FUNCS, "pool", lambda run: None)
    monkeypatch.setitem(run_mod.STAGE_FUNCS, "curate", lambda run: None)
    monkeypatch.setitem(run_mod.STAGE_FUNCS, "tokenize", tokenize)
    assert cli.main(["tokenize", "scale=debug", "progress=false"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "the disk is full" in err and str(seen["folder"]) in err, err
    # debug: 768 sequences of 129 tokens, uint16 (vocabulary 1024)
    assert "the tokenize stage needs about 0.2 MiB (tokens.npy: 768 sequences of 129 tokens, 2 bytes each)" in err, err
    assert "MiB free" in err and "free at least 0.0 MiB more" in err, err


def test_space_needed_comes_from_an_earlier_manifest_and_from_the_scale(tmp_path, monkeypatch):
    from winnow.manifest import write_manifest
    from winnow.run import prepare
    from winnow.space import stage_need

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    run = prepare(["scale=debug", "submission=baselines/random"])
    need, basis = stage_need(run, "train", tmp_path / "nothing")
    assert need == 16 * run.plan["params"]["total"] and "bytes a parameter" in basis
    assert stage_need(run, "tokenize", tmp_path / "nothing")[0] == 768 * 129 * 2
    folder = tmp_path / "redo"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x" * 5000)
    write_manifest(folder, "tokens", "k")
    assert stage_need(run, "tokenize", folder) == (5000, "what its earlier manifest records")


def test_a_full_disk_outside_a_stage_says_at_least_what_was_written(tmp_path):
    from winnow.io import atomic_open, disk_full_message

    target = tmp_path / "out" / "big.json"
    with pytest.raises(OSError) as e:
        with atomic_open(target, "wb") as f:
            f.write(b"y" * (3 << 20))
            f.flush()
            raise _enospc(str(target.parent / ".big.json.tmp"))
    msg = disk_full_message(e.value)
    assert str(target.parent) in msg and "big.json needs more than the 3.0 MiB written" in msg, msg
    assert not target.exists() and not list(target.parent.iterdir())


# ----------------------------------------------------- pinned URLs for every file a recipe names
# (the `served` fixture is tests/conftest.py's)


def _step_recipe(folder, value: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text("name: s\ntrack: filtering\nsteps:\n"
                                        f"  - {{step: substring_filter, banlist_file: {value}}}\n")
    return folder / "recipe.yaml"


def test_a_file_parameter_at_a_url_must_be_pinned_and_is_verified(tmp_path, monkeypatch, served):
    import hashlib

    from winnow.curate.recipe import RecipeError, load_recipe

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    www, base = served
    (www / "ban.txt").write_text("casino\nlottery\n")
    digest = hashlib.sha256((www / "ban.txt").read_bytes()).hexdigest()
    url = f"{base}/ban.txt"

    pinned = load_recipe(_step_recipe(tmp_path / "pinned", f"{{url: '{url}', sha256: {digest}}}"))
    path = Path(pinned.steps[0].params["banlist_file"])
    assert path.is_relative_to(tmp_path / "home" / "external") and path.read_text() == "casino\nlottery\n"
    local = tmp_path / "local"
    local.mkdir()
    (local / "ban.txt").write_text("casino\nlottery\n")
    assert pinned.fingerprint() == load_recipe(_step_recipe(local, "ban.txt")).fingerprint()  # bytes, not place

    with pytest.raises(RecipeError, match="'banlist_file' names the URL .* which is not pinned: write"):
        load_recipe(_step_recipe(tmp_path / "bare", f"'{url}'"))
    with pytest.raises(RecipeError, match="banlist_file.*does not match the recipe's pin"):
        load_recipe(_step_recipe(tmp_path / "wrong", f"{{url: '{url}', sha256: '{'0' * 64}'}}"))
    with pytest.raises(RecipeError, match="'banlist_file' is a mapping with keys \\['url'\\]"):
        load_recipe(_step_recipe(tmp_path / "nosha", f"{{url: '{url}'}}"))
    with pytest.raises(RecipeError, match="banlist_file.*64 hex digits"):
        load_recipe(_step_recipe(tmp_path / "short", f"{{url: '{url}', sha256: abc}}"))
    (www / "ban.txt").write_text("changed upstream\n")   # the cached download is what was pinned
    assert load_recipe(_step_recipe(tmp_path / "again", f"{{url: '{url}', sha256: {digest}}}")).fingerprint() \
        == pinned.fingerprint()


def test_a_file_url_parameter_is_a_local_path_confined_to_the_folder(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "ban.txt").write_text("casino\n")
    r = load_recipe(_step_recipe(folder, f"'file://{folder / 'ban.txt'}'"))
    assert r.steps[0].params["banlist_file"] == str(folder / "ban.txt")
    (tmp_path / "secret.txt").write_text("SECRET\n")
    with pytest.raises(RecipeError, match="outside the submission folder") as e:
        load_recipe(_step_recipe(folder, f"'file://{tmp_path / 'secret.txt'}'"))
    assert "SECRET" not in str(e.value)
    with pytest.raises(RecipeError, match="'banlist_file' is empty"):
        load_recipe(_step_recipe(folder, "''"))


# ------------------------------------------------------------------------ recipe YAML bombs
def _yaml_recipe(tmp_path, body: str) -> Path:
    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    (folder / "recipe.yaml").write_text(body)
    return folder / "recipe.yaml"


BOMB = "name: h\ntrack: filtering\nsteps:\n  - step: substring_line_modifier\n    banlist:\n" + \
    "      - &l0 [lol, lol, lol, lol]\n" + "".join(
        f"      - &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9))


@pytest.mark.parametrize("body, says", [
    (BOMB, "expands to more than 50,000 values"),
    ("name: h\ntrack: filtering\nsteps: &s\n  - *s\n", "an alias sits inside its own anchor"),
    ("name: h\ntrack: filtering\nsteps:\n  - {step: length_filter, min_chars: " + "9" * 5000 + "}\n",
     "an integer of 5,000 digits"),
    ("name: " + "7" * 6000 + "\ntrack: filtering\nsteps: []\n", "an integer of 6,000 digits"),
    ("name: h\ntrack: filtering\nsteps:\n" + "  - exact_dedup\n" * 60000, "expands to more than"),
])
def test_yaml_bombs_and_endless_numbers_are_refused_quickly(tmp_path, body, says):
    import time

    from winnow.curate.recipe import RecipeError, load_recipe

    t0 = time.time()
    with pytest.raises(RecipeError, match=says) as e:
        load_recipe(_yaml_recipe(tmp_path, body))
    assert time.time() - t0 < 20 and len(str(e.value)) < 2000   # a long line is shown cut


def test_merge_keys_work_and_names_are_one_printable_line(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    r = load_recipe(_yaml_recipe(tmp_path, "name: h\ntrack: filtering\nsteps:\n  - &b {step: length_filter, min_chars: 3}\n"
                                           "  - <<: *b\n    max_chars: 900\n"))
    assert [s.params for s in r.steps] == [{"min_chars": 3}, {"min_chars": 3, "max_chars": 900}]
    for name in ['"a\\nb"', '"a\\0b"', "n" * 101, '"\\e[31mred"']:
        with pytest.raises(RecipeError, match="`name` must be one line of printable characters"):
            load_recipe(_yaml_recipe(tmp_path, f"name: {name}\ntrack: filtering\nsteps: []\n"))


# ------------------------------------------------- JSON Python takes but JSON forbids; bad archives
STRICT_CASES = {"nan": (b'{"id": "n", "text": "t", "meta": {"x": NaN}}\n', "NaN is not a JSON number"),
                "infinity": (b'{"id": "n", "text": "t", "score": -Infinity}\n', "-Infinity is not a JSON number"),
                "duplicate key": (b'{"id": "n", "text": "a", "text": "b"}\n', "key 'text' appears twice")}


@pytest.mark.parametrize("case", sorted(STRICT_CASES))
def test_pool_and_external_lines_are_strict_json(tmp_path, case):
    from winnow.curate.external import external_shards, parse_external
    from winnow.docs import DocumentError, read_source_docs

    line, says = STRICT_CASES[case]
    good = b'{"id": "a1", "text": "fine"}\n'
    src = tmp_path / "source.jsonl"
    src.write_bytes(good + line)
    with pytest.raises(DocumentError, match=f"source.jsonl:2: {says}"):
        list(read_source_docs(src))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "extra.jsonl").write_bytes(good + line)
    files, _ = parse_external(["extra.jsonl"], tmp_path / "sub")
    with pytest.raises(DocumentError, match=f"extra.jsonl:2: {says}"):
        external_shards(files, tmp_path / "out")


@pytest.mark.parametrize("data", [b"not zstd at all\n" * 8, b"", "zstd of binary", "cut"])
def test_a_file_that_does_not_decompress_is_named(tmp_path, data):
    import zstandard

    from winnow.curate.external import external_shards, parse_external
    from winnow.docs import DocumentError, read_source_docs

    if data == "zstd of binary":
        data = zstandard.ZstdCompressor().compress(bytes(range(256)) * 8)
    elif data == "cut":
        whole = zstandard.ZstdCompressor().compress(b'{"id": "a", "text": "some words"}\n' * 500)
        data = whole[: len(whole) // 2]
    src = tmp_path / "source.jsonl.zst"
    src.write_bytes(data)
    with pytest.raises(DocumentError, match="source.jsonl.zst"):
        list(read_source_docs(src))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.jsonl.zst").write_bytes(data)
    files, _ = parse_external(["x.jsonl.zst"], tmp_path / "sub")
    with pytest.raises(DocumentError, match="x.jsonl.zst"):   # ExternalError is a DocumentError
        external_shards(files, tmp_path / "out")


def test_an_external_file_error_is_one_line_on_the_command_line(tmp_path, monkeypatch, capsys):
    import winnow.cli as cli
    import winnow.run as run_mod
    from winnow.curate.external import ExternalError

    def curate(run):
        raise ExternalError("external file x.jsonl holds no documents")

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(run_mod.STAGE_FUNCS, "pool", lambda run: None)
    monkeypatch.setitem(run_mod.STAGE_FUNCS, "curate", curate)
    assert cli.main(["curate", "scale=debug", "progress=false"]) == 2
    err = capsys.readouterr().err
    assert err == "winnow curate: error: external file x.jsonl holds no documents\n", err


# ------------------------------------------------ files a step reads: regular, text, not empty
@pytest.mark.parametrize("kind, says", [("folder", "which is a folder; give a file"),
                                        ("fifo", "which is not a regular file"),
                                        ("binary", "is not UTF-8 text"), ("nul", "holds NUL bytes"),
                                        ("empty", "holds no entries")])
def test_a_banlist_file_must_be_a_readable_text_list(tmp_path, kind, says):
    from winnow.curate.recipe import RecipeError, load_recipe

    folder = tmp_path / "s"
    folder.mkdir()
    target = folder / "ban"
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)   # reading it would block validation forever
    else:
        target.write_bytes({"binary": bytes(range(128, 256)), "nul": b"a\x00b\n", "empty": b"\n\n"}[kind])
    with pytest.raises(RecipeError, match=f"banlist_file.*{says}") as e:
        load_recipe(_step_recipe(folder, "ban"))
    assert "\\x" not in str(e.value)   # the bytes are never shown


@pytest.mark.parametrize("step, says", [("{step: curriculum_stages, count: 2, tokenizer: no-such-tok}",
                                         "parameter 'tokenizer': tokenizer 'no-such-tok'"),
                                        ("{step: dsdm_select, fraction: 0.5, tokenizer: nope}", "parameter 'tokenizer'"),
                                        ("{step: repetition_filter, granularity: line, max_fraction: 1.5}",
                                         "parameter 'max_fraction': must be in \\[0.0, 1.0\\]"),
                                        ("{step: language_filter, keep_languages: [EN]}",   # meta.lang is lowercase
                                         "parameter 'keep_languages': \\['EN'\\] are not language codes")])
def test_step_settings_that_cannot_mean_anything_are_refused(tmp_path, step, says):
    from winnow.curate.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=says):
        load_recipe(_yaml_recipe(tmp_path, f"name: h\ntrack: filtering\nsteps:\n  - {step}\n"))


def test_a_recipe_linked_out_of_its_folder_is_never_read(tmp_path):
    from winnow.curate.recipe import RecipeError, load_recipe

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recipe.yaml").symlink_to(secret)
    with pytest.raises(RecipeError, match="outside the submission folder") as e:
        load_recipe(folder)
    assert "root:x" not in str(e.value)
    linked = tmp_path / "linked"   # a submission folder that is itself a link is fine
    linked.symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "recipe.yaml").write_text("name: r\ntrack: filtering\nsteps: []\n")
    assert load_recipe(linked).name == "r"


# ------------------------------------------------------------- edited rows, bundles and run files
EDITS = {"repeated key": (lambda t: t.replace('{', '{"seed": 3, ', 1), lambda t: t.replace('{', '{"bundle_schema":1,', 1),
                          "appears twice"),
         "endless number": (lambda t: t.replace('"seed": 0', '"seed": ' + "9" * 5000, 1),
                            lambda t: t.replace('"bundle_schema":1', '"bundle_schema":' + "9" * 5000, 1), "Exceeds the limit")}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_a_row_or_bundle_with_a_repeated_key_or_endless_number_is_a_problem_not_a_traceback(tmp_path, monkeypatch, case):
    from tests.test_hostile import _board, _committed
    from winnow.leaderboard.evidence import EvidenceError, bundle_path, read_bundle
    from winnow.leaderboard.rows import RowError, load_rows
    from winnow.leaderboard.verify import check_rows

    edit, edit_bundle, says = EDITS[case]
    board = _board(tmp_path, monkeypatch, _committed())
    row = next(p for p in board.rglob("*.json") if not p.name.endswith(".bundle.json"))
    row.write_text(edit(row.read_text()))
    problems, n = check_rows(board)
    assert n == 1 and len(problems) == 1 and "unreadable row" in problems[0] and says in problems[0], problems
    with pytest.raises(RowError, match=says):
        load_rows(board)
    row.write_text(_committed().read_text())
    bundle = bundle_path(row)
    bundle.write_text(edit_bundle(bundle.read_text()))
    problems, _ = check_rows(board)
    assert problems and any(bundle.name in p for p in problems), problems
    with pytest.raises(EvidenceError, match=says):
        read_bundle(bundle)


# ------------------------------------------------------------- run settings of the wrong kind
@pytest.mark.parametrize("override, says", [
    ("scale.train.lr=abc", "scale.train.lr='abc' is not a number"), ("scale.train.lr=nan", "is not a number"),
    ("scale.model.seq_len=0", "is not a whole number > 0"), ("scale.train.tokens=-5", "is not a whole number > 0"),
    ("scale.train.tokens=1.5", "is not a whole number"), ("engine.workers=-1", "engine.workers=-1 is not a number"),
    ("engine.workers=abc", "engine.workers='abc'"), ("engine.workers=100000000", "from 1 to 4096"),
    ("scale.model.d_model=30", "do not make a training plan: head dim 15 must be even"),
])
def test_run_settings_of_the_wrong_kind_are_refused_before_any_folder(tmp_path, monkeypatch, override, says):
    from winnow.config import ConfigError
    from winnow.run import prepare

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match=says):
        prepare(["scale=debug", override])
    assert not (tmp_path / "home").exists()
    assert prepare(["scale=debug", "engine.workers=2", "scale.train.lr=0.01"]).cfg["engine"]["workers"] == 2


# ---------------------------------------------------- leaderboard build publishes only sealed rows
def test_leaderboard_build_publishes_no_moved_copied_or_edited_row(tmp_path, monkeypatch, capsys):
    import json
    import re
    import shutil

    import winnow.cli as cli
    from tests.test_hostile import _board, _committed
    from winnow.leaderboard.evidence import bundle_path

    board = _board(tmp_path, monkeypatch, _committed())
    monkeypatch.setenv("WINNOW_LEADERBOARD", str(board.parent))
    row = next(p for p in board.rglob("*.json") if not p.name.endswith(".bundle.json"))
    copy = row.with_name(re.sub(r"__seed\d+__", "__seed7__", row.name))   # counted as a second seed
    shutil.copy(row, copy)
    shutil.copy(bundle_path(row), bundle_path(copy))
    assert cli.main(["leaderboard", "build"]) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err and copy.name in err and not (board.parent / "README.md").exists(), err
    copy.unlink()
    bundle_path(copy).unlink()
    edited = json.loads(row.read_text())
    edited["aggregates"] = {k: (v + 0.1 if isinstance(v, float) else v) for k, v in edited["aggregates"].items()}
    row.write_text(json.dumps(edited))
    assert cli.main(["leaderboard", "build"]) == 1 and "row_hash does not match" in capsys.readouterr().err
    shutil.copy(_committed(), row)
    assert cli.main(["leaderboard", "build"]) == 0 and (board.parent / "README.md").exists()


# ------------------------------------------------------------ a damaged manifest marks nothing done
@pytest.mark.parametrize("content", ["{garbage", "[1, 2, 3]", '{"kind": "tokens"}', '{"kind": 1, "input_key": "k", '
                                     '"content_id": "c", "files": {"a": 5}}'])
def test_a_damaged_manifest_is_named_and_its_stage_redone(tmp_path, content):
    from winnow.manifest import ManifestError, completed, read_manifest, verify_folder, write_manifest

    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    m = write_manifest(tmp_path, "tokens", "k")
    assert completed(tmp_path, "k") == m
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError, match="manifest.json"):
        read_manifest(tmp_path)
    assert completed(tmp_path, "k") is None   # not finished: the stage runs again and writes a new one
    assert len(verify_folder(tmp_path)) == 1 and "manifest.json" in verify_folder(tmp_path)[0]


def test_verify_names_a_manifest_whose_kind_was_edited(tmp_path, monkeypatch):
    import json

    from winnow.leaderboard.verify import verify_run
    from winnow.run import prepare, run_stages

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    run = prepare(["scale=debug", "progress=false", "engine.workers=1", "submission=baselines/random"])
    run_stages(run, ("pool", "curate", "tokenize"))
    assert verify_run(run.dir) == []
    f = run.dir / "tokenized" / "manifest.json"
    m = json.loads(f.read_text())
    m["kind"] = "train"
    f.write_text(json.dumps(m))
    assert any("its manifest says kind 'train'" in p for p in verify_run(run.dir)), verify_run(run.dir)
