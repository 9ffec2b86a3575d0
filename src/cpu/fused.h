// The CPU side of the fused calls (rotary/fused.h): plans whose tensors are in host memory.
#pragma once

#include <cstdint>
#include <vector>

#include "core/fused_plan.h"
#include "cpu/angle_table.h"

namespace rotary::cpu_backend {

void run_fused(const core::FusedPlan& plan);
void run_shift(const core::ShiftPlan& plan);

// cos/sin of one position row, as the RoPE backend forms them: sincos_position_row in float
// (simd), else fill_angles in Acc. With `expand` (interleaved SIMD kernels) also the
// per-feature form. Positions are those of token (b, t) of the plan.
template <typename Acc>
struct AngleRow {
  std::vector<Acc> cos, sin;
  std::vector<float> cos2, sin2;
  PairPositions positions;
  explicit AngleRow(int pairs);
};
template <typename Acc>
void fill_angle_row(const core::RopePlan& plan, const AngleSetup& setup, bool simd, bool expand, int64_t b,
                    int64_t t, AngleRow<Acc>& row);

}  // namespace rotary::cpu_backend
