// Shared test helpers: random inputs and the per-dtype tolerance against the oracle.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "reference/oracle.h"
#include "rotary/rotary.h"

namespace rotary::testing {

// Standard-normal values of the shape, rounded to dtype.
inline Array random_array(const Shape& shape, Dtype dtype, unsigned seed = 1) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<double> v(n);
  for (auto& e : v) e = dist(gen);
  return Array(v.data(), shape, dtype);
}

// Unit in the last place of |value| in the format of dtype.
inline double ulp(double value, Dtype dtype) {
  int e;
  std::frexp(std::max(std::fabs(value), 1e-30), &e);  // value in [2^(e-1), 2^e)
  const int mant = dtype == float64 ? 52 : dtype == float32 ? 23 : dtype == float16 ? 10 : 7;
  const int min_exp = dtype == float16 ? -13 : dtype == bfloat16 ? -125 : dtype == float32 ? -125 : -1021;
  return std::ldexp(1.0, std::max(e, min_exp) - 1 - mant);
}

// Tolerances this project promises (spec part 3), in ulps of the output format, plus a floor
// for float32 arithmetic on inputs of magnitude `input_scale` (cancellation near zero).
inline double tolerance_ulps(Dtype dtype) {
  if (dtype == float32) return 4.0;   // a few float32 ulps
  if (dtype == float64) return 64.0;  // float64 kernels: double math throughout
  return 1.0;                         // float16 / bfloat16: one ulp of the output format
}

// Largest error in ulps of the output format, after subtracting the float32-arithmetic floor.
inline ::testing::AssertionResult close_to_oracle(const Array& out, const Array& exact, double input_scale) {
  if (out.shape() != exact.shape())
    return ::testing::AssertionFailure() << "shape " << to_string(out.shape()) << " vs " << to_string(exact.shape());
  const Dtype dt = out.dtype();
  const double floor = (dt == float64 ? 1e-15 : 8 * std::ldexp(1.0, -24)) * input_scale;
  const double tol = tolerance_ulps(dt);
  for (int64_t i = 0; i < out.size(); ++i) {
    const double o = out.at(i), r = exact.at(i);
    if (o == r || (std::isnan(o) && std::isnan(r))) continue;  // also equal infinities
    const double err = std::fabs(o - r);
    if (!(err <= tol * ulp(r, dt) + floor))  // a NaN error fails too
      return ::testing::AssertionFailure() << "element " << i << ": got " << o << ", exact " << r << ", error "
                                           << err / ulp(r, dt) << " ulps (" << to_string(dt) << ", allowed " << tol
                                           << " + floor " << floor << ")";
  }
  return ::testing::AssertionSuccess();
}

// Largest |x| of an array (the input scale for close_to_oracle).
inline double max_abs(const Array& a) {
  double m = 0;
  for (int64_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a.at(i)));
  return m;
}

inline RopeOptions oracle_options(int dims, bool traditional, std::vector<double> inv_freq, float scale = 1.0f) {
  RopeOptions o;
  o.dims = dims;
  o.layout = pair_layout(traditional);
  o.freqs.inv_freq = std::move(inv_freq);
  o.scale = scale;
  return o;
}

}  // namespace rotary::testing
