"""Adopting a finished stage output of another run folder with the same input key (winnow.reuse)."""

from __future__ import annotations

import logging
import os

from winnow.manifest import completed, damaged, write_manifest
from winnow.reuse import adopt, find_finished


def _finished(run_dir, key="k" * 64, body=b"weights"):
    out = run_dir / "train"
    (out / "model").mkdir(parents=True)
    (out / "model" / "model.safetensors").write_bytes(body)
    (out / "checkpoints" / "step_1").mkdir(parents=True)
    (out / "checkpoints" / "step_1" / "state.pt").write_bytes(b"resumable")
    return write_manifest(out, "train", key, files=["model/model.safetensors"])


def test_a_finished_folder_of_the_same_key_is_adopted_by_hard_links_without_checkpoints(tmp_path, caplog):
    runs = tmp_path / "runs"
    m = _finished(runs / "a__tiny__1")
    out = runs / "b__tiny__2" / "train"
    (out / "checkpoints").mkdir(parents=True)          # a partial attempt of its own: replaced
    with caplog.at_level(logging.INFO, logger="winnow.reuse"):
        got = adopt("train", out, "k" * 64, runs)
    assert got is not None and got.content_id == m.content_id
    assert completed(out, "k" * 64).content_id == m.content_id and damaged(out, got) == []
    assert not (out / "checkpoints").exists()
    src = runs / "a__tiny__1" / "train" / "model" / "model.safetensors"
    assert os.stat(out / "model" / "model.safetensors").st_ino == os.stat(src).st_ino
    assert "reusing the finished output of run a__tiny__1" in caplog.text
    assert [p.name for p in out.parent.iterdir()] == ["train"]   # no temporary folder left


def test_another_key_a_damaged_source_or_a_multi_process_launch_adopts_nothing(tmp_path):
    runs = tmp_path / "runs"
    _finished(runs / "a__tiny__1")
    out = runs / "b__tiny__2" / "train"
    out.parent.mkdir(parents=True)
    assert adopt("train", out, "x" * 64, runs) is None                      # other key
    assert adopt("train", out, "k" * 64, runs, world_size=2) is None         # torchrun: every rank trains
    (runs / "a__tiny__1" / "train" / "model" / "model.safetensors").write_bytes(b"weightz")  # same size, changed
    assert adopt("train", out, "k" * 64, runs) is None and not out.exists()
    assert find_finished(tmp_path / "nowhere", "train", "k" * 64, exclude=out.parent) is None


def test_a_run_never_adopts_its_own_folder(tmp_path):
    runs = tmp_path / "runs"
    _finished(runs / "a__tiny__1")
    own = runs / "a__tiny__1"
    assert find_finished(runs, "train", "k" * 64, exclude=own) is None
    assert find_finished(runs, "train", "k" * 64, exclude=runs / "other")[0] == own / "train"


def test_a_folder_whose_manifest_is_garbage_is_passed_over_quietly(tmp_path, caplog):
    runs = tmp_path / "runs"
    (runs / "a__tiny__1" / "train").mkdir(parents=True)
    (runs / "a__tiny__1" / "train" / "manifest.json").write_text("[1, 2")
    _finished(runs / "b__tiny__2")
    with caplog.at_level(logging.WARNING):
        src, _ = find_finished(runs, "train", "k" * 64, exclude=runs / "c__tiny__3")
    assert src == runs / "b__tiny__2" / "train" and "redone" not in caplog.text
