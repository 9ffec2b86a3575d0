"""Per-call cost of one decode step from Python (q (1,32,1,128), k (1,8,1,128) float32, offset
1000): the direct path (torch tensors and NumPy arrays; rope_qk and rope; in place and
functional; an int offset and an int64 offsets tensor), its parts (make_call, the extension
call), the torch operator, and rotary.rope_qk on tensors that require grad (operator +
autograd), and the fused paths' decode step (rope_and_cache into a paged NHD cache by
slot_mapping, float32 and FP8 with a float and a tensor scale; rms_norm_rope). Each row is the median of 20 rounds x 1000 calls, the rows interleaved round by round
so that the machine's load falls on all of them alike. Compare with python/bench/call_overhead.cpp
(the same call from C++).

    venv/bin/python python/bench/bench_overhead.py
"""
import statistics
import time

import torch

import rotary
from rotary import _call, _ops


def fused_rows(q, k):
    """The fused paths on the same decode step: v like k, a paged cache of 64 blocks of 16 rows."""
    v = torch.full_like(k, 0.125)
    k_cache, v_cache = torch.zeros(64, 16, 8, 128), torch.zeros(64, 16, 8, 128)
    k8, v8 = k_cache.to(torch.float8_e4m3fn), v_cache.to(torch.float8_e4m3fn)
    slots, scale = torch.tensor([[1000]]), torch.tensor(0.05)
    wq, wk = torch.ones(128), torch.ones(128)
    call, op = _call.make_call(q, offset=1000), torch.ops.rotary.rope_and_cache
    positions = (call.offsets, call.position_ids, call.cu_seqlens, call.starts, call.offset, call.options)
    return [
        ("fused: rotary.rope_and_cache(q, k, v, caches, slot_mapping=, offset=1000)",
         lambda: rotary.rope_and_cache(q, k, v, k_cache, v_cache, slot_mapping=slots, offset=1000)),
        ("fused: the same, FP8 caches, k_scale=v_scale=0.05 (float)",
         lambda: rotary.rope_and_cache(q, k, v, k8, v8, slot_mapping=slots, k_scale=0.05, v_scale=0.05, offset=1000)),
        ("fused: the same, FP8 caches, 0-d float32 tensor scales",
         lambda: rotary.rope_and_cache(q, k, v, k8, v8, slot_mapping=slots, k_scale=scale, v_scale=scale, offset=1000)),
        ("fused: rotary.rms_norm_rope(q, k, wq, wk, offset=1000, inplace=True)",
         lambda: rotary.rms_norm_rope(q, k, wq, wk, offset=1000, inplace=True)),
        ("fused: rotary.rms_norm_rope(q, k, wq, wk, offset=1000) (allocates)",
         lambda: rotary.rms_norm_rope(q, k, wq, wk, offset=1000)),
        ("fused operator: torch.ops.rotary.rope_and_cache (the torch.compile path)",
         lambda: op(q, k, v, k_cache, v_cache, slots, None, "slot_mapping", "NHD", None, None, None, None, 1e-6,
                    False, *positions)),
    ]


def rows():
    q, k = torch.full((1, 32, 1, 128), 0.5), torch.full((1, 8, 1, 128), 0.25)
    qn, kn = q.numpy().copy(), k.numpy().copy()
    offsets = torch.tensor([1000])
    call = _call.make_call(q, offset=1000)
    qg, kg = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
    return [
        ("direct: rotary.rope_qk(q, k, offset=1000, inplace=True), torch",
         lambda: rotary.rope_qk(q, k, offset=1000, inplace=True)),
        ("direct: the same, NumPy", lambda: rotary.rope_qk(qn, kn, offset=1000, inplace=True)),
        ("direct: rope_qk in place, offset=int64 tensor (1,)", lambda: rotary.rope_qk(q, k, offset=offsets, inplace=True)),
        ("direct: rotary.rope(q, offset=1000, inplace=True)", lambda: rotary.rope(q, offset=1000, inplace=True)),
        ("direct: rotary.rope_qk(q, k, offset=1000) (allocates q_out, k_out)", lambda: rotary.rope_qk(q, k, offset=1000)),
        ("direct: rotary.rope(q, offset=1000) (allocates out)", lambda: rotary.rope(q, offset=1000)),
        ("  part: the Call (make_call)", lambda: _call.make_call(q, offset=1000)),
        ("  part: the extension call (_call.run)", lambda: _call.run([q, k], [q, k], call)),
        ("  part: torch.empty_like(q) + torch.empty_like(k)", lambda: (torch.empty_like(q), torch.empty_like(k))),
        ("operator: torch.ops.rotary.rope_qk_ (in place)", lambda: _ops.rope_qk_inplace(q, k, call)),
        ("operator: torch.ops.rotary.rope_qk (functional)", lambda: _ops.rope_qk(q, k, call)),
        *fused_rows(q, k),
    ], [("operator + autograd: rotary.rope_qk(qg, kg, offset=1000), requires grad",
         lambda: rotary.rope_qk(qg, kg, offset=1000))]


def measure(named, rounds=20, n=1000):
    samples = {name: [] for name, _ in named}
    for f in (f for _, f in named):
        for _ in range(50):
            f()
    for _ in range(rounds):
        for name, f in named:
            for _ in range(n):
                t0 = time.perf_counter_ns()
                f()
                samples[name].append(time.perf_counter_ns() - t0)
    return [(name, statistics.median(ts) / 1000) for name, ts in samples.items()]


def main():
    no_grad, with_grad = rows()
    with torch.no_grad():
        results = measure(no_grad)
    results += measure(with_grad, rounds=5)
    for name, us in results:
        print(f"{us:8.2f} us  {name}")


if __name__ == "__main__":
    main()
