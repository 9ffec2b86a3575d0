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

// v rounded to storage type T and back (the identity for float and double).
template <typename T, typename Acc>
Acc rounded_to(Acc v) {
  return Element<T>::load(Element<T>::store(v));
}

// One output feature x*c + partner*s, partner already signed (-x2 for a pair's first feature,
// x1 for its second). fused: fma(x, c, partner*s), the SIMD kernels' order. hf: transformers'
// eager order, each product rounded to T, then the sum rounded to T; backend.cpp is built with
// -ffp-contract=off so the float32 products and sum are not fused.
template <typename T, typename Acc>
T rotated_feature(Acc x, Acc partner, Acc c, Acc s, bool hf) {
  if (!hf) return Element<T>::store(std::fma(x, c, partner * s));
  return Element<T>::store(rounded_to<T>(x * c) + rounded_to<T>(partner * s));
}

// One row: pairs rotated by (cos, sin), features [dims, D) copied unless in place. Strides in
// elements; sd is the feature stride. cos/sin per pair (c[i] for pair i), or per feature
// (per_feature: c[j] for feature j, table calls of width dims); fused or hf rounding (table
// calls). The SIMD kernels (simd_rotate-inl.h) use the fused order: results match bit for bit.
template <typename T, typename Acc = typename Element<T>::Acc>
void rotate_row(const T* in, T* out, int64_t sd_in, int64_t sd_out, int pairs, int64_t D, PairLayout layout,
                bool in_place, const Acc* c, const Acc* s, bool per_feature = false, bool hf = false) {
  using E = Element<T>;
  const bool interleaved = layout == PairLayout::interleaved;
  const int64_t step = interleaved ? 2 : 1;         // index step between pairs' first elements
  const int64_t partner = interleaved ? 1 : pairs;  // x2's distance from x1
  for (int i = 0; i < pairs; ++i) {
    const int64_t i1 = i * step, i2 = i1 + partner;
    const int64_t w1 = per_feature ? i1 : i, w2 = per_feature ? i2 : i;
    const Acc x1 = E::load(in[i1 * sd_in]);
    const Acc x2 = E::load(in[i2 * sd_in]);
    out[i1 * sd_out] = rotated_feature<T>(x1, -x2, c[w1], s[w1], hf);
    out[i2 * sd_out] = rotated_feature<T>(x2, x1, c[w2], s[w2], hf);
  }
  if (in_place) return;
  for (int64_t j = 2 * int64_t(pairs); j < D; ++j) out[j * sd_out] = in[j * sd_in];
}

}  // namespace rotary::cpu_backend
