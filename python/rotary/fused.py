"""The fused paths a serving engine calls around attention, as PyTorch operators.

    rope_and_cache(q, k, v, k_cache, v_cache, *, slot_mapping= | block_table=, cache_lens= |
                   write_positions=, kv_layout="NHD", k_scale=, v_scale=, q_norm_weight=, ...)
    rms_norm_rope(q, k, q_weight, k_weight, *, eps=1e-6, unit_offset=False, inplace=False, ...)
    rope_and_cache_mla(q_pe, k_pe, kv_c, kv_cache, *, slot_mapping= | ..., kv_scale=None, ...)
    shift_cache(k_cache, deltas, *, row_counts=None, kv_layout="NHD", k_scale=None, ...)

Each is one pass over its data (rotary/fused.h) and is registered as
``torch.ops.rotary.<name>``, declared as mutating what it writes (q / q_pe rotated in place as
vLLM's ``rotary_embedding`` does, the caches), with a fake implementation: ``torch.compile``
functionalizes the writes, ``torch.library.opcheck`` passes. Where torch need not see the
call (no torch.compile, tracing or tensor subclass) the operator's body runs directly, as
rotary.rope does, and bumps the same version counters. The remaining keyword arguments are
those of ``rotary.rope`` (positions and RoPE options, one ``Call`` built by
``_call.make_call``). Inputs are torch tensors (CPU, or CUDA where built).

Caches: the activation dtype, float32, or ``torch.float8_e4m3fn`` with a per-tensor scale
(stored = value / scale, nearest even, saturating at +-448): a float, or a tensor holding one
number (0-d or (1,)), passed as data (no graph break under torch.compile). Layouts:
``kv_layout="NHD"`` for (pages, rows, H_kv, D) (vLLM's paged cache, or (B, max_T, H_kv, D) contiguous) and
``"HND"`` for (pages, H_kv, rows, D) (FlashInfer's HND, (B, H_kv, max_T, D)). A combined
cache is passed as its two views, e.g. ``kv_cache[:, 0], kv_cache[:, 1]``. Every check runs
before a byte is written: a bad slot, block table, dtype or missing FP8 scale raises
ValueError naming the argument and leaves the caches unchanged.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from . import _call, _core, _rotary

__all__ = ["rope_and_cache", "rms_norm_rope", "rope_and_cache_mla", "shift_cache"]

_lib = "rotary::"
_LAYOUTS = ("NHD", "HND")


class _Slots(NamedTuple):  # what _rotary reads: kind, index (a tensor), lens (a tensor or None)
    kind: str
    index: object
    lens: object


class _Cache(NamedTuple):
    k: object
    v: object
    layout: str
    slots: _Slots
    k_scale: object  # None, a float, or a tensor holding one number (_scale)
    v_scale: object


class _Norm(NamedTuple):
    q_weight: object
    k_weight: object
    eps: float
    unit_offset: bool


# Each operator hands its tensors to _rotary through `read` (_call.read_with_fallback): as they
# are, read by the extension itself, or, for what it cannot read, as _call.view's views.

def _optional(read, t, name):
    return None if t is None else read(t, name)


def _positions(read, offsets, position_ids, cu_seqlens, starts, offset):
    return (offset, *_call.read_positions(read, offsets, position_ids, cu_seqlens, starts))


def _read_scale(read, scale, name):
    return read(scale, name) if isinstance(scale, Tensor) else scale


def _slots(read, kind, index, lens):
    return _Slots(kind, read(index, kind), _optional(read, lens, "cache_lens"))


def _norm(read, q_weight, k_weight, eps, unit_offset):
    return None if q_weight is None else _Norm(read(q_weight, "q_weight"), read(k_weight, "k_weight"), eps,
                                               unit_offset)


def _rope_and_cache_run(q: Tensor, k: Tensor, v: Optional[Tensor], k_cache: Tensor, v_cache: Optional[Tensor],
                        slot_index: Tensor, cache_lens: Optional[Tensor], slots: str, kv_layout: str,
                        k_scale: Optional[Tensor], v_scale: Optional[Tensor], q_norm_weight: Optional[Tensor],
                        k_norm_weight: Optional[Tensor], norm_eps: float, norm_unit_offset: bool,
                        offsets: Optional[Tensor], position_ids: Optional[Tensor], cu_seqlens: Optional[Tensor],
                        starts: Optional[Tensor], offset: int, options: str) -> None:
    def call_with(read):
        cache = _Cache(read(k_cache, "k_cache"), _optional(read, v_cache, "v_cache"), kv_layout,
                       _slots(read, slots, slot_index, cache_lens), _read_scale(read, k_scale, "k_scale"),
                       _read_scale(read, v_scale, "v_scale"))
        _rotary.rope_and_cache(read(q, "q"), read(k, "k"), _optional(read, v, "v"), cache,
                               _norm(read, q_norm_weight, k_norm_weight, norm_eps, norm_unit_offset),
                               _positions(read, offsets, position_ids, cu_seqlens, starts, offset),
                               _call.options(options), _call.stream_of(q))
    _call.read_with_fallback(call_with)


_rope_and_cache = torch.library.custom_op(_lib + "rope_and_cache", _rope_and_cache_run,
                                          mutates_args=("q", "k_cache", "v_cache"))


def _run_rms_norm_rope(q, k, q_out, k_out, q_weight, k_weight, eps, unit_offset, positions, options):
    def call_with(read):
        qv, kv = read(q, "q"), read(k, "k")
        _rotary.rms_norm_rope(qv, kv, qv if q_out is q else read(q_out, "q_out"),
                              kv if k_out is k else read(k_out, "k_out"),
                              _norm(read, q_weight, k_weight, eps, unit_offset), _positions(read, *positions),
                              _call.options(options), _call.stream_of(q))
    _call.read_with_fallback(call_with)


def _rms_norm_rope_run(q: Tensor, k: Tensor, q_weight: Tensor, k_weight: Tensor, eps: float, unit_offset: bool,
                   offsets: Optional[Tensor], position_ids: Optional[Tensor], cu_seqlens: Optional[Tensor],
                   starts: Optional[Tensor], offset: int, options: str) -> tuple[Tensor, Tensor]:
    q_out, k_out = torch.empty_like(q), torch.empty_like(k)
    _run_rms_norm_rope(q, k, q_out, k_out, q_weight, k_weight, eps, unit_offset,
                       (offsets, position_ids, cu_seqlens, starts, offset), options)
    return q_out, k_out


_rms_norm_rope = torch.library.custom_op(_lib + "rms_norm_rope", _rms_norm_rope_run, mutates_args=())


def _rms_norm_rope_inplace_run(q: Tensor, k: Tensor, q_weight: Tensor, k_weight: Tensor, eps: float,
                               unit_offset: bool, offsets: Optional[Tensor], position_ids: Optional[Tensor],
                               cu_seqlens: Optional[Tensor], starts: Optional[Tensor], offset: int,
                               options: str) -> None:
    _run_rms_norm_rope(q, k, q, k, q_weight, k_weight, eps, unit_offset,
                       (offsets, position_ids, cu_seqlens, starts, offset), options)


_rms_norm_rope_inplace = torch.library.custom_op(_lib + "rms_norm_rope_", _rms_norm_rope_inplace_run,
                                                 mutates_args=("q", "k"))


def _rope_and_cache_mla_run(q_pe: Tensor, k_pe: Tensor, kv_c: Tensor, kv_cache: Tensor, slot_index: Tensor,
                            cache_lens: Optional[Tensor], slots: str, scale: Optional[Tensor],
                            offsets: Optional[Tensor], position_ids: Optional[Tensor], cu_seqlens: Optional[Tensor],
                            starts: Optional[Tensor], offset: int, options: str) -> None:
    def call_with(read):
        _rotary.rope_and_cache_mla(read(q_pe, "q_pe"), read(k_pe, "k_pe"), read(kv_c, "kv_c"),
                                   read(kv_cache, "kv_cache"), _slots(read, slots, slot_index, cache_lens),
                                   _read_scale(read, scale, "kv_scale"),
                                   _positions(read, offsets, position_ids, cu_seqlens, starts, offset),
                                   _call.options(options), _call.stream_of(q_pe))
    _call.read_with_fallback(call_with)


_rope_and_cache_mla = torch.library.custom_op(_lib + "rope_and_cache_mla", _rope_and_cache_mla_run,
                                              mutates_args=("q_pe", "kv_cache"))


class _Change(NamedTuple):  # a FrequencyChange: the old frequencies (as RopeOptions) and positions
    options: object
    positions: object


def _shift_cache_run(k_cache: Tensor, deltas: Tensor, row_counts: Optional[Tensor], kv_layout: str,
                     k_scale: Optional[Tensor], from_options: Optional[str], from_positions: Optional[Tensor],
                     options: str) -> None:
    def call_with(read):
        change = None if from_options is None else _Change(_call.options(from_options),
                                                          read(from_positions, "from_positions"))
        _rotary.shift_cache(read(k_cache, "k_cache"), kv_layout, read(deltas, "deltas"),
                            _optional(read, row_counts, "row_counts"), _call.options(options),
                            _read_scale(read, k_scale, "k_scale"), change, _call.stream_of(k_cache))
    _call.read_with_fallback(call_with)


_shift_cache = torch.library.custom_op(_lib + "shift_cache", _shift_cache_run, mutates_args=("k_cache",))


@_rms_norm_rope.register_fake
def _(q, k, q_weight, k_weight, eps, unit_offset, offsets, position_ids, cu_seqlens, starts, offset, options):
    return torch.empty_like(q), torch.empty_like(k)


for _op in (_rope_and_cache, _rms_norm_rope_inplace, _rope_and_cache_mla, _shift_cache):
    _op.register_fake(lambda *args: None)


def _check_tensors(api, **tensors):
    for name, t in tensors.items():
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"[{api}] {name} must be a torch.Tensor but got {type(t).__name__}.")
        if t is not None and torch.is_grad_enabled() and t.requires_grad:
            raise ValueError(f"[{api}] {name} requires grad; the fused paths are for inference (torch.no_grad()).")


def _slot_args(api, q, slot_mapping, block_table, cache_lens, write_positions):
    """(kind, index, lens) of the one slot addressing given, as tensors on q's device."""
    given = [n for n, v in (("slot_mapping", slot_mapping), ("block_table", block_table),
                            ("write_positions", write_positions)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"[{api}] give exactly one of slot_mapping, block_table (with cache_lens) and "
                         f"write_positions; got {given or 'none'}.")
    if (block_table is None) != (cache_lens is None):
        raise ValueError(f"[{api}] block_table and cache_lens go together.")
    index = {"slot_mapping": slot_mapping, "block_table": block_table, "write_positions": write_positions}[given[0]]
    return given[0], _call.index_array(index, q, given[0]), _call.index_array(cache_lens, q, "cache_lens")


def _layout(api, kv_layout):
    if kv_layout not in _LAYOUTS:
        raise ValueError(f'[{api}] kv_layout must be "NHD" or "HND" but got {kv_layout!r}.')
    return kv_layout


def _scale(api, name, scale, through_ops):
    """A FP8 scale for _rotary, which reads it (a float, or a tensor holding one number) on the
    host: the kernels take the scale as a number, so a device tensor is copied to the host (a
    stream sync in eager mode, which a CUDA graph capture cannot hold: refused there by name;
    a graph op under torch.compile, no graph break). The operators take tensors: there a number
    becomes a 0-d float64 tensor (rounded to float once, in C++, as a float is)."""
    if scale is None:
        return None
    if isinstance(scale, Tensor):
        if scale.device.type == "cpu":
            return scale
        if scale.device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            raise RuntimeError(f"[{api}] {name} is a CUDA tensor, which is read on the host: a CUDA graph capture "
                               f"cannot wait for that copy; pass {name} as a float or a CPU tensor when capturing.")
        return scale.cpu()
    return torch.tensor(float(scale), dtype=torch.float64) if through_ops else float(scale)


def _dispatch(through_ops, op, run, args, written):
    """op(*args) where torch must see the call (torch.compile, tracing, tensor subclasses: the
    rules of the rope calls, _core._through_ops), else the op's body run(*args) directly (the
    operator's own layers are most of a decode step's cost), bumping the version counters of
    what it writes as the operator does."""
    if through_ops:
        return op(*args)
    result = run(*args)
    _core._increment_version(written)
    return result


def _norm_args(api, q_weight, k_weight, eps, unit_offset):
    if (q_weight is None) != (k_weight is None):
        raise ValueError(f"[{api}] q_norm_weight and k_norm_weight go together.")
    return q_weight, k_weight, float(eps), bool(unit_offset)


def _plain(*tensors):
    return [t for t in tensors if t is not None]


def rope_and_cache(q, k, v, k_cache, v_cache=None, *, slot_mapping=None, block_table=None, cache_lens=None,
                   write_positions=None, kv_layout="NHD", k_scale=None, v_scale=None, q_norm_weight=None,
                   k_norm_weight=None, norm_eps=1e-6, norm_unit_offset=False, **rope):
    api = "rope_and_cache"
    _check_tensors(api, q=q, k=k, v=v, k_cache=k_cache, v_cache=v_cache)
    call = _call.make_call(q, **rope)
    kind, index, lens = _slot_args(api, q, slot_mapping, block_table, cache_lens, write_positions)
    norm = _norm_args(api, q_norm_weight, k_norm_weight, norm_eps, norm_unit_offset)
    ops = _core._through_ops(_plain(q, k, v, k_cache, v_cache))
    _dispatch(ops, _rope_and_cache, _rope_and_cache_run,
              (q, k, v, k_cache, v_cache, index, lens, kind, _layout(api, kv_layout),
               _scale(api, "k_scale", k_scale, ops), _scale(api, "v_scale", v_scale, ops), *norm, call.offsets,
               call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options), _plain(q, k_cache, v_cache))
    return q


def rms_norm_rope(q, k, q_weight, k_weight, *, eps=1e-6, unit_offset=False, inplace=False, **rope):
    api = "rms_norm_rope"
    _check_tensors(api, q=q, k=k, q_weight=q_weight, k_weight=k_weight)
    call = _call.make_call(q, **rope)
    args = (q, k, q_weight, k_weight, float(eps), bool(unit_offset), call.offsets, call.position_ids,
            call.cu_seqlens, call.starts, call.offset, call.options)
    ops = _core._through_ops((q, k, q_weight, k_weight))
    if inplace:
        _dispatch(ops, _rms_norm_rope_inplace, _rms_norm_rope_inplace_run, args, [q, k])
        return q, k
    return _dispatch(ops, _rms_norm_rope, _rms_norm_rope_run, args, [])


def rope_and_cache_mla(q_pe, k_pe, kv_c, kv_cache, *, slot_mapping=None, block_table=None, cache_lens=None,
                       write_positions=None, kv_scale=None, **rope):
    api = "rope_and_cache_mla"
    _check_tensors(api, q_pe=q_pe, k_pe=k_pe, kv_c=kv_c, kv_cache=kv_cache)
    call = _call.make_call(q_pe, **rope)
    kind, index, lens = _slot_args(api, q_pe, slot_mapping, block_table, cache_lens, write_positions)
    ops = _core._through_ops((q_pe, k_pe, kv_c, kv_cache))
    _dispatch(ops, _rope_and_cache_mla, _rope_and_cache_mla_run,
              (q_pe, k_pe, kv_c, kv_cache, index, lens, kind, _scale(api, "kv_scale", kv_scale, ops), call.offsets,
               call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options), [q_pe, kv_cache])
    return q_pe


def _from_options(api, from_freqs, from_positions):
    """The options key holding the frequencies the keys were cached with (a FrequencyChange)."""
    if (from_freqs is None) != (from_positions is None):
        raise ValueError(f"[{api}] from_freqs and from_positions go together.")
    if from_freqs is None:
        return None
    if not isinstance(from_freqs, _rotary.Frequencies):
        raise TypeError(f"[{api}] from_freqs must be a rotary.Frequencies but got {type(from_freqs).__name__}.")
    return _frequencies_key(from_freqs)


@torch.compiler.assume_constant_result  # a constant under torch.compile (Frequencies are, _call)
def _frequencies_key(freqs) -> str:
    return _rotary.RopeOptions(freqs=freqs).key


def shift_cache(k_cache, deltas, *, row_counts=None, kv_layout="NHD", k_scale=None, from_freqs=None,
                from_positions=None, **rope):
    api = "shift_cache"
    _check_tensors(api, k_cache=k_cache)
    call = _call.make_call(k_cache, **rope)
    if call.offset or any(a is not None for a in call[2:]):
        raise ValueError(f"[{api}] the shift is given by deltas; positions (offset, position_ids, cu_seqlens, "
                         f"starts) do not apply.")
    ops = _core._through_ops((k_cache,))
    _dispatch(ops, _shift_cache, _shift_cache_run,
              (k_cache, _call.index_array(deltas, k_cache, "deltas"),
               _call.index_array(row_counts, k_cache, "row_counts"), _layout(api, kv_layout),
               _scale(api, "k_scale", k_scale, ops),
               _from_options(api, from_freqs, from_positions),
               _call.index_array(from_positions, k_cache, "from_positions"), call.options), [k_cache])
    return k_cache


_SLOTS_DOC = """
    Slots (exactly one):
    slot_mapping: integer (num_tokens,) or (B, T): token n goes to page slot // rows, row
        slot % rows (vLLM's reshape_and_cache); a negative slot (padding) writes nothing.
    block_table, cache_lens: (num_seqs, max_blocks) and (num_seqs,): the j-th new token of
        sequence s goes to cache position c = cache_lens[s] + j, page block_table[s, c // rows],
        row c % rows (FlashInfer, flash-attn).
    write_positions: (num_seqs,): contiguous cache, page s, row write_positions[s] + j.
"""

rope_and_cache.__doc__ = """RoPE + KV-cache append in one pass; returns q (rotated in place).

    q, k, v: (B, T, H, D) with seq_axis=-3 (vLLM), (B, H, T, D) by default, or (N, H, D) with
    cu_seqlens; q and k may have different head counts (GQA); v has k's heads and tokens and
    its own head size; v and v_cache may be None (keys only). k and v are only read.
    k_cache, v_cache: (pages, rows, H_kv, D) for kv_layout="NHD", (pages, H_kv, rows, D) for
    "HND"; dtype q's, float32 or torch.float8_e4m3fn (then k_scale / v_scale are required:
    floats, or tensors holding one number, e.g. an engine's (1,) float32 scales).
    q_norm_weight, k_norm_weight, norm_eps, norm_unit_offset: per-head RMSNorm of q and k
        first (Qwen3, OLMo 2; unit_offset=True for Gemma's (1 + w)), in the same pass.
""" + _SLOTS_DOC + _call.ARGUMENTS

rms_norm_rope.__doc__ = """Per-head RMSNorm of q and k, then RoPE, in one pass; returns (q_out, k_out).

    y = x / sqrt(mean(x^2) + eps) * w (or * (1 + w) with unit_offset, Gemma), accumulated in
    float32 or wider; q_weight, k_weight: (D,). Any even head size up to 512.
    inplace: write into q and k and return them.
""" + _call.ARGUMENTS

rope_and_cache_mla.__doc__ = """DeepSeek MLA: rotates q_pe in place and writes [kv_c, rope(k_pe)] per token.

    q_pe: (B, T, H, rope_dim) or (N, H, rope_dim), usually q[..., nope_dim:]; k_pe: (B, T,
    rope_dim) / (N, rope_dim); kv_c: (B, T, kv_lora_rank) / (N, kv_lora_rank); kv_cache:
    (pages, rows, kv_lora_rank + rope_dim), latent first (vLLM's concat_and_cache_mla). A FP8
    cache takes `kv_scale` for both parts. Returns q_pe.
""" + _SLOTS_DOC + _call.ARGUMENTS

shift_cache.__doc__ = """Re-rotates cached keys in place so a key cached at p reads as cached at p + delta.

    k_cache: (pages, rows, H, D) ("NHD") or (pages, H, rows, D) ("HND"). deltas: integer
    (pages,) (per sequence or per block) or (pages, rows) (per row), any sign; with M-RoPE
    (mrope_section=...) one delta per position stream, (3, pages) or (3, pages, rows): pair i
    turns by deltas[stream of i] * inv_freq[i] (a text shift passes the same delta thrice).
    row_counts: (pages,), only rows [0, row_counts[page]) are rotated. k_scale: a FP8 cache's
    scale. dims, traditional, base / freqs / inv_freq, scale and precision are those the keys
    were cached with; the delta's angle is formed exactly, and the attention factor is not
    applied again. Returns k_cache.
    from_freqs, from_positions: a regime change (LongRoPE: short -> long factors). The keys
        were rotated at positions p (from_positions: (pages,), row r at p[page] + r, or
        (pages, rows)) with the rotary.Frequencies from_freqs; afterwards they read as rotated
        at p + delta with this call's frequencies (freqs=...) and carry its attention factor
        (cos and sin rescaled by new / old factor). On CPU and CUDA caches.
""" + _call.ARGUMENTS
