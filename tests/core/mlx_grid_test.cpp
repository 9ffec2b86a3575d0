// fast::rope against the float64 oracle over the grid of issue 2:
// dtypes x layouts x dims {D, D/2} x offsets x {base 1e4, base 1e6, custom freqs} x scales.
#include <gtest/gtest.h>

#include <tuple>

#include "test_util.h"

namespace rotary {
namespace {

using testing::close_to_oracle;
using testing::max_abs;
using testing::oracle_options;
using testing::random_array;

constexpr int B = 3, H = 2, T = 5, D = 16;

// The offset forms of the spec; each yields the fast::rope call and the oracle's Positions.
struct OffsetCase {
  std::string name;
  std::optional<int> scalar;
  std::optional<Array> array;
};

std::vector<OffsetCase> offset_cases() {
  std::vector<OffsetCase> c;
  c.push_back({"int", 7, std::nullopt});
  c.push_back({"int_negative", -3, std::nullopt});
  c.push_back({"0d", std::nullopt, Array(11)});
  c.push_back({"shape1", std::nullopt, Array({4}, {1})});
  const int32_t i32[B] = {0, 5, -2};
  const int64_t i64[B] = {3, 1000, (int64_t(1) << 32) + 5};  // full width: 2^32+5 is not 5
  const uint32_t u32[B] = {9, 0, 4000000000u};
  c.push_back({"B_int32", std::nullopt, Array(i32, {B})});
  c.push_back({"B_int64", std::nullopt, Array(i64, {B})});
  c.push_back({"B_uint32", std::nullopt, Array(u32, {B})});
  return c;
}

struct FreqCase {
  std::string name;
  std::optional<float> base;
  std::optional<Array> periods;
};

std::vector<FreqCase> freq_cases(int dims) {
  std::vector<double> p(dims / 2);
  for (int i = 0; i < dims / 2; ++i) p[i] = 1.5 + 3.0 * i * i;  // periods, not frequencies
  return {{"base1e4", 10000.f, std::nullopt}, {"base1e6", 1e6f, std::nullopt},
          {"freqs", std::nullopt, Array(p.data(), {dims / 2}, float32)}};
}

// The oracle's frequencies for a case, computed from the same float32 inputs MLX takes.
std::vector<double> oracle_inv_freq(const FreqCase& f, int dims) {
  if (f.base) return reference::inv_freq_from_base(dims, double(*f.base));
  std::vector<double> inv(dims / 2);
  for (int i = 0; i < dims / 2; ++i) inv[i] = 1.0 / f.periods->at(i);
  return inv;
}

class MlxGrid : public ::testing::TestWithParam<std::tuple<Dtype, bool>> {};

TEST_P(MlxGrid, MatchesOracle) {
  const auto [dtype, traditional] = GetParam();
  const Array x = random_array({B, H, T, D}, dtype, 42);
  for (int dims : {D, D / 2})
    for (const OffsetCase& off : offset_cases())
      for (const FreqCase& fc : freq_cases(dims))
        for (float scale : {1.0f, 0.5f, 2.0f}) {
          SCOPED_TRACE("dims=" + std::to_string(dims) + " offset=" + off.name + " freqs=" + fc.name +
                       " scale=" + std::to_string(scale));
          const Array y = off.scalar
                              ? fast::rope(x, dims, traditional, fc.base, scale, *off.scalar, fc.periods)
                              : fast::rope(x, dims, traditional, fc.base, scale, *off.array, fc.periods);
          ASSERT_EQ(y.dtype(), dtype);
          ASSERT_EQ(y.shape(), x.shape());
          const Positions pos = off.scalar ? Positions(*off.scalar) : Positions::offsets(off.array->view());
          const Array exact = reference::rope(x, pos, oracle_options(dims, traditional, oracle_inv_freq(fc, dims), scale));
          ASSERT_TRUE(close_to_oracle(y, exact, max_abs(x)));
        }
}

INSTANTIATE_TEST_SUITE_P(DtypesAndLayouts, MlxGrid,
                         ::testing::Combine(::testing::Values(float32, float16, bfloat16, float64),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_traditional" : "_half_split");
                         });

// The oracle itself against a hand-computed rotation: x = (1, 0 | 0, 0) rotated by angle p.
TEST(Oracle, KnownAnswer) {
  const float v[4] = {1, 2, 3, 4};
  const Array x(v, {1, 1, 1, 4});
  // half-split, dims 4, base 100: inv_freq = {1, 0.1}; position 2 -> angles {2, 0.2}
  const Array y = reference::rope(x, Positions(2), oracle_options(4, false, {1.0, 0.1}));
  EXPECT_DOUBLE_EQ(y.at(0), 1 * std::cos(2.0) - 3 * std::sin(2.0));
  EXPECT_DOUBLE_EQ(y.at(2), 1 * std::sin(2.0) + 3 * std::cos(2.0));
  EXPECT_DOUBLE_EQ(y.at(1), 2 * std::cos(0.2) - 4 * std::sin(0.2));
  EXPECT_DOUBLE_EQ(y.at(3), 2 * std::sin(0.2) + 4 * std::cos(0.2));
  // traditional pairs (0,1), (2,3)
  const Array z = reference::rope(x, Positions(2), oracle_options(4, true, {1.0, 0.1}));
  EXPECT_DOUBLE_EQ(z.at(0), 1 * std::cos(2.0) - 2 * std::sin(2.0));
  EXPECT_DOUBLE_EQ(z.at(1), 1 * std::sin(2.0) + 2 * std::cos(2.0));
  EXPECT_DOUBLE_EQ(z.at(2), 3 * std::cos(0.2) - 4 * std::sin(0.2));
}

// fast::rope against a hand-computed value: MLX's default base, one pair.
TEST(FastRope, KnownAnswer) {
  const float v[2] = {1, 0};
  const Array y = fast::rope(Array(v, {1, 1, 2}), 2, false, 10000.f, 1.f, 3);
  EXPECT_NEAR(y.at(0), std::cos(3.0), 1e-7);
  EXPECT_NEAR(y.at(1), std::sin(3.0), 1e-7);
}

}  // namespace
}  // namespace rotary
