// Splitting work across CPU threads.
#pragma once

#include <cstdint>
#include <functional>

namespace rotary::cpu_backend {

// Calls f(begin, end) over disjoint chunks covering [0, n); chunks may run on several
// threads when n * cost_per_item is large enough to pay for it.
void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& f);

}  // namespace rotary::cpu_backend
