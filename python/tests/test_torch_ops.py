"""torch.ops.rotary: opcheck, autograd on the op, torch.compile, torch.export, torch.jit.trace."""
import pytest
import torch
import torch._dynamo.testing

import rotary
from rotary import _call, _core, _ops

OPS = torch.ops.rotary


def ids_for(B, T, offset=3):
    return torch.arange(T).expand(B, T) + offset


def inputs():
    """(name, x) cases: contiguous, non-contiguous (B,T,H,D) views, slices of a fused qkv."""
    torch.manual_seed(0)
    qkv = torch.randn(2, 5, 3, 4, 8, dtype=torch.float64)
    return [
        ("contiguous", torch.randn(2, 4, 5, 8, dtype=torch.float64), -2),
        ("transposed", torch.randn(2, 5, 4, 8, dtype=torch.float64).transpose(1, 2), -2),
        ("bthd", torch.randn(2, 5, 4, 8, dtype=torch.float64), -3),
        ("qkv_slice", qkv[:, :, 0], -3),
    ]


@pytest.mark.parametrize("name,x,axis", inputs())
def test_opcheck_every_op(name, x, axis):
    for kw in (dict(offset=3), dict(position_ids=ids_for(2, 5)), dict(offset=torch.tensor([1, 7]), dims=4)):
        c = _call.make_call(x, seq_axis=axis, **kw)
        args = (c.offsets, c.position_ids, c.cu_seqlens, c.starts, c.offset, c.options)
        x1 = x.clone().requires_grad_(True) if x.is_contiguous() else x.detach().requires_grad_(True)
        torch.library.opcheck(OPS.rope.default, (x1,) + args)
        k = x[:, :1] if axis == -2 else x[:, :, :1]
        torch.library.opcheck(OPS.rope_qk.default, (x.detach().requires_grad_(True), k.detach().requires_grad_(True))
                              + args)
        torch.library.opcheck(OPS.rope_.default, (x.clone(),) + args)
        torch.library.opcheck(OPS.rope_qk_.default, (x.clone(), k.clone()) + args)
        torch.library.opcheck(OPS.rope_out.default, (x,) + args + (torch.empty_like(x),))
        torch.library.opcheck(OPS.rope_qk_out.default, (x, k) + args + (torch.empty_like(x), torch.empty_like(k)))
    if axis == -2:
        xr = x.detach().requires_grad_(True)
        torch.library.opcheck(OPS.fast_rope.default, (xr, None, 5, 8, False, 10000.0, 1.0, None, False))
        torch.library.opcheck(OPS.fast_rope.default, (xr, torch.tensor([1, 2]), 0, 4, True, None, 0.5,
                                                      torch.linspace(1, 100, 2, dtype=torch.float64), False))


def test_ragged_opcheck():
    x = torch.randn(9, 2, 8, dtype=torch.float64)
    c = _call.make_call(x, cu_seqlens=[0, 2, 6, 9], starts=[100, 0, 5])
    torch.library.opcheck(OPS.rope.default, (x.requires_grad_(True), c.offsets, c.position_ids, c.cu_seqlens,
                                             c.starts, c.offset, c.options))


def test_autograd_is_the_inverse_rotation():
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: rotary.rope(t, position_ids=ids_for(2, 5), dims=6), (x,))
    torch.autograd.gradcheck(lambda t: rotary.fast.rope(t, 8, traditional=True, base=500.0, scale=1.0, offset=2), (x,))
    q, k = x, torch.randn(2, 1, 5, 8, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a, b: rotary.rope_qk(a, b, offset=9), (q, k))


def attention(q, k, v, pos):
    q, k = rotary.rope_qk(q, k, position_ids=pos, base=500000.0)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


def test_compile_fullgraph_matches_eager_with_dynamic_shapes():
    torch._dynamo.reset()
    # T varies: after the first recompile dynamo marks it dynamic (automatic dynamic shapes)
    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")
    compiled = torch.compile(attention, fullgraph=True, backend=counter)
    for T in (5, 9, 17, 33):
        q, k, v = (torch.randn(2, h, T, 16) for h in (4, 2, 2))
        q, k, v = q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
        pos = ids_for(2, T, 10)
        torch.testing.assert_close(compiled(q, k, v, pos), attention(q, k, v, pos))
    assert counter.frame_count == 2  # one static graph, then one graph with a symbolic T


def test_compile_backward_and_decode_offsets():
    torch._dynamo.reset()

    def step(x, off):
        return rotary.rope(x, offset=off, dims=8).square().sum()

    compiled = torch.compile(step, fullgraph=True)
    for off in (3, 4, 5):
        x = torch.randn(2, 2, 1, 16, requires_grad=True)
        (g1,) = torch.autograd.grad(compiled(x, off), x)
        (g2,) = torch.autograd.grad(step(x, off), x)
        torch.testing.assert_close(g1, g2)


def test_compile_inplace_and_mlx_op():
    torch._dynamo.reset()

    def f(q, k):
        rotary.rope_qk(q, k, offset=7, seq_axis=-3, inplace=True)
        return rotary.fast.rope(q, 8, traditional=False, base=10000.0, scale=1.0, offset=1) + k.sum()

    q, k = torch.randn(1, 4, 2, 8), torch.randn(1, 4, 1, 8)
    q2, k2 = q.clone(), k.clone()
    torch.testing.assert_close(torch.compile(f, fullgraph=True)(q, k), f(q2, k2))
    torch.testing.assert_close(q, q2)


def test_compile_with_a_frequencies_object_has_no_graph_break():
    torch._dynamo.reset()
    yarn = rotary.scaling.yarn(16, 10000.0, factor=4.0, original_max_position_embeddings=64)
    counter = torch._dynamo.testing.CompileCounter()

    def f(x, freqs):
        return rotary.rope(x, offset=70, freqs=freqs) * 2

    x = torch.randn(1, 2, 3, 16)
    for freqs in (yarn, rotary.scaling.linear(16, 10000.0, 2.0)):
        assert torch.equal(torch.compile(f, fullgraph=True)(x, freqs), f(x, freqs))
        assert torch.equal(torch.compile(f, fullgraph=True, backend=counter)(x, freqs), f(x, freqs))
    assert counter.frame_count == 2  # guarded by equality: other frequencies recompile
    assert hash(yarn) == hash(rotary.Frequencies(yarn.inv_freq, yarn.attention_factor))


def test_frequencies_are_immutable_so_a_compiled_call_sees_every_change():
    # A Frequencies changed in place after a compiled call used to be missed: the guard held the
    # same object, so the compiled code returned the old rotation. Now only replace() changes one.
    torch._dynamo.reset()
    yarn = rotary.scaling.yarn(16, 10000.0, factor=4.0, original_max_position_embeddings=64)
    for field, value in (("inv_freq", [1.0] * 8), ("attention_factor", 3.0), ("pair_position_stream", [0] * 8),
                         ("position_streams", 2)):
        with pytest.raises(AttributeError):
            setattr(yarn, field, value)
    x = torch.randn(1, 2, 3, 16)
    f = torch.compile(lambda x, freqs: rotary.rope(x, offset=70, freqs=freqs), fullgraph=True)
    before = f(x, yarn)
    louder = yarn.replace(attention_factor=3.0)
    assert louder.inv_freq == yarn.inv_freq and louder.attention_factor == 3.0 and yarn in {yarn: 1}
    assert torch.equal(f(x, louder), rotary.rope(x, offset=70, freqs=louder))
    torch.testing.assert_close(f(x, louder), before * (3.0 / yarn.attention_factor), rtol=1e-6, atol=1e-6)
    assert torch.equal(f(x, yarn), before)
    halved = yarn.replace(inv_freq=[v / 2 for v in yarn.inv_freq])
    assert halved.attention_factor == yarn.attention_factor
    expected = torch.from_numpy(_core.oracle(x, offset=70, freqs=halved)).float()
    torch.testing.assert_close(f(x, halved), expected, rtol=1e-5, atol=1e-6)


class Block(torch.nn.Module):
    def forward(self, q, k, pos):
        q, k = rotary.rope_qk(q, k, position_ids=pos)
        return q @ k.transpose(-1, -2)


def test_export_runs():
    q, k, pos = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8), ids_for(1, 6)
    ep = torch.export.export(Block(), (q, k, pos))
    assert any("rotary.rope_qk" in str(n.target) for n in ep.graph.nodes)
    q2, k2, pos2 = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8), ids_for(1, 6, 40)
    torch.testing.assert_close(ep.module()(q2, k2, pos2), Block()(q2, k2, pos2))


def test_jit_trace_records_the_op():
    def f(x):
        return rotary.rope(x, offset=5) * 2

    x = torch.randn(1, 2, 4, 8)
    traced = torch.jit.trace(f, (x,))
    assert "rotary::rope" in str(traced.graph)
    x2 = torch.randn(1, 2, 4, 8)
    torch.testing.assert_close(traced(x2), f(x2))


def test_inplace_op_bumps_version_and_refuses_stale_backward():
    a = torch.ones(1, 1, 3, 4, requires_grad=True)
    b = torch.ones(1, 1, 3, 4)
    y = (a * b).sum()
    c = _call.make_call(b, offset=1)
    _ops.rope_inplace(b, c)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_cuda_graph_capture_of_a_decode_step():
    if not (torch.cuda.is_available() and rotary.has_cuda):
        pytest.skip("no GPU with rotary's CUDA backend here: CUDA graph capture is tested on a GPU machine")
    q, k = torch.randn(8, 32, 1, 128, device="cuda"), torch.randn(8, 8, 1, 128, device="cuda")
    off = torch.tensor([5] * 8, device="cuda")
    rotary.rope_qk(q, k, offset=off, inplace=True)  # warm-up
    g = torch.cuda.CUDAGraph()
    qs, ks = q.clone(), k.clone()
    with torch.cuda.graph(g):
        rotary.rope_qk(qs, ks, offset=off, inplace=True)
    qs.copy_(q), ks.copy_(k)
    g.replay()
    torch.testing.assert_close((qs, ks), rotary.rope_qk(q, k, offset=off))
