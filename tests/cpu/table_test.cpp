// Caller-given cos/sin (RopeOptions::table) on the CPU backend against the float64 oracle: the
// table holds the oracle's own angles, so rotating with it must give the oracle's result.
// Every dtype, both layouts, both table widths, token and position rows, the inverse, SIMD and
// scalar mode, hf rounding; and each argument error.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/backend.h"
#include "table_cases.h"

namespace rotary {
namespace {

using testing::max_abs;
using testing::random_array;
using testing::TableCase;
using testing::TableInputs;

void check_case(const TableCase& c) {
  const TableInputs in(c);
  const CosSinTable table = in.table(in.cos, in.sin);
  const Array got = rope(in.x, Positions::ids(in.ids.view()), in.options(table));
  EXPECT_TRUE(testing::table_result_close(c, got, in.oracle(), max_abs(in.x))) << testing::describe(c);
}

class TableTest : public ::testing::TestWithParam<cpu_backend::KernelMode> {
 protected:
  void SetUp() override { cpu_backend::set_kernel_mode(GetParam()); }
  void TearDown() override { cpu_backend::set_kernel_mode(mode_); }
  cpu_backend::KernelMode mode_ = cpu_backend::kernel_mode();
};

TEST_P(TableTest, MatchesOracleForEveryDtypeLayoutWidthAndRowKind) {
  for (const TableCase& c : testing::all_table_cases()) check_case(c);
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

// cos and sin must be on x's device. A table marked cuda:0 with a host x, and a host table with
// an x marked cuda:0 (views over host memory: the planner refuses before any backend runs, so
// this needs no GPU), each an error naming table.cos, with x left as it was.
TEST(TableErrors, TableOnAnotherDeviceThanX) {
  const Array x = random_array({1, 2, 4, 8}, float32);
  const Array c = Array::zeros({4, 4}, float32), s = Array::zeros({4, 4}, float32);
  std::vector<double> before(size_t(x.size()));
  for (int64_t i = 0; i < x.size(); ++i) before[size_t(i)] = x.at(i);
  auto error_in_place = [&](bool x_on_device) {
    TensorView xv = x.view();
    CosSinTable table{c.view(), s.view(), CosSinTable::Rows::token};
    (x_on_device ? xv.device : table.cos.device) = cuda(0);
    if (!x_on_device) table.sin.device = cuda(0);
    RopeOptions o;
    o.table = &table;
    try {
      rope(xv, xv, Positions(), o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_in_place(false).find("table.cos is on cuda:0 but x is on cpu"), std::string::npos)
      << error_in_place(false);
  EXPECT_NE(error_in_place(true).find("table.cos is on cpu but x is on cuda:0"), std::string::npos)
      << error_in_place(true);
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(x.at(i), before[size_t(i)]) << "element " << i << " was written";
}

}  // namespace
}  // namespace rotary
