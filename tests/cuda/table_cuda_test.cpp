// Caller-given cos/sin (RopeOptions::table) on the GPU: every case of the CPU table test
// (tests/table_cases.h: each dtype, layout, table width, token or position rows, the inverse,
// fused and hf rounding) with x, the position ids and the table on the device, checked against
// the CPU's scalar rotate_row bit for bit (both roundings do the same products and sums in the
// same order; hf with __fmul_rn / __fadd_rn, so nothing is contracted) and against the float64
// oracle. And
// positions past a position-indexed table, device-resident or not, refused with x unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/backend.h"
#include "cuda/cuda_util.h"
#include "table_cases.h"

namespace rotary::testing {
namespace {

::testing::AssertionResult bit_identical(const Array& got, const Array& want) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "shape or dtype differ";
  for (int64_t i = 0; i < got.size(); ++i) {
    const double g = got.at(i), w = want.at(i);
    if (g != w || std::signbit(g) != std::signbit(w))
      return ::testing::AssertionFailure() << "element " << i << ": GPU " << g << ", CPU " << w;
  }
  return ::testing::AssertionSuccess();
}

// The CPU in scalar mode for the duration of a test: rotate_row is the formula the GPU mirrors.
class CpuScalar {
 public:
  CpuScalar() { cpu_backend::set_kernel_mode(cpu_backend::KernelMode::scalar); }
  ~CpuScalar() { cpu_backend::set_kernel_mode(mode_); }

 private:
  cpu_backend::KernelMode mode_ = cpu_backend::kernel_mode();
};

TEST(CudaTable, EveryCaseEqualsTheCpuBitForBitAndMatchesTheOracle) {
  ROTARY_REQUIRE_GPU();
  const CpuScalar scalar;
  for (const TableCase& c : all_table_cases()) {
    const TableInputs in(c);
    const CosSinTable host_table = in.table(in.cos, in.sin);
    const Positions host_ids = Positions::ids(in.ids.view());
    const Array on_cpu = rope(in.x, host_ids, in.options(host_table));

    const Array x = gpu(in.x), ids = gpu(in.ids), cos = gpu(in.cos), sin = gpu(in.sin);
    const CosSinTable device_table = in.table(cos, sin);
    const Array on_gpu = host(rope(x, Positions::ids(ids.view()), in.options(device_table)));
    EXPECT_TRUE(bit_identical(on_gpu, on_cpu)) << describe(c);
    EXPECT_TRUE(table_result_close(c, on_gpu, in.oracle(), max_abs(in.x))) << describe(c);
  }
}

// Rotates x in place on the GPU with a position-indexed table of TableInputs::kRows rows;
// returns the error text ("no error" when none) and whether x was left unchanged.
std::string error_in_place(const Positions& positions, const Array& x_host, bool& unchanged) {
  const TableInputs in({float32, false, false, true, false, TableRounding::fused});
  Array x = gpu(x_host);
  const Array cos = gpu(in.cos), sin = gpu(in.sin);
  const CosSinTable table = in.table(cos, sin);
  std::string text = "no error";
  try {
    rope_inplace(x.view(), positions, in.options(table));
  } catch (const std::invalid_argument& e) {
    text = e.what();
  }
  const Array after = host(x);
  unchanged = bit_identical(after, x_host);
  return text;
}

TEST(CudaTable, PositionsPastTheTableAreRefusedBeforeWriting) {
  ROTARY_REQUIRE_GPU();
  const int64_t B = TableInputs::kB, T = TableInputs::kT, rows = TableInputs::kRows;
  const Array x = random_array({B, TableInputs::kH, T, TableInputs::kD}, float32, 3);
  std::vector<int64_t> ids(B * T, 1);
  ids[B * T - 1] = rows;  // one past the last row
  const Array ids_d = gpu(Array(ids.data(), {B, T}));
  bool unchanged = false;
  // Device-resident ids: checked on the device before the rotation is queued.
  std::string e = error_in_place(Positions::ids(ids_d.view()), x, unchanged);
  EXPECT_NE(e.find("table has 40 rows (positions 0..39) but a token's position"), std::string::npos) << e;
  EXPECT_TRUE(unchanged);
  // A scalar offset: read on the host by the planner, which names the token.
  e = error_in_place(Positions(rows - T + 1), x, unchanged);
  EXPECT_NE(e.find("table has 40 rows (positions 0..39) but token (0, 4) is at position 40"), std::string::npos) << e;
  EXPECT_TRUE(unchanged);
  // In range on the device: no error, and x rotated.
  ids[B * T - 1] = rows - 1;
  const Array ok_d = gpu(Array(ids.data(), {B, T}));
  e = error_in_place(Positions::ids(ok_d.view()), x, unchanged);
  EXPECT_EQ(e, "no error");
  EXPECT_FALSE(unchanged);
}

}  // namespace
}  // namespace rotary::testing
