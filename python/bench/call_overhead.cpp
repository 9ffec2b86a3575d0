// The C++ side of python/bench/bench_overhead.py: one decode step (rope_qk in place,
// q (1,32,1,128), k (1,8,1,128) float32, offset 1000) called directly, median of 2000 calls.
// Build (against the wheel's librotary):
//   g++ -O2 -std=c++20 -Iinclude python/bench/call_overhead.cpp -L$SITE/rotary -lrotary -Wl,-rpath,$SITE/rotary
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "rotary/rotary.h"

int main() {
  std::vector<float> q(32 * 128, 0.5f), k(8 * 128, 0.25f);
  rotary::TensorView qv(q.data(), rotary::float32, {1, 32, 1, 128});
  rotary::TensorView kv(k.data(), rotary::float32, {1, 8, 1, 128});
  rotary::RopeOptions options;
  std::vector<double> us;
  for (int i = 0; i < 2000; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    rotary::rope_qk_inplace(qv, kv, rotary::Positions(1000), options);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  std::printf("C++ rope_qk_inplace: %.2f us per call (median)\n", us[us.size() / 2]);
}
