"""The training stage: loader, schedule, derived numbers, learning, determinism, checkpoint/resume.

All runs use a tiny model (d 32, 2 layers, seq 32) on a synthetic repeating token pattern, so a
whole run takes about a second on one thread.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

torch.set_num_threads(1)

from winnow.train.data import SequenceLoader  # noqa: E402
from winnow.train.loop import WarmupCosine, train_model  # noqa: E402
from winnow.train.plan import derive  # noqa: E402
from tests.helpers import REPO

VOCAB, SEQ, BATCH = 64, 32, 8
MODEL = dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=2, ffn_multiple_of=32, seq_len=SEQ)
TRAIN = dict(
    tokens=40 * BATCH * SEQ,  # 40 steps
    batch_size=BATCH,
    lr=3e-3,
    final_lr=3e-5,
    warmup=5,
    weight_decay=0.033,
    z_loss=1e-4,
    beta1=0.9,
    beta2=0.95,
    eps=1e-8,
    grad_clip=1.0,
    precision="fp32",
    compile=False,
    checkpoint_every=10,
)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    """Rows of a 16-token cycle at random offsets: learnable from bigrams alone."""
    rng = np.random.default_rng(0)
    cycle = rng.permutation(VOCAB)[:16]
    starts = rng.integers(0, 16, size=4000)
    rows = cycle[(starts[:, None] + np.arange(SEQ + 1)[None, :]) % 16].astype(np.uint16)
    path = tmp_path_factory.mktemp("tok") / "tokens.npy"
    np.save(path, rows)
    return path


def weights(out_dir: Path) -> dict:
    return load_file(str(out_dir / "model" / "model.safetensors"))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def metric_steps(out_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tokens, tmp_path_factory):
    """One uninterrupted run, shared by the determinism and resume tests."""
    out = tmp_path_factory.mktemp("ref")
    stats = train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=out, seed=1, progress=False)
    return out, stats


# --- loader ---------------------------------------------------------------------------------------


def test_loader_yields_rows_in_order_and_resumes_from_state(tmp_path):
    rows = np.arange(10 * 5, dtype=np.uint32).reshape(10, 5)
    np.save(tmp_path / "tokens.npy", rows)
    loader = SequenceLoader(tmp_path / "tokens.npy", batch_size=3)
    assert (loader.n_rows, loader.seq_len) == (10, 4)
    first = loader.next_batch()
    assert first.dtype == torch.int64 and first.shape == (3, 5)
    assert torch.equal(first, torch.from_numpy(rows[:3].astype(np.int64)))
    state = loader.state_dict()
    assert state == {"pass": 0, "position": 3}
    again = SequenceLoader(tmp_path / "tokens.npy", batch_size=3)
    again.load_state_dict(state)
    assert torch.equal(next(iter(again)), torch.from_numpy(rows[3:6].astype(np.int64)))
    assert torch.equal(SequenceLoader(tmp_path / "tokens.npy", 3, start_row=6).next_batch()[0], torch.arange(30, 35))


def test_loader_order_hash_is_the_consumed_row_sequence(tmp_path):
    """order_sha256 hashes the file rows consumed, in order: equal for the same stream, resumed or
    not, different when the order differs (another seed's later passes, or fewer samples)."""
    import hashlib

    np.save(tmp_path / "tokens.npy", np.arange(10 * 3, dtype=np.uint16).reshape(10, 3))
    path = tmp_path / "tokens.npy"
    one = SequenceLoader(path, 4, seed=7)
    seen = [int(r[0]) // 3 for _ in range(6) for r in one.next_batch()]  # 24 samples, 3 passes
    want = hashlib.sha256(b"winnow-row-order-v1" + np.array(seen, dtype="<i8").tobytes()).hexdigest()
    assert one.order_sha256() == want
    resumed = SequenceLoader(path, 4, seed=7)
    resumed.load_state_dict(one.state_dict())
    assert resumed.order_sha256() == want  # a function of (seed, rows, position): no state to carry
    other = SequenceLoader(path, 4, seed=8)
    other.load_state_dict(one.state_dict())
    assert other.order_sha256() != want and one.order_sha256(23) != want
    assert SequenceLoader(path, 4).order_sha256(10) == one.order_sha256(10)  # pass 0: file order


def test_loader_errors_when_rows_run_out_and_on_bad_dtype(tmp_path):
    np.save(tmp_path / "tokens.npy", np.zeros((7, 5), dtype=np.uint16))
    loader = SequenceLoader(tmp_path / "tokens.npy", batch_size=3)
    loader.next_batch(), loader.next_batch()
    with pytest.raises(ValueError, match=r"needs 9 sequences .* the file has 7"):
        loader.next_batch()
    np.save(tmp_path / "bad.npy", np.zeros((7, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="uint16 or uint32"):
        SequenceLoader(tmp_path / "bad.npy", batch_size=3)


def test_loader_keeps_file_order_in_pass_0_and_permutes_later_passes(tmp_path):
    rows = np.arange(10 * 3, dtype=np.uint16).reshape(10, 3)
    np.save(tmp_path / "tokens.npy", rows)
    firsts = lambda loader, n: [int(r[0]) // 3 for _ in range(n) for r in loader.next_batch()]  # noqa: E731
    # pass 0 is the file order, with or without a seed: one-pass runs see exactly what they always saw
    assert firsts(SequenceLoader(tmp_path / "tokens.npy", 2, seed=7), 5) == list(range(10))
    loader = SequenceLoader(tmp_path / "tokens.npy", 4, seed=7)
    stream = firsts(loader, 10)  # 40 samples = 4 passes; batches straddle pass boundaries
    passes = [stream[i:i + 10] for i in range(0, 40, 10)]
    assert passes[0] == list(range(10))
    assert all(sorted(p) == list(range(10)) for p in passes)  # without replacement within a pass
    assert passes[1] != passes[0] and passes[2] != passes[1]  # a fresh permutation per pass
    assert firsts(SequenceLoader(tmp_path / "tokens.npy", 4, seed=7), 10) == stream  # deterministic in the seed
    assert firsts(SequenceLoader(tmp_path / "tokens.npy", 4, seed=8), 10)[10:] != stream[10:]
    # state is (pass, position) and resumes mid-pass; old {"next_row"} states still load
    loader = SequenceLoader(tmp_path / "tokens.npy", 4, seed=7)
    firsts(loader, 6)
    assert loader.state_dict() == {"pass": 2, "position": 4}
    again = SequenceLoader(tmp_path / "tokens.npy", 4, seed=7)
    again.load_state_dict(loader.state_dict())
    assert firsts(again, 4) == stream[24:]
    old = SequenceLoader(tmp_path / "tokens.npy", 4, seed=7)
    old.load_state_dict({"next_row": 24})
    assert firsts(old, 4) == stream[24:]
    # rank r of w reads its contiguous slice of each global batch
    parts = [SequenceLoader(tmp_path / "tokens.npy", 4, seed=7) for _ in range(2)]
    merged = [torch.cat([parts[r].next_batch((r, 2)) for r in range(2)]) for _ in range(10)]
    assert [int(row[0]) // 3 for b in merged for row in b] == stream
    with pytest.raises(ValueError, match="cannot split a batch of 4 into part 0 of 3"):
        parts[0].next_batch((0, 3))


# --- derived numbers and schedule ------------------------------------------------------------------


def test_derive_computes_steps_tokens_and_flops():
    plan = derive(MODEL, {**TRAIN, "tokens": 40 * BATCH * SEQ + 100})  # remainder is dropped
    assert plan["steps"] == 40 and plan["tokens"] == 40 * BATCH * SEQ and plan["sequences"] == 320
    assert plan["total_flops"] == plan["flops_per_token"] * plan["tokens"]
    non_emb = plan["params"]["non_embedding"]
    per_param = derive(MODEL, {**TRAIN, "tokens": None, "tokens_per_param": 20, "param_basis": "non_embedding"})
    assert per_param["token_budget"] == 20 * non_emb
    assert per_param["steps"] == 20 * non_emb // (BATCH * SEQ)
    with pytest.raises(ValueError, match="did you mean warmup"):
        derive(MODEL, {**TRAIN, "warmpu": 3})


def test_schedule_is_open_lm_cosine_lr():
    s = WarmupCosine(lr=1.0, final_lr=0.1, warmup=4, steps=20)
    assert [s(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(4) == 1.0
    assert math.isclose(s(12), 0.1 + 0.5 * (1 + math.cos(math.pi * 8 / 16)) * 0.9)
    assert math.isclose(s(20), 0.1)  # the cosine would reach final_lr one step after the last
    lrs = [s(i) for i in range(4, 20)]
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] > 0.1


# --- training ------------------------------------------------------------------------------------


def test_training_reduces_loss_and_writes_model_and_metrics(reference):
    out, stats = reference
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert set(rows[0]) == {"step", "loss", "ce_loss", "lr", "tokens", "tokens_per_s", "flops", "mfu", "grad_norm",
                            "elapsed"}
    assert rows[0]["mfu"] is None  # CPU, no peak_flops given
    assert rows[-1]["flops"] == stats["total_flops"] == stats["flops_per_token"] * 40 * BATCH * SEQ
    assert rows[0]["ce_loss"] > 3.5  # about ln(64) = 4.16 at init
    assert stats["final_ce_loss"] < 1.0
    assert stats["final_loss"] > stats["final_ce_loss"]  # z-loss is on
    assert stats["steps"] == 40 and stats["tokens"] == 40 * BATCH * SEQ and stats["resumed_from"] is None
    assert stats["params"]["non_embedding"] == derive(MODEL, TRAIN)["params"]["non_embedding"]
    # only the newest two checkpoints are kept; the final model loads through the Auto classes
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_00000020", "step_00000030"]
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert model.config.z_loss == TRAIN["z_loss"]


def test_two_runs_with_same_seed_are_bitwise_identical(reference, tokens, tmp_path):
    out, _ = reference
    train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=tmp_path, seed=1, progress=False)
    assert_same_weights(weights(out), weights(tmp_path))
    other = tmp_path / "other_seed"
    train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=other, seed=2, progress=False)
    assert not torch.equal(weights(out)["output.weight"], weights(other)["output.weight"])


def test_stop_then_rerun_resumes_from_checkpoint_with_identical_weights(reference, tokens, tmp_path, caplog):
    out, ref_stats = reference
    cfg = {**TRAIN, "checkpoint_every": 5}  # checkpoint cadence does not change a bit of training
    stopped = train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=tmp_path, seed=1,
                          progress=False, stop_after_step=13)
    assert stopped["stopped_early"] and stopped["steps"] == 13
    assert not (tmp_path / "model").exists()
    assert metric_steps(tmp_path) == list(range(1, 14))
    with caplog.at_level(logging.INFO, logger="winnow.train"):
        stats = train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=tmp_path, seed=1,
                            progress=False)
    assert f"resuming from step 10 ({tmp_path / 'checkpoints' / 'step_00000010'})" in caplog.text
    assert stats["resumed_from"] == 10 and stats["steps"] == 40
    assert metric_steps(tmp_path) == list(range(1, 41))  # steps 11-13 of the first session were dropped
    assert_same_weights(weights(out), weights(tmp_path))
    assert stats["final_loss"] == ref_stats["final_loss"]


def test_heldout_loss_and_sinks_leave_training_bits_alone(reference, tokens, tmp_path, caplog, monkeypatch):
    out, _ = reference
    monkeypatch.setenv("WANDB_PROJECT", "winnow-test")  # wandb is not installed here: a warning, no failure
    cfg = {**TRAIN, "eval_every": 20, "eval_sequences": 16, "tensorboard": True, "log_every": 7}
    with caplog.at_level(logging.WARNING, logger="winnow.train"):
        train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=tmp_path, seed=1, progress=False,
                    heldout_path=tokens)
    assert_same_weights(weights(out), weights(tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [7, 14, 20, 21, 28, 35, 40]  # eval steps always get a line
    held = {r["step"]: r["heldout_loss"] for r in rows if "heldout_loss" in r}
    assert list(held) == [20, 40] and held[40] < held[20] < math.log(VOCAB)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        assert "tensorboard is not installed" in caplog.text
    else:
        assert (tmp_path / "tensorboard").is_dir()
    try:
        import wandb  # noqa: F401
    except ImportError:
        assert "wandb is not installed" in caplog.text


def test_resume_refuses_a_checkpoint_from_different_settings(tokens, tmp_path):
    train_model(model_cfg=MODEL, train_cfg=TRAIN, tokens_path=tokens, out_dir=tmp_path, seed=1, progress=False,
                stop_after_step=10)
    with pytest.raises(ValueError, match="different run"):
        train_model(model_cfg=MODEL, train_cfg={**TRAIN, "lr": 1e-3}, tokens_path=tokens, out_dir=tmp_path, seed=1,
                    progress=False)


def test_kill_9_after_first_checkpoint_then_rerun_matches_uninterrupted(tokens, tmp_path, caplog):
    cfg = {**TRAIN, "tokens": 120 * BATCH * SEQ, "checkpoint_every": 5}
    ref = tmp_path / "ref"
    train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=ref, seed=3, progress=False)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "winnow.train", "--model-cfg", json.dumps(MODEL), "--train-cfg", json.dumps(cfg),
           "--tokens", str(tokens), "--out", str(out), "--seed", "3", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "checkpoints" / "step_00000005"
    deadline = time.monotonic() + 60
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert first.exists() and not (out / "model").exists(), "the run must die mid-training"

    with caplog.at_level(logging.INFO, logger="winnow.train"):
        stats = train_model(model_cfg=MODEL, train_cfg={**cfg, "threads": 1}, tokens_path=tokens, out_dir=out,
                            seed=3, progress=False)
    assert stats["resumed_from"] is not None and stats["resumed_from"] >= 5
    assert f"resuming from step {stats['resumed_from']}" in caplog.text
    assert metric_steps(out) == list(range(1, 121))
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert_same_weights(weights(ref), weights(out))


def test_kill_9_at_debug_size_across_passes_then_rerun_is_bitwise_identical(tmp_path):
    """The debug scale's model on a token file of 20 rows (2.5 batches), so 30 steps make 12
    passes with a seeded permutation each and batches straddle pass boundaries: killed after its
    first checkpoint (mid-pass) and rerun, the run must end with the same safetensors bytes."""
    import yaml

    debug = yaml.safe_load((REPO / "conf" / "scale" / "debug.yaml").read_text())
    model, seq = debug["model"], debug["model"]["seq_len"]
    rng = np.random.default_rng(5)
    rows = rng.integers(0, model["vocab_size"], size=(20, seq + 1)).astype(np.uint16)  # 2.5 batches per pass
    tok = tmp_path / "tokens.npy"
    np.save(tok, rows)
    cfg = {**debug["train"], "tokens": 30 * 8 * seq, "checkpoint_every": 4, "threads": 1}  # 30 steps = 12 passes
    ref = tmp_path / "ref"
    stats = train_model(model_cfg=model, train_cfg=cfg, tokens_path=tok, out_dir=ref, seed=4, progress=False)
    assert stats["passes"] == 12.0

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "winnow.train", "--model-cfg", json.dumps(model), "--train-cfg", json.dumps(cfg),
           "--tokens", str(tok), "--out", str(out), "--seed", "4", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "checkpoints" / "step_00000004"
    deadline = time.monotonic() + 60
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert first.exists() and not (out / "model").exists(), "the run must die mid-training"
    state = torch.load(first / "state.pt", weights_only=True)
    assert state["loader"] == {"pass": 1, "position": 12}  # 32 samples into a 20-row file

    stats = train_model(model_cfg=model, train_cfg=cfg, tokens_path=tok, out_dir=out, seed=4, progress=False)
    assert stats["resumed_from"] is not None and stats["resumed_from"] >= 4
    assert metric_steps(out) == list(range(1, 31))
    assert (out / "model" / "model.safetensors").read_bytes() == (ref / "model" / "model.safetensors").read_bytes()


# --------------------------------------------------------------------------- tail averaging
def test_tail_average_is_the_mean_of_the_last_iterates_and_resumes_exactly(reference, tokens, tmp_path):
    """average_from=0.75 over 40 steps: model/ is the mean of the weights after steps 31..40,
    last/ the weights after step 40 (equal to an unaveraged run's), and a run stopped after
    averaging began resumes to the same bits."""
    ref_out, _ = reference
    cfg = {**TRAIN, "average_from": 0.75, "checkpoint_every": 1}  # keep every step's weights to compare
    out = tmp_path / "avg"
    stats = train_model(model_cfg=MODEL, train_cfg=cfg, tokens_path=tokens, out_dir=out, seed=1, progress=False)
    assert stats["average"] == {"from_step": 30, "iterates": 10}
    last = load_file(str(out / "last" / "model.safetensors"))
    assert_same_weights(weights(ref_out), last)  # averaging never changes the trajectory
    # the mean of the weights after steps 31..40, from a stepwise run that checkpoints every step
    mean = weights(out)
    per_step = tmp_path / "per_step"
    got = []
    for stop in range(31, 41):
        train_model(model_cfg=MODEL, train_cfg={**TRAIN, "checkpoint_every": 1}, tokens_path=tokens,
                    out_dir=per_step, seed=1, progress=False, stop_after_step=stop)
        done = per_step / "checkpoints" / f"step_{stop:08d}" if stop < 40 else per_step / "model"
        got.append(load_file(str(done / "model.safetensors")))  # the last step is not checkpointed
    for k in mean:
        want = torch.stack([g[k] for g in got]).mean(0)
        assert torch.allclose(mean[k], want, atol=1e-6), k
    assert not torch.equal(mean["output.weight"], last["output.weight"])
    # stop after averaging began, resume: the same bits as the uninterrupted averaged run
    res = tmp_path / "resumed"
    train_model(model_cfg=MODEL, train_cfg={**cfg, "checkpoint_every": 4}, tokens_path=tokens, out_dir=res,
                seed=1, progress=False, stop_after_step=35)
    assert (res / "checkpoints" / "step_00000032" / "average.safetensors").is_file()
    again = train_model(model_cfg=MODEL, train_cfg={**cfg, "checkpoint_every": 4}, tokens_path=tokens,
                        out_dir=res, seed=1, progress=False)
    assert again["resumed_from"] == 32 and again["average"] == {"from_step": 30, "iterates": 10}
    assert_same_weights(weights(out), weights(res))


def test_average_from_must_be_a_fraction(tokens, tmp_path):
    with pytest.raises(ValueError, match="average_from must be a fraction"):
        train_model(model_cfg=MODEL, train_cfg={**TRAIN, "average_from": 1.5}, tokens_path=tokens,
                    out_dir=tmp_path, seed=1, progress=False)
