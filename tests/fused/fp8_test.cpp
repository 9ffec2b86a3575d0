// FP8 e4m3: known encodings (nearest even, saturation, subnormals, NaN), the round trip of all
// 256 codes, and the SIMD row store equal to the scalar conversion bit for bit on every target.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/fp8.h"
#include "cpu/simd.h"
#include "cpu/simd_fused.h"

namespace rotary {
namespace {

using core::float8_e4m3_t;

uint8_t code(float f) { return core::to_float8_e4m3(f).bits; }

TEST(FusedFp8, KnownEncodings) {
  EXPECT_EQ(code(1.0f), 0x38);
  EXPECT_EQ(code(-2.0f), 0xc0);
  EXPECT_EQ(code(448.0f), 0x7e);
  EXPECT_EQ(code(1e6f), 0x7e);                                       // saturates
  EXPECT_EQ(code(-std::numeric_limits<float>::infinity()), 0xfe);    // saturates
  EXPECT_EQ(code(std::nanf("")) & 0x7f, 0x7f);
  EXPECT_EQ(code(std::ldexp(1.0f, -9)), 0x01);                       // smallest subnormal
  EXPECT_EQ(code(std::ldexp(1.0f, -10)), 0x00);                      // tie to even: 0
  EXPECT_EQ(code(std::ldexp(3.0f, -10)), 0x02);                      // tie to even: 2
  EXPECT_EQ(code(1.0625f), 0x38);                                    // tie between 1 and 1.125: even
  EXPECT_EQ(code(1.1875f), 0x3a);                                    // tie between 1.125 and 1.25: even
  EXPECT_EQ(code(std::ldexp(15.5f, -10)), 0x08);                     // rounds up to the smallest normal
}

TEST(FusedFp8, EveryCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;  // NaN
    EXPECT_EQ(code(core::to_float(float8_e4m3_t{uint8_t(c)})), c) << c;
  }
  EXPECT_EQ(core::to_float(float8_e4m3_t{0x7e}), 448.0f);
  EXPECT_TRUE(std::isnan(core::to_float(float8_e4m3_t{0xff})));
}

TEST(FusedFp8, SimdRowStoreEqualsScalarOnEveryTarget) {
  std::vector<float> v;
  for (int e = -14; e <= 10; ++e)
    for (int m = 0; m < 64; ++m) {
      const float x = std::ldexp(1.0f + m / 64.0f, e);
      v.push_back(x);
      v.push_back(-x);
    }
  v.push_back(std::numeric_limits<float>::infinity());
  v.push_back(std::nanf(""));
  v.push_back(0.0f);
  v.push_back(-0.0f);
  for (const std::string& target : cpu_backend::simd_targets()) {
    SCOPED_TRACE(target);
    cpu_backend::use_simd_target(target);
    for (float scale : {1.0f, 0.37f}) {
      std::vector<uint8_t> got(v.size());
      cpu_backend::store_row_f32(float8_e4m3, v.data(), got.data(), int64_t(v.size()), scale);
      for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(got[i], code(v[i] / scale)) << v[i] << " / " << scale;
    }
  }
  cpu_backend::use_simd_target("");
}

}  // namespace
}  // namespace rotary
