// The C++ side of python/bench/bench_overhead.py: one decode step (q (1,32,1,128), k (1,8,1,128)
// float32, the frequencies rotary.rope_qk passes: base 10000 over all 128 features) called
// directly, median of 20000 calls: in place at offset 1000, and at an int64 offsets
// array {1000}. Build (against the wheel's librotary):
//   g++ -O2 -std=c++20 -Iinclude python/bench/call_overhead.cpp -L$SITE/rotary -lrotary -Wl,-rpath,$SITE/rotary
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <vector>

#include "rotary/rotary.h"

double median_us(const std::function<void()>& f) {
  std::vector<double> us;
  for (int i = 0; i < 20000; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  return us[us.size() / 2];
}

int main() {
  std::vector<float> q(32 * 128, 0.5f), k(8 * 128, 0.25f);
  int64_t offset_array[1] = {1000};
  rotary::TensorView qv(q.data(), rotary::float32, {1, 32, 1, 128});
  rotary::TensorView kv(k.data(), rotary::float32, {1, 8, 1, 128});
  rotary::TensorView offsets(offset_array, rotary::int64, {1});
  rotary::RopeOptions options;
  options.freqs = rotary::Frequencies::from_base(128, 10000.0);
  const double scalar = median_us([&] { rotary::rope_qk_inplace(qv, kv, rotary::Positions(1000), options); });
  const double array = median_us([&] { rotary::rope_qk_inplace(qv, kv, rotary::Positions::offsets(offsets), options); });
  std::printf("%8.2f us  C++ rope_qk_inplace, offset 1000\n", scalar);
  std::printf("%8.2f us  C++ rope_qk_inplace, offsets array {1000}\n", array);
}
