"""MLX's ``mx.fast`` RoPE API: ``rope`` and ``rope_vjp`` with MLX's signature and errors.

Works on NumPy arrays and PyTorch tensors (the result has the input's type). PyTorch
tensors that require grad are differentiated (the gradient is the inverse rotation).
"""

from __future__ import annotations

from . import _core

__all__ = ["rope", "rope_vjp"]


def rope(a, dims, *, traditional, base, scale, offset, freqs=None):
    """Rotary position embedding, as ``mlx.core.fast.rope``.

    a: array (B, *, T, D) (NumPy or PyTorch; float16, float32, float64, bfloat16 with torch).
    dims: the number of leading features to rotate (even); the rest pass through.
    traditional: True for the (2i, 2i+1) pairing, False for (i, i + dims/2).
    base: the base of the frequencies (``None`` when ``freqs`` is given).
    scale: multiplies the positions.
    offset: int, or integer array of shape (), (1,) or (B,): positions are arange(T) + offset.
    freqs: optional array of dims/2 periods (angle = position / freqs[i]); exactly one of
        base and freqs is given.

    Errors are ValueError with MLX's texts, e.g.
    ``[rope] dims must be even but got 3.``
    """
    return _core.fast_rope(a, dims, traditional, base, scale, offset, freqs, False)


def rope_vjp(cotangent, dims, *, traditional, base, scale, offset, freqs=None):
    """The vector-Jacobian product of ``rope`` with respect to its input: the inverse
    rotation of ``cotangent`` with the same angles. Same arguments as ``rope``."""
    return _core.fast_rope(cotangent, dims, traditional, base, scale, offset, freqs, True)
