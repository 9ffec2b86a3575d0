"""CUDA tensors: the same calls on the GPU match the CPU results (skipped without a GPU)."""
import pytest

torch = pytest.importorskip("torch")
import rotary  # noqa: E402
from rotary import _rotary  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and getattr(_rotary, "has_cuda", False)),
    reason="no CUDA GPU, or rotary or torch built without CUDA",
)

TOL = {torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-12}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("traditional", [False, True])
def test_fast_rope_on_cuda_matches_cpu(dtype, traditional):
    x = torch.randn(3, 4, 17, 64, dtype=torch.float64).to(dtype)
    offset = torch.tensor([0, 5, 1 << 20])
    cpu = rotary.fast.rope(x, 48, traditional=traditional, base=10000.0, scale=1.0, offset=offset)
    gpu = rotary.fast.rope(x.cuda(), 48, traditional=traditional, base=10000.0, scale=1.0, offset=offset)
    assert gpu.is_cuda and gpu.dtype == dtype
    assert (gpu.cpu().double() - cpu.double()).abs().max().item() <= TOL[dtype] * 4


def test_rope_qk_inplace_on_cuda_with_position_ids_and_strided_qkv():
    B, T, Hq, Hk, D = 2, 9, 8, 2, 64
    qkv = torch.randn(B, T, (Hq + 2 * Hk) * D, device="cuda", dtype=torch.bfloat16)
    q = qkv[..., : Hq * D].view(B, T, Hq, D)
    k = qkv[..., Hq * D : (Hq + Hk) * D].view(B, T, Hk, D)
    ids = torch.randint(0, 4000, (B, T), device="cuda")
    q_cpu, k_cpu = q.cpu(), k.cpu()
    ptr = qkv.data_ptr()
    rotary.rope_qk(q, k, position_ids=ids, seq_axis=-3, base=500000.0, inplace=True)
    assert qkv.data_ptr() == ptr
    q_ref, k_ref = rotary.rope_qk(q_cpu, k_cpu, position_ids=ids.cpu(), seq_axis=-3, base=500000.0)
    assert torch.equal(q.cpu(), q_ref) and torch.equal(k.cpu(), k_ref)


def test_ragged_on_cuda_matches_cpu():
    lengths = [3, 0, 1, 12]
    cu = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), dtype=torch.int32)
    x = torch.randn(int(cu[-1]), 4, 32, dtype=torch.float32)
    starts = torch.tensor([10, 0, 7, 100])
    cpu = rotary.rope(x, cu_seqlens=cu, starts=starts)
    gpu = rotary.rope(x.cuda(), cu_seqlens=cu.cuda(), starts=starts.cuda())
    assert (gpu.cpu() - cpu).abs().max().item() <= 1e-6


def test_autograd_on_cuda():
    from rotary import torch as rtorch  # noqa: F401
    x = torch.randn(2, 3, 5, 16, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rotary.rope(t, offset=3), (x,))


def test_fp8_cache_with_cuda_tensor_scales_matches_float_scales_and_compiles():
    # A CUDA scale tensor is copied to the host (the kernels take the scale as a number): the
    # cache bits equal those of float scales, eager and under torch.compile(fullgraph=True).
    B, Hq, Hk, D, pages, rows = 2, 8, 2, 64, 4, 16
    torch.manual_seed(14)
    q, k, v = (torch.randn(B, 1, h, D, device="cuda") * 8 for h in (Hq, Hk, Hk))
    slots, pos = torch.tensor([[3], [20]], device="cuda"), torch.tensor([[3], [40]], device="cuda")
    scales = torch.tensor(0.04, device="cuda"), torch.tensor([0.02], device="cuda")

    def step(q, k_scale, v_scale):
        kc = torch.zeros(pages, rows, Hk, D, device="cuda", dtype=torch.float8_e4m3fn)
        vc = torch.zeros_like(kc)
        q = rotary.rope_and_cache(q.clone(), k, v, kc, vc, slot_mapping=slots, position_ids=pos, seq_axis=-3,
                                  k_scale=k_scale, v_scale=v_scale)
        return q, kc.view(torch.uint8), vc.view(torch.uint8)

    want = step(q, 0.04, 0.02)
    for got in (step(q, *scales), torch.compile(step, fullgraph=True)(q, *scales)):
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    assert want[1].any() and want[2].any()


def test_cuda_graph_captures_the_decode_append_with_device_slots():
    # An engine's decode step in a CUDA graph: device-resident slots and positions, changed in
    # place between replays; each replay writes what an eager call writes. The capture holds no
    # wait (a bad slot inside a graph is skipped unreported). A CUDA tensor FP8 scale, read on
    # the host, is refused by name while capturing.
    B, Hq, Hk, D, pages, rows = 2, 8, 2, 64, 4, 16
    torch.manual_seed(15)
    q, k, v = (torch.randn(B, 1, h, D, device="cuda") for h in (Hq, Hk, Hk))
    slots, pos = torch.tensor([[3], [20]], device="cuda"), torch.tensor([[3], [40]], device="cuda")
    kc, vc = torch.zeros(pages, rows, Hk, D, device="cuda"), torch.zeros(pages, rows, Hk, D, device="cuda")
    qg = q.clone()

    def step():
        rotary.rope_and_cache(qg, k, v, kc, vc, slot_mapping=slots, position_ids=pos, seq_axis=-3)

    step()  # warm-up (outside the capture)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step()
    for new_slots, new_pos in (([[5], [33]], [[4], [41]]), ([[7], [10**6]], [[5], [42]])):
        slots.copy_(torch.tensor(new_slots)), pos.copy_(torch.tensor(new_pos))
        qg.copy_(q)
        before = kc.clone(), vc.clone()
        g.replay()
        q_want, kc_want, vc_want = q.clone(), before[0].clone(), before[1].clone()
        in_range = torch.tensor(new_slots, device="cuda").flatten() < pages * rows
        ref_slots = torch.where(in_range, torch.tensor(new_slots, device="cuda").flatten(), -1).view(B, 1)
        rotary.rope_and_cache(q_want, k, v, kc_want, vc_want, slot_mapping=ref_slots, position_ids=pos, seq_axis=-3)
        assert torch.equal(qg, q_want) and torch.equal(kc, kc_want) and torch.equal(vc, vc_want)
    fp8 = torch.zeros(pages, rows, Hk, D, device="cuda", dtype=torch.float8_e4m3fn)
    fp8_v, k_scale = torch.zeros_like(fp8), torch.tensor(0.5, device="cuda")
    with pytest.raises(RuntimeError, match=r"\[rope_and_cache\] k_scale is a CUDA tensor"):
        with torch.cuda.graph(torch.cuda.CUDAGraph()):
            rotary.rope_and_cache(qg, k, v, fp8, fp8_v, slot_mapping=slots, position_ids=pos, seq_axis=-3,
                                  k_scale=k_scale, v_scale=0.5)
