// The GPU against the oracle over the grid of the CPU tests: dtypes x layouts x head sizes
// (specialised 128, generic vectorised 80, scalar 10) x dims D and D/2 x both pair layouts
// x offset kinds x frequencies x scale, in both precision modes.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "cuda/cuda_util.h"

namespace rotary::testing {
namespace {

struct OffsetCase {
  const char* name;
  Positions host, dev;
  Array keep_host = Array(0), keep_dev = Array(0);  // arrays the positions point into
};

std::vector<OffsetCase> offset_cases(int B) {
  std::vector<OffsetCase> cases;
  cases.push_back({"offset 0", Positions(0), Positions(0)});
  cases.push_back({"offset 2^20", Positions(1 << 20), Positions(1 << 20)});
  {
    std::vector<int32_t> v(B);
    for (int b = 0; b < B; ++b) v[b] = 7 + 1000 * b;
    Array h(v.data(), {B});
    Array d = gpu(h);
    cases.push_back({"offsets (B,) int32", Positions::offsets(h.view()), Positions::offsets(d.view()), h, d});
  }
  {
    Array h = Array(int64_t(123456));
    Array d = gpu(h);
    cases.push_back({"offset () int64", Positions::offsets(h.view()), Positions::offsets(d.view()), h, d});
  }
  return cases;
}

using GridParam = std::tuple<Dtype, int>;  // dtype, seq_axis
class CudaGrid : public ::testing::TestWithParam<GridParam> {};

TEST_P(CudaGrid, MatchesOracle) {
  ROTARY_REQUIRE_GPU();
  const auto [dtype, seq_axis] = GetParam();
  const int B = 2, H = 3, T = 5;
  const auto offsets = offset_cases(B);
  for (int D : {128, 80, 10}) {
    const Shape shape = seq_axis == -2 ? Shape{B, H, T, D} : Shape{B, T, H, D};
    const Array x = random_array(shape, dtype, unsigned(D));
    for (int dims : {D, (D / 2) & ~1}) {
      for (bool traditional : {false, true}) {
        for (bool custom_freqs : {false, true}) {
          for (float scale : {1.0f, 0.25f}) {
            for (Precision precision : {Precision::accurate, Precision::compat}) {
              for (const OffsetCase& oc : offsets) {
                RopeOptions o;
                o.dims = dims;
                o.layout = pair_layout(traditional);
                o.seq_axis = seq_axis;
                o.scale = scale;
                o.precision = precision;
                if (custom_freqs) {
                  std::vector<double> periods(dims / 2);
                  for (int i = 0; i < dims / 2; ++i) periods[i] = 1.5 + 37.0 * i * i;
                  o.freqs = Frequencies::from_periods(periods);
                } else {
                  o.freqs = Frequencies::from_base(dims, 10000.0);
                }
                const std::string where = "D=" + std::to_string(D) + " dims=" + std::to_string(dims) +
                                          " traditional=" + std::to_string(traditional) + " custom_freqs=" +
                                          std::to_string(custom_freqs) + " scale=" + std::to_string(scale) +
                                          " compat=" + std::to_string(precision == Precision::compat) + " " +
                                          oc.name;
                if (precision == Precision::accurate) {
                  ASSERT_TRUE(gpu_matches_oracle(x, oc.host, oc.dev, o)) << where;
                } else {
                  // Compat angles grow in error with position by design: compare with the CPU
                  // backend, which forms the identical float32 angle.
                  const Array want = rope(x, oc.host, o);
                  const Array got = host(rope(gpu(x), oc.dev, o));
                  ASSERT_TRUE(close_to_oracle(got, want.astype(float64), max_abs(x))) << where;
                }
              }
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypesLayouts, CudaGrid,
                         ::testing::Combine(::testing::Values(float32, float16, bfloat16, float64),
                                            ::testing::Values(-2, -3)),
                         [](const ::testing::TestParamInfo<GridParam>& info) {
                           return to_string(std::get<0>(info.param)) + "_seq" +
                                  std::to_string(-std::get<1>(info.param));
                         });

// Long positions in accurate mode: error stays flat (spec part 3), on the GPU too.
TEST(CudaPrecision, AccurateAtLongPositions) {
  ROTARY_REQUIRE_GPU();
  for (Dtype dtype : {float32, bfloat16, float16}) {
    const Array x = random_array({1, 4, 16, 128}, dtype, 3);
    RopeOptions o;
    o.freqs = Frequencies::from_base(128, 500000.0);
    o.precision = Precision::accurate;
    for (int64_t offset : {int64_t(1) << 20, (int64_t(1) << 24) + 12345})
      EXPECT_TRUE(gpu_matches_oracle(x, Positions(offset), Positions(offset), o)) << to_string(dtype) << " " << offset;
  }
}

// The attention factor multiplies cos and sin (YaRN): once, not twice.
TEST(CudaPrecision, AttentionFactor) {
  ROTARY_REQUIRE_GPU();
  for (Dtype dtype : {float32, bfloat16, float64}) {
    const Array x = random_array({2, 4, 9, 64}, dtype, 5);
    RopeOptions o;
    o.freqs = Frequencies::from_base(64, 10000.0);
    o.freqs.attention_factor = 1.2345;
    EXPECT_TRUE(gpu_matches_oracle(x, Positions(3), Positions(3), o)) << to_string(dtype);
  }
}

}  // namespace
}  // namespace rotary::testing
