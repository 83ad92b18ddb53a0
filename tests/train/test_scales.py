"""The scale registry: DCLM's official recipes number for number, the DataDecide-shaped GPU
scales, and that every conf/scale file loads, derives and shows up in `winnow ls scales`."""

from __future__ import annotations

import math

import pytest

from winnow.train.plan import derive
from winnow.train.model import OpenLMConfig, param_counts
from winnow.train.scales import (
    dclm_nominal_params,
    dclm_params_no_embed,
    load_scale,
    olmo_ladder_lr,
    olmo_ladder_params,
    olmo_ladder_warmup,
    scale_names,
    scale_rows,
    scale_table,
)

NEOX_SHA = "1952cfc998f55a89b4326494ab242902e589b39fc8c9cc90528fd0f1b9a19fd0"

# mlfoundations/dclm training/configs/*.json and open_lm_configs: (layers, d, heads, FFN hidden,
# params, params_no_embed, tokens = tokens x chinchilla_multiplier, global batch, lr, warmup, wd, z-loss)
DCLM = {
    "400m-1x": (24, 1024, 8, 2816, 411_616_256, 359_973_888, 8_232_325_120, 512, 3e-3, 2000, 0.033, 1e-4),
    "1b-1x": (24, 2048, 16, 5632, 1_439_795_200, 1_336_510_464, 28_795_904_000, 256, 3e-3, 5000, 0.033, 1e-4),
    "1b-5x": (24, 2048, 16, 5632, 1_439_795_200, 1_336_510_464, 143_979_520_000, 256, 3e-3, 5000, 0.033, 1e-4),
    "3b-1x": (32, 2560, 32, 6912, 2_795_932_160, 2_666_826_240, 55_918_643_200, 256, 3e-3, 5000, 0.033, 1e-4),
    "7b-1x": (32, 4096, 32, 11008, 6_889_410_560, 6_682_841_088, 137_788_211_200, 2048, 2e-3, 5000, 0.05, 5e-6),
    "7b-2x": (32, 4096, 32, 11008, 6_889_410_560, 6_682_841_088, 275_576_422_400, 2048, 2e-3, 5000, 0.05, 5e-6),
}
CHINCHILLA = {"400m-1x": 20, "1b-1x": 20, "1b-5x": 100, "3b-1x": 20, "7b-1x": 20, "7b-2x": 40}

# allenai/DataDecide scaling_laws/utils/constants/constants_models.py @c32d6f7 (MODEL_TO_BATCH,
# MODEL_TO_PARAMETERS, FULL_SCHEDULE) and the OLMo ladder shapes: (layers, d, heads, batch,
# DataDecide params, the N of the ladder's lr/warmup formulas, FULL_SCHEDULE steps, version)
DATADECIDE = {
    "10m-1x": (8, 144, 8, 32, 9_900_432, 9_900_432, 15_117, 1),
    "60m-1x": (16, 384, 12, 96, 57_078_144, 57_078_144, 29_042, 1),
    "150m-1x": (12, 768, 12, 192, 151_898_880, 150_000_000, 38_157, 2),   # OLMo parse_size("150M")
}


@pytest.mark.parametrize("name", sorted(DCLM))
def test_dclm_scale_is_dclms_recipe(name):
    L, d, heads, ffn, nominal, no_embed, tokens, batch, lr, warmup, wd, z = DCLM[name]
    cfg = load_scale(name)
    m, t = cfg["model"], cfg["train"]
    assert cfg["version"] == 1
    assert cfg["tokenizer"] == {"name": "gpt-neox-20b", "sha256": NEOX_SHA}
    assert (m["n_layers"], m["d_model"], m["n_heads"], m["seq_len"], m["vocab_size"]) == (L, d, heads, 2048, 50432)
    assert OpenLMConfig.from_scale(m).ffn_hidden == ffn == 256 * math.ceil(int(8 * d / 3) / 256)
    assert t["tokens"] == tokens
    assert tokens == CHINCHILLA[name] * nominal
    assert t["batch_size"] == batch
    assert (t["lr"], t["final_lr"], t["warmup"], t["weight_decay"], t["z_loss"]) == (lr, 3e-5, warmup, wd, z)
    assert (t["beta1"], t["beta2"], t["eps"], t["grad_clip"], t["precision"]) == (0.9, 0.95, 1e-8, 1.0, "bf16")


@pytest.mark.parametrize("name", sorted(DCLM))
def test_dclm_nominal_params_omit_only_the_qk_norm_gains(name):
    L, d, _, ffn, nominal, no_embed, *_ = DCLM[name]
    m = load_scale(name)["model"]
    V = m["vocab_size"]
    true = param_counts(OpenLMConfig.from_scale(m))["total"]
    # the model's true count: embeddings + per layer (attention, QK-norm gains, SwiGLU, two norms) + final norm
    assert true == 2 * V * d + L * (4 * d * d + 2 * d + 3 * d * ffn + 2 * d) + d
    # DCLM's nominal figure is the same count without the QK-norm gains (2*d per layer)
    assert dclm_nominal_params(m) == nominal == true - 2 * L * d
    assert dclm_params_no_embed(m) == no_embed == nominal - V * d


def test_qk_norm_gains_explain_the_whole_gap_for_400m():
    m = load_scale("400m-1x")["model"]
    true = param_counts(OpenLMConfig.from_scale(m))["total"]
    assert (true, true - 411_616_256) == (411_665_408, 49_152)
    assert dclm_nominal_params({**m, "qk_norm": False}) == param_counts(OpenLMConfig.from_scale({**m, "qk_norm": False}))["total"]


@pytest.mark.parametrize("name", sorted(DCLM))
def test_dclm_derived_steps(name):
    tokens, batch = DCLM[name][6], DCLM[name][7]
    cfg = load_scale(name)
    d = derive(cfg["model"], cfg["train"])
    assert d["steps"] == tokens // (batch * 2048)
    assert d["tokens"] == d["steps"] * batch * 2048 <= tokens < d["tokens"] + batch * 2048
    assert d["params"]["total"] == DCLM[name][4] + 2 * DCLM[name][0] * DCLM[name][1]


def test_dclm_steps_by_hand():
    steps = {n: derive(load_scale(n)["model"], load_scale(n)["train"])["steps"] for n in DCLM}
    assert steps == {"400m-1x": 7850, "1b-1x": 54923, "1b-5x": 274619, "3b-1x": 106656,
                     "7b-1x": 32851, "7b-2x": 65702}


@pytest.mark.parametrize("name", sorted(DATADECIDE))
def test_datadecide_shaped_scales_follow_the_olmo_ladder(name):
    L, d, heads, batch, n_dd, n_ladder, _, version = DATADECIDE[name]
    cfg = load_scale(name)
    m, t = cfg["model"], cfg["train"]
    assert cfg["version"] == version
    assert cfg["tokenizer"] == {"name": "gpt-neox-20b", "sha256": NEOX_SHA}
    assert (m["n_layers"], m["d_model"], m["n_heads"], m["seq_len"], m["vocab_size"]) == (L, d, heads, 2048, 50432)
    assert m["ffn_hidden"] == 4 * d                       # OLMo SwiGLU, mlp_ratio 8
    assert olmo_ladder_params(d, L) == n_dd               # DataDecide's count fixes d and L
    assert t["batch_size"] == batch
    assert t["lr"] == pytest.approx(olmo_ladder_lr(n_ladder), rel=1e-4)
    assert t["final_lr"] == pytest.approx(0.01 * t["lr"], rel=1e-4)
    assert t["warmup"] == olmo_ladder_warmup(n_ladder, batch)
    assert (t["weight_decay"], t["z_loss"], t["beta1"], t["beta2"], t["grad_clip"]) == (0.05, 0.0, 0.9, 0.95, 1.0)
    # 20 tokens per total parameter of winnow's model, derived (not typed)
    assert t["tokens"] is None and (t["tokens_per_param"], t["param_basis"]) == (20, "total")
    dv = derive(m, t)
    assert dv["token_budget"] == 20 * dv["params"]["total"]
    assert dv["steps"] == dv["token_budget"] // (batch * 2048)


def test_datadecide_lr_and_warmup_values():
    assert [round(olmo_ladder_lr(DATADECIDE[n][5]), 5) for n in DATADECIDE] == [0.01042, 0.00581, 0.00421]
    assert [olmo_ladder_warmup(DATADECIDE[n][5], DATADECIDE[n][3]) for n in DATADECIDE] == [151, 290, 381]


@pytest.mark.parametrize("name", sorted(DATADECIDE))
def test_the_ladder_n_is_the_one_datadecide_trained_100x_on(name):
    """FULL_SCHEDULE = 100 x N / (batch x 2048) + about 10 steps at every rung, where N is the
    parameter count at 10M and 60M but the nominal 150,000,000 at 150M: the N the lr and warmup
    formulas of the 150m-1x scale use (the count, 151,898,880, would give ~483 more steps)."""
    _, _, _, batch, _, n_ladder, full_schedule, _ = DATADECIDE[name]
    assert 9.5 <= full_schedule - 100 * n_ladder / (batch * 2048) <= 11


def test_every_scale_yaml_loads_and_derives():
    names = scale_names()
    assert {"debug", "quickstart", "tiny-1x", "1m-1x", "10m-1x", "60m-1x", "150m-1x", "400m-1x", "1b-1x",
            "1b-5x", "3b-1x", "7b-1x", "7b-2x"} <= set(names)
    for name in names:
        cfg = load_scale(name)
        assert cfg["name"] == name and isinstance(cfg["version"], int)
        assert set(cfg["tokenizer"]) == {"name", "sha256"} and len(cfg["tokenizer"]["sha256"]) == 64
        d = derive(cfg["model"], cfg["train"])
        assert d["steps"] >= 1 and d["total_flops"] > 0


def test_ls_scales_table(capsys):
    from winnow.cli import main

    assert main(["ls", "scales"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[:2] == ["scale", "ver"] and "FLOPs" in header and header[-1] == "tokenizer"
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert set(rows) == set(scale_names())
    r = rows["400m-1x"]
    assert r[1:] == ["v1", "308,380,672", "411,665,408", "8,231,321,600", "7,850", "512", "2,048", "2.28e+19",
                     "gpt-neox-20b"]
    # rows are ordered by compute
    flops = [row.total_flops for row in scale_rows()]
    assert flops == sorted(flops)
    assert scale_table().count("\n") == len(scale_names()) + 1
