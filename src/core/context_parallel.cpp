// The load-balanced two-chunk split of context parallelism (see context_parallel.h).
#include "rotary/context_parallel.h"

#include <string>

#include "core/validate.h"

namespace rotary::context_parallel {
namespace {

void check_rank(int rank, int world_size) {
  if (world_size < 1)
    core::fail("[context_parallel] world_size must be positive but got " + std::to_string(world_size) + ".");
  if (rank < 0 || rank >= world_size)
    core::fail("[context_parallel] rank must be in [0, " + std::to_string(world_size) + ") but got " +
               std::to_string(rank) + ".");
}

void check_length(int64_t seq_len, int world_size, const std::string& what) {
  if (seq_len < 0 || seq_len % (2 * int64_t(world_size)) != 0)
    core::fail("[context_parallel] " + what + " must be a non-negative multiple of 2 * world_size (" +
               std::to_string(2 * int64_t(world_size)) + ") but is " + std::to_string(seq_len) + ".");
}

}  // namespace

std::array<TokenRange, 2> local_chunks(int64_t seq_len, int rank, int world_size) {
  check_rank(rank, world_size);
  check_length(seq_len, world_size, "seq_len");
  const int64_t chunk = seq_len / (2 * int64_t(world_size));
  const int64_t mirror = 2 * int64_t(world_size) - 1 - rank;
  return {TokenRange{rank * chunk, (rank + 1) * chunk}, TokenRange{mirror * chunk, (mirror + 1) * chunk}};
}

Array local_position_ids(int64_t seq_len, int rank, int world_size, int64_t offset) {
  if (offset < 0)
    core::fail("[context_parallel] offset must not be negative but got " + std::to_string(offset) + ".");
  std::vector<int64_t> ids;
  ids.reserve(seq_len / world_size);
  for (const TokenRange& r : local_chunks(seq_len, rank, world_size))
    for (int64_t t = r.begin; t < r.end; ++t) ids.push_back(offset + t);
  return Array(ids.data(), Shape{int(ids.size())});
}

RaggedShard local_ragged(const std::vector<int64_t>& cu, int rank, int world_size,
                         const std::vector<int64_t>& starts) {
  check_rank(rank, world_size);
  if (cu.empty() || cu[0] != 0)
    core::fail("[context_parallel] global_cu_seqlens must have n+1 >= 1 entries starting at 0.");
  const size_t n = cu.size() - 1;
  if (!starts.empty() && starts.size() != n)
    core::fail("[context_parallel] starts must have one value per sequence (" + std::to_string(n) +
               ") but has " + std::to_string(starts.size()) + ".");
  std::vector<int64_t> local_cu{0}, local_starts;
  for (size_t s = 0; s < n; ++s) {
    const int64_t len = cu[s + 1] - cu[s];
    check_length(len, world_size, "the length of sequence " + std::to_string(s));
    const int64_t first = starts.empty() ? 0 : starts[s];
    if (first < 0)
      core::fail("[context_parallel] starts[" + std::to_string(s) + "] must not be negative but is " +
                 std::to_string(first) + ".");
    for (const TokenRange& r : local_chunks(len, rank, world_size)) {
      local_cu.push_back(local_cu.back() + r.size());
      local_starts.push_back(first + r.begin);
    }
  }
  RaggedShard shard{Array(local_cu.data(), Shape{int(local_cu.size())}),
                    Array(local_starts.data(), Shape{int(local_starts.size())})};
  return shard;
}

}  // namespace rotary::context_parallel
