// The C++ side of python/bench/bench_overhead.py: one decode step (q (1,32,1,128), k (1,8,1,128)
// float32, the frequencies rotary.rope_qk passes: base 10000 over all 128 features) called
// directly, median of 20000 calls: in place at offset 1000, and at an int64 offsets
// array {1000}; and the fused rows of bench_overhead.py (rope_and_cache into a paged NHD cache
// of 64 blocks of 16 rows by slot_mapping, float32 and FP8; rms_norm_rope in place). Build
// (against the wheel's librotary):
//   g++ -O2 -std=c++20 -Iinclude python/bench/call_overhead.cpp -L$SITE/rotary -lrotary -Wl,-rpath,$SITE/rotary
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <vector>

#include "rotary/fused.h"
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

void fused_rows(const rotary::TensorView& q, const rotary::TensorView& k, const rotary::RopeOptions& options) {
  std::vector<float> v(8 * 128, 0.125f), k_cache(64 * 16 * 8 * 128), v_cache(k_cache.size()), w(128, 1.0f);
  std::vector<uint8_t> k8(k_cache.size()), v8(k_cache.size());
  int64_t slot[1] = {1000};
  const rotary::TensorView vv(v.data(), rotary::float32, {1, 8, 1, 128});
  rotary::KVCache cache;
  cache.k = rotary::TensorView(k_cache.data(), rotary::float32, {64, 16, 8, 128});
  cache.v = rotary::TensorView(v_cache.data(), rotary::float32, {64, 16, 8, 128});
  cache.slots = rotary::CacheSlots::slot_mapping(rotary::TensorView(slot, rotary::int64, {1, 1}));
  rotary::KVCache fp8 = cache;
  fp8.k = rotary::TensorView(k8.data(), rotary::float8_e4m3, {64, 16, 8, 128});
  fp8.v = rotary::TensorView(v8.data(), rotary::float8_e4m3, {64, 16, 8, 128});
  fp8.k_scale = fp8.v_scale = 0.05f;
  const rotary::Positions at(1000);
  const double f32 = median_us([&] { rotary::rope_and_cache(q, k, vv, q, cache, at, options); });
  const double f8 = median_us([&] { rotary::rope_and_cache(q, k, vv, q, fp8, at, options); });
  rotary::QKNorm norm{rotary::TensorView(w.data(), rotary::float32, {128}),
                      rotary::TensorView(w.data(), rotary::float32, {128})};
  const double n = median_us([&] { rotary::rms_norm_rope(q, k, q, k, norm, at, options); });
  std::printf("%8.2f us  C++ rope_and_cache, float32 paged cache, slot_mapping\n", f32);
  std::printf("%8.2f us  C++ rope_and_cache, FP8 paged cache\n", f8);
  std::printf("%8.2f us  C++ rms_norm_rope in place\n", n);
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
  fused_rows(qv, kv, options);
}
