"""rotary with PyTorch tensors against a pure-PyTorch implementation of Hugging Face's formulas."""
import math

import numpy as np
import pytest
import torch

import rotary
import rotary.torch as rtorch

torch.manual_seed(0)


# ---- Hugging Face's formulas (transformers' modeling_llama / modeling_gptj), written here ----
def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotate_every_two(x):
    x1 = x[:, :, :, ::2]
    x2 = x[:, :, :, 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def hf_cos_sin(inv_freq, position_ids, dtype, attention_scaling=1.0, angle_dtype=torch.float32):
    # LlamaRotaryEmbedding.forward: float32 outer product, cat(freqs, freqs), cos/sin * scaling
    # (angle_dtype=float64: the same formula with exact angles, for the accurate mode)
    inv = torch.as_tensor(inv_freq, dtype=angle_dtype)
    inv_expanded = inv[None, :, None].expand(position_ids.shape[0], -1, 1)
    pos_expanded = position_ids[:, None, :].to(angle_dtype)
    freqs = (inv_expanded @ pos_expanded).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * attention_scaling).to(dtype), (emb.sin() * attention_scaling).to(dtype)


def hf_apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def hf_partial(q, k, cos, sin, rot):
    q_rot, q_pass = q[..., :rot], q[..., rot:]
    k_rot, k_pass = k[..., :rot], k[..., rot:]
    q_e, k_e = hf_apply_rotary_pos_emb(q_rot, k_rot, cos, sin)
    return torch.cat((q_e, q_pass), -1), torch.cat((k_e, k_pass), -1)


def inv_freq(dims, base, dtype=torch.float64):
    # HF computes this in float32; rotary builds frequencies in double (use dtype=float32 for HF's
    # exact values, which rotary accepts through inv_freq=).
    return 1.0 / (base ** (torch.arange(0, dims, 2, dtype=torch.int64).to(dtype) / dims))


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,precision,atol", [
    (torch.float32, "compat", 1e-5),      # HF's float32 angles, bit-level parity mode
    (torch.float32, "accurate", 2e-5),    # exact angles: differs by HF's angle rounding
    (torch.float64, "accurate", 1e-12),   # float64: HF's formula with double angles
])
def test_llama_style_matches_hf(dtype, precision, atol):
    B, Hq, Hk, T, D = 2, 8, 2, 11, 64
    q, k = torch.randn(B, Hq, T, D, dtype=dtype), torch.randn(B, Hk, T, D, dtype=dtype)
    pos = torch.stack([torch.arange(T), torch.arange(T) + 100])
    cos, sin = hf_cos_sin(inv_freq(D, 10000.0).double(), pos, dtype,
                          angle_dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    q_ref, k_ref = hf_apply_rotary_pos_emb(q, k, cos, sin)
    q_r, k_r = rotary.rope_qk(q, k, position_ids=pos, precision=precision)
    assert q_r.dtype == dtype and isinstance(q_r, torch.Tensor)
    torch.testing.assert_close(q_r, q_ref, atol=atol, rtol=0)
    torch.testing.assert_close(k_r, k_ref, atol=atol, rtol=0)


def test_apply_rotary_pos_emb_drop_in_llama3_config():
    cfg = {"hidden_size": 512, "num_attention_heads": 8, "num_key_value_heads": 2, "rope_theta": 500000.0,
           "max_position_embeddings": 131072,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    D = 64
    q, k = torch.randn(1, 8, 6, D), torch.randn(1, 2, 6, D)
    pos = torch.tensor([[0, 1, 2, 3, 4000, 9000]])
    rc = rotary.from_hf_config(cfg)
    # HF's llama3 inv_freq, written out here
    inv = inv_freq(D, 500000.0)
    wl = 2 * math.pi / inv
    lo, hi = 8192 / 1.0, 8192 / 4.0
    smooth = (8192 / wl - 1.0) / (4.0 - 1.0)
    scaled = torch.where(wl > lo, inv / 8.0, inv)
    mid = ~(wl < hi) & ~(wl > lo)
    scaled = torch.where(mid, (1 - smooth) * scaled / 8.0 + smooth * scaled, scaled)
    np.testing.assert_allclose(rc.inv_freq, scaled.numpy(), rtol=1e-6)
    cos, sin = hf_cos_sin(scaled.float(), pos, torch.float32)
    q_ref, k_ref = hf_apply_rotary_pos_emb(q, k, cos, sin)
    # compat: HF's float32 angles (at position 9000 they are off by ~5e-4 rad from exact)
    q_r, k_r = rtorch.apply_rotary_pos_emb(q, k, pos, rc, precision="compat")
    torch.testing.assert_close(q_r, q_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(k_r, k_ref, atol=1e-5, rtol=0)
    # accurate (default): against the same formula with exact angles
    cos64, sin64 = hf_cos_sin(scaled, pos, torch.float64, angle_dtype=torch.float64)
    q_ex, _ = hf_apply_rotary_pos_emb(q.double(), k.double(), cos64, sin64)
    q_a, _ = rtorch.apply_rotary_pos_emb(q, k, pos, rc)
    torch.testing.assert_close(q_a.double(), q_ex, atol=2e-6, rtol=0)
    q_d, k_d = rtorch.apply_rotary_pos_emb(q, k, pos, cfg, precision="compat")  # a dict works too
    torch.testing.assert_close(q_d, q_r, atol=0, rtol=0)


def test_apply_rotary_pos_emb_bthd_layout_and_yarn_attention_factor():
    cfg = {"hidden_size": 256, "num_attention_heads": 4, "rope_theta": 10000.0, "max_position_embeddings": 16384,
           "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}}
    rc = rotary.from_hf_config(cfg)
    af = 0.1 * math.log(4.0) + 1.0
    assert rc.attention_factor == pytest.approx(af)
    q, k = torch.randn(2, 5, 4, 64), torch.randn(2, 5, 4, 64)  # (B, T, H, D)
    pos = torch.arange(5)[None].expand(2, 5)
    cos, sin = hf_cos_sin(torch.tensor(rc.inv_freq, dtype=torch.float32), pos, torch.float32, af)
    q_ref, k_ref = hf_apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)
    q_r, k_r = rtorch.apply_rotary_pos_emb(q, k, pos, rc, unsqueeze_dim=2)
    torch.testing.assert_close(q_r, q_ref, atol=2e-5, rtol=0)
    torch.testing.assert_close(k_r, k_ref, atol=2e-5, rtol=0)


def test_partial_rotary_neox_and_gptj_interleaved():
    # GPT-NeoX: rotary_pct 0.25 of head 64 -> 16 rotated, half-split
    cfg = {"hidden_size": 256, "num_attention_heads": 4, "rotary_pct": 0.25, "rotary_emb_base": 10000,
           "max_position_embeddings": 2048, "model_type": "gpt_neox"}
    rc = rotary.from_hf_config(cfg)
    assert rc.dims == 16 and rc.head_dim == 64
    q, k = torch.randn(1, 4, 7, 64), torch.randn(1, 4, 7, 64)
    pos = torch.arange(7)[None]
    cos, sin = hf_cos_sin(inv_freq(16, 10000.0), pos, torch.float32)
    q_ref, k_ref = hf_partial(q, k, cos, sin, 16)
    q_r, k_r = rtorch.apply_rotary_pos_emb(q, k, pos, rc)
    torch.testing.assert_close(q_r, q_ref, atol=2e-5, rtol=0)
    torch.testing.assert_close(k_r, k_ref, atol=2e-5, rtol=0)
    # GPT-J: rotate_every_two on the first rotary_dim features, (B, T, H, D) layout
    x = torch.randn(1, 7, 4, 64)
    rot = 16
    freqs = torch.einsum("i,j->ij", torch.arange(7).float(), inv_freq(rot, 10000.0).float())
    sin = torch.repeat_interleave(freqs.sin()[None, :, None, :], 2, 3)
    cos = torch.repeat_interleave(freqs.cos()[None, :, None, :], 2, 3)
    x_rot = x[..., :rot]
    ref = torch.cat([x_rot * cos + rotate_every_two(x_rot) * sin, x[..., rot:]], -1)
    gptj = rotary.from_hf_config({"n_embd": 256, "n_head": 4, "rotary_dim": 16, "model_type": "gptj"})
    assert gptj.traditional and gptj.dims == 16
    torch.testing.assert_close(gptj.rope(x, seq_axis=-3), ref, atol=2e-5, rtol=0)


def test_bf16_and_f16_match_hf_within_rounding():
    q = torch.randn(2, 4, 9, 128)
    pos = torch.arange(9)[None].expand(2, 9) + 30
    cos, sin = hf_cos_sin(inv_freq(128, 10000.0), pos, torch.float64)
    for dt, ulp in ((torch.bfloat16, 2 ** -7), (torch.float16, 2 ** -10)):
        ref, _ = hf_apply_rotary_pos_emb(q.to(dt).double(), q.double(), cos.double(), sin.double())
        y = rotary.rope(q.to(dt), position_ids=pos)
        assert y.dtype == dt
        err = (y.double() - ref).abs() / ref.abs().clamp_min(1.0)
        assert err.max().item() <= ulp  # one ulp (result rounded once)


def test_mrope_matches_qwen2vl_formula():
    D, sec = 16, [2, 3, 3]
    q = torch.randn(1, 2, 5, D)
    ids = torch.randint(0, 40, (3, 1, 5))
    inv = inv_freq(D, 10000.0)
    # Qwen2-VL: cos per stream, then sections picked from each stream over cat(freqs, freqs)
    freqs = ids[..., None].float() * inv.float()  # (3, B, T, D/2)
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    split = sec * 2
    cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(split, dim=-1))], -1).unsqueeze(1)
    sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(split, dim=-1))], -1).unsqueeze(1)
    ref = q * cos + rotate_half(q) * sin
    cfg = {"hidden_size": 64, "num_attention_heads": 4, "rope_theta": 10000.0, "max_position_embeddings": 32768,
           "rope_scaling": {"type": "mrope", "mrope_section": sec}}
    got = rotary.from_hf_config(cfg).rope(q, position_ids=ids)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=0)


def test_compat_with_hf_float32_inv_freq_at_long_positions():
    # HF's own float32 inv_freq passed through inv_freq=, compat precision: HF's numerics
    D = 128
    q = torch.randn(1, 4, 5, D)
    pos = torch.tensor([[0, 1000, 9000, 30000, 100000]])
    inv32 = inv_freq(D, 10000.0, torch.float32)
    cos, sin = hf_cos_sin(inv32, pos, torch.float32)
    ref, _ = hf_apply_rotary_pos_emb(q, q, cos, sin)
    got = rotary.rope(q, inv_freq=inv32, position_ids=pos, precision="compat")
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
