// Spec part 3: the accurate mode's error does not grow with the position; the compat mode
// reproduces the float32 angle float(p) * float(inv_freq).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace rotary {
namespace {

using testing::oracle_options;
using testing::random_array;
using testing::ulp;

constexpr int D = 128;

// Largest error in float32 ulps (of each exact value) over a (1, 4, T, D) float32 input at offset.
double max_ulp_error(Precision precision, int offset) {
  const Array x = random_array({1, 4, 16, D}, float32, 21);
  RopeOptions opt;
  opt.freqs = Frequencies::from_base(D, 10000);
  opt.precision = precision;
  const Array y = rope(x, Positions(offset), opt);
  const Array exact = reference::rope(x, Positions(offset), oracle_options(D, false, reference::inv_freq_from_base(D, 10000)));
  double worst = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    const double r = exact.at(i);
    // Errors are measured against the row's scale: cancellation makes ulp(r) meaningless near 0.
    worst = std::max(worst, std::fabs(y.at(i) - r) / ulp(std::max(std::fabs(r), 1.0), float32));
  }
  return worst;
}

TEST(Precision, AccurateErrorDoesNotGrowWithPosition) {
  const double near_zero = max_ulp_error(Precision::accurate, 0);
  const double far = max_ulp_error(Precision::accurate, 1 << 20);
  std::printf("accurate mode: max error %.2f ulp near 0, %.2f ulp near 2^20\n", near_zero, far);
  EXPECT_LE(far, 4.0);  // the bound we reach: a few float32 ulps at any position
  EXPECT_LE(near_zero, 4.0);
  EXPECT_LE(far, std::max(near_zero, 1.0) * 2.0);
}

TEST(Precision, CompatErrorGrowsWithPositionAsTheFloat32AngleDoes) {
  const double far = max_ulp_error(Precision::compat, 1 << 20);
  std::printf("compat mode: max error %.1f ulp near 2^20\n", far);
  EXPECT_GT(far, 100.0);  // float32 angles at 2^20 are off by up to ~0.06 rad
}

TEST(Precision, CompatMatchesFloat32AngleWithinOneUlpOfTheAngle) {
  const int pos0 = (1 << 20) - 8;
  const Array x = random_array({1, 1, 16, D}, float32, 4);
  RopeOptions opt;
  opt.freqs = Frequencies::from_base(D, 10000);
  opt.precision = Precision::compat;
  const Array y = rope(x, Positions(pos0), opt);
  for (int t = 0; t < 16; ++t)
    for (int i = 0; i < D / 2; ++i) {
      // HF's formula: float(p) * float(inv_freq), then cos/sin of that float angle.
      const float angle = float(pos0 + t) * float(opt.freqs.inv_freq[i]);
      const float x1 = float(x.at(t * D + i)), x2 = float(x.at(t * D + i + D / 2));
      const double out1 = y.at(t * D + i);
      // Accept the result of any angle within 1 ulp of the float32 angle.
      bool ok = false;
      for (float a : {std::nextafter(angle, -INFINITY), angle, std::nextafter(angle, INFINITY)}) {
        const double expect = double(x1) * std::cos(double(a)) - double(x2) * std::sin(double(a));
        ok = ok || std::fabs(out1 - expect) <= 4 * ulp(std::max(std::fabs(expect), 1.0), float32);
      }
      ASSERT_TRUE(ok) << "t=" << t << " pair=" << i;
    }
}

TEST(Precision, GlobalDefaultSwitchesMlxCalls) {
  const Array x = random_array({1, 1, 4, D}, float32, 9);
  const Array accurate = fast::rope(x, D, false, 10000.f, 1.f, 1 << 20);
  set_default_precision(Precision::compat);
  const Array compat = fast::rope(x, D, false, 10000.f, 1.f, 1 << 20);
  set_default_precision(Precision::accurate);
  EXPECT_EQ(default_precision(), Precision::accurate);
  EXPECT_FALSE(bit_equal(accurate, compat));
  EXPECT_TRUE(bit_equal(accurate, fast::rope(x, D, false, 10000.f, 1.f, 1 << 20)));
}

// Low-precision outputs: within one ulp of the output format at 2^20 (accurate mode).
TEST(Precision, HalfAndBfloatWithinOneUlpAtLongContext) {
  for (Dtype dt : {float16, bfloat16}) {
    const Array x = random_array({1, 2, 8, D}, dt, 13);
    const Array y = fast::rope(x, D, false, 10000.f, 1.f, 1 << 20);
    const Array exact = reference::rope(x, Positions(1 << 20), oracle_options(D, false, reference::inv_freq_from_base(D, 10000)));
    EXPECT_TRUE(testing::close_to_oracle(y, exact, testing::max_abs(x))) << to_string(dt);
  }
}

}  // namespace
}  // namespace rotary
