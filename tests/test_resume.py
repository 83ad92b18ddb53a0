"""kill -9 in the middle of curation and of training, then rerun: same content ids and weights.

Runs the real CLI in subprocesses at the quickstart scale (minutes of CPU), so it is marked slow
and runs outside CI (`make test-slow`). The rerun's log must say where it resumed from.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from winnow.manifest import read_manifest

pytestmark = pytest.mark.slow

ARGS = ["run", "scale=quickstart", "submission=baselines/simple_heuristics", "progress=false"]


def _env(home: Path) -> dict:
    env = dict(os.environ, WINNOW_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("WINNOW_LEADERBOARD", None)
    return env


def _winnow(home: Path, log: Path, kill_when=None, timeout: float = 1800) -> subprocess.CompletedProcess | None:
    """Run the CLI; if ``kill_when(home)`` becomes true, SIGKILL the whole process group."""
    with open(log, "ab") as out:
        p = subprocess.Popen([sys.executable, "-m", "winnow.cli", *ARGS], env=_env(home), stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.time()
        while p.poll() is None:
            if kill_when is not None and kill_when(home):
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return None
            if time.time() - t0 > timeout:
                os.killpg(p.pid, signal.SIGKILL)
                raise TimeoutError(f"winnow {' '.join(ARGS)} took over {timeout} s")
            time.sleep(0.02)
    assert p.returncode == 0, log.read_text()[-3000:]
    return p


def _run_dir(home: Path) -> Path | None:
    runs = list((home / "runs").glob("*")) if (home / "runs").exists() else []
    return runs[0] if runs else None


def _first_shard_done(home: Path) -> bool:
    d = _run_dir(home)
    if d is None:
        return False
    markers = list((d / "curated" / "_work").glob("seg_0_*/*.done"))
    return 1 <= len(markers)


def _first_checkpoint(home: Path) -> bool:
    d = _run_dir(home)
    return d is not None and any(p.name.startswith("step_") for p in (d / "train" / "checkpoints").glob("step_*"))


def _ids(home: Path) -> dict:
    d = _run_dir(home)
    return {s: read_manifest(d / s).content_id for s in ("curated", "tokenized", "train")}


def test_kill_during_curation_and_training_then_resume(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    _winnow(ref, tmp_path / "ref.log")
    log = tmp_path / "killed.log"
    assert _winnow(killed, log, kill_when=_first_shard_done) is None
    d = _run_dir(killed)
    total = len(list((d / "curated" / "_work").glob("seg_0_*/*.done")))
    assert total < 8, "curation finished before the kill; the test needs a kill between shards"
    assert _winnow(killed, log, kill_when=_first_checkpoint) is None
    assert read_manifest(d / "train") is None
    _winnow(killed, log)
    text = log.read_text()
    assert "skipping them (resume)" in text
    assert "resuming from step" in text
    assert _ids(killed) == _ids(ref)
    ref_w = (_run_dir(ref) / "train/model/model.safetensors").read_bytes()
    assert (d / "train/model/model.safetensors").read_bytes() == ref_w
