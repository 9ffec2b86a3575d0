"""PyTorch integration: autograd for rotary, and a Hugging Face drop-in.

``rotary.torch.rope`` / ``rope_qk`` are differentiable (``torch.autograd.Function``): the
backward pass is the inverse rotation with the same angles, computed by the same kernel
(``inverse=True``). Gradients with respect to positions or frequencies are not offered.

``apply_rotary_pos_emb(q, k, position_ids, config)`` replaces Hugging Face's
``q, k = apply_rotary_pos_emb(q, k, cos, sin)``: no cos/sin tables, one fused pass.
"""

from __future__ import annotations

import torch as _torch

from . import _core, _rotary

__all__ = ["rope", "rope_qk", "apply_rotary_pos_emb", "RotaryFunction", "RotaryQKFunction"]


def _no_grad_args(kw):
    for name in ("freqs", "inv_freq"):
        v = kw.get(name)
        if isinstance(v, _torch.Tensor) and v.requires_grad:
            raise ValueError(
                f"rotary: the gradient with respect to {name} is not offered; pass {name}.detach() "
                "(only the gradient with respect to the rotated tensors is computed)."
            )


class RotaryFunction(_torch.autograd.Function):
    """y = rope(x, **kw); dx = rope(dy, **kw, inverse=not inverse)."""

    @staticmethod
    def forward(ctx, x, kw):
        ctx.kw = kw
        return _core.rope(x, **kw)

    @staticmethod
    def backward(ctx, gy):
        kw = dict(ctx.kw, inverse=not ctx.kw["inverse"])
        return _core.rope(gy, **kw), None


class RotaryQKFunction(_torch.autograd.Function):
    """(q', k') = rope_qk(q, k, **kw); the gradient is the inverse rotation of both."""

    @staticmethod
    def forward(ctx, q, k, kw):
        ctx.kw = kw
        return _core.rope_qk(q, k, **kw)

    @staticmethod
    def backward(ctx, gq, gk):
        kw = dict(ctx.kw, inverse=not ctx.kw["inverse"])
        dq, dk = _core.rope_qk(gq, gk, **kw)
        return dq, dk, None


class _FastRope(_torch.autograd.Function):
    """MLX's fast.rope / rope_vjp with autograd."""

    @staticmethod
    def forward(ctx, a, dims, traditional, base, scale, offset, freqs, inverse):
        if isinstance(freqs, _torch.Tensor) and freqs.requires_grad:
            _no_grad_args({"freqs": freqs})
        ctx.args = (dims, traditional, base, scale, offset, freqs, inverse)
        return _core.fast_rope(a, dims, traditional, base, scale, offset, freqs, inverse)

    @staticmethod
    def backward(ctx, g):
        dims, traditional, base, scale, offset, freqs, inverse = ctx.args
        return (_core.fast_rope(g, dims, traditional, base, scale, offset, freqs, not inverse),
                None, None, None, None, None, None, None)


def _kw(dims=None, traditional=False, base=10000.0, freqs=None, inv_freq=None, scale=1.0, offset=0,
        position_ids=None, cu_seqlens=None, starts=None, seq_axis=-2, inverse=False, precision=None,
        attention_factor=None, mrope_section=None, mrope_interleaved=False):
    kw = dict(locals())
    _no_grad_args(kw)
    return kw


def rope(x, **kwargs):
    """Differentiable ``rotary.rope`` for PyTorch tensors (same keyword arguments, without
    out/inplace). Works in float64 with ``torch.autograd.gradcheck``."""
    return RotaryFunction.apply(x, _kw(**kwargs))


def rope_qk(q, k, **kwargs):
    """Differentiable ``rotary.rope_qk`` for PyTorch tensors; returns (q_embed, k_embed)."""
    return RotaryQKFunction.apply(q, k, _kw(**kwargs))


def _resolve(config_or_rope):
    """A RopeConfig from a from_hf_config result, a config dict / path, or a Frequencies."""
    from .config import RopeConfig, from_hf_config
    from .nn import RoPE

    c = config_or_rope
    if isinstance(c, RopeConfig):
        return c
    if isinstance(c, (dict, str)) or hasattr(c, "to_dict") or hasattr(c, "__fspath__"):
        return from_hf_config(c)
    if isinstance(c, _rotary.Frequencies):
        return RopeConfig.from_frequencies(c)
    if isinstance(c, RoPE):
        return RopeConfig.from_frequencies(
            _rotary.Frequencies.from_base(c.dims, float(c.base)), traditional=c.traditional,
            scale=c.scale,
        )
    raise TypeError(
        "apply_rotary_pos_emb: config_or_rope must be a rotary.RopeConfig (from_hf_config), a "
        f"Hugging Face config (dict, path or PretrainedConfig), a rotary.Frequencies or a rotary.nn.RoPE, not {type(c).__name__}."
    )


def apply_rotary_pos_emb(q, k, position_ids, config_or_rope, *, unsqueeze_dim=1, inplace=False,
                         precision=None, seq_len=None):
    """Drop-in for Hugging Face's ``q, k = apply_rotary_pos_emb(q, k, cos, sin)``.

    Instead of cos/sin tables, pass the position ids and the model's RoPE:

        cfg = rotary.from_hf_config("config.json")          # once
        q, k = rotary.torch.apply_rotary_pos_emb(q, k, position_ids, cfg)

    q: (B, Hq, T, D) and k: (B, Hk, T, D) (``unsqueeze_dim=1``, HF's default) or (B, T, H, D)
    (``unsqueeze_dim=2``). position_ids: (B, T) or (T,); for M-RoPE models (3, B, T).
    config_or_rope: a ``RopeConfig`` from ``rotary.from_hf_config``, a config dict / path /
    transformers PretrainedConfig, a ``rotary.Frequencies`` or a ``rotary.nn.RoPE``.
    Scaling (linear, dynamic, yarn, llama3, longrope), the attention factor and partial
    rotary are applied as Hugging Face does; methods that depend on the sequence length use
    ``seq_len`` or else the largest position + 1. Differentiable unless ``inplace``.
    """
    if unsqueeze_dim not in (1, 2):
        raise ValueError(f"apply_rotary_pos_emb: unsqueeze_dim must be 1 or 2 but got {unsqueeze_dim}.")
    cfg = _resolve(config_or_rope)
    return cfg.rope_qk(
        q, k, position_ids=position_ids, seq_axis=-2 if unsqueeze_dim == 1 else -3, inplace=inplace,
        precision=precision, seq_len=seq_len,
    )
