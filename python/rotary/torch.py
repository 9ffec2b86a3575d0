"""PyTorch integration: autograd for rotary, and a Hugging Face drop-in.

Autograd, torch.compile and torch.export go through the operators ``torch.ops.rotary.*``
(``rotary._ops``; importing ``rotary`` registers them): the backward pass is the inverse
rotation with the same angles. Gradients with respect to positions or frequencies are not
offered.

``apply_rotary_pos_emb(q, k, position_ids, config)`` replaces Hugging Face's
``q, k = apply_rotary_pos_emb(q, k, cos, sin)``: no cos/sin tables, one fused pass.
"""

from __future__ import annotations

from . import _core, _rotary
from .config import RopeConfig, from_hf_config
from .nn import RoPE

__all__ = ["rope", "rope_qk", "apply_rotary_pos_emb"]


def rope(x, **kwargs):
    """``rotary.rope`` (differentiable through ``torch.ops.rotary.rope``); kept for callers
    of the earlier autograd wrapper."""
    return _core.rope(x, **kwargs)


def rope_qk(q, k, **kwargs):
    """``rotary.rope_qk`` (differentiable through ``torch.ops.rotary.rope_qk``)."""
    return _core.rope_qk(q, k, **kwargs)


def _resolve(config_or_rope):
    """A RopeConfig from a from_hf_config result, a config dict / path, or a Frequencies."""
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
