"""Zero copy: strided inputs, out=, in place, the caller's memory read and written directly."""
import numpy as np
import pytest
import torch

import rotary
from reference import arange_positions, rope_ref

rng = np.random.default_rng(1)


def test_out_numpy_is_written_and_returned():
    x = rng.standard_normal((2, 3, 4, 8)).astype(np.float32)
    out = np.zeros_like(x)
    ptr = out.ctypes.data
    r = rotary.rope(x, offset=2, out=out)
    assert r is out and out.ctypes.data == ptr
    np.testing.assert_allclose(out, rope_ref(x, positions=arange_positions(2, 4, 2)), atol=1e-5)


def test_out_strided_view_numpy():
    x = rng.standard_normal((2, 3, 4, 8))
    big = np.zeros((2, 3, 4, 16))
    view = big[..., ::2]  # a strided output
    rotary.rope(x, out=view)
    np.testing.assert_allclose(big[..., ::2], rope_ref(x, positions=arange_positions(2, 4)), atol=1e-12)
    assert np.all(big[..., 1::2] == 0)


def test_inplace_numpy_modifies_callers_array():
    x = rng.standard_normal((2, 3, 4, 8))
    orig = x.copy()
    ptr = x.ctypes.data
    r = rotary.rope(x, offset=1, inplace=True)
    assert r is x and x.ctypes.data == ptr
    np.testing.assert_allclose(x, rope_ref(orig, positions=arange_positions(2, 4, 1)), atol=1e-12)


def test_inplace_torch_same_storage_and_version_bump():
    x = torch.randn(2, 4, 3, 16)
    orig = x.clone()
    ptr = x.data_ptr()
    r = rotary.rope(x, inplace=True, offset=4)
    assert r is x and x.data_ptr() == ptr
    torch.testing.assert_close(x, rotary.rope(orig, offset=4))


def test_inplace_qk_slices_of_fused_qkv():
    B, T, H, D = 2, 5, 4, 16
    qkv = torch.randn(B, T, 3, H, D)  # fused projection output, (B, T, 3, H, D)
    base = qkv.clone()
    q, k = qkv[:, :, 0], qkv[:, :, 1]  # non-contiguous (B, T, H, D) views
    assert not q.is_contiguous()
    rotary.rope_qk(q, k, seq_axis=-3, inplace=True, offset=3)
    torch.testing.assert_close(qkv[:, :, 0], rotary.rope(base[:, :, 0].contiguous(), seq_axis=-3, offset=3))
    torch.testing.assert_close(qkv[:, :, 1], rotary.rope(base[:, :, 1].contiguous(), seq_axis=-3, offset=3))
    torch.testing.assert_close(qkv[:, :, 2], base[:, :, 2])  # v untouched


def test_transposed_inputs_numpy_and_torch():
    x = rng.standard_normal((2, 5, 3, 8))  # (B, T, H, D)
    xt = x.transpose(0, 2, 1, 3)  # (B, H, T, D) view
    ref = rope_ref(np.ascontiguousarray(xt), positions=arange_positions(2, 5, 7))
    np.testing.assert_allclose(rotary.rope(xt, offset=7), ref, atol=1e-12)
    tt = torch.from_numpy(x).transpose(1, 2)
    y = rotary.rope(tt, offset=7)
    assert isinstance(y, torch.Tensor)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    # reversed (negative strides) numpy view
    xr = x[:, ::-1]
    np.testing.assert_allclose(rotary.rope(xr, seq_axis=-3),
                               rope_ref(np.ascontiguousarray(xr), seq_axis=-3, positions=arange_positions(2, 5)),
                               atol=1e-12)


def test_strided_feature_axis():
    x = torch.randn(1, 2, 3, 16, dtype=torch.float64)
    v = x[..., ::2]
    torch.testing.assert_close(rotary.rope(v, offset=1), rotary.rope(v.contiguous(), offset=1))


def test_input_not_modified_and_torch_out():
    x = torch.randn(1, 2, 3, 8)
    c = x.clone()
    out = torch.empty_like(x)
    r = rotary.rope(x, out=out)
    assert r is out
    torch.testing.assert_close(x, c, atol=0, rtol=0)


def test_zero_copy_input_via_numpy_shared_with_torch():
    # a torch tensor sharing numpy's memory: rotating it in place changes the numpy array
    a = rng.standard_normal((1, 1, 2, 4)).astype(np.float32)
    before = a.copy()
    rotary.rope(torch.from_numpy(a), inplace=True, offset=3)
    assert not np.array_equal(a, before)
    np.testing.assert_allclose(a, rope_ref(before, positions=arange_positions(1, 2, 3)), atol=1e-6)


def test_overlapping_out_refused():
    x = np.zeros((1, 1, 4, 8))
    with pytest.raises(ValueError, match="out overlaps x"):
        rotary.rope(x[..., :6], out=x[..., 2:], dims=6)
    ro = np.zeros((1, 1, 4, 8))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        rotary.rope(x, out=ro)
    with pytest.raises(TypeError, match="same framework"):
        rotary.rope(x, out=torch.zeros(1, 1, 4, 8, dtype=torch.float64))
