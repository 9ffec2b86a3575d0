// Caller-given cos/sin (RopeOptions::table) on the CPU backend against the float64 oracle: the
// table holds the oracle's own angles, so rotating with it must give the oracle's result.
// Every dtype, both layouts, both table widths, token and position rows, the inverse, SIMD and
// scalar mode, hf rounding; and each argument error.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "cpu/backend.h"
#include "test_util.h"

namespace rotary {
namespace {

using testing::close_to_oracle;
using testing::max_abs;
using testing::random_array;

struct Case {
  Dtype dtype = float32;
  bool interleaved = false;
  bool per_feature = false;  // table width dims (else dims/2)
  bool by_position = false;
  bool inverse = false;
  TableRounding rounding = TableRounding::fused;
};

constexpr int64_t kB = 2, kH = 3, kT = 5, kD = 16, kDims = 12, kRows = 40;

// cos/sin of every table row r at position row_position(r), width columns, in table_dtype.
Array make_table(const std::vector<double>& inv_freq, int64_t rows, int width, bool interleaved, bool want_sin,
                 Dtype table_dtype, const std::function<int64_t(int64_t)>& row_position) {
  const int pairs = int(inv_freq.size());
  std::vector<double> v(rows * width);
  for (int64_t r = 0; r < rows; ++r)
    for (int w = 0; w < width; ++w) {
      const int pair = width == pairs ? w : (interleaved ? w / 2 : w % pairs);
      const double theta = double(row_position(r)) * inv_freq[pair];
      v[r * width + w] = want_sin ? std::sin(theta) : std::cos(theta);
    }
  return Array(v.data(), Shape{int(rows), width}).astype(table_dtype);
}

bool is_16bit(Dtype d) { return d == float16 || d == bfloat16; }

// hf rounding in a 16-bit dtype rounds three times, each product at its own magnitude: within
// 1.5 ulps of the largest input of the exact result (three half-ulp roundings); 2 allowed.
::testing::AssertionResult within_hf_rounding(const Array& got, const Array& exact, double input_scale) {
  const double allowed = 2 * testing::ulp(input_scale, got.dtype());
  for (int64_t i = 0; i < got.size(); ++i)
    if (std::fabs(got.at(i) - exact.at(i)) > allowed)
      return ::testing::AssertionFailure() << "element " << i << ": got " << got.at(i) << ", exact " << exact.at(i);
  return ::testing::AssertionSuccess();
}

void check_case(const Case& c) {
  const Array x = random_array({kB, kH, kT, kD}, c.dtype, 7);
  std::vector<int64_t> ids(kB * kT);
  for (int64_t i = 0; i < kB * kT; ++i) ids[i] = (i * 7 + 3) % kRows;
  const Array id_array(ids.data(), {kB, kT});
  const Positions positions = Positions::ids(id_array.view());
  RopeOptions exact;
  exact.dims = kDims;
  exact.layout = pair_layout(c.interleaved);
  exact.inverse = c.inverse;
  exact.freqs.inv_freq = reference::inv_freq_from_base(kDims, 10000);
  const Array want = reference::rope(x, positions, exact);

  const int width = c.per_feature ? kDims : kDims / 2;
  const Dtype table_dtype = c.dtype == float64 ? float64 : float32;
  auto by_token = [&](int64_t r) { return ids[r]; };  // row r = b * T + t
  auto identity = [](int64_t r) { return r; };
  const int64_t rows = c.by_position ? kRows : kB * kT;
  const auto& where = c.by_position ? std::function<int64_t(int64_t)>(identity) : by_token;
  Array cos = make_table(exact.freqs.inv_freq, rows, width, c.interleaved, false, table_dtype, where);
  Array sin = make_table(exact.freqs.inv_freq, rows, width, c.interleaved, true, table_dtype, where);
  CosSinTable table;
  table.cos = cos.view();
  table.sin = sin.view();
  table.rows = c.by_position ? CosSinTable::Rows::position : CosSinTable::Rows::token;
  if (!c.by_position) {
    table.cos.shape = table.sin.shape = {kB, kT, width};
    table.cos.strides = table.sin.strides = {kT * width, width, 1};
  }
  RopeOptions options = exact;
  options.freqs = {};
  options.table = &table;
  options.rounding = c.rounding;
  const Array got = rope(x, positions, options);
  EXPECT_TRUE(c.rounding == TableRounding::hf && is_16bit(c.dtype) ? within_hf_rounding(got, want, max_abs(x))
                                                                   : close_to_oracle(got, want, max_abs(x)))
      << to_string(c.dtype) << " interleaved " << c.interleaved << " per_feature " << c.per_feature
      << " by_position " << c.by_position << " inverse " << c.inverse << " hf " << int(c.rounding);
}

class TableTest : public ::testing::TestWithParam<cpu_backend::KernelMode> {
 protected:
  void SetUp() override { cpu_backend::set_kernel_mode(GetParam()); }
  void TearDown() override { cpu_backend::set_kernel_mode(mode_); }
  cpu_backend::KernelMode mode_ = cpu_backend::kernel_mode();
};

TEST_P(TableTest, MatchesOracleForEveryDtypeLayoutWidthAndRowKind) {
  for (Dtype dtype : {float32, float16, bfloat16, float64})
    for (bool interleaved : {false, true})
      for (bool per_feature : {false, true})
        for (bool by_position : {false, true})
          for (bool inverse : {false, true})
            for (TableRounding rounding : {TableRounding::fused, TableRounding::hf})
              check_case({dtype, interleaved, per_feature, by_position, inverse, rounding});
}

INSTANTIATE_TEST_SUITE_P(Modes, TableTest,
                         ::testing::Values(cpu_backend::KernelMode::simd, cpu_backend::KernelMode::scalar));

// hf rounding of a bfloat16 row: each product rounded to bfloat16, then the sum (known answer
// worked by hand: 1.0078125 * 0.99609375 = 1.003875732421875 rounds to 1.0; -1.0078125 *
// 0.0859375 = -0.08660888671875 rounds to -0.08642578125; the sum 0.91357421875 rounds to 0.9140625).
TEST(TableRounding, HfRoundsEachProductThenTheSum) {
  const Array x = Array({1.0078125f, 1.0078125f}, {1, 1, 1, 2}).astype(bfloat16);
  const Array c = Array({0.99609375f}, {1, 1});
  const Array s = Array({0.0859375f}, {1, 1});
  CosSinTable table{c.view(), s.view(), CosSinTable::Rows::token};
  RopeOptions o;
  o.table = &table;
  o.rounding = TableRounding::hf;
  const Array hf = rope(x, Positions(), o);
  EXPECT_EQ(hf.at(0), 0.9140625);
  o.rounding = TableRounding::fused;  // one rounding of the exact 0.917266845703125
  EXPECT_EQ(rope(x, Positions(), o).at(0), 0.91796875);
}

std::string error_of(const Array& x, const Positions& p, const RopeOptions& o) {
  try {
    rope(x, p, o);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(TableErrors, NameTheArgumentAndWhatWasExpected) {
  const Array x = random_array({1, 2, 4, 8}, float32);
  const Array good = Array::zeros({4, 4}, float32);
  CosSinTable table{good.view(), good.view(), CosSinTable::Rows::token};
  RopeOptions o;
  o.table = &table;
  EXPECT_EQ(error_of(x, Positions(), o), "no error");
  const Array wide = Array::zeros({4, 5}, float32);
  table.cos = wide.view();
  EXPECT_NE(error_of(x, Positions(), o).find("table.sin must have table.cos's shape"), std::string::npos);
  table.sin = wide.view();
  EXPECT_NE(error_of(x, Positions(), o).find("table.cos must have shape (4, W) or (1 or 1, 4, W) with W = 4 or 8"),
            std::string::npos);
  const Array ints = Array::zeros({4, 4}, int32);
  table.cos = table.sin = ints.view();
  EXPECT_NE(error_of(x, Positions(), o).find("table.cos must be float32 or x's dtype (float32) but got int32"),
            std::string::npos);
  table.cos = table.sin = good.view();
  table.rows = CosSinTable::Rows::position;
  EXPECT_NE(error_of(x, Positions(1), o).find("table has 4 rows (positions 0..3) but token (0, 3) is at position 4"),
            std::string::npos);
  o.freqs.inv_freq = reference::inv_freq_from_base(8, 10000);
  EXPECT_NE(error_of(x, Positions(), o).find("freqs and table are two angle sources"), std::string::npos);
}

}  // namespace
}  // namespace rotary
