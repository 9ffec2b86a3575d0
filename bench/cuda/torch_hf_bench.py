#!/usr/bin/env python3
"""PyTorch eager Hugging Face-style RoPE on the shapes of rope_cuda_bench, for comparison.

Times what a HF model's forward does per layer: cos/sin from inv_freq and position_ids
(float32, then cast to the model dtype), then q * cos + rotate_half(q) * sin.
Bytes moved are counted as rope_cuda_bench counts them (each tensor read once and written once).
"""
import random

import torch


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def cos_sin(position_ids, dim, dtype, base=10000.0):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=position_ids.device, dtype=torch.float32) / dim))
    freqs = position_ids[..., None].float() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def time_us(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(5):
        fn()
    b.record()
    b.synchronize()
    iters = max(20, min(2000, int(100.0 / max(a.elapsed_time(b) / 5, 1e-3))))
    a.record()
    for _ in range(iters):
        fn()
    b.record()
    b.synchronize()
    return 1000.0 * a.elapsed_time(b) / iters


def row(name, dtype, nbytes, us):
    print(f"| {name} | {str(dtype).replace('torch.', '')} | {2 * nbytes / 1e6:.1f} | {us:.2f} | {2 * nbytes / (us * 1e3):.0f} |",
          flush=True)


def main():
    dev = "cuda"
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| case (PyTorch eager, HF style) | dtype | MB moved | us/call | GB/s |")
    print("|---|---|---|---|---|")
    rng = random.Random(7)
    lengths = [1 + rng.randrange(512) for _ in range(1000)]
    packed_ids = torch.cat([torch.arange(n) for n in lengths]).to(dev)[None]  # (1, total)
    offsets = (1000 + 37 * torch.arange(256, device=dev))[:, None]  # (256, 1)
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        # prefill (B, H, T, D); cos/sin broadcast over heads
        x = torch.randn(4, 32, 4096, 128, device=dev, dtype=dtype)
        ids = torch.arange(4096, device=dev)[None].expand(4, -1)

        def prefill():
            c, s = cos_sin(ids, 128, dtype)
            return x * c[:, None] + rotate_half(x) * s[:, None]
        row("prefill (4,32,4096,128)", dtype, x.numel() * x.element_size(), time_us(prefill))
        del x
        x = torch.randn(256, 32, 1, 128, device=dev, dtype=dtype)

        def decode():
            c, s = cos_sin(offsets, 128, dtype)
            return x * c[:, None] + rotate_half(x) * s[:, None]
        row("decode (256,32,1,128)", dtype, x.numel() * x.element_size(), time_us(decode))
        x = torch.randn(1, packed_ids.shape[1], 32, 128, device=dev, dtype=dtype)  # (1, total, H, D)

        def ragged():
            c, s = cos_sin(packed_ids, 128, dtype)
            return x * c[:, :, None] + rotate_half(x) * s[:, :, None]
        row("ragged 1000 seqs (1-512), H=32", dtype, x.numel() * x.element_size(), time_us(ragged))
        del x
        q = torch.randn(4, 4096, 32, 128, device=dev, dtype=dtype)
        k = torch.randn(4, 4096, 8, 128, device=dev, dtype=dtype)
        ids = torch.arange(4096, device=dev)[None].expand(4, -1)

        def fused():
            c, s = cos_sin(ids, 128, dtype)
            c, s = c[:, :, None], s[:, :, None]
            return q * c + rotate_half(q) * s, k * c + rotate_half(k) * s
        row("fused Q+K (4,4096,32/8,128)", dtype, q.numel() * q.element_size() + k.numel() * k.element_size(),
            time_us(fused))
        del q, k
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
