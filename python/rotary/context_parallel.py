"""Context parallelism: the load-balanced two-chunk split (Megatron-LM, TransformerEngine).

A sequence of length L is cut into 2c chunks; rank r of c holds chunks r and 2c-1-r. Rotating
a rank's local tokens with these positions gives exactly the rows that rotating the whole
sequence would give them (the C++ functions of rotary/context_parallel.h):

    ids = rotary.context_parallel.local_position_ids(L, rank, world_size, offset=cache_len)
    q_local = rotary.rope(q_local, position_ids=ids)
    cu, starts = rotary.context_parallel.local_ragged(global_cu_seqlens, rank, world_size)
    x_local = rotary.rope(x_local, cu_seqlens=cu, starts=starts)
"""

from ._rotary.context_parallel import local_chunks, local_position_ids, local_ragged

__all__ = ["local_chunks", "local_position_ids", "local_ragged"]
