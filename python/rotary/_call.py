"""Glue between Python objects and the extension: one call description, built in one place.

``make_call`` turns the keyword arguments of ``rope`` / ``rope_qk`` into a ``Call``: the
C++ ``RopeOptions`` (as its canonical key, the form the torch operators take) and the
positions (a Python int offset, or integer arrays in x's framework and device). ``run``
executes a call directly on NumPy arrays or torch tensors (buffer protocol / DLPack, no
copies); the torch operators (``_ops``) execute the same ``Call``.
"""

from __future__ import annotations

import functools
import sys
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.dlpack import to_dlpack

from . import _rotary

__all__ = ["Call", "make_call", "options", "inverse_key", "run", "oracle", "view", "is_torch", "int64_arg",
           "int32_arg", "index_array", "float_array", "stream_of", "is_mlx", "framework", "empty_like",
           "positions_length", "view_or_none", "as_is", "read_with_fallback",
           "read_positions"]

_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)  # ints: iinfo's are properties
_INDEX_OK = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint32))
_TORCH_INDEX_OK = (torch.int32, torch.int64)


class Call(NamedTuple):
    """One call: options key, scalar offset, and the index arrays (None where not given)."""
    options: str
    offset: int
    offsets: object
    position_ids: object
    cu_seqlens: object
    starts: object

    def inverted(self) -> "Call":
        """The inverse rotation with the same positions (the gradient)."""
        return self._replace(options=inverse_key(self.options))


@functools.lru_cache(maxsize=4096)
def options(key: str):
    """The C++ RopeOptions of a key (cached: the torch operators receive keys)."""
    return _rotary.RopeOptions.from_key(key)


@functools.lru_cache(maxsize=4096)
def inverse_key(key: str) -> str:
    return options(key).inverted().key


def is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def is_mlx(x) -> bool:
    """An mlx.core.array (MLX is optional: if it is not imported, x cannot be one)."""
    mx = sys.modules.get("mlx.core")
    return mx is not None and isinstance(x, mx.array)


def framework(x) -> str:
    return "torch" if is_torch(x) else "mlx" if is_mlx(x) else "numpy" if isinstance(x, np.ndarray) else type(x).__name__


def empty_like(x):
    """A new array of x's framework, shape and dtype for the result. MLX: evaluated zeros, so
    the extension writes into the array's own memory (no copy on the way back)."""
    if isinstance(x, np.ndarray):
        return np.empty_like(x)
    if is_torch(x):
        return torch.empty_like(x)
    if is_mlx(x):
        mx = sys.modules["mlx.core"]
        out = mx.zeros(x.shape, x.dtype)
        mx.eval(out)
        return out
    view(x)  # raises the TypeError naming the type


def int64_arg(v, name: str) -> int:
    """A Python int (or NumPy integer) argument within int64; bool and float are refused."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"[rope] {name} must be an integer but got {type(v).__name__}.")
    v = int(v)
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(f"[rope] {name} must fit in int64 but got {v}.")
    return v


def int32_arg(v, name: str) -> int:
    v = int64_arg(v, name)
    if not -(2**31) <= v < 2**31:
        raise ValueError(f"[rope] {name} must fit in int32 but got {v}.")
    return v


def view(x, name: str = "x"):
    """What the extension reads: a NumPy array itself, or a DLPack capsule of a tensor."""
    if isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        if x.is_neg():  # DLPack would export it without the negation
            raise ValueError(f"[rope] {name} is a negated view (its negative bit is set, as torch._neg_view and "
                             f".conj().imag make); pass {name}.resolve_neg().")
        try:
            return to_dlpack(x.detach() if x.requires_grad else x)
        except (BufferError, RuntimeError):  # checked only on failure: the checks cost as much as the export
            if x.layout != torch.strided:
                raise TypeError(f"[rope] {name} must be a dense (strided) tensor but has layout {x.layout}.") from None
            if x.is_meta:
                raise ValueError(f"[rope] {name} is a meta tensor (no data); rotary needs a CPU or CUDA tensor.") from None
            raise
    if is_mlx(x):
        return x.__dlpack__()  # evaluates x; strides and bfloat16 included
    raise TypeError(f"[rope] {name} must be a NumPy array, a PyTorch tensor or an MLX array but got "
                    f"{type(x).__name__}.")


def stream_of(x) -> int:
    """PyTorch's current CUDA stream for a CUDA tensor (0 otherwise)."""
    if is_torch(x) and x.is_cuda:
        if not _rotary.has_cuda:
            raise ValueError("[rope] x is a CUDA tensor but rotary was built without its CUDA backend.")
        return torch.cuda.current_stream(x.device).cuda_stream
    return 0


def _checked_uint64(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint64 and a.size and int(a.max()) > _INT64_MAX:
        raise ValueError(f"[rope] {name} holds {int(a.max())}, beyond int64.")
    return a.astype(np.int64)


def _numpyindex_array(v, name):
    if is_torch(v):
        v = v.detach().cpu().numpy()
    elif is_mlx(v):
        v = np.asarray(v)
    a = v if isinstance(v, np.ndarray) else np.asarray(v)
    if not isinstance(v, np.ndarray) and (a.dtype.kind in "iu" or a.size == 0):
        a = a.astype(np.int64)
    if a.dtype.kind in "iu" and a.dtype not in _INDEX_OK:
        a = _checked_uint64(a, name)
    return a


def index_array(v, like, name):
    """An integer array (offsets, ids, cu_seqlens, starts) in like's framework and device.
    int32, int64 (and uint32 with NumPy) are used as they are; other integer types widen."""
    if v is None:
        return None
    if not is_torch(like):
        return _numpyindex_array(v, name)
    if is_torch(v):
        if v.requires_grad:
            raise ValueError(f"[rope] the gradient with respect to {name} is not offered.")
        if v.dtype.is_floating_point or v.dtype == torch.bool or v.dtype in _TORCH_INDEX_OK:
            if not (v.is_cuda or like.is_cuda):
                return v  # both on the CPU: nothing to move (and .to() costs a microsecond)
            return v.to(like.device)  # the extension names a wrong type
        return v.to(like.device, torch.int64)
    a = _numpyindex_array(v, name)
    if a.dtype == np.uint32:
        a = a.astype(np.int64)
    return torch.as_tensor(a, device=like.device)


def float_array(v, name) -> np.ndarray:
    """A float64 NumPy array of v (frequencies, periods); gradients are not offered."""
    if is_torch(v):
        if v.requires_grad:
            raise ValueError(f"[rope] the gradient with respect to {name} is not offered; pass {name}.detach().")
        v = v.detach().cpu().double().numpy()
    elif is_mlx(v):
        mx = sys.modules["mlx.core"]
        v = np.asarray(v.astype(mx.float32) if v.dtype == mx.bfloat16 else v)
    try:
        return np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"[rope] {name} must be an array of numbers but got {type(v).__name__}.") from None


def _float_list(v, name):
    a = float_array(v, name)
    if a.ndim != 1:
        raise ValueError(f"[rope] {name} must be one dimensional but got shape {a.shape}"
                         + ("; a base goes in base=." if a.ndim == 0 else "."))
    return [float(f) for f in a]


def _frequencies(dims, head_dim, base, freqs, inv_freq, attention_factor, mrope_section, mrope_interleaved):
    if freqs is not None and inv_freq is not None:
        raise ValueError("[rope] Only one of freqs or inv_freq can have a value.")
    if isinstance(freqs, _rotary.Frequencies):
        f = _rotary.Frequencies(freqs.inv_freq, freqs.attention_factor, freqs.pair_position_stream, freqs.position_streams)
    elif freqs is not None:  # MLX's periods
        f = _rotary.Frequencies.from_periods(_float_list(freqs, "freqs"))
    elif inv_freq is not None:
        f = _rotary.Frequencies(_float_list(inv_freq, "inv_freq"))
    else:
        d = dims or head_dim
        f = _rotary.Frequencies.from_base(d, float(base)) if d and d > 0 and d % 2 == 0 else _rotary.Frequencies([])
    if attention_factor is not None:
        f = f.replace(attention_factor=float(attention_factor))
    if mrope_section is not None:
        f = _rotary.scaling.mrope(f, [int32_arg(s, "mrope_section") for s in mrope_section], bool(mrope_interleaved))
    return f


def _options_key(head_dim, dims=None, base=10000.0, freqs=None, inv_freq=None, attention_factor=None,
                 mrope_section=None, mrope_interleaved=False, **options) -> str:
    """The options key of rope()'s keywords other than the positions (validating them)."""
    dims = 0 if dims is None else int32_arg(dims, "dims")
    f = _frequencies(dims, head_dim, base, freqs, inv_freq, attention_factor,
                     None if mrope_section is None else tuple(mrope_section), mrope_interleaved)
    return _rotary.RopeOptions(dims=dims, freqs=f, **options).key


_PLAIN_VALUES = frozenset((bool, int, float, str, type(None)))
_KEYS: dict = {}  # options key per (head size, keywords, their types) for keywords of plain values
_KEYS_MAX = 4096  # a caller varying e.g. scale per call must not grow the cache without bound


def _cached_options_key(head_dim: int, keywords: tuple) -> str:
    """_options_key, remembered for repeated identical keywords of plain values (the common case;
    a Frequencies, an array or a list is read each time: it may have changed). The value types
    are part of the entry: dims=True must still be refused after dims=1."""
    types = tuple(type(v) for _, v in keywords) if keywords else ()
    if not _PLAIN_VALUES.issuperset(types):
        return _options_key(head_dim, **dict(keywords))
    entry = (head_dim, keywords, types)
    key = _KEYS.get(entry)
    if key is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        key = _KEYS[entry] = _options_key(head_dim, **dict(keywords))
    return key


# Under torch.compile the options are one constant per configuration (no graph break).
_cached_options_key = torch.compiler.assume_constant_result(_cached_options_key)


def _register_frequencies_as_constant():
    """A Frequencies keyword (freqs=, shift_cache's from_freqs=) is a constant to torch.compile,
    guarded by equality (a changed one recompiles), so its options key is formed at trace time.
    The registry is torch's opaque-constant one (torch._library.opaque_object); on a torch
    without it such a call is a graph break, as before."""
    try:
        from torch._library.opaque_object import is_opaque_constant_type, register_custom_class
    except ImportError:
        return
    if not is_opaque_constant_type(_rotary.Frequencies):
        register_custom_class(_rotary.Frequencies, typ="constant")


_register_frequencies_as_constant()


ARGUMENTS = """
    dims: rotated features (even); default: all of D (frequencies must then have D/2 pairs). Features at
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
    cuda_stream: the CUDA stream (a cudaStream_t as an int, e.g. torch's `stream.cuda_stream`)
        for CUDA tensors; default: PyTorch's current stream.
"""


def _scalar_offset(offset, position_ids, cu_seqlens, starts):
    """The int offset (None for an offsets array), after the checks of the positions' forms."""
    if isinstance(offset, (bool, float, np.bool_, np.floating)):
        raise TypeError(f"[rope] offset must be an int or an integer array but got {type(offset).__name__}.")
    scalar_offset = int64_arg(offset, "offset") if isinstance(offset, (int, np.integer)) else None
    if (position_ids is not None) + (cu_seqlens is not None) > 1 or (
            (position_ids is not None or cu_seqlens is not None) and scalar_offset != 0):
        raise ValueError("[rope] Give at most one of offset, position_ids and cu_seqlens.")
    if starts is not None and cu_seqlens is None:
        raise ValueError("[rope] starts needs cu_seqlens.")
    return scalar_offset


def make_call(x, *, offset=0, position_ids=None, cu_seqlens=None, starts=None, **keywords) -> Call:
    """The one translation of rope()'s keyword arguments into a Call. The keywords other than the
    positions (dims, base, freqs, ..., traditional, scale, inverse, seq_axis, precision, ...)
    make the C++ RopeOptions, by name.
"""
    head_dim = int(x.shape[-1]) if getattr(x, "ndim", 0) >= 1 else 0  # a constant under torch.compile
    if type(offset) is int and _INT64_MIN <= offset <= _INT64_MAX and (
            position_ids is None and cu_seqlens is None and starts is None):  # a decode step: nothing to convert
        return Call(_cached_options_key(head_dim, tuple(keywords.items())), offset, None, None, None, None)
    scalar_offset = _scalar_offset(offset, position_ids, cu_seqlens, starts)
    key = _cached_options_key(head_dim, tuple(keywords.items()))
    offsets = None if scalar_offset is not None else index_array(offset, x, "offset")
    if position_ids is None and cu_seqlens is None:  # offsets (a batched decode step); starts needs cu_seqlens
        return Call(key, scalar_offset or 0, offsets, None, None, None)
    return Call(key, scalar_offset or 0, offsets, index_array(position_ids, x, "position_ids"),
                index_array(cu_seqlens, x, "cu_seqlens"), index_array(starts, x, "starts"))


make_call.__doc__ += ARGUMENTS  # a docstring cannot be an expression: appended after the def


def view_or_none(v, name):
    """view(v, name), or None for None (optional arguments)."""
    return None if v is None else view(v, name)


def as_is(x, name="x"):
    """x itself, for the extension to read (the first reader of read_with_fallback)."""
    return x


_POSITION_NAMES = ("offset", "position_ids", "cu_seqlens", "starts")  # as errors name them


def read_positions(read, offsets, position_ids, cu_seqlens, starts) -> tuple:
    """A call's index arrays (offsets, position_ids, cu_seqlens, starts) through read (None
    stays None)."""
    arrays = (offsets, position_ids, cu_seqlens, starts)
    if read is as_is:  # the same result, without the loop (the decode step's hot path)
        return arrays
    return tuple(None if a is None else read(a, name) for a, name in zip(arrays, _POSITION_NAMES))


def read_with_fallback(call_with):
    """call_with(read) with read = as_is: the extension reads NumPy arrays and PyTorch tensors
    itself (buffer protocol; DLPack's C exchange API, no capsule). What it does not read (MLX
    arrays, tensors it cannot export) makes it raise _rotary.NotReadable before anything is
    written; then call_with(view): view() reads those and names what cannot be read at all."""
    try:
        return call_with(as_is)
    except _rotary.NotReadable:
        return call_with(view)


def _apply(read, xs, outs, call: Call, opts, stream) -> None:
    xv = [read(x) for x in xs]
    _rotary.apply(xv, [xv[i] if outs[i] is xs[i] else read(outs[i], "out") for i in range(len(xs))], call.offset,
                  *read_positions(read, call.offsets, call.position_ids, call.cu_seqlens, call.starts), opts, stream)


def run(xs, outs, call: Call) -> None:
    """Executes call on one tensor or on (q, k), writing outs (an out may be its input), as
    read_with_fallback does; the first try is written out: the closure and the reads cost 0.5 to
    1 us of a 3 us decode step (measured)."""
    opts, stream = options(call.options), stream_of(xs[0])
    try:
        _rotary.apply(xs, outs, call.offset, call.offsets, call.position_ids, call.cu_seqlens, call.starts, opts,
                      stream)
    except _rotary.NotReadable:
        _apply(view, xs, outs, call, opts, stream)


def positions_length(x, call: Call, seq_axis: int) -> int:
    """The largest position + 1 of call on x, which picks length-dependent frequencies (C++'s
    rotary::positions_length; index arrays are read on the host)."""
    def host(a, name):
        return None if a is None else view(a.cpu() if is_torch(a) else a, name)
    return _rotary.positions_length(list(x.shape), call.offset, host(call.offsets, "offset"),
                                    host(call.position_ids, "position_ids"), host(call.cu_seqlens, "cu_seqlens"),
                                    host(call.starts, "starts"), seq_axis)


def oracle(x, call: Call):
    """The C++ float64 oracle for a call (a float64 NumPy array)."""
    return _rotary.oracle(view(x), call.offset,
                          *read_positions(view, call.offsets, call.position_ids, call.cu_seqlens, call.starts),
                          options(call.options))
