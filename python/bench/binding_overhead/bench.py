"""Per-call cost of rotary._rotary.apply's argument shape bound with pybind11 and with nanobind
(the same body, call_shape.h), on the decode step's torch tensors. Median of many calls, the two
modules interleaved so that the machine's load falls on both alike.

    PYTHONPATH=build-binding venv/bin/python python/bench/binding_overhead/bench.py
"""
import statistics
import time

import torch

import shape_nanobind
import shape_pybind11


def sample_us(f, n=2000):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t0)
    return ts


def main():
    q, k = torch.full((1, 32, 1, 128), 0.5), torch.full((1, 8, 1, 128), 0.25)
    xs = [q, k]
    calls = {}
    for name, m in (("pybind11", shape_pybind11), ("nanobind", shape_nanobind)):
        options = m.Options()
        assert m.apply(xs, xs, 1000, None, None, None, None, options, 0) == 1000 + 64 + 4 * 128
        calls[name] = (lambda m=m, options=options: m.apply(xs, xs, 1000, None, None, None, None, options, 0))
    samples = {name: [] for name in calls}
    for _ in range(10):  # interleaved rounds
        for name, f in calls.items():
            samples[name] += sample_us(f)
    base = statistics.median(sample_us(lambda: None))
    for name, ts in samples.items():
        print(f"{(statistics.median(ts) - base) / 1000:6.3f} us  {name} (median of {len(ts)} calls, "
              f"less an empty call's {base / 1000:.3f} us)")


if __name__ == "__main__":
    main()
