"""dtype round trips: float16, bfloat16 (torch), float32, float64; results within one ulp."""
import numpy as np
import pytest
import torch

import rotary
from rotary import _core

NP = [(np.float16, 2 ** -10), (np.float32, 2 ** -22), (np.float64, 1e-13)]
TORCH = [(torch.float16, 2 ** -10), (torch.bfloat16, 2 ** -7), (torch.float32, 2 ** -22), (torch.float64, 1e-13)]


@pytest.mark.parametrize("dtype,tol", NP)
def test_numpy_dtypes(dtype, tol):
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 32)).astype(dtype)
    for kw in (dict(offset=3), dict(offset=60000, traditional=True), dict(position_ids=np.arange(6) * 1000)):
        y = rotary.rope(x, **kw)
        assert y.dtype == dtype and y.shape == x.shape and isinstance(y, np.ndarray)
        exact = _core.oracle(x, **kw)
        rel = np.abs(y.astype(np.float64) - exact) / np.maximum(np.abs(exact), 1.0)
        assert rel.max() <= tol
    y = rotary.fast.rope(x, 16, traditional=False, base=10000.0, scale=1.0, offset=1)
    assert y.dtype == dtype


@pytest.mark.parametrize("dtype,tol", TORCH)
def test_torch_dtypes(dtype, tol):
    x = torch.randn(2, 3, 6, 32).to(dtype)
    for kw in (dict(offset=3), dict(offset=60000, traditional=True), dict(position_ids=torch.arange(6) * 1000)):
        y = rotary.rope(x, **kw)
        assert y.dtype == dtype and y.shape == x.shape and isinstance(y, torch.Tensor)
        exact = torch.from_numpy(_core.oracle(x, **kw))
        rel = (y.double() - exact).abs() / exact.abs().clamp_min(1.0)
        assert rel.max().item() <= tol
        back = rotary.rope(y, inverse=True, **kw)  # round trip
        assert back.dtype == dtype
        assert (back.double() - x.double()).abs().max().item() <= 8 * tol * 4


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64, np.uint32, np.int16, np.uint8])
def test_index_dtypes(idx_dtype):
    x = np.random.default_rng(3).standard_normal((2, 1, 3, 8))
    ids = np.array([[1, 2, 3], [4, 5, 6]], dtype=idx_dtype)
    np.testing.assert_allclose(rotary.rope(x, position_ids=ids), rotary.rope(x, position_ids=ids.astype(np.int64)))
    t = torch.from_numpy(x)
    np.testing.assert_allclose(rotary.rope(t, position_ids=ids).numpy(), rotary.rope(x, position_ids=ids))
    off = np.array([7, 9], dtype=idx_dtype)
    np.testing.assert_allclose(
        rotary.fast.rope(x, 8, traditional=False, base=1e4, scale=1.0, offset=off),
        rotary.rope(x, offset=off.astype(np.int64)))
    np.testing.assert_allclose(
        rotary.fast.rope(t, 8, traditional=False, base=1e4, scale=1.0, offset=off).numpy(),
        rotary.rope(x, offset=[7, 9]))
