"""Per-call cost of one decode step from Python (q (1,32,1,128), k (1,8,1,128) float32,
rope_qk in place, offset 1000): the direct path, the torch operator, and rotary.rope_qk
on tensors that require grad (through the operator and autograd). Median of 2000 calls.
Compare with python/bench/call_overhead.cpp (the same call from C++).

    venv/bin/python python/bench/bench_overhead.py
"""
import statistics
import time

import torch

import rotary
from rotary import _call, _ops


def median_us(f, n=2000):
    for _ in range(50):
        f()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t0)
    return statistics.median(ts) / 1000


def main():
    q, k = torch.full((1, 32, 1, 128), 0.5), torch.full((1, 8, 1, 128), 0.25)
    call = _call.make_call(q, offset=1000)
    qg, kg = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
    with torch.no_grad():
        rows = [
            ("rotary.rope_qk(q, k, offset=1000, inplace=True)  [direct]",
             lambda: rotary.rope_qk(q, k, offset=1000, inplace=True)),
            ("  of which the Call (make_call)", lambda: _call.make_call(q, offset=1000)),
            ("  of which the extension call (_call.run)", lambda: _call.run([q, k], [q, k], call)),
            ("torch.ops.rotary.rope_qk_ (the operator)", lambda: _ops.rope_qk_inplace(q, k, call)),
        ]
        results = [(name, median_us(f)) for name, f in rows]
    results.append(("rotary.rope_qk(qg, kg, offset=1000)  [requires grad: operator + autograd]",
                    median_us(lambda: rotary.rope_qk(qg, kg, offset=1000))))
    for name, us in results:
        print(f"{us:8.2f} us  {name}")


if __name__ == "__main__":
    main()
