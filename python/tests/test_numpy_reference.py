"""rotary against an independent float64 NumPy reference and the C++ float64 oracle."""
import numpy as np
import pytest

import rotary
from rotary import _core
from reference import arange_positions, inv_freq_from_base, rope_ref

rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("dims", [16, 8])
@pytest.mark.parametrize("offset", [0, 5, -3])
def test_fast_rope_matches_reference(traditional, dims, offset):
    x = randn(2, 3, 7, 16)
    y = rotary.fast.rope(x, dims, traditional=traditional, base=10000.0, scale=1.0, offset=offset)
    ref = rope_ref(x, dims=dims, traditional=traditional, positions=arange_positions(2, 7, offset))
    assert isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)


def test_fast_rope_array_offset_scale_and_freqs():
    x = randn(3, 2, 5, 8)
    off = np.array([0, 7, 100], dtype=np.int32)
    periods = np.array([1.0, 3.0, 10.0, 1000.0])
    y = rotary.fast.rope(x, 8, traditional=False, base=None, scale=0.5, offset=off, freqs=periods)
    ref = rope_ref(x, inv_freq=1 / periods, scale=0.5, positions=arange_positions(3, 5, off))
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_int64_offset_full_width():
    x = randn(1, 1, 2, 4)
    big = np.array(2**32 + 5, dtype=np.int64)
    y = rotary.fast.rope(x, 4, traditional=False, base=10000.0, scale=1.0, offset=big)
    ref = rope_ref(x, positions=arange_positions(1, 2, 2**32 + 5))
    np.testing.assert_allclose(y, ref, atol=1e-9)
    assert not np.allclose(y, rope_ref(x, positions=arange_positions(1, 2, 5)))


def test_rope_vjp_is_inverse():
    x = randn(2, 2, 6, 8)
    kw = dict(traditional=True, base=500.0, scale=1.0, offset=3)
    y = rotary.fast.rope(x, 8, **kw)
    np.testing.assert_allclose(rotary.fast.rope_vjp(y, 8, **kw), x, atol=1e-12)


def test_decode_single_token_batch_rows_all_rotated():
    # regression: T == 1 and B > 1 must rotate every row
    x = randn(4, 2, 1, 8)
    off = np.array([1, 2, 3, 4])
    y = rotary.fast.rope(x, 8, traditional=False, base=10000.0, scale=1.0, offset=off)
    np.testing.assert_allclose(y, rope_ref(x, positions=arange_positions(4, 1, off)), atol=1e-12)


def test_nn_rope():
    r = rotary.nn.RoPE(8, traditional=True, base=1000, scale=2.0)
    assert repr(r) == "RoPE(8, traditional=True, base=1000, scale=2.0)"
    assert repr(rotary.nn.RoPE(64)) == "RoPE(64, traditional=False, base=10000, scale=1.0)"
    x = randn(2, 4, 8)  # (B, T, D): one head
    np.testing.assert_allclose(
        r(x, offset=2),
        rope_ref(x, traditional=True, base=1000, scale=2.0, positions=arange_positions(2, 4, 2)),
        atol=1e-12,
    )
    np.testing.assert_allclose(r(x, np.array([1, 2])), rope_ref(
        x, traditional=True, base=1000, scale=2.0, positions=arange_positions(2, 4, [1, 2])), atol=1e-12)


@pytest.mark.parametrize("ids_shape", ["T", "BT"])
def test_position_ids(ids_shape):
    x = randn(2, 3, 5, 8)
    ids = rng.integers(0, 1000, size=(2, 5))
    if ids_shape == "T":
        ids = ids[0]
    y = rotary.rope(x, position_ids=ids.tolist() if ids_shape == "T" else ids)
    np.testing.assert_allclose(y, rope_ref(x, positions=np.broadcast_to(ids, (2, 5))), atol=1e-12)


def test_seq_axis_minus_3():
    x = randn(2, 5, 3, 8)  # (B, T, H, D)
    y = rotary.rope(x, seq_axis=-3, offset=4, traditional=True)
    np.testing.assert_allclose(
        y, rope_ref(x, seq_axis=-3, traditional=True, positions=arange_positions(2, 5, 4)), atol=1e-12)


def test_ragged():
    x = randn(9, 2, 8)  # 3 packed sequences of lengths 2, 4, 3
    cu = np.array([0, 2, 6, 9], dtype=np.int32)
    starts = np.array([10, 0, 5])
    y = rotary.rope(x, cu_seqlens=cu, starts=starts)
    pos = np.concatenate([np.arange(2) + 10, np.arange(4), np.arange(3) + 5])
    ref = rope_ref(x.transpose(1, 0, 2)[None], positions=pos[None])[0].transpose(1, 0, 2)
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_inv_freq_attention_factor_partial_inverse():
    x = randn(1, 2, 6, 12)
    inv = np.array([1.0, 0.1, 0.01, 0.001])
    y = rotary.rope(x, dims=8, inv_freq=inv, attention_factor=1.25, offset=1, inverse=True)
    ref = rope_ref(x, dims=8, inv_freq=inv, attention_factor=1.25, positions=arange_positions(1, 6, 1),
                   inverse=True)
    np.testing.assert_allclose(y, ref, atol=1e-12)
    np.testing.assert_array_equal(y[..., 8:], x[..., 8:])  # pass-through


def test_frequencies_object_and_mrope():
    x = randn(1, 2, 4, 16)
    f = rotary.Frequencies.from_base(16, 10000.0)
    ids = rng.integers(0, 50, size=(3, 1, 4))
    y = rotary.rope(x, freqs=f, position_ids=ids, mrope_section=[2, 3, 3])
    ps = [0] * 2 + [1] * 3 + [2] * 3
    np.testing.assert_allclose(y, rope_ref(x, positions=ids, pair_position_stream=ps), atol=1e-12)
    # text tokens: three equal streams reduce to plain RoPE
    same = np.broadcast_to(np.arange(4), (3, 1, 4))
    np.testing.assert_allclose(rotary.rope(x, position_ids=same, mrope_section=[2, 3, 3]),
                               rotary.rope(x), atol=1e-12)


@pytest.mark.parametrize("kw", [
    dict(offset=3),
    dict(offset=3, traditional=True, dims=8, inverse=True),
    dict(position_ids=np.array([[5, 1, 2, 9, 4], [0, 0, 1, 1, 2]])),
    dict(inv_freq=[0.5, 0.25, 0.125, 0.0625, 0.03, 0.01], scale=0.25, attention_factor=0.9),
    dict(offset=2**20, precision="compat"),
    dict(offset=2**20, precision="accurate"),
])
def test_matches_cpp_oracle(kw):
    x = randn(2, 3, 5, 12, dtype=np.float32)
    y = rotary.rope(x, **kw)
    o = _core.oracle(x, **kw)
    assert o.dtype == np.float64
    np.testing.assert_allclose(y, o, rtol=0, atol=4e-6)


def test_precision_setting():
    x = randn(1, 1, 4, 8, dtype=np.float32)
    assert rotary.default_precision() == "accurate"
    a = rotary.rope(x, offset=2**22)
    rotary.set_default_precision("compat")
    try:
        assert rotary.default_precision() == "compat"
        c = rotary.rope(x, offset=2**22)
        np.testing.assert_array_equal(c, rotary.rope(x, offset=2**22, precision="compat"))
    finally:
        rotary.set_default_precision("accurate")
    np.testing.assert_array_equal(a, rotary.rope(x, offset=2**22, precision="accurate"))
    with pytest.raises(ValueError, match="precision"):
        rotary.set_default_precision("fast")


def test_num_threads():
    n = rotary.num_threads()
    rotary.set_num_threads(1)
    try:
        assert rotary.num_threads() == 1
        x = randn(2, 4, 64, 32)
        np.testing.assert_allclose(rotary.rope(x, offset=1), rope_ref(x, positions=arange_positions(2, 64, 1)),
                                   atol=1e-12)
    finally:
        rotary.set_num_threads(n)


def test_rope_qk_gqa():
    q, k = randn(2, 8, 5, 16), randn(2, 2, 5, 16)
    ids = rng.integers(0, 100, size=(2, 5))
    qo, ko = rotary.rope_qk(q, k, position_ids=ids, base=500000.0)
    np.testing.assert_allclose(qo, rope_ref(q, base=500000.0, positions=ids), atol=1e-12)
    np.testing.assert_allclose(ko, rope_ref(k, base=500000.0, positions=ids), atol=1e-12)


def test_scaling_builders_feed_rope():
    f = rotary.scaling.llama3(16, 500000.0, factor=8.0)
    assert f.pairs == 8 and f.attention_factor == 1.0
    x = randn(1, 1, 3, 16)
    np.testing.assert_allclose(rotary.rope(x, freqs=f, offset=7),
                               rope_ref(x, inv_freq=f.inv_freq, positions=arange_positions(1, 3, 7)), atol=1e-12)
    y = rotary.scaling.yarn(16, 10000.0, factor=4.0, original_max_position_embeddings=4096)
    assert y.attention_factor == pytest.approx(0.1 * np.log(4.0) + 1)
    np.testing.assert_allclose(rotary.scaling.linear(16, 10000.0, 2.0).inv_freq, inv_freq_from_base(16, 1e4) / 2)
