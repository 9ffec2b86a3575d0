// Shared helpers of the position/layout tests: the oracle comparison, the variant matrix
// (dtype x precision x direction), and small pair_position_stream builders for multi-axis RoPE (the config-level builders live in scaling.h).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "reference/oracle.h"
#include "rotary/array.h"
#include "rotary/rope.h"
#include "test_util.h"

namespace rotary::testing {

// An integer array of the values (row-major) in int32 or int64.
inline Array int_array(const std::vector<int64_t>& values, const Shape& shape, Dtype dtype = int64) {
  return Array(values.data(), shape, dtype);
}

// got (any strides, x's dtype) against the float64 oracle result, with the project's
// per-dtype tolerance (test_util.h).
inline ::testing::AssertionResult matches_oracle(const Array& got, const Array& exact) {
  return close_to_oracle(got, exact, std::max(1.0, max_abs(exact)));
}

// Every dtype, precision mode and direction the features must serve.
struct Variant {
  Dtype dtype;
  Precision precision;
  bool inverse;
  std::string name() const {
    return to_string(dtype) + (precision == Precision::accurate ? "/accurate" : "/compat") +
           (inverse ? "/inverse" : "/forward");
  }
};
inline std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (Precision p : {Precision::accurate, Precision::compat})
      for (bool inv : {false, true}) v.push_back({d, p, inv});
  return v;
}
inline RopeOptions with_variant(RopeOptions o, const Variant& v) {
  o.precision = v.precision;
  o.inverse = v.inverse;
  return o;
}

// Checks the three output modes (new array, caller's array, in place) against the oracle, and
// that they agree bit for bit.
inline void expect_all_outputs_match(const Array& x, const Positions& pos, const RopeOptions& opt) {
  const Array exact = reference::rope(x, pos, opt);
  const Array fresh = rope(x, pos, opt);
  EXPECT_TRUE(matches_oracle(fresh, exact));
  Array given = Array::zeros(x.shape(), x.dtype());
  rope(x.view(), given.view(), pos, opt);
  EXPECT_TRUE(bit_equal(given, fresh));
  Array inplace = x.copy();
  rope_inplace(inplace.view(), pos, opt);
  EXPECT_TRUE(bit_equal(inplace, fresh));
}

// M-RoPE (rope-scaling.md): pair j reads stream 0 for j < s0, 1 for j < s0+s1, else 2; the
// interleaved form (Qwen3-VL): 1 when j%3==1 and j<3*s1, 2 when j%3==2 and j<3*s2, else 0.
inline std::vector<uint8_t> mrope_pair_stream(const std::vector<int>& sections, bool interleaved) {
  int pairs = 0;
  for (int s : sections) pairs += s;
  std::vector<uint8_t> map(pairs);
  for (int j = 0; j < pairs; ++j) {
    if (interleaved)
      map[j] = (j % 3 == 1 && j < 3 * sections[1]) ? 1 : (j % 3 == 2 && j < 3 * sections[2]) ? 2 : 0;
    else
      map[j] = j < sections[0] ? 0 : j < sections[0] + sections[1] ? 1 : 2;
  }
  return map;
}

inline Frequencies mrope_freqs(int dims, double base, const std::vector<int>& sections, bool interleaved) {
  Frequencies f = Frequencies::from_base(dims, base);
  f.pair_position_stream = mrope_pair_stream(sections, interleaved);
  f.position_streams = 3;
  return f;
}

// 2-D vision RoPE over a whole head: inv_v[k] = theta^(-2k/dv), dv = head_dim/2; the angles
// are concat(row * inv_v, col * inv_v): the first half of the pairs reads stream 0 (row).
inline Frequencies vision_freqs(int head_dim, double theta) {
  const int dv = head_dim / 2;
  Frequencies f;
  for (int half = 0; half < 2; ++half)
    for (int k = 0; k < dv / 2; ++k) {
      f.inv_freq.push_back(std::pow(theta, -2.0 * k / dv));
      f.pair_position_stream.push_back(uint8_t(half));
    }
  f.position_streams = 2;
  return f;
}

// Runs f and expects std::invalid_argument whose message contains `needle`.
template <typename F>
::testing::AssertionResult throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionFailure() << "no exception (wanted one mentioning \"" << needle << "\")";
}

}  // namespace rotary::testing
