"""rotary's PyTorch operators, ``torch.ops.rotary.*`` (``torch.library.custom_op``).

Each takes a ``Call`` as its fields (x, offsets, position_ids, cu_seqlens, starts, offset,
options key) and runs it through ``_call.run``. Functional ops have a fake (meta)
implementation and autograd registered on the op (the gradient is the inverse rotation);
in-place and ``out`` variants declare what they mutate, so torch bumps version counters and
functionalizes them under torch.compile.

    rope(x, ...) -> Tensor                  rope_(x!, ...)           rope_out(x, ..., out!)
    rope_qk(q, k, ...) -> (Tensor, Tensor)  rope_qk_(q!, k!, ...)    rope_qk_out(q, k, ..., q_out!, k_out!)
    fast_rope(a, offsets, offset, dims, traditional, base, scale, freqs, inverse) -> Tensor
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _call, _rotary

__all__ = ["rope", "rope_qk", "rope_inplace", "rope_qk_inplace", "rope_out", "rope_qk_out", "fast_rope"]

_lib = "rotary::"


def _call_of(offsets, position_ids, cu_seqlens, starts, offset, options):
    return _call.Call(options, offset, offsets, position_ids, cu_seqlens, starts)


@torch.library.custom_op(_lib + "rope", mutates_args=())
def _rope(x: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor], cu_seqlens: Optional[Tensor],
          starts: Optional[Tensor], offset: int, options: str) -> Tensor:
    out = torch.empty_like(x)
    _call.run([x], [out], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))
    return out


@torch.library.custom_op(_lib + "rope_qk", mutates_args=())
def _rope_qk(q: Tensor, k: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor],
             cu_seqlens: Optional[Tensor], starts: Optional[Tensor], offset: int, options: str) -> tuple[Tensor, Tensor]:
    q_out, k_out = torch.empty_like(q), torch.empty_like(k)
    _call.run([q, k], [q_out, k_out], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))
    return q_out, k_out


@torch.library.custom_op(_lib + "rope_", mutates_args=("x",))
def _rope_inplace(x: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor],
                  cu_seqlens: Optional[Tensor], starts: Optional[Tensor], offset: int, options: str) -> None:
    _call.run([x], [x], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))


@torch.library.custom_op(_lib + "rope_qk_", mutates_args=("q", "k"))
def _rope_qk_inplace(q: Tensor, k: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor],
                     cu_seqlens: Optional[Tensor], starts: Optional[Tensor], offset: int, options: str) -> None:
    _call.run([q, k], [q, k], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))


@torch.library.custom_op(_lib + "rope_out", mutates_args=("out",))
def _rope_out(x: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor], cu_seqlens: Optional[Tensor],
              starts: Optional[Tensor], offset: int, options: str, out: Tensor) -> None:
    _call.run([x], [out], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))


@torch.library.custom_op(_lib + "rope_qk_out", mutates_args=("q_out", "k_out"))
def _rope_qk_out(q: Tensor, k: Tensor, offsets: Optional[Tensor], position_ids: Optional[Tensor],
                 cu_seqlens: Optional[Tensor], starts: Optional[Tensor], offset: int, options: str,
                 q_out: Tensor, k_out: Tensor) -> None:
    _call.run([q, k], [q_out, k_out], _call_of(offsets, position_ids, cu_seqlens, starts, offset, options))


@torch.library.custom_op(_lib + "fast_rope", mutates_args=())
def _fast_rope(a: Tensor, offsets: Optional[Tensor], offset: int, dims: int, traditional: bool,
               base: Optional[float], scale: float, freqs: Optional[Tensor], inverse: bool) -> Tensor:
    out = torch.empty_like(a)
    periods = None if freqs is None else freqs.detach().cpu().double().numpy()
    _rotary.fast_rope(_call.view(a), _call.view(out), dims, traditional, base, scale,
                      offset if offsets is None else _call.view(offsets, "offset"), periods, inverse,
                      _call.stream_of(a))
    return out


@_rope.register_fake
def _(x, offsets, position_ids, cu_seqlens, starts, offset, options):
    return torch.empty_like(x)


@_rope_qk.register_fake
def _(q, k, offsets, position_ids, cu_seqlens, starts, offset, options):
    return torch.empty_like(q), torch.empty_like(k)


@_fast_rope.register_fake
def _(a, offsets, offset, dims, traditional, base, scale, freqs, inverse):
    return torch.empty_like(a)


for _op in (_rope_inplace, _rope_qk_inplace, _rope_out, _rope_qk_out):
    _op.register_fake(lambda *args: None)


def _save_positions(ctx, inputs, n_tensors):
    ctx.positions = inputs[n_tensors:n_tensors + 5]  # offsets, position_ids, cu_seqlens, starts, offset
    ctx.key = inputs[n_tensors + 5]


def _rope_backward(ctx, grad):
    return (_rope(grad, *ctx.positions, _call.inverse_key(ctx.key)),) + (None,) * 6


def _rope_qk_backward(ctx, grad_q, grad_k):
    dq, dk = _rope_qk(grad_q, grad_k, *ctx.positions, _call.inverse_key(ctx.key))
    return (dq, dk) + (None,) * 6


def _fast_setup(ctx, inputs, output):
    ctx.args = inputs[1:]


def _fast_backward(ctx, grad):
    offsets, offset, dims, traditional, base, scale, freqs, inverse = ctx.args
    return (_fast_rope(grad, offsets, offset, dims, traditional, base, scale, freqs, not inverse),) + (None,) * 8


_rope.register_autograd(_rope_backward, setup_context=lambda ctx, inputs, output: _save_positions(ctx, inputs, 1))
_rope_qk.register_autograd(_rope_qk_backward,
                           setup_context=lambda ctx, inputs, output: _save_positions(ctx, inputs, 2))
_fast_rope.register_autograd(_fast_backward, setup_context=_fast_setup)


def rope(x, call: _call.Call):
    return _rope(x, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)


def rope_qk(q, k, call: _call.Call):
    return _rope_qk(q, k, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)


def rope_inplace(x, call: _call.Call):
    _rope_inplace(x, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)


def rope_qk_inplace(q, k, call: _call.Call):
    _rope_qk_inplace(q, k, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)


def rope_out(x, out, call: _call.Call):
    _rope_out(x, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options, out)


def rope_qk_out(q, k, q_out, k_out, call: _call.Call):
    _rope_qk_out(q, k, call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options,
                 q_out, k_out)


fast_rope = _fast_rope
