#!/usr/bin/python3
"""Writes tests/data/scaling_expected.json: the inverse frequencies and attention factors that
Hugging Face transformers builds, for every config in tests/data/configs/ and for hand-picked
cases of every scaling method.

This is an independent re-implementation of transformers' modeling_rope_utils.py (the
_compute_*_parameters functions, v4.4x-4.5x) and of the config attributes they read. It does
not share code with rotary. Each case is computed twice:
  - "inv_freq_f32": exactly as transformers does it, in torch float32 (what a model runs with);
  - "inv_freq_f64": the same formulas with float64 tensors (rotary's builders compute in double
    and must agree with this to ~1e-12, and with the float32 list to float32 precision).
The attention factor is a Python float in transformers, so it is exact in both.

Run: /usr/bin/python3 tests/data/make_scaling_expected.py   (needs torch and numpy)
"""
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- transformers' formulas, parameterised by the tensor dtype -------------------------------

def default_inv(base, dim, dt):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dt) / dim))


def linear(base, dim, dt, factor):
    return default_inv(base, dim, dt) / factor, 1.0


def dynamic(base, dim, dt, factor, max_pos, seq_len):
    seq_len = seq_len if seq_len is not None and seq_len > max_pos else max_pos
    base = base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    return default_inv(base, dim, dt), 1.0


def llama3(base, dim, dt, factor, low_freq_factor, high_freq_factor, old_context_len):
    inv_freq = default_inv(base, dim, dt)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama), 1.0


def yarn_get_mscale(scale, mscale=1):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def yarn(base, dim, dt, factor, original, attention_factor=None, mscale=None,
         mscale_all_dim=None, beta_fast=None, beta_slow=None, truncate=True):
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(yarn_get_mscale(factor, mscale) /
                                     yarn_get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = yarn_get_mscale(factor)
    beta_fast = beta_fast or 32
    beta_slow = beta_slow or 1

    def correction_dim(num_rotations):
        return (dim * math.log(original / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=dt) - low) / (high - low), 0, 1)
    extrapolation_factor = 1 - ramp
    pos_freqs = base ** (torch.arange(0, dim, 2).to(dt) / dim)
    inv_extra = 1.0 / pos_freqs
    inv_inter = 1.0 / (factor * pos_freqs)
    inv = inv_inter * (1 - extrapolation_factor) + inv_extra * extrapolation_factor
    return inv, attention_factor


def longrope(base, dim, dt, short_factor, long_factor, original, factor,
             attention_factor=None, seq_len=None):
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(
            1 + math.log(factor) / math.log(original))
    ext = long_factor if seq_len and seq_len > original else short_factor
    ext = torch.tensor(ext, dtype=dt)
    shape = torch.arange(0, dim, 2, dtype=torch.int64).to(dt) / dim
    return 1.0 / (ext * base ** shape), attention_factor


# ---- multi-axis positions: which stream each pair reads, derived by running HF's code ----------

def mrope_pair_stream(section):
    """Qwen2-VL apply_multimodal_rotary_pos_emb on a cos of stream ids; returns the first half."""
    streams = torch.stack([torch.full((2 * sum(section),), float(s)) for s in range(3)])
    parts = streams.split(section * 2, dim=-1)
    picked = torch.cat([m[i % 3] for i, m in enumerate(parts)], dim=-1)
    return [int(v) for v in picked[: sum(section)]]


def interleaved_pair_stream(section):
    """Qwen3-VL apply_interleaved_mrope on freqs of stream ids (shape 3, pairs)."""
    freqs = torch.stack([torch.full((sum(section),), float(s)) for s in range(3)])
    out = freqs[0].clone()
    for d, offset in enumerate((1, 2), start=1):
        idx = slice(offset, section[d] * 3, 3)
        out[idx] = freqs[d, idx]
    return [int(v) for v in out]


def vision_angles(head_dim, theta, h, w):
    """Qwen2-VL VisionRotaryEmbedding(head_dim // 2) at grid cell (h, w): one angle per pair."""
    dv = head_dim // 2
    inv_v = 1.0 / (theta ** (torch.arange(0, dv, 2, dtype=torch.float64) / dv))
    return torch.cat([h * inv_v, w * inv_v]).tolist()


# ---- config attributes as transformers' config classes read them -----------------------------

def resolve(cfg):
    if "text_config" in cfg and "num_attention_heads" not in cfg:
        cfg = cfg["text_config"]
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    base = rope.get("rope_theta", cfg.get("rope_theta", cfg.get("rotary_emb_base", 10000.0)))
    heads = cfg.get("num_attention_heads", cfg.get("n_head"))
    hidden = cfg.get("hidden_size", cfg.get("n_embd"))
    head_dim = cfg.get("qk_rope_head_dim") or cfg.get("head_dim") or hidden // heads
    if "rotary_dim" in cfg:
        dim = cfg["rotary_dim"]
    else:
        pf = rope.get("partial_rotary_factor",
                      cfg.get("partial_rotary_factor", cfg.get("rotary_pct", 1.0)))
        dim = int(head_dim * pf)
    method = rope.get("rope_type", rope.get("type", "default"))
    method = {"su": "longrope", "mrope": "default"}.get(method, method)
    max_pos = cfg.get("max_position_embeddings", cfg.get("n_positions"))
    return cfg, rope, float(base), head_dim, dim, method, max_pos


def hf_config_case(cfg, seq_len, dt):
    cfg, rope, base, head_dim, dim, method, max_pos = resolve(cfg)
    if method == "default":
        return default_inv(base, dim, dt), 1.0
    if method == "linear":
        return linear(base, dim, dt, rope["factor"])
    if method == "dynamic":
        return dynamic(base, dim, dt, rope["factor"], max_pos, seq_len)
    if method == "llama3":
        return llama3(base, dim, dt, rope["factor"], rope["low_freq_factor"],
                      rope["high_freq_factor"], rope["original_max_position_embeddings"])
    if method == "yarn":
        original = rope.get("original_max_position_embeddings") or max_pos
        factor = rope.get("factor") or max_pos / original
        keys = ["attention_factor", "mscale", "mscale_all_dim", "beta_fast", "beta_slow", "truncate"]
        return yarn(base, dim, dt, factor, original, **{k: rope[k] for k in keys if k in rope})
    if method == "longrope":
        original = cfg.get("original_max_position_embeddings",
                           rope.get("original_max_position_embeddings", max_pos))
        factor = rope.get("factor") or max_pos / original
        return longrope(base, dim, dt, rope["short_factor"], rope["long_factor"], original,
                        factor, rope.get("attention_factor"), seq_len)
    raise ValueError(method)


def config_entries():
    out = {}
    folder = os.path.join(HERE, "configs")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            cfg = json.load(f)
        text, rope, base, head_dim, dim, method, max_pos = resolve(cfg)
        lengths = [None]
        if method == "longrope":
            original = text.get("original_max_position_embeddings", max_pos)
            lengths += [original, original + 1]
        entry = {"head_dim": head_dim, "rotated_dims": dim, "base": base, "evaluations": []}
        if "mrope_section" in rope:
            section = rope["mrope_section"]
            entry["pair_stream"] = (interleaved_pair_stream(section) if rope.get("mrope_interleaved")
                                    else mrope_pair_stream(section))
        for seq_len in lengths:
            inv32, att = hf_config_case(cfg, seq_len, torch.float32)
            inv64, att64 = hf_config_case(cfg, seq_len, torch.float64)
            assert att == att64
            entry["evaluations"].append({"seq_len": seq_len, "attention_factor": att,
                                         "inv_freq_f32": inv32.tolist(),
                                         "inv_freq_f64": inv64.tolist()})
        out[name] = entry
    return out


# ---- hand-picked cases per method --------------------------------------------------------------

def boundary_case():
    """Llama 3 with the high-frequency boundary O/hf exactly equal (in float64) to the wavelength
    of pair 2 (dims 8, base 10000: period 100): HF's inclusive test puts it in the smoothed band."""
    inv = default_inv(10000.0, 8, torch.float64)
    wl = float(2 * math.pi / inv[2])
    O = 8192
    hf = O / wl
    assert O / hf == wl, "boundary not exact in float64"
    return {"method": "llama3", "dims": 8, "base": 10000.0,
            "params": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": hf,
                       "original_max_position_embeddings": O}}


CASES = [
    {"method": "default", "dims": 16, "base": 10000.0, "params": {}},
    {"method": "linear", "dims": 16, "base": 10000.0, "params": {"factor": 4.0}},
    {"method": "dynamic", "dims": 16, "base": 10000.0, "seq_len": 2048,
     "params": {"factor": 2.0, "max_position_embeddings": 4096}},
    {"method": "dynamic", "dims": 16, "base": 10000.0, "seq_len": 10000,
     "params": {"factor": 2.0, "max_position_embeddings": 4096}},
    {"method": "llama3", "dims": 128, "base": 500000.0,
     "params": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}},
    boundary_case(),
    {"method": "yarn", "dims": 64, "base": 10000.0,
     "params": {"factor": 16.0, "original_max_position_embeddings": 4096}},
    {"method": "yarn", "dims": 64, "base": 10000.0,
     "params": {"factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 1.0,
                "mscale_all_dim": 0.707}},
    {"method": "yarn", "dims": 64, "base": 10000.0,
     "params": {"factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 0.707}},
    {"method": "yarn", "dims": 64, "base": 10000.0,
     "params": {"factor": 8.0, "original_max_position_embeddings": 2048, "beta_fast": 16.0,
                "beta_slow": 2.0, "truncate": False, "attention_factor": 1.25}},
    {"method": "longrope", "dims": 8, "base": 10000.0, "seq_len": 4096,
     "params": {"short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [2.0, 4.0, 8.0, 16.0],
                "original_max_position_embeddings": 4096, "factor": 32.0}},
    {"method": "longrope", "dims": 8, "base": 10000.0, "seq_len": 4097,
     "params": {"short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [2.0, 4.0, 8.0, 16.0],
                "original_max_position_embeddings": 4096, "factor": 32.0}},
    {"method": "longrope", "dims": 8, "base": 10000.0, "seq_len": 9000,
     "params": {"short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [2.0, 4.0, 8.0, 16.0],
                "original_max_position_embeddings": 4096, "factor": 32.0,
                "attention_factor": 1.5}},
]


def case_entry(case, dt):
    p, base, dim = case["params"], case["base"], case["dims"]
    m = case["method"]
    if m == "default":
        return default_inv(base, dim, dt), 1.0
    if m == "linear":
        return linear(base, dim, dt, p["factor"])
    if m == "dynamic":
        return dynamic(base, dim, dt, p["factor"], p["max_position_embeddings"], case["seq_len"])
    if m == "llama3":
        return llama3(base, dim, dt, p["factor"], p["low_freq_factor"], p["high_freq_factor"],
                      p["original_max_position_embeddings"])
    if m == "yarn":
        rest = {k: v for k, v in p.items() if k not in ("factor", "original_max_position_embeddings")}
        return yarn(base, dim, dt, p["factor"], p["original_max_position_embeddings"], **rest)
    if m == "longrope":
        return longrope(base, dim, dt, p["short_factor"], p["long_factor"],
                        p["original_max_position_embeddings"], p["factor"],
                        p.get("attention_factor"), case["seq_len"])
    raise ValueError(m)


def main():
    cases = []
    for case in CASES:
        inv32, att = case_entry(case, torch.float32)
        inv64, _ = case_entry(case, torch.float64)
        cases.append(dict(case, attention_factor=att, inv_freq_f32=inv32.tolist(),
                          inv_freq_f64=inv64.tolist()))
    multi_axis = {
        "mrope": [{"section": s, "interleaved": False, "pair_stream": mrope_pair_stream(s)}
                  for s in ([16, 24, 24], [2, 1, 1])] +
                 [{"section": s, "interleaved": True, "pair_stream": interleaved_pair_stream(s)}
                  for s in ([24, 20, 20], [2, 1, 1])],
        "vision": {"head_dim": 80, "theta": 10000.0, "h": 3, "w": 5,
                   "angles": vision_angles(80, 10000.0, 3, 5)},
    }
    out = {"generator": "tests/data/make_scaling_expected.py", "configs": config_entries(),
           "cases": cases, "multi_axis": multi_axis}
    with open(os.path.join(HERE, "scaling_expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
