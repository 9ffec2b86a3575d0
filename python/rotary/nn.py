"""MLX's ``mlx.nn.RoPE`` module."""

from __future__ import annotations

from . import fast

__all__ = ["RoPE"]


class RoPE:
    """Rotary position embedding with fixed settings, as ``mlx.nn.RoPE``.

    Args:
        dims: the number of leading features of the last axis to rotate.
        traditional: True for the (2i, 2i+1) pairing, False (default) for (i, i + dims/2).
        base: the base of the frequencies (rope_theta).
        scale: multiplies the positions.

    ``rope(x, offset=0)`` rotates x (B, *, T, D) at positions arange(T) + offset; typical use
    with a KV cache: ``q = rope(q, offset=cache.offset); k = rope(k, offset=cache.offset)``.
    """

    def __init__(self, dims: int, traditional: bool = False, base: float = 10000, scale: float = 1.0):
        self.dims = dims
        self.traditional = traditional
        self.base = base
        self.scale = scale

    def __call__(self, x, offset=0):
        return fast.rope(
            x, self.dims, traditional=self.traditional, base=self.base, scale=self.scale, offset=offset
        )

    def _extra_repr(self) -> str:
        return f"{self.dims}, traditional={self.traditional}, base={self.base}, scale={self.scale}"

    def __repr__(self) -> str:
        return f"RoPE({self._extra_repr()})"
