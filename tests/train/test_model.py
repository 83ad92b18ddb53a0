"""The open_lm model: parameter arithmetic, causality, HF save/load, z-loss, generation, init, masks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from winnow.train.model import (  # noqa: E402
    OpenLMConfig,
    OpenLMForCausalLM,
    count_params,
    flops_per_token,
    lm_loss,
    param_counts,
    swiglu_hidden,
)

SMALL = dict(vocab_size=1000, d_model=64, n_layers=2, n_heads=4, ffn_multiple_of=32, seq_len=64)


def make_model(seed: int = 0, **overrides) -> OpenLMForCausalLM:
    torch.manual_seed(seed)
    return OpenLMForCausalLM(OpenLMConfig.from_scale({**SMALL, **overrides})).eval()


def test_param_count_matches_hand_arithmetic():
    model = make_model()
    d, v, layers = 64, 1000, 2
    h = 32 * math.ceil(int(8 * d / 3) / 32)  # int(170.67) = 170 -> 192
    assert h == 192 == model.config.ffn_hidden
    embedding = v * d + d * v  # input embedding + untied head = 128,000
    per_layer = 4 * d * d + 2 * d + 3 * d * h + 2 * d  # attn 16,384 + qk-norm 128 + ffn 36,864 + norms 128
    non_embedding = layers * per_layer + d  # + final norm = 107,072
    assert (embedding, per_layer, non_embedding) == (128_000, 53_504, 107_072)
    expected = {"total": 235_072, "embedding": 128_000, "non_embedding": 107_072}
    assert count_params(model) == expected
    assert param_counts(model.config) == expected
    # 6·N_nonemb + 6·d·V (head) + 12·L·d·seq (attention)
    assert flops_per_token(model.config) == 6 * 107_072 + 6 * 64 * 1000 + 12 * 2 * 64 * 64


def test_ffn_hidden_follows_open_lm_rule():
    assert swiglu_hidden(1024) == 2816  # DCLM 411M: int(2730.67) -> next multiple of 256
    assert swiglu_hidden(2048) == 5632
    assert swiglu_hidden(96, 32) == 256
    assert OpenLMConfig(d_model=64, n_heads=4, ffn_hidden=100).ffn_hidden == 100


def test_from_scale_rejects_unknown_keys():
    with pytest.raises(ValueError, match="did you mean n_layers"):
        OpenLMConfig.from_scale({**SMALL, "n_layer": 3})


def test_causal_earlier_logits_ignore_later_tokens():
    model = make_model()
    x = torch.randint(0, 1000, (2, 20))
    y = x.clone()
    y[:, 12:] = torch.randint(0, 1000, (2, 8))
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    assert torch.equal(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_save_pretrained_roundtrip_through_auto_classes(tmp_path):
    model = make_model(z_loss=1e-4)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "winnow_openlm"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is OpenLMForCausalLM
    assert loaded.config.z_loss == 1e-4 and loaded.config.ffn_hidden == model.config.ffn_hidden
    x = torch.randint(0, 1000, (2, 16))
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)


def test_z_loss_adds_exactly_z_mean_lse_squared():
    x = torch.randint(0, 1000, (2, 24))
    plain = make_model(z_loss=0.0)(x, labels=x)
    z = 1e-2
    with_z = make_model(z_loss=z)(x, labels=x)  # same seed -> same weights
    lse = torch.logsumexp(with_z.logits[:, :-1].double(), dim=-1)
    assert torch.equal(plain.loss, plain.ce_loss)
    assert torch.allclose(with_z.ce_loss, plain.ce_loss)
    torch.testing.assert_close((with_z.loss - with_z.ce_loss).double(), z * lse.square().mean(), rtol=1e-5, atol=0)
    # the plain CE is the standard shifted cross-entropy
    ref = F.cross_entropy(plain.logits[:, :-1].reshape(-1, 1000), x[:, 1:].reshape(-1))
    torch.testing.assert_close(plain.ce_loss, ref)


def test_loss_ignores_minus_100_labels():
    logits = torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    targets[0, 1] = targets[1, 4] = -100
    loss, ce = lm_loss(logits, targets, z_loss=0.0)
    torch.testing.assert_close(ce, F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1), ignore_index=-100))


def test_greedy_generate_is_argmax_continuation():
    model = make_model()
    prompt = torch.randint(1, 1000, (2, 6))
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=5, do_sample=False)
    seq = prompt
    with torch.no_grad():
        for _ in range(5):
            seq = torch.cat([seq, model(seq).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert out.shape == (2, 11)
    assert torch.equal(out, seq)
    # lm-eval asks for use_cache=True; there is no cache, and the answer must not change
    cached = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=5, do_sample=False,
                            use_cache=True)
    assert torch.equal(cached, seq)
    # a left-padded row generates what it generates alone
    padded = torch.cat([torch.zeros(1, 2, dtype=torch.long), prompt[:1]], dim=1)
    mask = torch.cat([torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 6, dtype=torch.long)], dim=1)
    left = model.generate(padded, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert torch.equal(left[0, 2:], seq[0])


def test_padding_right_and_left_score_like_unpadded():
    model = make_model()
    x = torch.randint(1, 1000, (1, 9))
    with torch.no_grad():
        ref = model(x).logits[0]
        pad = torch.zeros(1, 3, dtype=torch.long)
        ones, zeros = torch.ones(1, 9, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)
        right = model(torch.cat([x, pad], 1), attention_mask=torch.cat([ones, zeros], 1)).logits[0, :9]
        left = model(torch.cat([pad, x], 1), attention_mask=torch.cat([zeros, ones], 1)).logits[0, 3:]
    torch.testing.assert_close(right, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(left, ref, rtol=1e-4, atol=1e-4)
    assert torch.isfinite(model(torch.cat([pad, x], 1), attention_mask=torch.cat([zeros, ones], 1)).logits).all()


def test_init_statistics_match_open_lm():
    torch.manual_seed(0)
    d, v, layers = 256, 4096, 2
    cfg = OpenLMConfig(vocab_size=v, d_model=d, n_layers=layers, n_heads=4, seq_len=32)
    model = OpenLMForCausalLM(cfg)
    h = cfg.ffn_hidden
    sigma = 1 / math.sqrt(d)
    checks = {
        "tok_embeddings": (model.tok_embeddings.weight, sigma),
        "output": (model.output.weight, sigma),
        "in_proj": (model.layers[1].attention.in_proj.weight, sigma),
        "w12": (model.layers[1].feed_forward.w12.weight, sigma),
        "out_proj (layer 1)": (model.layers[1].attention.out_proj.weight, sigma / math.sqrt(2 * 2)),
        "w3 (layer 1)": (model.layers[1].feed_forward.w3.weight, 1 / math.sqrt(h) / math.sqrt(2 * 2)),
    }
    for name, (w, std) in checks.items():
        assert abs(w.std().item() / std - 1) < 0.10, name
        assert w.abs().max().item() <= 3 * std + 1e-6, f"{name} is not truncated at 3 sigma"
    for name, p in model.named_parameters():
        if p.ndim == 1:
            assert torch.equal(p, torch.ones_like(p)), name
    assert not any("bias" in n for n, _ in model.named_parameters())


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    model = OpenLMForCausalLM(OpenLMConfig.from_scale(SMALL)).train()
    x = torch.randint(0, 1000, (2, 16))
    model(x, labels=x).loss.backward()
    plain = model.layers[0].attention.in_proj.weight.grad.clone()
    model.zero_grad()
    # transformers 5 renamed the switch (the old name warns); 4.x only has the old one
    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    assert model.gradient_checkpointing
    model(x, labels=x).loss.backward()
    torch.testing.assert_close(model.layers[0].attention.in_proj.weight.grad, plain)


def test_loss_backward_passes_gradcheck():
    logits = torch.randn(6, 7, dtype=torch.double, requires_grad=True)
    targets = torch.tensor([1, 2, -100, 3, 4, 0])
    # both outputs (loss with z-loss, plain ce) get checked gradients
    assert torch.autograd.gradcheck(lambda x: lm_loss(x.unsqueeze(0), targets.unsqueeze(0), 0.1), (logits,))


def test_plain_loss_matches_the_hand_written_one():
    """lm_loss_plain (what torch.compile fuses) gives lm_loss's value and gradient, ignored
    positions and z-loss included."""
    from winnow.train.model import lm_loss, lm_loss_plain

    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11, dtype=torch.float64)
    targets = torch.randint(0, 11, (3, 5))
    targets[0, :2] = -100
    for z in (0.0, 1e-2):
        a = logits.clone().requires_grad_(True)
        b = logits.clone().requires_grad_(True)
        (la, ca), (lb, cb) = lm_loss(a, targets, z), lm_loss_plain(b, targets, z)
        assert torch.allclose(la, lb, atol=1e-12) and torch.allclose(ca, cb, atol=1e-12)
        (la + ca).backward()
        (lb + cb).backward()
        assert torch.allclose(a.grad, b.grad, atol=1e-12)
