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
class _Quiet(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """(folder, base URL): ``folder`` served by Python's http.server on localhost."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


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
