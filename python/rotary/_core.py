"""The extended API: ``rope``, ``rope_qk``, ``oracle``, and MLX's ``fast_rope`` underneath.

NumPy arrays and plain torch tensors go straight to the extension (no copies). PyTorch
calls that autograd, torch.compile / torch.export, torch.jit.trace or a tensor subclass
(fake tensors) must see go through the registered operators ``torch.ops.rotary.*``.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _call, _ops, _rotary

__all__ = ["rope", "rope_qk", "oracle", "fast_rope"]

_PLAIN = (torch.Tensor, torch.nn.Parameter)


# torch.jit.is_tracing and torch.autograd.graph.increment_version without their Python wrappers
# (a few tenths of a microsecond each per call).
_is_tracing = getattr(torch._C, "_is_tracing", torch.jit.is_tracing)
_increment_version = getattr(torch._C, "_increment_version", torch.autograd.graph.increment_version)


def _through_ops(ts) -> bool:
    """Whether a torch call must run as a torch operator rather than directly."""
    if torch.compiler.is_compiling() or _is_tracing():
        return True
    for t in ts:
        if type(t) not in _PLAIN or (t.requires_grad and torch.is_grad_enabled()):
            return True
    return False


def _as_array(x):
    return np.asarray(x) if isinstance(x, np.generic) else x


def _check_out(out, ts, name):
    if _call.is_mlx(out):
        raise TypeError(f"[rope] {name} cannot be an MLX array (MLX arrays are immutable); rotary returns a new one.")
    if any(_call.framework(t) != _call.framework(out) for t in ts):
        raise TypeError(f"[rope] {name} must be of the same framework as x ({type(ts[0]).__name__}) "
                        f"but is {type(out).__name__}.")
    if _call.is_torch(out) and torch.is_grad_enabled() and (out.requires_grad or any(t.requires_grad for t in ts)):
        raise RuntimeError(f"rope(): functions with out=... arguments don't support automatic differentiation, "
                           f"but one of the arguments ({name} or an input) requires grad.")


def _check_inplace(ts):
    """ts: of one framework. A torch call that passes here runs directly unless _through_ops says
    otherwise, so the direct path needs no check of its own."""
    if _call.is_torch(ts[0]):
        if torch.is_grad_enabled() and any(t.requires_grad for t in ts):
            raise ValueError("[rope] in-place rotation of a tensor that requires grad is not supported (autograd "
                             "would not see the write); call without inplace/out, or under torch.no_grad().")
    elif any(_call.is_mlx(t) for t in ts):
        raise TypeError("[rope] MLX arrays are immutable: inplace=True is not offered for them; use the result.")


def _bump_versions(ts):
    """ts: of one framework (one call bumps every tensor's version counter)."""
    if _call.is_torch(ts[0]):
        _increment_version(ts)


def _rope_op(x, out, inplace, call):
    if inplace:
        _check_inplace((x,))
        _ops.rope_inplace(x, call)
        return x
    if out is not None:
        _ops.rope_out(x, out, call)
        return out
    return _ops.rope(x, call)


def rope(x, *, out=None, inplace=False, **kwargs):
    x = _as_array(x)
    if inplace and out is not None:
        raise ValueError("[rope] Give either out or inplace=True, not both.")
    call = _call.make_call(x, **kwargs)
    if out is not None:
        _check_out(out, [x], "out")
    if _call.is_torch(x):
        if _through_ops((x,) if out is None else (x, out)):
            return _rope_op(x, out, inplace, call)
    elif inplace:
        _check_inplace((x,))
    result = x if inplace else out if out is not None else _call.empty_like(x)
    _call.run([x], [result], call)
    if inplace or out is not None:
        _bump_versions([result])
    return result


def _rope_qk_op(q, k, q_out, k_out, inplace, call):
    if inplace:
        _check_inplace((q, k))
        _ops.rope_qk_inplace(q, k, call)
        return q, k
    if q_out is not None:
        _ops.rope_qk_out(q, k, q_out, k_out, call)
        return q_out, k_out
    return _ops.rope_qk(q, k, call)


def rope_qk(q, k, *, q_out=None, k_out=None, inplace=False, **kwargs):
    if type(q) is not type(k) and _call.framework(q) != _call.framework(k):
        raise TypeError(f"[rope] k must be of the same framework as q ({type(q).__name__}) but is {type(k).__name__}.")
    call = _call.make_call(q, **kwargs)
    given = q_out is not None or k_out is not None
    if inplace and given:
        raise ValueError("[rope] Give either q_out/k_out or inplace=True, not both.")
    if given:
        _check_out(q_out, [q, k], "q_out")
        _check_out(k_out, [q, k], "k_out")
    if _call.is_torch(q):
        if _through_ops((q, k, q_out, k_out) if given else (q, k)):
            return _rope_qk_op(q, k, q_out, k_out, inplace, call)
    elif inplace:
        _check_inplace((q, k))
    if inplace:
        q_out, k_out = q, k
    elif not given:
        q_out, k_out = _call.empty_like(q), _call.empty_like(k)
    _call.run([q, k], [q_out, k_out], call)
    if given or inplace:
        _bump_versions([q_out, k_out])
    return q_out, k_out


rope.__doc__ = """Rotary position embedding of x: NumPy array or PyTorch tensor, result of the same type.

    x is (B, *heads, T, D) by default (seq_axis=-2), (B, T, *heads, D) with seq_axis=-3, or
    (total_T, *heads, D) with cu_seqlens. Any strides work without a copy (transposed views,
    q/k sliced from a fused qkv projection). float16, float32 and float64 with NumPy and
    PyTorch, and bfloat16 with PyTorch. Differentiable (torch.ops.rotary.rope), and usable
    under torch.compile, torch.export and torch.jit.trace.

    out: write the result into this array (same shape and dtype as x, any strides); returned.
    inplace: rotate x in place and return x.
""" + _call.ARGUMENTS

rope_qk.__doc__ = """Rotates q and k in one pass sharing the angle work; returns (q_out, k_out).

    q and k may have different head counts (grouped-query attention) but share dtype, batch,
    tokens and head size. q_out/k_out: write into these; inplace=True rotates q and k in place.
""" + _call.ARGUMENTS


def oracle(x, **kwargs):
    """The C++ library's float64 oracle for the same arguments as rope() (a float64 NumPy
    array; for tests)."""
    return _call.oracle(x, _call.make_call(x, **kwargs))


def fast_rope(a, dims, traditional, base, scale, offset, freqs, inverse):
    """MLX's fast.rope / rope_vjp for one array; the result has a's type."""
    a = _as_array(a)
    dims = _call.int32_arg(dims, "dims")
    if isinstance(offset, (bool, float, np.bool_, np.floating)):
        raise TypeError(f"[rope] offset must be an int or an integer array but got {type(offset).__name__}.")
    scalar = isinstance(offset, (int, np.integer))
    if _call.is_torch(a):
        offsets = None if scalar else _call.index_array(offset, a, "offset")
        tfreqs = freqs if freqs is None or _call.is_torch(freqs) else torch.as_tensor(_call.float_array(freqs, "freqs"))
        if _through_ops((a,) if tfreqs is None else (a, tfreqs)):
            if tfreqs is not None and tfreqs.requires_grad:
                raise ValueError("[rope] the gradient with respect to freqs is not offered; pass freqs.detach().")
            return _ops.fast_rope(a, offsets, _call.int64_arg(offset, "offset") if scalar else 0, dims,
                                  bool(traditional), None if base is None else float(base), float(scale),
                                  tfreqs, bool(inverse))
    out = _call.empty_like(a)
    off = _call.int64_arg(offset, "offset") if scalar else _call.view(_call.index_array(offset, a, "offset"), "offset")
    periods = None if freqs is None else _call.float_array(freqs, "freqs")
    _rotary.fast_rope(_call.view(a), _call.view(out), dims, bool(traditional), None if base is None else float(base),
                      float(scale), off, periods, bool(inverse), _call.stream_of(a))
    return out
