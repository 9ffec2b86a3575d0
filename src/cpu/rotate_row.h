// Rotating one row (one token of one head): the inner loop, scalar form.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "rotary/dtype.h"
#include "rotary/rope.h"

namespace rotary::cpu_backend {

template <typename T>
struct Element;  // load/store between storage type T and the math type
template <> struct Element<float> {
  using Acc = float;
  static float load(float v) { return v; }
  static float store(float v) { return v; }
};
template <> struct Element<double> {
  using Acc = double;
  static double load(double v) { return v; }
  static double store(double v) { return v; }
};
template <> struct Element<float16_t> {
  using Acc = float;
  static float load(float16_t v) { return to_float(v); }
  static float16_t store(float v) { return to_float16(v); }
};
template <> struct Element<bfloat16_t> {
  using Acc = float;
  static float load(bfloat16_t v) { return to_float(v); }
  static bfloat16_t store(float v) { return to_bfloat16(v); }
};

// One row: pairs rotated by (cos, sin), features [dims, D) copied unless in place.
// Strides in elements; sd is the feature stride.
template <typename T, typename Acc = typename Element<T>::Acc>
void rotate_row(const T* in, T* out, int64_t sd_in, int64_t sd_out, int pairs, int64_t D,
                PairLayout layout, bool in_place, const Acc* c, const Acc* s) {
  using E = Element<T>;
  const bool interleaved = layout == PairLayout::interleaved;
  const int64_t step = interleaved ? 2 : 1;         // index step between pairs' first elements
  const int64_t partner = interleaved ? 1 : pairs;  // x2's distance from x1
  for (int i = 0; i < pairs; ++i) {
    const int64_t i1 = i * step, i2 = i1 + partner;
    const Acc x1 = E::load(in[i1 * sd_in]);
    const Acc x2 = E::load(in[i2 * sd_in]);
    // The SIMD kernels (simd_rotate-inl.h) use this exact fma order: results match bit for bit.
    out[i1 * sd_out] = E::store(std::fma(x1, c[i], -(x2 * s[i])));
    out[i2 * sd_out] = E::store(std::fma(x2, c[i], x1 * s[i]));
  }
  if (in_place) return;
  for (int64_t j = 2 * int64_t(pairs); j < D; ++j) out[j * sd_out] = in[j * sd_in];
}

}  // namespace rotary::cpu_backend
