// Context parallelism: which tokens of a sequence a rank holds, and at which global positions,
// for the load-balanced two-chunk split (Megatron-LM, TransformerEngine, ring attention).
// The sequence of length L is cut into 2c chunks of L/(2c) tokens; rank r of c holds chunk r
// followed by chunk 2c-1-r, so every rank gets the same share of causal-attention work.
// Rotating a rank's local tokens with these ids gives exactly the rows that rotating the whole
// sequence would give them.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "rotary/array.h"

namespace rotary::context_parallel {

// Tokens [begin, end) of the global sequence.
struct TokenRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// The two chunks rank `rank` of `world_size` holds, in local order. seq_len must be a
// non-negative multiple of 2 * world_size; 0 <= rank < world_size.
std::array<TokenRange, 2> local_chunks(int64_t seq_len, int rank, int world_size);

// Global positions of the rank's seq_len / world_size local tokens, plus `offset` (the
// sequence's first position, e.g. the cache length): an int64 array of shape (seq_len /
// world_size,) for Positions::ids.
Array local_position_ids(int64_t seq_len, int rank, int world_size, int64_t offset = 0);

// A packed (ragged) batch split the same way, sequence by sequence: each sequence's two local
// chunks become two packed sequences, so the rank's tokens are described by cu_seqlens with
// 2n+1 entries and one start per chunk (int64 arrays for Positions::ragged).
struct RaggedShard {
  Array cu_seqlens;  // (2n+1,)
  Array starts;      // (2n,)
};
// global_cu_seqlens: the whole batch's n+1 prefix offsets; every sequence length must be a
// multiple of 2 * world_size. `starts` (optional, n values) are the sequences' first positions.
RaggedShard local_ragged(const std::vector<int64_t>& global_cu_seqlens, int rank, int world_size,
                         const std::vector<int64_t>& starts = {});

}  // namespace rotary::context_parallel
