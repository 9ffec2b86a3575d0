"""Independent float64 NumPy reference of rope-spec.md (written for the tests)."""
import numpy as np


def inv_freq_from_base(dims, base):
    return base ** (-2.0 * np.arange(dims // 2, dtype=np.float64) / dims)


def rope_ref(x, *, dims=None, traditional=False, base=10000.0, inv_freq=None, scale=1.0, positions=None,
             inverse=False, attention_factor=1.0, seq_axis=-2, pair_position_stream=None):
    """x: float array (B, *heads, T, D) or (B, T, *heads, D) (seq_axis=-3).
    positions: (B, T) integer positions of each token (or (S, B, T) with pair_position_stream)."""
    x = np.asarray(x, dtype=np.float64)
    if seq_axis == -3:
        x = np.moveaxis(x, 1, -2)
    B, T, D = x.shape[0], x.shape[-2], x.shape[-1]
    dims = D if dims is None else dims
    inv = inv_freq_from_base(dims, base) if inv_freq is None else np.asarray(inv_freq, np.float64)
    pos = np.asarray(positions, dtype=np.float64) * scale
    if pair_position_stream is None:
        theta = pos[..., None] * inv  # (B, T, pairs)
    else:
        ps = np.asarray(pair_position_stream)
        theta = np.stack([pos[ps[j]] * inv[j] for j in range(len(inv))], axis=-1)
    nh = x.ndim - 3
    theta = theta.reshape((B,) + (1,) * nh + (T, dims // 2))
    c, s = np.cos(theta) * attention_factor, np.sin(theta) * attention_factor
    if inverse:
        s = -s
    y = x.copy()
    if traditional:
        x1, x2 = x[..., 0:dims:2], x[..., 1:dims:2]
        y[..., 0:dims:2] = x1 * c - x2 * s
        y[..., 1:dims:2] = x1 * s + x2 * c
    else:
        h = dims // 2
        x1, x2 = x[..., :h], x[..., h:dims]
        y[..., :h] = x1 * c - x2 * s
        y[..., h:dims] = x1 * s + x2 * c
    if seq_axis == -3:
        y = np.moveaxis(y, -2, 1)
    return y


def arange_positions(B, T, offset=0):
    off = np.broadcast_to(np.asarray(offset, dtype=np.int64).reshape(-1), (B,))
    return off[:, None] + np.arange(T)[None, :]
