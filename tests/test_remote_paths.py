"""URLs where a user names data (issue 20 item 4): submission=, a recipe's ids:, WINNOW_HOME.

file:// is the local path; memory:// stands for any fsspec store (s3://, gs://, hf://): a remote
submission is copied to a content-addressed cache and keeps its name and fingerprint; a missing
protocol package, an empty listing or a remote id file is one clear error, never empty data.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from winnow.curate.recipe import RecipeError, load_recipe
from winnow.paths import REPO_ROOT, LocationError, local_path, winnow_home
from winnow.remote import RemoteError, copy_submission
from winnow.submission import load_submission

ID_LIST = REPO_ROOT / "submissions" / "examples" / "id_list"


def _memory_copy(folder: Path) -> str:
    """The folder's files put in fsspec's memory filesystem; its URL."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/{uuid.uuid4().hex}/examples/{folder.name}"
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            fs.pipe(f"{root}/{p.relative_to(folder).as_posix()}", p.read_bytes())
    return f"memory://{root}"


def test_file_urls_are_local_paths(tmp_path, monkeypatch):
    assert local_path(f"file://{tmp_path}") == tmp_path
    assert local_path(f"file://localhost{tmp_path}") == tmp_path
    assert local_path("s3://bucket/x") is None
    with pytest.raises(LocationError, match="not this machine"):
        local_path("file://otherhost/x")
    monkeypatch.setenv("WINNOW_HOME", f"file://{tmp_path}/home")
    assert winnow_home() == tmp_path / "home"
    monkeypatch.setenv("WINNOW_HOME", "s3://bucket/home")
    with pytest.raises(LocationError, match="must be a local folder"):
        winnow_home()


def test_submission_by_file_url_is_the_folder():
    local = load_submission(ID_LIST)
    url = load_submission(f"file://{ID_LIST}")
    assert (url.name, url.folder, url.fingerprint) == (local.name, local.folder, local.fingerprint)


def test_remote_submission_is_copied_by_content_and_keeps_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    url = _memory_copy(ID_LIST)
    local = load_submission(ID_LIST)
    sub = load_submission(url)
    assert sub.name == "examples/id_list" and sub.fingerprint == local.fingerprint
    assert sub.folder.is_relative_to(tmp_path / "home" / "remote")
    assert (sub.folder / "kept.txt").read_bytes() == (ID_LIST / "kept.txt").read_bytes()
    assert load_submission(url).folder == sub.folder  # same content: the same copy, reused
    assert not [p for p in (tmp_path / "home" / "remote").iterdir() if p.name.startswith(".part-")]
    # a bare remote id file is a submission too, named <its folder>/<stem>
    single = load_submission(f"{url}/kept.txt")
    assert single.name == "id_list/kept" and single.folder.parent.parent == sub.folder.parent.parent.parent


def test_remote_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    with pytest.raises(RemoteError, match="pip install gcsfs"):
        copy_submission("gs://bucket/subs/mine")
    with pytest.raises(RemoteError, match="no such file or folder"):
        copy_submission(f"memory:///{uuid.uuid4().hex}/nothing")
    with pytest.raises(RemoteError, match="Protocol not known|not known"):
        copy_submission("nosuchproto://x/y")


def test_recipe_ids_as_file_url_stays_confined(tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(ID_LIST, sub)
    recipe = sub / "recipe.yaml"
    text = recipe.read_text()
    recipe.write_text(text.replace("ids: kept.txt", f"ids: file://{sub / 'kept.txt'}"))
    base = load_recipe(ID_LIST / "recipe.yaml")
    assert load_recipe(recipe).fingerprint() == base.fingerprint()
    (tmp_path / "outside.txt").write_bytes((sub / "kept.txt").read_bytes())
    recipe.write_text(text.replace("ids: kept.txt", f"ids: file://{tmp_path / 'outside.txt'}"))
    with pytest.raises(RecipeError, match="outside the submission folder"):
        load_recipe(recipe)
    recipe.write_text(text.replace("ids: kept.txt", "ids: memory://bucket/kept.txt"))
    with pytest.raises(RecipeError, match="must be in the submission folder"):
        load_recipe(recipe)


def test_cli_validate_and_run_config_take_urls(tmp_path, monkeypatch, capsys):
    from winnow.cli import main

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    assert main(["validate", f"file://{ID_LIST}"]) == 0
    assert main(["validate", _memory_copy(ID_LIST)]) == 0
    assert main(["validate", "gs://bucket/subs/mine"]) == 2
    assert "pip install gcsfs" in capsys.readouterr().err
