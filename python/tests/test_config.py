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


def _longrope_config():
    d = 96
    sf, lf = [1.0 + 0.01 * i for i in range(d // 2)], [2.0 + 0.1 * i for i in range(d // 2)]
    return rotary.from_hf_config({"hidden_size": 3072, "num_attention_heads": 32, "rope_theta": 10000.0,
                                  "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
                                  "rope_scaling": {"type": "longrope", "short_factor": sf, "long_factor": lf}})


def _previous_seq_len(x, offset=0, position_ids=None, cu_seqlens=None, starts=None, seq_axis=-2):
    """The length RopeConfig computed in Python before the C++ positions_length (the reference)."""
    if position_ids is not None:
        return int(np.max(np.asarray(position_ids))) + 1
    if cu_seqlens is not None:
        lens = np.diff(np.asarray(cu_seqlens, dtype=np.int64))
        return int(np.max(lens + (0 if starts is None else np.asarray(starts))))
    return int(np.max(np.asarray(offset))) + x.shape[seq_axis]


# Each positions form, once with a short call and once with a prompt longer than
# original_max_position_embeddings (4096): the factor set follows the largest position + 1.
_FORMS = [
    ("offset", (1, 2, 3, 96), {"offset": 4093}), ("offset", (1, 2, 3, 96), {"offset": 4094}),
    ("offset, (B, T, H, D)", (1, 3, 2, 96), {"offset": 4094, "seq_axis": -3}),
    ("offsets", (3, 2, 2, 96), {"offset": np.array([0, 4095, 7], np.int32)}),
    ("offsets", (3, 2, 2, 96), {"offset": np.array([0, 4093, 7], np.int64)}),
    ("ids (T,)", (1, 2, 3, 96), {"position_ids": np.array([0, 5000, 2])}),
    ("ids (B, T)", (2, 2, 3, 96), {"position_ids": np.array([[0, 1, 2], [4093, 4094, 4095]])}),
    ("ids (B, T)", (2, 2, 3, 96), {"position_ids": np.array([[0, 1, 2], [4094, 4095, 4096]])}),
    ("ragged", (7, 2, 96), {"cu_seqlens": np.array([0, 3, 7]), "starts": np.array([4093, 0])}),
    ("ragged", (7, 2, 96), {"cu_seqlens": np.array([0, 3, 7]), "starts": np.array([4094, 0])}),
    ("ragged, no starts", (7, 2, 96), {"cu_seqlens": np.array([0, 3, 7])}),
]


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("form,shape,positions", _FORMS, ids=[f[0] for f in _FORMS])
def test_longrope_factor_set_per_positions_form(form, shape, positions, framework):
    c = _longrope_config()
    x = np.random.default_rng(1).standard_normal(shape)
    length = _previous_seq_len(x, **positions)
    short, long = c.frequencies(100), c.frequencies(5000)
    want = long if length > 4096 else short
    if framework == "torch":
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(x)
        positions = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in positions.items()}
    got = np.asarray(c.rope(x, **positions))
    np.testing.assert_array_equal(got, np.asarray(rotary.rope(x, freqs=want, dims=c.dims, **positions)))
    other = long if want is short else short  # the two sets differ here: the test can fail
    assert not np.array_equal(got, np.asarray(rotary.rope(x, freqs=other, dims=c.dims, **positions)))


def test_positions_length_of_multi_axis_ids():
    from rotary import _call
    x = np.zeros((1, 2, 4, 64))
    ids = np.array([[0, 1, 2, 3], [0, 0, 9, 1], [0, 1, 0, 30]])  # M-RoPE (3, T): the width stream reaches 30
    call = _call.make_call(x, position_ids=ids)
    assert _call.positions_length(x, call, -2) == _previous_seq_len(x, position_ids=ids) == 31


def test_dynamic_depends_on_length():
    c = rotary.from_hf_config({"hidden_size": 512, "num_attention_heads": 8, "max_position_embeddings": 100,
                               "rope_scaling": {"type": "dynamic", "factor": 2.0}})
    np.testing.assert_allclose(c.frequencies(50).inv_freq, inv(64, 1e4))
    L = 300
    b2 = 1e4 * (2.0 * L / 100 - 1.0) ** (64 / 62)
    np.testing.assert_allclose(c.frequencies(L).inv_freq, inv(64, b2), rtol=1e-12)
    # Per call, from the largest position + 1 (offset 290 + T 10 = 300).
    x = np.random.default_rng(2).standard_normal((1, 1, 10, 64))
    np.testing.assert_array_equal(c.rope(x, offset=290), rotary.rope(x, freqs=c.frequencies(L), offset=290))


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
