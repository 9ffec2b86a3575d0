"""Framework glue: NumPy arrays and PyTorch tensors in, the caller's type out, no copies.

NumPy arrays reach the C++ side through the buffer protocol and PyTorch tensors through
DLPack (``torch.utils.dlpack.to_dlpack``); both are read and written in place through
strided views. Outputs are allocated here by the caller's framework (``np.empty_like`` /
``torch.empty_like``) and written by the library's into-buffer API.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _rotary

__all__ = ["rope", "rope_qk", "is_torch"]

_INDEX_OK = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint32))


def _torch():
    return sys.modules.get("torch")


def is_torch(x) -> bool:
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def _view(x):
    """What the C++ side reads: the NumPy array itself or a DLPack capsule of the tensor."""
    if isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        from torch.utils.dlpack import to_dlpack

        return to_dlpack(x.detach())
    if isinstance(x, np.generic):
        return np.asarray(x)
    raise TypeError(
        f"[rope] expected a NumPy array or a PyTorch tensor but got {type(x).__name__}."
    )


def _stream(x) -> int:
    """The current PyTorch CUDA stream for a CUDA tensor (0 otherwise)."""
    if is_torch(x) and x.is_cuda:
        if not _rotary.has_cuda:
            raise ValueError(
                "[rope] x is a CUDA tensor but rotary was built without its CUDA backend."
            )
        return _torch().cuda.current_stream(x.device).cuda_stream
    return 0


def _empty_like(x):
    if isinstance(x, np.ndarray):
        return np.empty_like(x)
    return _torch().empty_like(x)


def _index(v, like, name):
    """An integer array (offsets, ids, cu_seqlens, starts) in the framework and device of `like`.

    Python ints and lists become int64; NumPy arrays and tensors are used as they are
    (int32, int64 and uint32 without a copy; narrower integer types are widened)."""
    if v is None:
        return None
    if is_torch(like):
        torch = _torch()
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                raise ValueError(f"[rope] the gradient with respect to {name} is not offered.")
            if v.device != like.device:
                v = v.to(like.device)
            if v.dtype in (torch.int8, torch.int16, torch.uint8):
                v = v.to(torch.int64)
            return v
        if isinstance(v, np.ndarray):
            a = v
        else:
            a = np.asarray(v)
            if a.dtype.kind in "iu" or a.size == 0:
                a = a.astype(np.int64)
        if a.dtype.kind in "iu" and a.dtype not in _INDEX_OK:
            a = a.astype(np.int64)
        if a.dtype == np.uint32:  # torch 1.x has no uint32
            a = a.astype(np.int64)
        return torch.as_tensor(a, device=like.device)
    # NumPy input
    if is_torch(v):
        v = v.detach().cpu().numpy()
    if not isinstance(v, np.ndarray):
        v = np.asarray(v)
        if v.dtype.kind in "iu" or v.size == 0:
            v = v.astype(np.int64)
    if v.dtype.kind in "iu" and v.dtype not in _INDEX_OK:
        v = v.astype(np.int64)
    return v


def _check_same_kind(x, other, name):
    if isinstance(x, np.ndarray) != isinstance(other, np.ndarray):
        raise TypeError(
            f"[rope] {name} must be of the same framework as x ({type(x).__name__}) "
            f"but is {type(other).__name__}."
        )


def _float_list(v, name):
    if v is None:
        return None
    if is_torch(v):
        if v.requires_grad:
            raise ValueError(
                f"[rope] the gradient with respect to {name} is not offered; pass {name}.detach()."
            )
        v = v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


def _mrope_streams(pairs, section, interleaved):
    if sum(section) != pairs:
        raise ValueError(
            f"[rope] mrope_section {list(section)} must sum to dims/2 = {pairs} but sums to {sum(section)}."
        )
    if interleaved:
        s1, s2 = section[1], section[2] if len(section) > 2 else 0
        return [
            1 if (j % 3 == 1 and j < 3 * s1) else 2 if (j % 3 == 2 and j < 3 * s2) else 0
            for j in range(pairs)
        ]
    out = []
    for s, n in enumerate(section):
        out += [s] * n
    return out


def make_frequencies(
    *, dims, head_dim, base, freqs, inv_freq, attention_factor, mrope_section, mrope_interleaved
):
    """Resolve the frequency arguments of rope()/rope_qk() into (dims, Frequencies)."""
    given = [n for n, v in (("freqs", freqs), ("inv_freq", inv_freq)) if v is not None]
    if len(given) > 1:
        raise ValueError("[rope] Only one of freqs or inv_freq can have a value.")
    if isinstance(freqs, _rotary.Frequencies):
        f = _rotary.Frequencies(
            list(freqs.inv_freq), freqs.attention_factor, list(freqs.pair_stream), freqs.num_streams
        )
    elif freqs is not None:  # MLX's periods
        f = _rotary.Frequencies.from_periods(list(_float_list(freqs, "freqs").reshape(-1)))
    elif inv_freq is not None:
        f = _rotary.Frequencies(list(_float_list(inv_freq, "inv_freq").reshape(-1)))
    else:
        d = head_dim if dims is None else dims
        if d is None or d <= 0 or d % 2:
            return dims or 0, _rotary.Frequencies([])  # the library reports the bad dims
        f = _rotary.Frequencies.from_base(d, float(base))
    if dims is None:
        dims = 2 * f.pairs
    if attention_factor is not None:
        f.attention_factor = float(attention_factor)
    if mrope_section is not None:
        section = [int(s) for s in mrope_section]
        f.pair_stream = _mrope_streams(f.pairs, section, mrope_interleaved)
        f.num_streams = max(3, len(section))
    return dims, f


def _check_inplace_grad(ts):
    torch = _torch()
    if torch is not None and torch.is_grad_enabled() and any(is_torch(t) and t.requires_grad for t in ts):
        raise ValueError(
            "[rope] in-place rotation of a tensor that requires grad is not supported (autograd would "
            "not see the write); call without inplace/out, or under torch.no_grad()."
        )


def _call(xs, outs, *, oracle=False, offset, position_ids, cu_seqlens, starts, dims, traditional, base, freqs,
          inv_freq, scale, inverse, seq_axis, precision, attention_factor, mrope_section,
          mrope_interleaved):
    x = xs[0]
    if isinstance(offset, bool) or (offset is not None and isinstance(offset, float)):
        raise TypeError("[rope] offset must be an int or an integer array.")
    n_pos = sum(v is not None for v in (position_ids, cu_seqlens))
    offset_given = not (isinstance(offset, (int, np.integer)) and int(offset) == 0)
    if n_pos > 1 or (n_pos and offset_given):
        raise ValueError("[rope] Give at most one of offset, position_ids and cu_seqlens.")
    if starts is not None and cu_seqlens is None:
        raise ValueError("[rope] starts needs cu_seqlens.")
    head = x.shape[-1] if getattr(x, "ndim", 0) >= 1 else None
    dims, f = make_frequencies(
        dims=dims, head_dim=head, base=base, freqs=freqs, inv_freq=inv_freq,
        attention_factor=attention_factor, mrope_section=mrope_section,
        mrope_interleaved=mrope_interleaved,
    )
    if isinstance(offset, (int, np.integer)):
        off = int(offset)
    else:
        off = _view(_index(offset, x, "offset"))
    ids = _index(position_ids, x, "position_ids")
    cu = _index(cu_seqlens, x, "cu_seqlens")
    st = _index(starts, x, "starts")
    if oracle:
        return _rotary._oracle(
            _view(x), off, None if ids is None else _view(ids), None if cu is None else _view(cu),
            None if st is None else _view(st), int(dims), bool(traditional), f, float(scale),
            bool(inverse), int(seq_axis), precision,
        )
    xv = [_view(t) for t in xs]
    ov = [xv[i] if outs[i] is xs[i] else _view(outs[i]) for i in range(len(xs))]
    _rotary.apply(
        xv, ov, off, None if ids is None else _view(ids), None if cu is None else _view(cu),
        None if st is None else _view(st), int(dims), bool(traditional), f, float(scale),
        bool(inverse), int(seq_axis), precision, _stream(x),
    )


def _needs_grad(*ts):
    torch = _torch()
    return (
        torch is not None
        and torch.is_grad_enabled()
        and any(isinstance(t, torch.Tensor) and t.requires_grad for t in ts)
    )


_DOC_COMMON = """
    dims: rotated features (even); default: all of D, or 2 * pairs of `freqs`. Features at
        index >= dims pass through unchanged (partial rotary).
    traditional: pair layout. False (default): pairs (i, i + dims/2), GPT-NeoX / Llama /
        Hugging Face "rotate_half". True: pairs (2i, 2i+1), GPT-J / RoFormer.
    base: rope_theta, used when neither `freqs` nor `inv_freq` is given.
    freqs: a `rotary.Frequencies` (e.g. from `rotary.scaling` or `from_hf_config`), or an
        array of periods as in MLX (angle = position / freqs[i]).
    inv_freq: an array of inverse frequencies (angle = position * inv_freq[i]), as Hugging
        Face's `inv_freq` buffer.
    scale: multiplies positions (linear interpolation by f is scale = 1/f).
    offset: int, or integer array of shape (), (1,) or (B,): token t of row b is at
        t + offset[b] (MLX; a KV-cache offset).
    position_ids: integer positions (T,) or (B, T) (Hugging Face's position_ids); with
        `mrope_section`, (3, T) or (3, B, T).
    cu_seqlens: packed batch: x is (total_T, *heads, D) and sequence s holds tokens
        [cu_seqlens[s], cu_seqlens[s+1]) (flash-attn's cu_seqlens).
    starts: with cu_seqlens, the first position of each sequence (default 0).
    seq_axis: -2 for (B, *heads, T, D) (MLX, Hugging Face), -3 for (B, T, *heads, D)
        (flash-attn, vLLM).
    inverse: apply the inverse rotation (the gradient of the forward one).
    precision: "accurate" (angles formed in double, error flat in the position) or
        "compat" (the float32 angles of MLX / Hugging Face); default: the
        global setting (`rotary.set_default_precision`).
    attention_factor: multiplies cos and sin (YaRN, LongRoPE); default: that of `freqs`, 1.
    mrope_section: M-RoPE pair counts per position stream (Qwen2-VL), summing to dims/2;
        `mrope_interleaved=True` for Qwen3-VL's interleaved form.
"""


def rope(x, *, dims=None, traditional=False, base=10000.0, freqs=None, inv_freq=None, scale=1.0,
         offset=0, position_ids=None, cu_seqlens=None, starts=None, seq_axis=-2, inverse=False,
         out=None, inplace=False, precision=None, attention_factor=None, mrope_section=None,
         mrope_interleaved=False):
    if is_torch(x) and not inplace and out is None and _needs_grad(x):
        from . import torch as rtorch

        return rtorch.rope(
            x, dims=dims, traditional=traditional, base=base, freqs=freqs, inv_freq=inv_freq,
            scale=scale, offset=offset, position_ids=position_ids, cu_seqlens=cu_seqlens,
            starts=starts, seq_axis=seq_axis, inverse=inverse, precision=precision,
            attention_factor=attention_factor, mrope_section=mrope_section,
            mrope_interleaved=mrope_interleaved,
        )
    if inplace and out is not None:
        raise ValueError("[rope] Give either out or inplace=True, not both.")
    if inplace:
        _check_inplace_grad([x])
        out = x
    elif out is None:
        out = _empty_like(x) if isinstance(x, np.ndarray) or is_torch(x) else None
    else:
        _check_same_kind(x, out, "out")
    if out is None:
        _view(x)  # raises the TypeError naming the type
    _call(
        [x], [out], offset=offset, position_ids=position_ids, cu_seqlens=cu_seqlens, starts=starts,
        dims=dims, traditional=traditional, base=base, freqs=freqs, inv_freq=inv_freq,
        scale=scale, inverse=inverse, seq_axis=seq_axis, precision=precision,
        attention_factor=attention_factor, mrope_section=mrope_section,
        mrope_interleaved=mrope_interleaved,
    )
    return out


rope.__doc__ = (
    """Rotary position embedding of x: NumPy array or PyTorch tensor, result of the same type.

    x is (B, *heads, T, D) by default (seq_axis=-2), (B, T, *heads, D) with seq_axis=-3, or
    (total_T, *heads, D) with cu_seqlens. Any strides work without a copy (transposed views,
    q/k sliced from a fused qkv projection). float16, float32 and float64 with NumPy and
    PyTorch, and bfloat16 with PyTorch.

    out: write the result into this array (same shape and dtype as x, any strides); returned.
    inplace: rotate x in place and return x.
    Torch tensors that require grad are differentiated through `rotary.torch.rope`.
"""
    + _DOC_COMMON
)


def rope_qk(q, k, *, dims=None, traditional=False, base=10000.0, freqs=None, inv_freq=None,
            scale=1.0, offset=0, position_ids=None, cu_seqlens=None, starts=None, seq_axis=-2,
            inverse=False, q_out=None, k_out=None, inplace=False, precision=None,
            attention_factor=None, mrope_section=None, mrope_interleaved=False):
    if is_torch(q) and not inplace and q_out is None and k_out is None and _needs_grad(q, k):
        from . import torch as rtorch

        return rtorch.rope_qk(
            q, k, dims=dims, traditional=traditional, base=base, freqs=freqs, inv_freq=inv_freq,
            scale=scale, offset=offset, position_ids=position_ids, cu_seqlens=cu_seqlens,
            starts=starts, seq_axis=seq_axis, inverse=inverse, precision=precision,
            attention_factor=attention_factor, mrope_section=mrope_section,
            mrope_interleaved=mrope_interleaved,
        )
    _check_same_kind(q, k, "k")
    if inplace:
        if q_out is not None or k_out is not None:
            raise ValueError("[rope] Give either q_out/k_out or inplace=True, not both.")
        _check_inplace_grad([q, k])
        q_out, k_out = q, k
    else:
        q_out = _empty_like(q) if q_out is None else q_out
        k_out = _empty_like(k) if k_out is None else k_out
        _check_same_kind(q, q_out, "q_out")
        _check_same_kind(q, k_out, "k_out")
    _call(
        [q, k], [q_out, k_out], offset=offset, position_ids=position_ids, cu_seqlens=cu_seqlens,
        starts=starts, dims=dims, traditional=traditional, base=base, freqs=freqs,
        inv_freq=inv_freq, scale=scale, inverse=inverse, seq_axis=seq_axis, precision=precision,
        attention_factor=attention_factor, mrope_section=mrope_section,
        mrope_interleaved=mrope_interleaved,
    )
    return q_out, k_out


rope_qk.__doc__ = (
    """Rotates q and k in one pass sharing the angle work; returns (q_out, k_out).

    q and k may have different head counts (grouped-query attention) but share dtype, batch,
    tokens and head size. q_out/k_out: write into these; inplace=True rotates q and k in place.
"""
    + _DOC_COMMON
)


def oracle(x, *, dims=None, traditional=False, base=10000.0, freqs=None, inv_freq=None, scale=1.0,
           offset=0, position_ids=None, cu_seqlens=None, starts=None, seq_axis=-2, inverse=False,
           precision=None, attention_factor=None, mrope_section=None, mrope_interleaved=False):
    """The C++ library's float64 oracle for the same arguments as rope() (a float64 NumPy array;
    for tests)."""
    return _call(
        [x], [None], oracle=True, offset=offset, position_ids=position_ids, cu_seqlens=cu_seqlens,
        starts=starts, dims=dims, traditional=traditional, base=base, freqs=freqs, inv_freq=inv_freq,
        scale=scale, inverse=inverse, seq_axis=seq_axis, precision=precision,
        attention_factor=attention_factor, mrope_section=mrope_section,
        mrope_interleaved=mrope_interleaved,
    )


def fast_rope(a, dims, traditional, base, scale, offset, freqs, inverse):
    """MLX's fast.rope / rope_vjp for one array; the result has a's type."""
    if isinstance(offset, bool) or isinstance(offset, float):
        raise TypeError("[rope] offset must be an int or an integer array.")
    if isinstance(a, np.ndarray) or is_torch(a):
        out = _empty_like(a)
    else:
        a = _view(a)  # raises
        out = _empty_like(a)
    if not isinstance(offset, (int, np.integer)):
        offset = _view(_index(offset, a, "offset"))
    else:
        offset = int(offset)
    _rotary.fast_rope(
        _view(a), _view(out), int(dims), bool(traditional), None if base is None else float(base),
        float(scale), offset, _float_list(freqs, "freqs"), bool(inverse), _stream(a),
    )
    return out
