#include "cpu/parallel.h"

#include "rotary/rope.h"

namespace rotary::cpu_backend {

void parallel_for(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& f) {
  if (n > 0) f(0, n);
}

}  // namespace rotary::cpu_backend

namespace rotary {
int num_threads() { return 1; }
void set_num_threads(int) {}
}  // namespace rotary
