"""One rank of the context-parallel test (started by test_context_parallel.py with torch.multiprocessing)."""
import torch
import torch.distributed as dist

import rotary

LENGTHS_PER_WORLD = [4, 2, 6]  # sequence lengths in units of 2 * world_size: different lengths
STARTS = [0, 100, 7]
H, D = 2, 16


def packed_batch(world_size):
    lengths = [2 * world_size * n for n in LENGTHS_PER_WORLD]
    cu = [0]
    for n in lengths:
        cu.append(cu[-1] + n)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(cu[-1], H, D, dtype=torch.float64, generator=g)
    weight = torch.randn(cu[-1], H, D, dtype=torch.float64, generator=g)
    return cu, x, weight


def local_token_indices(cu, rank, world_size):
    """Global token indices of the rank's tokens, in its local (packed) order."""
    index = []
    for s in range(len(cu) - 1):
        for begin, end in rotary.context_parallel.local_chunks(cu[s + 1] - cu[s], rank, world_size):
            index += range(cu[s] + begin, cu[s] + end)
    return torch.tensor(index)


def gather_to_global(local, cu, world_size, total):
    parts = [torch.empty_like(local) for _ in range(world_size)]
    dist.all_gather(parts, local.contiguous())
    out = torch.empty((total,) + tuple(local.shape[1:]), dtype=local.dtype)
    for r, part in enumerate(parts):
        out[local_token_indices(cu, r, world_size)] = part
    return out


def run(rank, world_size, init_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        cu, x, weight = packed_batch(world_size)
        index = local_token_indices(cu, rank, world_size)
        local_cu, local_starts = rotary.context_parallel.local_ragged(cu, rank, world_size, STARTS)
        x_local = x[index].clone().requires_grad_(True)
        y_local = rotary.rope(x_local, cu_seqlens=local_cu, starts=local_starts, base=500.0)
        (y_local * weight[index]).sum().backward()
        y = gather_to_global(y_local.detach(), cu, world_size, cu[-1])
        grad = gather_to_global(x_local.grad, cu, world_size, cu[-1])

        x_whole = x.clone().requires_grad_(True)
        y_whole = rotary.rope(x_whole, cu_seqlens=cu, starts=STARTS, base=500.0)
        (y_whole * weight).sum().backward()
        torch.testing.assert_close(y, y_whole.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(grad, x_whole.grad, rtol=0, atol=1e-12)

        # one sequence with a KV-cache offset through position ids: (B, H, T, D)
        T = 4 * world_size
        q = torch.randn(1, H, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        ids = torch.from_numpy(rotary.context_parallel.local_position_ids(T, rank, world_size, offset=50))
        (c0, c1) = rotary.context_parallel.local_chunks(T, rank, world_size)
        q_local = torch.cat([q[:, :, c0[0]:c0[1]], q[:, :, c1[0]:c1[1]]], dim=2)
        whole = rotary.rope(q, offset=50)
        torch.testing.assert_close(rotary.rope(q_local, position_ids=ids),
                                   torch.cat([whole[:, :, c0[0]:c0[1]], whole[:, :, c1[0]:c1[1]]], dim=2),
                                   rtol=0, atol=1e-12)
    finally:
        dist.destroy_process_group()
