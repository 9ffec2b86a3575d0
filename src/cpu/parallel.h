// Splitting work across CPU threads: a persistent pool (threads start once, then wait for work).
#pragma once

#include <cstdint>
#include <functional>

namespace rotary::cpu_backend {

// Calls f(begin, end) over disjoint chunks covering [0, n). The chunks run on several threads
// only when the total work, n * bytes_per_item bytes moved, gives each thread at least
// kMinBytesPerThread; otherwise f(0, n) runs on the calling thread. Chunk boundaries depend
// on the thread count, so f must compute each item the same way whatever chunk holds it.
void parallel_for(int64_t n, int64_t bytes_per_item, const std::function<void(int64_t, int64_t)>& f);

inline constexpr int64_t kMinBytesPerThread = int64_t(64) << 10;

}  // namespace rotary::cpu_backend
