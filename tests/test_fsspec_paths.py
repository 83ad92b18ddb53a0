"""Data named by URL (issue 20 item 4): pool source globs, a recipe's ``external:`` and ``ids:``
files, the data root and WINNOW_HOME, through ``memory://``, ``file://`` and an HTTP server on
localhost (nothing leaves the machine). Remote files a submission names must be pinned with their
sha256 (issue 21); a missing s3/gs backend names winnow's extra."""

from __future__ import annotations

import hashlib
import importlib.util
import uuid
from pathlib import Path

import fsspec
import pytest

from winnow.cli import main
from winnow.curate.recipe import RecipeError, load_recipe
from winnow.docs import read_docs, write_docs
from winnow.fetch import FetchError, fetch
from winnow.paths import DataRootError, LocationError, data_root, winnow_home
from winnow.pool.build import build_pool, pool_dir
from winnow.pool.sources import ChecksumError
from winnow.remote import RemoteError




def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _memory_put(local: Path, folder: str) -> str:
    """Copy ``local``'s files into memory:///<folder>/; the folder's URL."""
    fs = fsspec.filesystem("memory")
    for p in sorted(local.iterdir()):
        fs.pipe(f"/{folder}/{p.name}", p.read_bytes())
    return f"memory:///{folder}"


def _sources(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for k in range(2):
        write_docs(folder / f"src{k}.jsonl.zst",
                   [{"id": f"s{k}/{i}", "text": f"document {i} of source {k}. " * 6, "url": None,
                     "source": f"web/{k}", "meta": {}} for i in range(40)])
    return folder


def _pool_cfg(name: str, sources) -> dict:
    return {"name": name, "version": 1, "sources": sources, "n_shards": 3, "heldout_fraction": 0.1,
            "heldout_seed": 0, "max_docs_per_source": None, "max_bytes_per_source": None}


def _docs(name: str) -> list[list[dict]]:
    out = pool_dir(name, 1)
    return [list(read_docs(p)) for p in sorted((out / "shards").iterdir())] + [list(read_docs(out / "heldout.jsonl.zst"))]


# ------------------------------------------------------------------------------ pool sources
def test_pool_source_globs_by_url_build_the_same_pool(tmp_path, monkeypatch, served):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    local = _sources(tmp_path / "src")
    www, base = served
    _sources(www / "pool")
    mem = _memory_put(local, f"t{uuid.uuid4().hex}/pool")
    build_pool(_pool_cfg("local", f"{local}/*.jsonl.zst"), progress=False)
    want = _docs("local")
    assert sum(map(len, want)) == 80
    for name, glob in (("mem", f"{mem}/*.jsonl.zst"), ("file", f"file://{local}/*.jsonl.zst"),
                       ("http", f"{base}/pool/*.jsonl.zst")):
        m = build_pool(_pool_cfg(name, glob), progress=False)
        assert _docs(name) == want, name
        # the input key names each remote file by its bytes, not its URL
        assert sorted(m.parents.values()) == sorted(sha(p) for p in local.iterdir()), name
    assert (tmp_path / "home" / "downloads").is_dir()   # remote files were fetched once, verified


def test_a_pinned_remote_pool_source_that_does_not_verify_is_refused(tmp_path, monkeypatch, served):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    www, base = served
    _sources(www / "pool")
    cfg = _pool_cfg("pinned", [{"kind": "jsonl", "paths": f"{base}/pool/*.jsonl.zst",
                                "sha256": {"pool/src0.jsonl.zst": "0" * 64}}])
    with pytest.raises(ChecksumError, match="declares 0000"):
        build_pool(cfg, progress=False)
    assert not list((tmp_path / "home" / "downloads").rglob("src0.jsonl.zst"))  # nothing kept


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_a_missing_backend_names_winnows_extra(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    with pytest.raises(RemoteError, match=r"pip install 'winnow\[s3\]'"):
        build_pool(_pool_cfg("s3", "s3://bucket/pool/*.jsonl.zst"), progress=False)
    with pytest.raises(FetchError, match=r"pip install 'winnow\[s3\]' \(or pip install s3fs\)"):
        fetch("s3://bucket/x.jsonl", tmp_path / "x")
    extras = Path(__file__).resolve().parents[1].joinpath("pyproject.toml").read_text()
    for extra in ('s3 = ["s3fs"]', 'gcs = ["gcsfs"]', 'hf = ["huggingface_hub"]'):
        assert extra in extras


# -------------------------------------------------------------------------- external: / ids:
def _jsonl(path: Path, n: int = 5) -> Path:
    path.write_text("".join(f'{{"text": "external document {i} about remote files"}}\n' for i in range(n)))
    return path


def _recipe(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text(f"name: {folder.name}\n{body}")
    return folder


def test_external_files_by_url(tmp_path, served):
    www, base = served
    ext = _jsonl(www / "ext.jsonl")
    digest = sha(ext)
    mem = _memory_put(www, f"e{uuid.uuid4().hex}")
    sub = tmp_path / "sub"
    sub.mkdir()
    inside = _jsonl(sub / "mine.jsonl", 3)
    body = ("track: mixing\nsteps: []\nexternal:\n"
            f"  - {{url: {base}/ext.jsonl, sha256: {digest}}}\n"
            f"  - {{url: {mem}/ext.jsonl, sha256: {digest}}}\n"
            f"  - file://{inside}\n")
    r = load_recipe(_recipe(sub, body) / "recipe.yaml")
    assert [f.sha256 for f in r.external] == [digest, digest, sha(inside)]
    # a file:// URL is a local path and confined like one; an unpinned remote URL is refused
    outside = _jsonl(tmp_path / "outside.jsonl")
    for entry, why in ((f"file://{outside}", "outside the submission folder"),
                       (f"{mem}/ext.jsonl", "pin it as"),
                       (f"{{url: {base}/ext.jsonl, sha256: {'1' * 64}}}", None)):
        _recipe(sub, f"track: mixing\nsteps: []\nexternal:\n  - {entry}\n")
        if why is None:   # pinned to other bytes: refused when it is fetched, nothing kept
            from winnow.curate.external import ExternalError, external_shards

            with pytest.raises(ExternalError, match="does not match the recipe's pin"):
                external_shards(load_recipe(sub / "recipe.yaml").external, tmp_path / "shards")
            continue
        with pytest.raises(RecipeError, match=why):
            load_recipe(sub / "recipe.yaml")


def test_ids_pinned_by_url(tmp_path, served):
    www, base = served
    (www / "kept.txt").write_text("d0001\nd0002\n")
    digest = sha(www / "kept.txt")
    sub = _recipe(tmp_path / "ids", f"track: filtering\nids: {{url: {base}/kept.txt, sha256: {digest}}}\n")
    r = load_recipe(sub / "recipe.yaml")
    assert r.ids_file.read_bytes() == b"d0001\nd0002\n" and r.ids_file.is_relative_to(winnow_home())
    local = _recipe(tmp_path / "local", "track: filtering\nids: kept.txt\n")
    (local / "kept.txt").write_bytes(b"d0001\nd0002\n")
    assert r.steps[0].canonical == load_recipe(local / "recipe.yaml").steps[0].canonical  # same bytes, same step
    _recipe(sub, f"track: filtering\nids: {{url: {base}/kept.txt, sha256: {'2' * 64}}}\n")
    with pytest.raises(RecipeError, match="does not match the recipe's pin"):
        load_recipe(sub / "recipe.yaml")
    _recipe(sub, f"track: filtering\nids: {{url: {base}/kept.txt, sha256: abc}}\n")
    with pytest.raises(RecipeError, match="64 hex digits"):
        load_recipe(sub / "recipe.yaml")


def test_debug_curation_with_ids_and_external_at_urls(mini_pool, tmp_path, served, capsys):
    """`winnow curate` at debug scale: an id list pinned at an HTTP URL and external documents
    pinned at memory:// give the documents a local copy of the same files gives."""
    from winnow.pool.build import pool_shards
    from winnow.pool.ids import pool_ids

    www, base = served
    ids = pool_ids(pool_shards(mini_pool[0], 2))[:25]
    (www / "kept.txt").write_text("".join(f"{i}\n" for i in ids))
    ext = _jsonl(www / "ext.jsonl", 4)
    mem = _memory_put(www, f"r{uuid.uuid4().hex}")
    subs = {"ids": f"track: filtering\nids: {{url: {base}/kept.txt, sha256: {sha(www / 'kept.txt')}}}\n",
            "mix": f"track: mixing\nsteps: []\nexternal:\n  - {{url: {mem}/ext.jsonl, sha256: {sha(ext)}}}\n"}
    got = {}
    for name, body in subs.items():
        folder = _recipe(tmp_path / "subs" / name, body)
        assert main(["curate", "scale=debug", f"submission={folder}", "progress=false", "engine.workers=1"]) == 0
        run = Path(next(ln for ln in capsys.readouterr().out.splitlines() if "run folder: " in ln).split(": ", 1)[1])
        got[name] = [d for p in sorted((run / "curated" / "shards").iterdir()) for d in read_docs(p)]
    assert sorted(d["id"] for d in got["ids"]) == ids
    external = [d for d in got["mix"] if d["source"] == "external/ext"]
    assert len(external) == 4 and all(d["id"].startswith("ext/0/") for d in external)
    assert len(got["mix"]) > len(external)   # and the pool's documents


# ------------------------------------------------------------------ data root and WINNOW_HOME
def test_data_root_and_home_are_local_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WINNOW_DATA", f"file://{data_root()}")
    assert data_root() == Path(str(data_root()))
    monkeypatch.setenv("WINNOW_DATA", "memory://data")
    with pytest.raises(DataRootError, match="must be a local folder.*winnow data pull --from memory://data"):
        data_root()
    assert main(["data", "status"]) == 2
    assert "winnow data pull --from" in capsys.readouterr().err
    monkeypatch.setenv("WINNOW_DATA", str(tmp_path))
    monkeypatch.setenv("WINNOW_HOME", "s3://bucket/home")
    with pytest.raises(LocationError, match="must be a local folder"):
        winnow_home()
    # paths.* overrides keep a URL as given (file:// is the local folder, not a mangled path)
    from winnow.config import load_run_config

    load_run_config(["scale=debug", f"paths.home=file://{tmp_path}/h"])
    assert winnow_home() == tmp_path / "h"
