"""from_hf_config: Hugging Face config keys -> frequencies (checked with float64 formulas here)."""
import math

import numpy as np
import pytest

import rotary


def inv(dims, base):
    return base ** (-np.arange(0, dims, 2, dtype=np.float64) / dims)


def test_default_partial_and_rope_parameters():
    c = rotary.from_hf_config({"hidden_size": 2560, "num_attention_heads": 32, "partial_rotary_factor": 0.4,
                               "rope_theta": 10000.0, "max_position_embeddings": 2048})  # Phi-2
    assert (c.head_dim, c.dims, c.method) == (80, 32, "default")
    np.testing.assert_allclose(c.inv_freq, inv(32, 1e4), rtol=1e-15)
    n = rotary.from_hf_config({"hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 8192,
                               "rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e6}})
    assert n.method == "linear" and n.base == 1e6
    np.testing.assert_allclose(n.inv_freq, inv(128, 1e6) / 4.0, rtol=1e-15)
    g = rotary.from_hf_config({"hidden_size": 3584, "num_attention_heads": 16, "head_dim": 256})  # Gemma 2
    assert g.dims == 256


def test_yarn_mscale_deepseek():
    cfg = {"model_type": "deepseek_v2", "hidden_size": 2048, "num_attention_heads": 16, "qk_rope_head_dim": 64, "rope_theta": 10000,
           "max_position_embeddings": 163840,
           "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                            "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707}}
    c = rotary.from_hf_config(cfg)
    assert c.dims == 64 and c.traditional
    assert c.attention_factor == pytest.approx(1.0)  # gm(f, .707) / gm(f, .707)
    # YaRN inverse frequencies, float64, from rope-scaling.md
    d, base, f, o = 64, 10000.0, 40.0, 4096.0
    pf = base ** (np.arange(0, d, 2) / d)
    cd = lambda r: d * math.log(o / (r * 2 * math.pi)) / (2 * math.log(base))
    lo, hi = max(math.floor(cd(32)), 0), min(math.ceil(cd(1)), d - 1)
    ramp = np.clip((np.arange(d // 2) - lo) / (hi - lo), 0, 1)
    w = 1 - ramp
    expect = (1 / (f * pf)) * (1 - w) + (1 / pf) * w
    np.testing.assert_allclose(c.inv_freq, expect, rtol=1e-12)


def test_longrope_per_call_and_serving_length():
    d = 96
    sf, lf = [1.0 + 0.01 * i for i in range(d // 2)], [2.0 + 0.1 * i for i in range(d // 2)]
    cfg = {"hidden_size": 3072, "num_attention_heads": 32, "rope_theta": 10000.0,
           "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
           "rope_scaling": {"type": "longrope", "short_factor": sf, "long_factor": lf}}
    c = rotary.from_hf_config(cfg)
    af = math.sqrt(1 + math.log(32) / math.log(4096))
    short, long = c.frequencies(100), c.frequencies(5000)
    np.testing.assert_allclose(short.inv_freq, inv(d, 1e4) / np.array(sf), rtol=1e-12)
    np.testing.assert_allclose(long.inv_freq, inv(d, 1e4) / np.array(lf), rtol=1e-12)
    assert short.attention_factor == pytest.approx(af) and long.attention_factor == pytest.approx(af)
    # per call: picked from the largest position
    x = np.random.default_rng(0).standard_normal((1, 1, 2, d))
    np.testing.assert_allclose(c.rope(x, position_ids=[0, 4096]), rotary.rope(x, freqs=long, position_ids=[0, 4096]))
    np.testing.assert_allclose(c.rope(x, position_ids=[0, 4095]), rotary.rope(x, freqs=short, position_ids=[0, 4095]))
    v = rotary.from_hf_config(cfg, longrope_policy="serving_length")
    np.testing.assert_allclose(v.rope(x, offset=0), rotary.rope(x, freqs=long))


def test_dynamic_depends_on_length():
    c = rotary.from_hf_config({"hidden_size": 512, "num_attention_heads": 8, "max_position_embeddings": 100,
                               "rope_scaling": {"type": "dynamic", "factor": 2.0}})
    np.testing.assert_allclose(c.frequencies(50).inv_freq, inv(64, 1e4))
    L = 300
    b2 = 1e4 * (2.0 * L / 100 - 1.0) ** (64 / 62)
    np.testing.assert_allclose(c.frequencies(L).inv_freq, inv(64, b2), rtol=1e-12)


def test_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown RoPE scaling method 'foo'"):
        rotary.from_hf_config({"hidden_size": 64, "num_attention_heads": 1, "rope_scaling": {"type": "foo"}})
    with pytest.raises(ValueError, match="short_factor.* must have (rotated_)?dims/2 = 32"):
        rotary.from_hf_config({"hidden_size": 64, "num_attention_heads": 1, "max_position_embeddings": 10,
                               "original_max_position_embeddings": 5,
                               "rope_scaling": {"type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}})
    with pytest.raises(ValueError, match="missing key '(rope_scaling.)?factor'"):
        rotary.from_hf_config({"hidden_size": 64, "num_attention_heads": 1, "rope_scaling": {"type": "linear"}})
    with pytest.raises(ValueError, match="mrope_section"):
        rotary.from_hf_config({"hidden_size": 64, "num_attention_heads": 1,
                               "rope_scaling": {"type": "mrope", "mrope_section": [1, 2, 3]}})


def test_config_from_path(tmp_path):
    import json
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"hidden_size": 64, "num_attention_heads": 2, "rope_theta": 5.0}))
    c = rotary.from_hf_config(str(p))
    assert c.dims == 32 and c.base == 5.0
    assert "RopeConfig(method='default', head_dim=32" in repr(c)
