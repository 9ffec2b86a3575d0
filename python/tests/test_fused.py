"""rotary.fused (torch.ops.rotary.rope_and_cache, rms_norm_rope(_), rope_and_cache_mla, shift_cache)
against the float64 oracle: q rotated as rotary's C++ oracle rotates it, the caches holding the
oracle's rotated k and the exact v (FP8: within one e4m3 ulp of the correctly rounded value),
FP8 bit format equal to torch.float8_e4m3fn, opcheck, torch.compile, errors that write nothing."""
import numpy as np
import pytest
import torch
import torch._dynamo.testing

import rotary
from rotary import _core

OPS = torch.ops.rotary
FP8 = torch.float8_e4m3fn
TOL = {torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-13}


def close(got, exact, dtype):
    """got within the dtype's rounding of the float64 exact (relative to the largest value)."""
    got = got.double().numpy() if isinstance(got, torch.Tensor) else got
    scale = max(1.0, float(np.abs(exact).max()))
    assert np.abs(got - exact).max() <= TOL[dtype] * scale, np.abs(got - exact).max()


def e4m3_ulp(r):
    """Spacing of e4m3 values at |r| (3 mantissa bits, subnormal spacing 2^-9)."""
    e = np.floor(np.log2(np.maximum(np.abs(r), 2.0 ** -6)))
    return 2.0 ** (e - 3)


def fp8_close(cache, exact_stored):
    """A FP8 cache within one e4m3 ulp of the correctly rounded stored value (saturated at 448)."""
    rounded = torch.from_numpy(np.clip(exact_stored, -448, 448)).float().to(FP8).double().numpy()
    assert (np.abs(cache.double().numpy() - rounded) <= e4m3_ulp(rounded)).all()


# --- the oracle of where rows go -------------------------------------------------------------

def slot_of(kind, index, lens, rows, s, j, n):
    """(page, row) of the j-th new token of sequence s (flat token n), or None (padding)."""
    if kind == "slot_mapping":
        slot = int(index.reshape(-1)[n])
        return None if slot < 0 else (slot // rows, slot % rows)
    if kind == "write_positions":
        return s, int(index[s]) + j
    c = int(lens[s]) + j
    return int(index[s, c // rows]), c % rows


def scatter(cache, rows_btHd, kind, index, lens, layout, scale=1.0):
    """The cache (float64 copy) with token (b, t)'s rows (B, T, H, D) written at its slot."""
    out = cache.double().numpy().copy() * (scale if cache.dtype == FP8 else 1.0)
    B, T = rows_btHd.shape[:2]
    nrows = out.shape[1] if layout == "NHD" else out.shape[2]
    for b in range(B):
        for t in range(T):
            where = slot_of(kind, index.numpy(), None if lens is None else lens.numpy(), nrows, b, t, b * T + t)
            if where is None:
                continue
            page, row = where
            if layout == "NHD":
                out[page, row] = rows_btHd[b, t]
            else:
                out[page, :, row] = rows_btHd[b, t]
    return out / (scale if cache.dtype == FP8 else 1.0)


B, T, HQ, HK, D, DV, PAGES, ROWS = 2, 3, 4, 2, 16, 8, 5, 4


def slot_args(kind):
    """Slots for B sequences of T new tokens in a cache of PAGES pages of ROWS rows."""
    if kind == "slot_mapping":
        m = torch.tensor([[9, 2, -1], [17, 18, 4]])  # -1: padding, written nowhere
        return dict(slot_mapping=m), (m, None)
    if kind == "block_table":
        table, lens = torch.tensor([[3, 1], [0, 4]]), torch.tensor([2, 1])
        return dict(block_table=table, cache_lens=lens), (table, lens)
    starts = torch.tensor([1, 0])
    return dict(write_positions=starts), (starts, None)


def make_cache(shape_rows, heads, dim, dtype, layout, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (PAGES, shape_rows, heads, dim) if layout == "NHD" else (PAGES, heads, shape_rows, dim)
    return torch.randn(shape, generator=g).to(dtype)


@pytest.mark.parametrize("layout", ["NHD", "HND"])
@pytest.mark.parametrize("kind", ["slot_mapping", "block_table", "write_positions"])
@pytest.mark.parametrize("dtype,cache_dtype", [(torch.float32, None), (torch.bfloat16, None),
                                               (torch.float16, torch.float32), (torch.bfloat16, FP8)])
def test_rope_and_cache_matches_the_oracle(layout, kind, dtype, cache_dtype):
    torch.manual_seed(1)
    cache_dtype = cache_dtype or dtype
    q, k = torch.randn(B, T, HQ, D).to(dtype), torch.randn(B, T, HK, D).to(dtype)
    v = torch.randn(B, T, HK, DV).to(dtype)
    rows = ROWS if kind != "write_positions" else T + 1
    k_cache, v_cache = make_cache(rows, HK, D, cache_dtype, layout, 2), make_cache(rows, HK, DV, cache_dtype, layout, 3)
    k_cache0, v_cache0 = k_cache.clone(), v_cache.clone()
    kw, (index, lens) = slot_args(kind)
    scales = dict(k_scale=0.02, v_scale=0.015) if cache_dtype == FP8 else {}
    rope = dict(seq_axis=-3, position_ids=torch.tensor([[5, 6, 7], [100, 101, 102]]), traditional=True)
    q0 = q.clone()
    out = rotary.rope_and_cache(q, k, v, k_cache, v_cache, kv_layout=layout, **kw, **scales, **rope)
    assert out is q
    close(q, _core.oracle(q0, **rope), dtype)
    k_exact = _core.oracle(k, **rope)
    k_want = scatter(k_cache0, k_exact, kind, index, lens, layout, scales.get("k_scale", 1.0))
    v_want = scatter(v_cache0, v.double().numpy(), kind, index, lens, layout, scales.get("v_scale", 1.0))
    if cache_dtype == FP8:
        fp8_close(k_cache, k_want)
        fp8_close(v_cache, v_want)
    else:
        close(k_cache, k_want, cache_dtype if cache_dtype != torch.float32 else dtype)
        assert np.array_equal(v_cache.double().numpy(), v_want)  # v exact (dtype conversion only)


def test_gqa_ragged_keys_only_and_combined_cache():
    torch.manual_seed(2)
    cu = torch.tensor([0, 2, 5])
    q, k, v = torch.randn(5, HQ, D), torch.randn(5, HK, D), torch.randn(5, HK, D)
    kv = torch.randn(PAGES, 2, ROWS, HK, D)  # combined: kv[:, 0] keys, kv[:, 1] values
    kv0 = kv.clone()
    slots = torch.tensor([0, 1, 8, 9, 10])
    q0 = q.clone()
    rotary.rope_and_cache(q, k, v, kv[:, 0], kv[:, 1], slot_mapping=slots, cu_seqlens=cu, starts=torch.tensor([3, 0]))
    close(q, _core.oracle(q0, cu_seqlens=cu, starts=torch.tensor([3, 0])), torch.float32)
    k_exact = _core.oracle(k, cu_seqlens=cu, starts=torch.tensor([3, 0]))
    want = kv0.double().numpy().copy()
    for n, s in enumerate(slots.tolist()):
        want[s // ROWS, 0, s % ROWS] = k_exact[n]
        want[s // ROWS, 1, s % ROWS] = v[n].double().numpy()
    close(kv, want, torch.float32)
    k_cache = torch.zeros(PAGES, ROWS, HK, D)
    rotary.rope_and_cache(q.clone(), k, None, k_cache, slot_mapping=slots, cu_seqlens=cu)  # keys only
    close(k_cache[slots // ROWS, slots % ROWS], _core.oracle(k, cu_seqlens=cu), torch.float32)


def test_fp8_bit_format_is_torch_float8_e4m3fn():
    # At position 0 the rotation is exact (cos 1, sin 0), so the cache holds (k / scale) rounded:
    # bit for bit torch's own float32 -> float8_e4m3fn cast (nearest even, saturating at 448),
    # over every e4m3 value (subnormals, 448, NaN 0x7f / 0xff), halfway cases and overflow.
    patterns = torch.arange(256, dtype=torch.uint8).view(FP8).float()  # pairs (i, i + 128): 0x7f with 0xff
    finite = patterns[torch.isfinite(patterns)]
    halfway = (finite[1:64] + finite[:63]) / 2
    extra = torch.cat([halfway, torch.tensor([464.0, 1000.0, -1000.0, 1e30, 2.0 ** -10, -(2.0 ** -10)])])
    extra = torch.cat([extra, torch.zeros(256 - extra.numel())])
    for values, scale in ((patterns, 1.0), (extra, 1.0), (torch.randn(256) * 30, 0.07)):
        k = values.reshape(1, 1, 1, 256)
        cache = torch.zeros(1, 1, 1, 256, dtype=FP8)
        rotary.rope_and_cache(torch.zeros(1, 1, 1, 256), k, None, cache, write_positions=torch.tensor([0]),
                              k_scale=scale, seq_axis=-3)
        want = (k / scale).to(FP8)
        nan, zero = torch.isnan(want.float()), want.float() == 0
        exact = ~nan & ~zero  # -0 paired with +0 rotates to +0 (-0 * 1 + 0 * 0): equal as values
        assert torch.equal(cache.view(torch.uint8)[exact], want.view(torch.uint8)[exact])
        assert (cache.float()[zero] == 0).all()
        assert torch.isnan(cache.float()[nan]).all()
    assert torch.tensor([1000.0]).to(FP8).view(torch.uint8).item() == 0x7e  # 448: torch saturates too


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("unit_offset", [False, True])
def test_rms_norm_rope(dtype, unit_offset):
    torch.manual_seed(3)
    Dh = 80  # not a multiple of 64
    q, k = torch.randn(2, 3, 5, Dh).to(dtype), torch.randn(2, 3, 2, Dh).to(dtype)
    wq, wk = torch.randn(Dh) * 0.1 + 1, torch.randn(Dh) * 0.1 + 1
    rope = dict(seq_axis=-3, offset=torch.tensor([7, 900]))

    def exact(x, w):
        x = x.double().numpy()
        w = w.double().numpy() + (1.0 if unit_offset else 0.0)
        return _core.oracle(x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * w, **rope)

    q_out, k_out = rotary.rms_norm_rope(q, k, wq, wk, eps=1e-5, unit_offset=unit_offset, **rope)
    close(q_out, exact(q, wq), dtype)
    close(k_out, exact(k, wk), dtype)
    q2, k2 = q.clone(), k.clone()
    assert rotary.rms_norm_rope(q2, k2, wq, wk, eps=1e-5, unit_offset=unit_offset, inplace=True, **rope)[0] is q2
    assert torch.equal(q2, q_out) and torch.equal(k2, k_out)
    # The same norm continuing into the cache write.
    cache = torch.zeros(2, 4, 2, Dh, dtype=dtype)
    q3 = q.clone()
    rotary.rope_and_cache(q3, k, None, cache, write_positions=torch.tensor([0, 1]), q_norm_weight=wq,
                          k_norm_weight=wk, norm_eps=1e-5, norm_unit_offset=unit_offset, **rope)
    assert torch.equal(q3, q_out)
    assert torch.equal(cache[0, :3], k_out[0]) and torch.equal(cache[1, 1:], k_out[1])


@pytest.mark.parametrize("head_dim", [2, 6, 512])
def test_rms_norm_rope_any_even_head_size(head_dim):
    torch.manual_seed(head_dim)
    q, k = torch.randn(1, 2, 3, head_dim), torch.randn(1, 1, 3, head_dim)
    w = torch.rand(head_dim) + 0.5
    q_out, k_out = rotary.rms_norm_rope(q, k, w, w, offset=11)
    for x, got in ((q, q_out), (k, k_out)):
        xd = x.double().numpy()
        close(got, _core.oracle(xd / np.sqrt((xd * xd).mean(-1, keepdims=True) + 1e-6) * w.double().numpy(),
                                offset=11), torch.float32)


@pytest.mark.parametrize("cache_dtype", [torch.bfloat16, FP8])
def test_rope_and_cache_mla(cache_dtype):
    torch.manual_seed(4)
    H, nope, rope_dim, rank = 4, 16, 8, 32
    q = torch.randn(B, T, H, nope + rope_dim, dtype=torch.bfloat16)
    k_pe, kv_c = torch.randn(B, T, rope_dim, dtype=torch.bfloat16), torch.randn(B, T, rank, dtype=torch.bfloat16)
    kv_cache = torch.zeros(PAGES, ROWS, rank + rope_dim, dtype=cache_dtype)
    slots = torch.tensor([[3, 4, 5], [12, 13, 14]])
    q0 = q.clone()
    scale = dict(kv_scale=0.05) if cache_dtype == FP8 else {}
    rotary.rope_and_cache_mla(q[..., nope:], k_pe, kv_c, kv_cache, slot_mapping=slots, offset=torch.tensor([2, 40]),
                              seq_axis=-3, **scale)
    assert torch.equal(q[..., :nope], q0[..., :nope])
    close(q[..., nope:], _core.oracle(q0[..., nope:], offset=torch.tensor([2, 40]), seq_axis=-3), torch.bfloat16)
    k_exact = _core.oracle(k_pe[:, :, None], offset=torch.tensor([2, 40]), seq_axis=-3)[:, :, 0]
    want = np.concatenate([kv_c.double().numpy(), k_exact], -1)
    flat = kv_cache.view(torch.uint8) if cache_dtype == FP8 else kv_cache  # FP8 has no indexing kernel
    got = flat.view(-1, rank + rope_dim)[slots.reshape(-1)].view(cache_dtype).reshape(B, T, -1)
    if cache_dtype == FP8:
        fp8_close(got, want / 0.05)
    else:
        assert torch.equal(got[..., :rank], kv_c)
        close(got[..., rank:], k_exact, torch.bfloat16)


@pytest.mark.parametrize("layout", ["NHD", "HND"])
def test_shift_cache_equals_rope_at_the_sum(layout):
    torch.manual_seed(5)
    k = torch.randn(3, 6, 2, 32)  # (B, T, H, D): page b holds sequence b
    p0, delta = torch.tensor([0, 500, 70000]), torch.tensor([9, -500, 123])
    cache = rotary.rope(k, offset=p0, seq_axis=-3)
    if layout == "HND":
        cache = cache.transpose(1, 2).contiguous()
    version = cache._version
    rotary.shift_cache(cache, delta, kv_layout=layout)
    assert cache._version > version
    got = cache if layout == "NHD" else cache.transpose(1, 2)
    close(got, _core.oracle(k, offset=p0 + delta, seq_axis=-3), torch.float32)


def test_shift_cache_mrope_and_longrope_regime_change():
    torch.manual_seed(6)
    k = torch.randn(2, 4, 1, 16)
    sections = dict(mrope_section=[2, 3, 3], base=1e6)
    ids = torch.stack([torch.arange(4).expand(2, 4) + 10, torch.full((2, 4), 3), torch.full((2, 4), 5)])
    cache = rotary.rope(k, position_ids=ids, seq_axis=-3, **sections)
    deltas = torch.tensor([[4, -2], [1, 0], [0, 7]])  # (streams, pages): one delta per stream
    rotary.shift_cache(cache, deltas, **sections)
    close(cache, _core.oracle(k, position_ids=ids + deltas[:, :, None], seq_axis=-3, **sections), torch.float32)
    # LongRoPE: keys cached with the short factors (attention factor 1) become keys rotated with
    # the long factors and their attention factor.
    params = dict(short_factor=[1.0 + 0.1 * i for i in range(8)], long_factor=[1.0 + 2 * i for i in range(8)],
                  original_max_position_embeddings=4096, factor=16.0)
    short = rotary.scaling.longrope(16, 10000.0, length=4096, **params)
    long = rotary.scaling.longrope(16, 10000.0, length=65536, **params)
    short = short.replace(attention_factor=1.0)
    p0 = torch.tensor([4000, 4090])
    cache = rotary.rope(k, offset=p0, freqs=short, seq_axis=-3)
    rotary.shift_cache(cache, torch.tensor([3, 10]), freqs=long, from_freqs=short, from_positions=p0)
    close(cache, _core.oracle(k, offset=p0 + torch.tensor([3, 10]), freqs=long, seq_axis=-3), torch.float32)


# --- errors write nothing ------------------------------------------------------------------------

def refused(match, call, *tensors):
    before = [t.clone() for t in tensors]
    with pytest.raises((ValueError, TypeError), match=match):
        call()
    for t, t0 in zip(tensors, before):
        assert torch.equal(t.view(torch.uint8) if t.dtype == FP8 else t, t0.view(torch.uint8) if t.dtype == FP8 else t0)


def test_errors_name_the_argument_and_leave_the_cache_unchanged():
    q, k, v = torch.randn(1, 2, HQ, D), torch.randn(1, 2, HK, D), torch.randn(1, 2, HK, D)
    kc, vc = torch.randn(PAGES, ROWS, HK, D), torch.randn(PAGES, ROWS, HK, D)
    ok = dict(seq_axis=-3)
    refused("slot_mapping", lambda: rotary.rope_and_cache(q, k, v, kc, vc, slot_mapping=torch.tensor([[0, 20]]), **ok),
            q, kc, vc)
    refused("block_table", lambda: rotary.rope_and_cache(q, k, v, kc, vc, block_table=torch.tensor([[0]]),
                                                         cache_lens=torch.tensor([3]), **ok), q, kc, vc)
    refused("cache.k must have the dtype", lambda: rotary.rope_and_cache(
        q, k, v, kc.half(), vc, slot_mapping=torch.tensor([[0, 1]]), **ok), q, vc)
    f8 = torch.zeros(PAGES, ROWS, HK, D, dtype=FP8)
    refused("k_scale is not given", lambda: rotary.rope_and_cache(q, k, v, f8, vc, slot_mapping=torch.tensor([[0, 1]]),
                                                                  **ok), q, f8, vc)
    e5m2 = torch.zeros(PAGES, ROWS, HK, D, dtype=torch.float8_e5m2)  # not a rotary cache dtype
    refused("k_cache has an unsupported element type", lambda: rotary.rope_and_cache(
        q, k, v, e5m2, vc, slot_mapping=torch.tensor([[0, 1]]), k_scale=1.0, **ok), q, e5m2, vc)
    refused("kv_layout", lambda: rotary.rope_and_cache(q, k, v, kc, vc, slot_mapping=torch.tensor([[0, 1]]),
                                                       kv_layout="BHSD", **ok), q, kc, vc)
    refused("exactly one of slot_mapping", lambda: rotary.rope_and_cache(q, k, v, kc, vc, **ok), q, kc, vc)
    refused("scale is not given", lambda: rotary.shift_cache(f8, torch.zeros(PAGES, dtype=torch.int64)), f8)
    refused("deltas must have shape", lambda: rotary.shift_cache(kc, torch.zeros(2, dtype=torch.int64)), kc)
    refused("torch.Tensor", lambda: rotary.rope_and_cache(q.numpy(), k, v, kc, vc, slot_mapping=[[0, 1]], **ok), kc)
    refused("requires grad", lambda: rotary.rope_and_cache(q.clone().requires_grad_(True), k, v, kc, vc,
                                                           slot_mapping=torch.tensor([[0, 1]]), **ok), kc, vc)
    refused(r"deltas must have shape \(3, 5,\)", lambda: rotary.shift_cache(kc, torch.zeros(PAGES, dtype=torch.int64),
                                                                        mrope_section=[2, 3, 3]), kc)
    zero = torch.zeros(PAGES, dtype=torch.int64)
    refused("from_freqs and from_positions go together",
            lambda: rotary.shift_cache(kc, zero, from_freqs=rotary.Frequencies([1.0] * 8)), kc)
    refused("positions .* do not apply", lambda: rotary.shift_cache(kc, zero, offset=3), kc)
    f8v = torch.zeros(PAGES, ROWS, HK, D, dtype=FP8)
    slots = torch.tensor([[0, 1]])
    refused(r"\[rope_and_cache\] v_scale must be one number but has shape \(2,\)", lambda: rotary.rope_and_cache(
        q, k, v, f8, f8v, slot_mapping=slots, k_scale=torch.tensor(0.1), v_scale=torch.ones(2), **ok), q, f8, f8v)
    refused("k_scale has an unsupported element type", lambda: rotary.rope_and_cache(
        q, k, v, f8, f8v, slot_mapping=slots, k_scale=torch.ones((), dtype=torch.int8), v_scale=1.0, **ok), q, f8, f8v)
    refused(r"\[shift_cache\] k_scale must be one number", lambda: rotary.shift_cache(f8, zero, k_scale=torch.ones(0)),
            f8)
    refused("must be finite and positive", lambda: rotary.rope_and_cache_mla(
        q[..., :8], k[:, :, 0, :8], v[:, :, 0, :8], torch.zeros(PAGES, ROWS, 16, dtype=FP8), slot_mapping=slots,
        kv_scale=torch.tensor(-1.0), **ok), q)


def test_tensors_are_read_without_capsules_and_unreadable_ones_fall_back(monkeypatch):
    q, k, v = torch.randn(1, 2, HQ, D), torch.randn(1, 2, HK, D), torch.randn(1, 2, HK, D)
    kc, vc = torch.zeros(PAGES, ROWS, HK, D), torch.zeros(PAGES, ROWS, HK, D)
    w, slots = torch.ones(D), torch.tensor([[0, 1]])
    want_q, want_k = rotary.rms_norm_rope(q, k, w, w, seq_axis=-3, offset=4)
    with monkeypatch.context() as m:  # the extension reads torch tensors itself: no DLPack capsule
        m.setattr(rotary._call, "view", lambda *a: pytest.fail("a capsule was made"))
        rotary.rope_and_cache(q, k, v, kc, vc, slot_mapping=slots, q_norm_weight=w, k_norm_weight=w,
                              seq_axis=-3, offset=4)
        rotary.shift_cache(kc, torch.zeros(PAGES, dtype=torch.int64), k_scale=None)
    assert torch.equal(q, want_q) and torch.equal(kc[0, :2], want_k[0])
    # A sparse tensor is not read by the extension: view() names what is wrong, nothing is written.
    refused("dense", lambda: rotary.rope_and_cache(q.to_sparse(), k, v, kc, vc, slot_mapping=slots, seq_axis=-3),
            kc, vc)
    refused("dense", lambda: rotary.rms_norm_rope(q, k.to_sparse(), w, w, inplace=True), q)
    refused("k is a negated view", lambda: rotary.rope_and_cache(q, torch._neg_view(k), v, kc, vc, slot_mapping=slots,
                                                                 seq_axis=-3), q, kc, vc)


# --- torch.library ---------------------------------------------------------------------------------

def test_opcheck():
    torch.manual_seed(7)
    q, k, v = torch.randn(2, 3, HQ, D), torch.randn(2, 3, HK, D), torch.randn(2, 3, HK, DV)
    # FP8 caches: every check but test_schema. Its comparison of the mutated tensors multiplies
    # them, and torch 2.15 has no float8 multiply on the CPU (it raises for mul_cpu_reduced_float);
    # the FP8 cache contents are checked against the oracle in the tests above instead.
    every = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    for cache_dtype, scale, utils in ((torch.float32, None, every), (FP8, torch.tensor(0.05), every[1:])):
        kc = torch.zeros(PAGES, ROWS, HK, D, dtype=cache_dtype)
        vc = torch.zeros(PAGES, HK, ROWS, DV, dtype=cache_dtype).transpose(1, 2)  # a strided view
        call = _core._call.make_call(q, seq_axis=-3, offset=torch.tensor([1, 9]))
        pos = (call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)
        torch.library.opcheck(OPS.rope_and_cache.default,
                              (q.clone(), k, v, kc, vc, torch.tensor([[0, 1, 2], [8, 9, -1]]), None, "slot_mapping",
                               "NHD", scale, scale, None, None, 1e-6, False) + pos, test_utils=utils)
    w = torch.ones(D)
    torch.library.opcheck(OPS.rms_norm_rope.default, (q, k, w, w, 1e-6, False) + pos)
    torch.library.opcheck(OPS.rms_norm_rope_.default, (q.clone(), k.clone(), w, w, 1e-6, True) + pos)
    kv = torch.zeros(PAGES, ROWS, 24)
    torch.library.opcheck(OPS.rope_and_cache_mla.default,
                          (torch.randn(2, 3, HQ, 24)[..., 16:], torch.randn(2, 3, 8), torch.randn(2, 3, 16), kv,
                           torch.tensor([[0, 1, 2], [3, 4, 5]]), None, "slot_mapping", None)
                          + pos[:5] + (_core._call.make_call(torch.zeros(8), seq_axis=-3).options,))
    torch.library.opcheck(OPS.shift_cache.default,
                          (torch.randn(PAGES, ROWS, HK, D), torch.arange(PAGES), None, "NHD", None, None, None,
                           call.options))
    # Tensor scales (FP8) and a frequency change: every check but test_schema (as above).
    keys = (torch.randn(PAGES, ROWS, HK, D) * 3).to(FP8)
    from_key = rotary.fused._frequencies_key(rotary.Frequencies.from_base(D, 500.0))
    torch.library.opcheck(OPS.shift_cache.default, (keys, torch.arange(PAGES), None, "NHD", torch.tensor([0.03]),
                                                    from_key, torch.arange(PAGES) * 4, call.options),
                          test_utils=every[1:])
    torch.library.opcheck(OPS.rope_and_cache_mla.default,
                          (torch.randn(2, 3, HQ, 24)[..., 16:], torch.randn(2, 3, 8), torch.randn(2, 3, 16),
                           torch.zeros(PAGES, ROWS, 24, dtype=FP8), torch.tensor([[0, 1, 2], [3, 4, 5]]), None,
                           "slot_mapping", torch.tensor(0.05))
                          + pos[:5] + (_core._call.make_call(torch.zeros(8), seq_axis=-3).options,),
                          test_utils=every[1:])


def test_compiled_decode_step_has_no_graph_break_and_matches_eager():
    wq, wk = torch.rand(D) + 0.5, torch.rand(D) + 0.5

    def step(qkv, k_cache, v_cache, slots, pos):  # qkv: the projection's output, (B, 1, Hq + 2 Hkv, D)
        q, k, v = qkv[:, :, :HQ], qkv[:, :, HQ:HQ + HK], qkv[:, :, HQ + HK:]
        q = rotary.rope_and_cache(q, k, v, k_cache, v_cache, slot_mapping=slots, position_ids=pos, seq_axis=-3,
                                  q_norm_weight=wq, k_norm_weight=wk, k_scale=0.05, v_scale=0.05)
        return q * 2

    def caches():
        return torch.zeros(PAGES, ROWS, HK, D, dtype=FP8), torch.zeros(PAGES, ROWS, HK, D, dtype=FP8)

    def run(fn, t):
        kc, vc = caches()
        qkv, slots, pos = torch.randn(2, 1, HQ + 2 * HK, D), torch.tensor([[t], [8 + t]]), torch.tensor([[t], [30 + t]])
        return fn(qkv, kc, vc, slots, pos), qkv, kc.view(torch.uint8), vc.view(torch.uint8)

    compiled = torch.compile(step, fullgraph=True)  # fullgraph: a graph break would raise
    counter = torch._dynamo.testing.CompileCounter()
    counted = torch.compile(step, fullgraph=True, backend=counter)
    for t in range(3):  # positions and slots change each step
        torch.manual_seed(t)
        eager = run(step, t)
        torch.manual_seed(t)
        got = run(compiled, t)
        torch.manual_seed(t)
        run(counted, t)
        for g, e in zip(got, eager):
            assert torch.equal(g, e)
        assert eager[2].any()
    assert counter.frame_count == 1  # one graph for every step


def fp8_step(k_scale, v_scale):
    """A decode step into FP8 caches with the given scales, its inputs and the caches' bits."""
    def step(qkv, k_cache, v_cache, slots, pos, k_scale, v_scale):
        q, k, v = qkv[:, :, :HQ], qkv[:, :, HQ:HQ + HK], qkv[:, :, HQ + HK:]
        q = rotary.rope_and_cache(q, k, v, k_cache, v_cache, slot_mapping=slots, position_ids=pos, seq_axis=-3,
                                  k_scale=k_scale, v_scale=v_scale)
        return q * 2

    def run(fn, t):
        torch.manual_seed(t)
        kc, vc = torch.zeros(PAGES, ROWS, HK, D, dtype=FP8), torch.zeros(PAGES, ROWS, HK, D, dtype=FP8)
        qkv, slots, pos = torch.randn(2, 1, HQ + 2 * HK, D) * 8, torch.tensor([[t], [8 + t]]), torch.tensor([[t], [9]])
        return fn(qkv, kc, vc, slots, pos, k_scale, v_scale), kc.view(torch.uint8), vc.view(torch.uint8)
    return step, run


def test_tensor_scales_compile_without_graph_break_and_equal_float_scales():
    k_scale, v_scale = torch.tensor(0.03), torch.tensor([0.011], dtype=torch.float32)  # 0-d and one element
    step, run = fp8_step(k_scale, v_scale)
    counter = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(step, fullgraph=True)  # fullgraph: an .item() graph break would raise
    counted = torch.compile(step, fullgraph=True, backend=counter)
    _, run_floats = fp8_step(0.03, 0.011)
    for t in range(3):
        eager, got, floats = run(step, t), run(compiled, t), run_floats(step, t)
        run(counted, t)
        for g, e, f in zip(got, eager, floats):
            assert torch.equal(g, e) and torch.equal(e, f)  # bit for bit; a tensor scale reads as its float
        assert eager[1].any() and eager[2].any()
    assert counter.frame_count == 1
    k_scale.fill_(0.06)  # the scale is data: a new value is read without recompiling
    _, run_new = fp8_step(0.06, 0.011)
    assert all(torch.equal(g, e) for g, e in zip(run(compiled, 5), run_new(step, 5)))
    run(counted, 5)
    assert counter.frame_count == 1


def test_tensor_scales_of_mla_and_shift_cache_equal_float_scales():
    torch.manual_seed(11)
    q_pe, k_pe, kv_c = torch.randn(1, 2, HQ, 8), torch.randn(1, 2, 8), torch.randn(1, 2, 16)
    caches = [torch.zeros(PAGES, ROWS, 24, dtype=FP8) for _ in range(2)]
    for cache, scale in zip(caches, (0.05, torch.tensor(0.05))):
        rotary.rope_and_cache_mla(q_pe.clone(), k_pe, kv_c, cache, slot_mapping=torch.tensor([[1, 2]]), offset=3,
                                  seq_axis=-3, kv_scale=scale)
    assert torch.equal(caches[0].view(torch.uint8), caches[1].view(torch.uint8)) and caches[0].float().any()
    keys = (torch.randn(PAGES, ROWS, HK, D) * 4).to(FP8)
    shifted = [keys.clone() for _ in range(3)]
    deltas = torch.arange(PAGES) * 7 - 9

    def shift(cache, scale):
        rotary.shift_cache(cache, deltas, k_scale=scale)
        return cache.float()
    shift(shifted[0], 0.02)
    shift(shifted[1], torch.tensor([0.02]))
    torch.compile(shift, fullgraph=True)(shifted[2], torch.tensor(0.02))
    assert torch.equal(shifted[0].view(torch.uint8), shifted[1].view(torch.uint8))
    assert torch.equal(shifted[0].view(torch.uint8), shifted[2].view(torch.uint8))
    assert not torch.equal(shifted[0].view(torch.uint8), keys.view(torch.uint8))


def test_compiled_shift_cache_with_a_frequency_change():
    params = dict(short_factor=[1.0 + 0.1 * i for i in range(8)], long_factor=[1.0 + 2 * i for i in range(8)],
                  original_max_position_embeddings=4096, factor=16.0)
    short = rotary.scaling.longrope(16, 10000.0, length=4096, **params)
    long = rotary.scaling.longrope(16, 10000.0, length=65536, **params)
    counter = torch._dynamo.testing.CompileCounter()

    def regime_change(cache, deltas, p0, new):
        rotary.shift_cache(cache, deltas, freqs=new, from_freqs=short, from_positions=p0)
        return cache * 1

    compiled = torch.compile(regime_change, fullgraph=True)  # Frequencies are constants: no graph break
    counted = torch.compile(regime_change, fullgraph=True, backend=counter)
    torch.manual_seed(12)
    k, p0, deltas = torch.randn(2, 4, 1, 16), torch.tensor([4000, 4090]), torch.tensor([3, 10])
    other = rotary.scaling.longrope(16, 10000.0, length=8192, **dict(params, long_factor=[3.0] * 8))
    for new in (long, other):
        cached = rotary.rope(k, offset=p0, freqs=short, seq_axis=-3)
        eager, got = regime_change(cached.clone(), deltas, p0, new), compiled(cached.clone(), deltas, p0, new)
        counted(cached.clone(), deltas, p0, new)
        assert torch.equal(got, eager) and not torch.equal(eager, cached)
        close(eager, _core.oracle(k, offset=p0 + deltas, freqs=new, seq_axis=-3), torch.float32)
    assert counter.frame_count == 2  # other frequencies: a recompile (guarded by equality), not a stale key


def test_compiled_qk_norm_attention_block():
    torch.manual_seed(9)
    w = torch.rand(D) + 0.5

    def block(q, k, v, pos):
        q, k = rotary.rms_norm_rope(q, k, w, w, eps=1e-6, position_ids=pos)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    compiled = torch.compile(block, fullgraph=True)
    for T_ in (5, 7):
        q, k, v = torch.randn(2, HQ, T_, D), torch.randn(2, HK, T_, D), torch.randn(2, HK, T_, D)
        pos = torch.arange(T_).expand(2, T_) + 3
        torch.testing.assert_close(compiled(q, k, v, pos), block(q, k, v, pos))


def test_inference_mode_runs_the_direct_path():
    torch.manual_seed(13)
    q, k, v = torch.randn(1, 2, HQ, D), torch.randn(1, 2, HK, D), torch.randn(1, 2, HK, D)
    want_q, kc_want = q.clone(), torch.zeros(PAGES, ROWS, HK, D)
    rotary.rope_and_cache(want_q, k, v, kc_want, torch.zeros_like(kc_want), slot_mapping=torch.tensor([[4, 5]]),
                          seq_axis=-3, offset=6)
    with torch.inference_mode():
        qi, kc, vc = q.clone(), torch.zeros(PAGES, ROWS, HK, D), torch.zeros(PAGES, ROWS, HK, D)
        rotary.rope_and_cache(qi, k, v, kc, vc, slot_mapping=torch.tensor([[4, 5]]), seq_axis=-3, offset=6)
    assert torch.equal(qi, want_q) and torch.equal(kc, kc_want) and torch.equal(vc[1, :2], v[0])


def test_version_counters_are_bumped():
    q, k = torch.randn(1, 1, HQ, D), torch.randn(1, 1, HK, D)
    kc = torch.zeros(PAGES, ROWS, HK, D)
    before = (q._version, kc._version)
    rotary.rope_and_cache(q, k, None, kc, slot_mapping=torch.tensor([[3]]), seq_axis=-3)
    assert q._version > before[0] and kc._version > before[1]
