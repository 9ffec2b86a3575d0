"""MLX's validation: ValueError with exactly the spec's texts, in the spec's order."""
import re

import numpy as np
import pytest
import torch

import rotary


def frameworks():
    return [
        ("numpy", lambda shape, dt="float32": np.zeros(shape, dtype=dt), lambda v, dt="int32": np.array(v, dtype=dt)),
        ("torch", lambda shape, dt="float32": torch.zeros(shape, dtype=getattr(torch, dt)),
         lambda v, dt="int32": torch.tensor(v, dtype=getattr(torch, dt))),
    ]


def call(x, dims=8, traditional=False, base=10000.0, scale=1.0, offset=0, freqs=None):
    return rotary.fast.rope(x, dims, traditional=traditional, base=base, scale=scale, offset=offset, freqs=freqs)


@pytest.mark.parametrize("name,make,make_off", frameworks())
def test_spec_error_texts(name, make, make_off):
    x = make((2, 3, 4, 8))
    cases = [
        (dict(base=10000.0, freqs=np.ones(4)), "[rope] Only one of base or freqs can have a value."),
        (dict(base=None), "[rope] Neither base nor freqs has a value."),
        (dict(x=make((4, 8))), "[rope] Input must have at least 3 dimensions but got input with 2 dimensions."),
        (dict(x=make((2, 4, 8), "int32")), "[rope] Input must be a floating type but got int32."),
        (dict(offset=make_off([[1, 2]])), "[rope] offset must have at most one dimension but has shape (1,2)."),
        (dict(offset=make_off([1, 2, 3])), "[rope] offset must be a scalar or vector with 2 elements but has shape (3)."),
        (dict(offset=make_off(1.0, "float32")), "[rope] offset must be an integer but got type float32."),
        (dict(dims=0), "[rope] dims must be positive but got 0."),
        (dict(dims=-2), "[rope] dims must be positive but got -2."),
        (dict(dims=7), "[rope] dims must be even but got 7."),
        (dict(dims=10), "[rope] dims must not exceed the input's last dimension (8) but got 10."),
        (dict(base=None, freqs=np.ones(3)), "[rope] freqs must be one dimensional with size 4 but got shape (3)."),
        (dict(base=None, freqs=np.ones((2, 2))), "[rope] freqs must be one dimensional with size 4 but got shape (2,2)."),
    ]
    for kw, text in cases:
        kw = dict(kw)
        xx = kw.pop("x", x)
        with pytest.raises(ValueError, match="^" + re.escape(text) + "$"):
            call(xx, **kw)


def test_error_order():
    # both base and freqs given beats a bad input; ndim beats dtype; offset beats dims
    with pytest.raises(ValueError, match=re.escape("Only one of base or freqs")):
        call(np.zeros((2, 2), dtype=np.int32), base=1.0, freqs=np.ones(4))
    with pytest.raises(ValueError, match=re.escape("at least 3 dimensions")):
        call(np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match=re.escape("offset must be a scalar or vector")):
        call(np.zeros((2, 3, 4, 8)), dims=7, offset=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=re.escape("dims must be even")):
        call(np.zeros((2, 3, 4, 8)), dims=7, base=None, freqs=np.ones(9))
    with pytest.raises(ValueError, match=re.escape("must be an integer but got type float16.")):
        call(np.zeros((2, 3, 4, 8)), offset=np.array([1, 2], dtype=np.float16))
    with pytest.raises(ValueError, match=re.escape("[rope] Input must be a floating type but got int8.")):
        call(torch.zeros(2, 3, 4, 8, dtype=torch.int8))
    with pytest.raises(ValueError, match=re.escape("[rope] Input must be a floating type but got bool.")):
        call(np.zeros((2, 3, 4, 8), dtype=bool))


def test_nn_rope_errors_and_keyword_only():
    with pytest.raises(ValueError, match=re.escape("[rope] dims must not exceed the input's last dimension (8) but got 16.")):
        rotary.nn.RoPE(16)(np.zeros((1, 2, 8), dtype=np.float32))
    with pytest.raises(TypeError):
        rotary.fast.rope(np.zeros((1, 2, 8)), 8, False, 10000.0, 1.0, 0)  # keyword-only after dims
    with pytest.raises(TypeError):
        rotary.fast.rope(np.zeros((1, 2, 8)), 8, traditional=False, base=10000.0, scale=1.0)  # offset required


def test_extended_api_errors():
    x = np.zeros((2, 3, 4, 8))
    with pytest.raises(ValueError, match=re.escape("[rope] position_ids must have shape (4,) or (2,4) but has shape (5).")):
        rotary.rope(x, position_ids=np.arange(5))
    with pytest.raises(ValueError, match=re.escape("[rope] seq_axis must be -2")):
        rotary.rope(x, seq_axis=-1)
    with pytest.raises(ValueError, match=re.escape("[rope] cu_seqlens must end at the number of tokens (4)")):
        rotary.rope(np.zeros((4, 2, 8)), cu_seqlens=[0, 1, 3])
    with pytest.raises(ValueError, match="at most one of offset, position_ids"):
        rotary.rope(x, offset=1, position_ids=np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=re.escape("[rope] q and k must share dtype")):
        rotary.rope_qk(x, np.zeros((2, 3, 5, 8)))
    with pytest.raises(ValueError, match="mrope_section"):
        rotary.rope(x, position_ids=np.zeros((3, 4), dtype=np.int64), mrope_section=[1, 1, 1])
    with pytest.raises(ValueError, match="precision"):
        rotary.rope(x, precision="fast")
    with pytest.raises(TypeError, match="NumPy array, a PyTorch tensor or an MLX array but got list"):
        rotary.rope([[[1.0, 2.0]]])
    with pytest.raises(ValueError, match="requires grad"):
        rotary.rope(torch.zeros(1, 1, 2, 4, requires_grad=True), inplace=True)
