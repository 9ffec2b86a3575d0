#!/usr/bin/env python3
"""rotary vs PyTorch eager Hugging Face-style RoPE on CPU.

Shapes (B, H, T, D): prefill (1, 32, 4096, 128) and decode (64, 32, 1, 128).
HF-style = LlamaRotaryEmbedding (cos/sin from inv_freq and position_ids) + apply_rotary_pos_emb
(q * cos + rotate_half(q) * sin), eager PyTorch. Timed for q and k together (GQA 32/8 heads),
median of several runs.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/bench_rope.py [--dtype float32|bfloat16|float16] [--threads N]
"""
import argparse
import statistics
import time

import torch

import rotary


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def hf_cos_sin(inv_freq, position_ids, dtype):
    inv = inv_freq[None, :, None].expand(position_ids.shape[0], -1, 1)
    freqs = (inv @ position_ids[:, None, :].to(inv.dtype)).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def hf_apply(q, k, cos, sin):
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def timeit(fn, reps):
    fn()  # warm up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--threads", type=int, default=0, help="threads for both (default: rotary's default, all cores)")
    ap.add_argument("--reps", type=int, default=0)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    n = args.threads or rotary.num_threads()  # the same thread count for both
    torch.set_num_threads(n)
    rotary.set_num_threads(n)
    print(f"dtype {args.dtype}, torch threads {torch.get_num_threads()}, rotary threads {rotary.num_threads()}")
    D, base = 128, 500000.0
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    print(f"{'shape (B,H,T,D)':24} {'HF apply':>11} {'HF +cos/sin':>12} {'rotary':>10} {'in place':>10}"
          f" {'speedup':>8} {'(incl. cos/sin)':>16}")
    for name, (B, H, T) in (("prefill", (1, 32, 4096)), ("decode", (64, 32, 1))):
        q = torch.randn(B, H, T, D).to(dtype)
        k = torch.randn(B, H // 4, T, D).to(dtype)
        pos = (torch.arange(T)[None] + (0 if T > 1 else 4096)).expand(B, T).contiguous()
        reps = args.reps or (10 if T > 1 else 200)
        cos, sin = hf_cos_sin(inv_freq, pos, dtype)
        t_apply = timeit(lambda: hf_apply(q, k, cos, sin), reps)
        t_full = timeit(lambda: hf_apply(q, k, *hf_cos_sin(inv_freq, pos, dtype)), reps)
        t_rot = timeit(lambda: rotary.rope_qk(q, k, position_ids=pos, base=base), reps)
        qi, ki = q.clone(), k.clone()
        t_inpl = timeit(lambda: rotary.rope_qk(qi, ki, position_ids=pos, base=base, inplace=True), reps)
        # correctness at a glance
        inv64 = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
        ref = hf_apply(q.double(), k.double(), *hf_cos_sin(inv64, pos, torch.float64))[0]
        hf_err = (hf_apply(q, k, cos, sin)[0].double() - ref).abs().max().item()
        err = (rotary.rope_qk(q, k, position_ids=pos, base=base)[0].double() - ref).abs().max().item()
        label = f"{name} {tuple(q.shape)}"
        print(f"{label:24} {t_apply * 1e3:9.3f}ms {t_full * 1e3:10.3f}ms {t_rot * 1e3:8.3f}ms {t_inpl * 1e3:8.3f}ms"
              f" {t_apply / t_rot:7.1f}x {t_full / t_rot:15.1f}x   max error vs float64: rotary {err:.1e}, HF {hf_err:.1e}")


if __name__ == "__main__":
    main()
