"""Hydra-style sweeps and --cfg job on the compute verbs (winnow.config.sweep_jobs, cli)."""

from __future__ import annotations

import pytest
import yaml

from winnow.cli import main
from winnow.config import ConfigError, sweep_jobs


def test_sweep_jobs_is_the_product_in_command_line_order():
    assert sweep_jobs(["scale=debug", "submission=a,b", "seed=range(0,2)"]) == [
        ["scale=debug", "submission=a", "seed=0"], ["scale=debug", "submission=a", "seed=1"],
        ["scale=debug", "submission=b", "seed=0"], ["scale=debug", "submission=b", "seed=1"]]
    assert sweep_jobs(["seed=1", "+x=[1,2]"]) == [["seed=1", "+x=[1,2]"]]  # a list is not a sweep
    assert sweep_jobs(["x='a,b'"]) == [["x='a,b'"]]                      # nor a quoted string
    with pytest.raises(ConfigError, match="glob"):
        sweep_jobs(["submission=glob(*)"])


def test_cfg_job_prints_each_composed_config_and_runs_nothing(capsys, _isolated_home):
    runs = _isolated_home / "runs"
    before = sorted(runs.iterdir()) if runs.exists() else []
    assert main(["run", "--cfg", "job", "-m", "scale=debug", "seed=0,7"]) == 0
    out = capsys.readouterr().out
    docs = [yaml.safe_load(part.split("\n", 1)[1]) for part in out.split("# winnow run ")[1:]]
    assert [d["seed"] for d in docs] == [0, 7] and all(d["scale"]["name"] == "debug" for d in docs)
    assert (sorted(runs.iterdir()) if runs.exists() else []) == before  # nothing ran


def test_a_sweep_without_multirun_says_how(capsys):
    assert main(["curate", "scale=debug", "seed=0,1"]) == 2
    assert "--multirun" in capsys.readouterr().err


def test_multirun_runs_every_job_in_its_own_run_folder(mini_pool, capsys, _isolated_home):
    argv = ["curate", "-m", "scale=debug", "submission=baselines/random", "seed=0,1", "progress=false",
            "engine.workers=1"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "job 1/2" in captured.err and "job 2/2" in captured.err
    folders = [line.split("run folder: ")[1] for line in captured.out.splitlines() if "run folder: " in line]
    assert len(folders) == 2 and len(set(folders)) == 2
