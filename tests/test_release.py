"""Data releases (issue 20 item 5, winnow.release): `winnow data pack` a small fake data folder,
serve the release from a local HTTP server (nothing leaves the machine), and `winnow data pull
--from` it into an empty WINNOW_DATA: every file verified, resumed, refused when it does not match,
and `--if-missing` (what `make quickstart` runs) pulls only when no data root is found."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.helpers import REPO, serve_folder
from tests.test_fetch import HTTPFixtureServer

from winnow import paths, release
from winnow.cli import main
from winnow.docs import write_docs
from winnow.paths import DataRootError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_root(tmp_path) -> Path:
    """A small data root: pool shards, an eval file, a tokenizer file, SOURCE.md; one hidden file."""
    root = tmp_path / "data"
    write_docs(root / "pool" / "web.jsonl.zst", [{"id": f"w{i}", "text": f"page {i}", "url": None,
                                                 "source": "web", "meta": {}} for i in range(50)])
    (root / "pool" / "SOURCE.md").write_text("# pool\n")
    (root / "eval" / "world_knowledge").mkdir(parents=True)
    (root / "eval" / "world_knowledge" / "arc_easy.jsonl").write_text('{"query": "q", "choices": ["a"], "gold": 0}\n')
    (root / "tokenizers").mkdir()
    (root / "tokenizers" / "tok.tiktoken").write_bytes(os.urandom(200_000))
    (root / ".cache").write_text("not part of a release")
    return root


def _served(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def no_data_root(tmp_path, monkeypatch):
    """No data root anywhere winnow looks: WINNOW_DATA is an empty folder, no ../shared/data, no cache."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout" / "repo")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WINNOW_DATA", str(empty))
    monkeypatch.delenv(release.RELEASE_URL_ENV, raising=False)
    with pytest.raises(DataRootError):
        paths.data_root()
    return empty


def test_pack_writes_files_and_a_canonical_manifest(fake_root, tmp_path, capsys):
    assert main(["data", "pack", str(tmp_path / "rel"), "--root", str(fake_root), "--version", "t1"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((tmp_path / "rel" / "release.json").read_text())
    files = sorted(p.relative_to(fake_root).as_posix() for p in fake_root.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    assert sorted(manifest["files"]) == files and manifest["version"] == "t1"
    for rel, entry in manifest["files"].items():
        data = (fake_root / rel).read_bytes()
        assert entry == {"sha256": sha(data), "bytes": len(data)}
        assert (tmp_path / "rel" / rel).read_bytes() == data
    assert manifest["bytes"] == sum(e["bytes"] for e in manifest["files"].values())
    digest = sha((tmp_path / "rel" / "release.json").read_bytes())
    assert f"release.json sha256 {digest}" in out and f"--release-sha256 {digest}" in out
    _, again = release.pack(fake_root, tmp_path / "rel2", "t1")   # same folder, same release
    assert again == digest
    assert main(["data", "pack", str(tmp_path / "rel"), "--root", str(fake_root)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rel")]   # no temporary folder left


def test_pull_from_a_local_server_into_an_empty_data_root(fake_root, tmp_path, no_data_root, capsys):
    _, digest = release.pack(fake_root, tmp_path / "rel", "t1")
    files = _served(tmp_path / "rel")
    with HTTPFixtureServer(files) as srv:
        # an interrupted earlier pull left half of the tokenizer file: it is resumed, not refetched
        part = no_data_root / "tokenizers" / ".tok.tiktoken.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(files["tokenizers/tok.tiktoken"][:50_000])
        assert main(["data", "pull", "--from", srv.url, "--release-sha256", digest]) == 0
        assert "bytes=50000-" in srv.ranges_seen
    out = capsys.readouterr().out
    assert "resumed at byte 50,000" in out and f"{len(files) - 1} files verified" in out
    for rel, data in files.items():
        assert (no_data_root / rel).read_bytes() == data
    assert not list(no_data_root.rglob("*.part")) and not (no_data_root / ".cache").exists()
    assert paths.data_root() == no_data_root   # winnow now finds it
    with HTTPFixtureServer(files) as srv:      # a second pull fetches only the manifest
        assert main(["data", "pull", "--from", srv.url, "--release-sha256", digest]) == 0
        assert len(srv.ranges_seen) == 1
    assert f"{len(files) - 1} file(s) already present and verified" in capsys.readouterr().out


def test_a_release_that_does_not_verify_is_refused(fake_root, tmp_path, no_data_root, capsys):
    _, digest = release.pack(fake_root, tmp_path / "rel", "t1")
    files = _served(tmp_path / "rel")
    with HTTPFixtureServer(files) as srv:      # the project's pin is not this release's
        assert main(["data", "pull", "--from", srv.url]) == 2
    err = capsys.readouterr().err
    assert f"--release-sha256 {digest}" in err and "conf/data_release.json" in err
    assert not (no_data_root / "pool").exists()
    bad = dict(files, **{"pool/SOURCE.md": b"# changed\n"})
    with HTTPFixtureServer(bad) as srv:
        assert main(["data", "pull", "--from", srv.url, "--release-sha256", digest]) == 2
    err = capsys.readouterr().err
    assert "1 of 4 release file(s) could not be fetched" in err and "pool/SOURCE.md" in err
    assert not (no_data_root / "pool" / "SOURCE.md").exists()          # nothing unverified kept
    assert (no_data_root / "pool" / "web.jsonl.zst").read_bytes() == files["pool/web.jsonl.zst"]
    # a manifest naming a file outside the data root is refused before anything is fetched
    evil = json.loads(files["release.json"])
    evil["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 1}
    evil_bytes = release.manifest_bytes(evil)
    with HTTPFixtureServer({"release.json": evil_bytes}) as srv:
        assert main(["data", "pull", "--from", srv.url, "--release-sha256", sha(evil_bytes)]) == 2
    assert "unsafe file name '../outside.txt'" in capsys.readouterr().err
    assert not (tmp_path / "outside.txt").exists()


def test_if_missing_pulls_only_when_no_data_root_is_found(fake_root, tmp_path, no_data_root, monkeypatch, capsys):
    assert main(["data", "pull", "--if-missing"]) == 2          # nothing found, no release to pull
    err = capsys.readouterr().err
    assert "no data root found" in err and release.RELEASE_URL_ENV in err
    _, digest = release.pack(fake_root, tmp_path / "rel", "t1")
    with HTTPFixtureServer(_served(tmp_path / "rel")) as srv:
        monkeypatch.setenv(release.RELEASE_URL_ENV, srv.url)
        assert main(["data", "pull", "--if-missing", "--release-sha256", digest]) == 0
        assert "no data root found" in capsys.readouterr().out
        assert paths.data_root() == no_data_root
        n = len(srv.ranges_seen)
        assert main(["data", "pull", "--if-missing"]) == 0      # found now: nothing fetched
        assert len(srv.ranges_seen) == n and "data root found at" in capsys.readouterr().out


def test_make_quickstart_pulls_before_it_runs():
    dry = subprocess.run(["make", "-n", "quickstart"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    pull, run = dry.find("winnow data pull --if-missing"), dry.find("winnow run scale=quickstart")
    assert 0 <= pull < run


def test_the_pinned_release_is_the_project_data_folder():
    """conf/data_release.json names what `winnow data pack` makes of the project's data folder."""
    root = REPO.parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip("the project's data folder is not beside the checkout")
    pin = release.pin()
    manifest = release.manifest_of(root, pin["version"])
    assert (len(manifest["files"]), manifest["bytes"]) == (pin["files"], pin["bytes"])
    assert sha(release.manifest_bytes(manifest)) == pin["sha256"], \
        "the data folder changed: bump conf/data_release.json's version and sha256"


@pytest.mark.slow
def test_a_fresh_machine_pulls_the_project_release_and_runs(tmp_path, no_data_root, monkeypatch, capsys):
    """The project's data folder packed, served by http.server, pulled into an empty WINNOW_DATA
    (the pinned release, no --release-sha256) and used by a debug run (~20 s)."""
    root = REPO.parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip("the project's data folder is not beside the checkout")
    out, _ = release.pack(root, tmp_path / "rel")
    with serve_folder(out) as url:
        monkeypatch.setenv(release.RELEASE_URL_ENV, url)
        assert main(["data", "pull", "--if-missing"]) == 0
    assert paths.data_root() == no_data_root
    assert main(["data", "status"]) == 0
    monkeypatch.setattr(paths, "REPO_ROOT", REPO)   # the checkout's conf/ again (WINNOW_DATA comes first)
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    assert main(["run", "scale=debug", "submission=baselines/random", "progress=false", "engine.workers=1"]) == 0
    assert "run folder: " in capsys.readouterr().out
