"""Data-parallel training (FSDP2 under torchrun, gloo on CPU) and gradient accumulation.

The debug scale's model (conf/scale/debug.yaml) trains 20 fp32 steps on synthetic tokens, once in
this process and once as 2 ranks launched with ``python -m torch.distributed.run``. Each rank
takes half of every global batch, so the per-step losses must agree up to float rounding; the
2-rank run's checkpoint (gathered by rank 0 in the single-process format) must resume in one
process, and a single-process checkpoint must resume on 2 ranks. Accumulating gradients over
two micro batches must match one batch. The normal CLI (`python -m winnow run`, debug scale)
under torchrun with 2 ranks builds the data stages once (rank 0), trains on both ranks and
evaluates once; a waiting rank stops on rank 0's failure marker. One thread per process; about
70 s on 2 cores (the CLI launch about 40 of them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

torch.set_num_threads(1)

from winnow.manifest import read_manifest  # noqa: E402
from winnow.train import distributed  # noqa: E402
from winnow.train.loop import accumulation_steps, peak_flops, train_model  # noqa: E402
from tests.helpers import REPO

DEBUG = yaml.safe_load((REPO / "conf" / "scale" / "debug.yaml").read_text())
MODEL = DEBUG["model"]
STEPS = 20
TRAIN = {**DEBUG["train"], "tokens": STEPS * DEBUG["train"]["batch_size"] * MODEL["seq_len"],
         "precision": "fp32", "compile": False, "checkpoint_every": 10, "threads": 1}

# Job 1 initialises (and closes) the gloo group itself from torchrun's environment, as the CLI
# does; job 2 runs in a group the caller made, on a TCPStore of its own (a second rendezvous
# through torchrun's agent store, which init_process_group uses under torchrun, can hang).
WORKER = """
import json, os, sys
import torch
import torch.distributed as dist
torch.set_num_threads(1)
from winnow.train.loop import train_model
first, second = json.loads(sys.argv[1])
train_model(progress=False, **first)
assert not dist.is_initialized()
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
store = dist.TCPStore("127.0.0.1", int(sys.argv[2]), world, is_master=rank == 0)
dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
train_model(progress=False, **second)
assert dist.is_initialized()
dist.destroy_process_group()
"""


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1)), "one metrics line per step, one writer"
    return [r["loss"] for r in rows]


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def assert_close_weights(a: Path, b: Path, tol: float = 1e-4) -> None:
    wa, wb = load_file(str(a / "model" / "model.safetensors")), load_file(str(b / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=tol, atol=tol, msg=f"{k} differs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    """A 64-token cycle at random offsets with 10% noise, in the debug vocabulary."""
    rng = np.random.default_rng(0)
    vocab, seq = MODEL["vocab_size"], MODEL["seq_len"]
    cycle = rng.permutation(vocab)[:64]
    rows = cycle[(rng.integers(0, 64, size=400)[:, None] + np.arange(seq + 1)[None, :]) % 64]
    noise = rng.random(rows.shape) < 0.1
    rows[noise] = rng.integers(0, vocab, size=int(noise.sum()))
    path = tmp_path_factory.mktemp("tok") / "tokens.npy"
    np.save(path, rows.astype(np.uint16))
    return path


@pytest.fixture(scope="module")
def single(tokens, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    stats = train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=out, seed=1, progress=False)
    return out, stats


@pytest.fixture(scope="module")
def two_ranks(tokens, single, tmp_path_factory):
    """One torchrun launch, 2 ranks, two jobs: a fresh run, and a resume from the 1-process step-10 checkpoint."""
    root = tmp_path_factory.mktemp("two")
    fresh, resumed = root / "fresh", root / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(single[0] / "checkpoints" / "step_00000010", resumed / "checkpoints" / "step_00000010")
    shutil.copy(single[0] / "metrics.jsonl", resumed / "metrics.jsonl")  # steps 11-20 get rewritten
    jobs = [dict(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=str(tokens), out_dir=str(d), seed=1)
            for d in (fresh, resumed)]
    script = root / "worker.py"
    script.write_text(WORKER)
    port, port2 = free_port(), free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(script), json.dumps(jobs), str(port2)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # a process group of its own: a hang is killed whole
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail("the 2-rank launch hung:\n" + err[-5000:])
    assert proc.returncode == 0, out[-3000:] + err[-5000:]
    return fresh, resumed


def test_two_ranks_match_one_process_step_by_step(single, two_ranks):
    one, two = losses(single[0]), losses(two_ranks[0])
    assert len(one) == len(two) == STEPS
    diffs = [rel(a, b) for a, b in zip(two, one)]
    print("per-step relative loss differences, 2 ranks vs 1 process:", ", ".join(f"{d:.1e}" for d in diffs))
    assert max(diffs) <= 1e-3, diffs
    assert one[-1] < one[0] - 1.0  # it learns
    assert_close_weights(two_ranks[0], single[0])
    # rank 0 wrote the usual outputs, in the single-process checkpoint format
    ckpt = two_ranks[0] / "checkpoints" / "step_00000010"
    assert sorted(p.name for p in ckpt.iterdir()) == ["model.safetensors", "optimizer.pt", "state.pt"]
    ref = single[0] / "checkpoints" / "step_00000010"
    assert load_file(str(ckpt / "model.safetensors")).keys() == load_file(str(ref / "model.safetensors")).keys()
    o2, o1 = (torch.load(p / "optimizer.pt", weights_only=True) for p in (ckpt, ref))
    assert o2["state"].keys() == o1["state"].keys()
    assert o2["param_groups"][0]["params"] == o1["param_groups"][0]["params"]
    for i in o1["state"]:
        torch.testing.assert_close(o2["state"][i]["exp_avg_sq"], o1["state"][i]["exp_avg_sq"], rtol=1e-3, atol=1e-9)
    assert not [p for p in two_ranks[0].rglob("*") if p.name.endswith(".tmp")]


def test_checkpoints_move_between_world_sizes(single, two_ranks, tokens, tmp_path):
    # 1 process -> 2 ranks (resumed inside the torchrun launch)
    resumed = two_ranks[1]
    assert len(losses(resumed)) == STEPS
    assert max(rel(a, b) for a, b in zip(losses(resumed)[10:], losses(single[0])[10:])) <= 1e-3
    assert_close_weights(resumed, single[0])
    # 2 ranks -> 1 process
    (tmp_path / "checkpoints").mkdir()
    shutil.copytree(two_ranks[0] / "checkpoints" / "step_00000010", tmp_path / "checkpoints" / "step_00000010")
    shutil.copy(two_ranks[0] / "metrics.jsonl", tmp_path / "metrics.jsonl")
    stats = train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=tmp_path, seed=1, progress=False)
    assert stats["resumed_from"] == 10 and stats["world_size"] == 1
    assert max(rel(a, b) for a, b in zip(losses(tmp_path)[10:], losses(single[0])[10:])) <= 1e-3
    assert_close_weights(tmp_path, single[0])


def test_gradient_accumulation_matches_one_batch(single, tokens, tmp_path):
    cfg = {**TRAIN, "micro_batch_size": TRAIN["batch_size"] // 2, "activation_checkpointing": True,
           "peak_flops": 1e12}
    stats = train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=tmp_path, seed=1, progress=False)
    assert stats["accumulation_steps"] == 2
    diffs = [rel(a, b) for a, b in zip(losses(tmp_path), losses(single[0]))]
    assert len(diffs) == STEPS and max(diffs) <= 1e-5, diffs
    assert_close_weights(tmp_path, single[0])  # Adam amplifies rounding in rarely-seen embedding rows
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["mfu"] == pytest.approx(stats["flops_per_token"] * r["tokens_per_s"] / 1e12, rel=1e-3, abs=1e-6)
               for r in rows)
    # speed settings are resume-neutral: a checkpoint of the plain run resumes under them
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(single[0] / "checkpoints" / "step_00000010", resumed / "checkpoints" / "step_00000010")
    shutil.copy(single[0] / "metrics.jsonl", resumed / "metrics.jsonl")
    stats = train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=resumed, seed=1, progress=False)
    assert stats["resumed_from"] == 10


def test_accumulation_needs_an_integral_number_of_micro_batches():
    assert accumulation_steps(8, 1, None) == (8, 1)
    assert accumulation_steps(8, 2, 2) == (2, 2)
    with pytest.raises(ValueError, match=r"batch_size 8 / \(world size 2 x micro_batch_size 3\) is not an integer"):
        accumulation_steps(8, 2, 3)
    with pytest.raises(ValueError, match="not divisible by the world size 3"):
        accumulation_steps(8, 3, None)
    with pytest.raises(ValueError, match="micro_batch_size must be >= 1"):
        train_model(model_cfg=MODEL, train_cfg={**TRAIN, "micro_batch_size": 0}, tokens_path=Path("unused.npy"),
                    out_dir=Path("unused"), seed=1)


def test_torchrun_environment_and_peak_flops(monkeypatch):
    assert distributed.env_from_torchrun({}) == (0, 1, 0)
    assert distributed.env_from_torchrun({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    with pytest.raises(ValueError, match="RANK=4 is not a rank of WORLD_SIZE=4"):
        distributed.env_from_torchrun({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="incomplete"):
        distributed.env_from_torchrun({"RANK": "0"})
    cpu = torch.device("cpu")
    monkeypatch.delenv("WINNOW_PEAK_FLOPS", raising=False)
    assert peak_flops({}, cpu) is None
    monkeypatch.setenv("WINNOW_PEAK_FLOPS", "2e12")
    assert peak_flops({}, cpu) == 2e12
    assert peak_flops({"peak_flops": 5e11}, cpu) == 5e11  # the train key wins
    monkeypatch.setenv("WINNOW_PEAK_FLOPS", "fast")
    with pytest.raises(ValueError, match="WINNOW_PEAK_FLOPS must be a number"):
        peak_flops({}, cpu)


# ------------------------------------------------------------------ the CLI under torchrun
CLI_RUN = ["scale=debug", "submission=baselines/random", "seed=7", "progress=false", "engine.workers=1"]


def rank_log(log_dir: Path, rank: int) -> str:
    """Everything local rank ``rank`` wrote to stderr (torchrun --redirects 3 --log-dir)."""
    (path,) = [p for p in log_dir.rglob("stderr.log") if p.parent.name == str(rank)]
    return path.read_text()


@pytest.fixture(scope="module")
def cli_two_ranks(mini_pool, tmp_path_factory):
    """`winnow run` at the debug scale under torchrun with 2 gloo ranks, through `python -m winnow`."""
    from winnow.run import prepare

    log_dir = tmp_path_factory.mktemp("cli_logs")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "--redirects", "3", "--log-dir", str(log_dir), "-m", "winnow", "run", *CLI_RUN]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        logs = "\n".join(p.read_text()[-3000:] for p in log_dir.rglob("*.log"))
        pytest.fail("the 2-rank `winnow run` hung:\n" + err[-3000:] + logs)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-4000:]}" for p in log_dir.rglob("*.log"))
    assert proc.returncode == 0, out[-2000:] + err[-3000:] + logs
    return prepare(CLI_RUN).dir, log_dir


def test_cli_under_torchrun_builds_data_once_trains_on_every_rank_evaluates_once(cli_two_ranks):
    run_dir, log_dir = cli_two_ranks
    rank0, rank1 = rank_log(log_dir, 0), rank_log(log_dir, 1)
    # rank 0 alone built the data stages and evaluated; rank 1 waited for the tokenized stage
    for stage in ("pool", "curate", "tokenize", "train", "eval"):
        assert rank0.count(f"== {stage} (") == 1, stage
    for stage in ("pool", "curate", "tokenize", "eval"):
        assert f"== {stage} (" not in rank1, stage
    assert "rank 1 of 2: the data stages are ready" in rank1
    assert rank1.count("== train (") == 1
    # both ranks trained, in one process group of 2; rank 0 wrote the outputs and reported
    assert "distributed: rank 0 of 2" in rank0 and "distributed: rank 1 of 2" in rank1
    train = read_manifest(run_dir / "train")
    assert train.stats["world_size"] == 2 and not train.stats["stopped_early"]
    assert len(losses(run_dir / "train")) == train.stats["steps"]  # one writer, one line per step
    assert read_manifest(run_dir / "eval" / "debug").parents["train"] == train.content_id
    assert (run_dir / "run.json").is_file() and not (run_dir / "data_failed.json").exists()
    out0, out1 = ((p.parent / "stdout.log").read_text() for p in
                  sorted(log_dir.rglob("stderr.log"), key=lambda p: p.parent.name))
    assert f"run folder: {run_dir}" in out0 and "run folder" not in out1


def test_waiting_ranks_stop_on_rank_0s_failure_not_on_a_stale_one(mini_pool, monkeypatch):
    import threading
    import time

    from winnow import run as runmod

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test-launch")
    run = runmod.prepare(["scale=debug", "submission=baselines/random", "seed=8", "progress=false"])
    assert runmod.data_ready(run) is None  # nothing curated yet
    assert runmod.launch_rank({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2)
    assert runmod.launch_rank({}) == (0, 1)
    marker = run.dir / runmod.DATA_FAILED
    # an earlier launch's marker (other launch id), and one of this launch id but long before
    (run.dir / runmod.DATA_FAILED).write_text(json.dumps(
        {"stage": "curate", "error": "stale", "time": time.time(), "launch": "another launch"}))
    assert runmod.data_failure(run, since=time.time()) is None
    marker.write_text(json.dumps({"stage": "curate", "error": "stale", "time": time.time() - 3600,
                                  "launch": runmod.launch_id()}))
    assert runmod.data_failure(run, since=time.time()) is None

    def rank0_fails():
        time.sleep(0.3)
        with pytest.raises(RuntimeError, match="boom"):
            runmod.run_data_stages_or_mark(run, ["pool"])

    monkeypatch.setitem(runmod.STAGE_FUNCS, "pool", lambda run: (_ for _ in ()).throw(RuntimeError("boom")))
    rank0 = threading.Thread(target=rank0_fails)
    rank0.start()
    t0 = time.monotonic()
    with pytest.raises(runmod.StageError, match=r"rank 1 of 2: rank 0 .* failed in its pool stage: RuntimeError: boom"):
        runmod.wait_for_data(run, 1, 2, poll_s=0.05)
    rank0.join()
    assert time.monotonic() - t0 < 10


def test_eval_of_a_model_folder_runs_on_rank_0_only(monkeypatch, tmp_path):
    """`winnow eval --model` under torchrun: ranks other than 0 return at once (no load, no write);
    rank 0 evaluates, here failing on the missing folder, which shows it tried."""
    from winnow.cli import main

    out = tmp_path / "evals"
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert main(["eval", "--model", str(tmp_path / "no-such-model"), "--out", str(out)]) == 0
    assert not out.exists()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["eval", "--model", str(tmp_path / "no-such-model"), "--out", str(out)]) != 0
