// cos/sin of one position row: computed once, then reused for every head, batch row
// and tensor (Q and K) that shares the position.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/angles.h"
#include "core/plan.h"

namespace rotary::cpu_backend {

// Per-call constants the angle loop needs, prepared once.
struct AngleSetup {
  std::vector<float> inv_freq_f32;  // compat mode only
  float scale_f32 = 1.0f;
  double inv_freq_max = 0;  // the largest |frequency| (compat: of inv_freq_f32): AngleArgs::inv_freq_max
  explicit AngleSetup(const core::RopePlan& plan);
};

// Whether the plan's frequency, scale and attention factor are finite: the SIMD kernels'
// condition (the bfloat16 store relies on finite cos/sin tables, see simd_rotate-inl.h).
bool finite_tables(const core::RopePlan& plan);

// Per-pair positions of a row whose pairs read several position streams (scratch).
struct PairPositions {
  std::vector<double> pos;
  std::vector<float> posf;
};
// SIMD cos/sin of position row (b, t) into c and s (pairs values each): one vectorised pass,
// the same values for the RoPE backend and the fused paths.
void sincos_position_row(const core::RopePlan& plan, const AngleSetup& setup, int64_t b, int64_t t,
                         PairPositions& scratch, float* c, float* s);

// Fills cos[i], sin[i] (already multiplied by the attention factor, sin negated for the
// inverse) for the pairs of token (b, t). Acc is float, or double for float64 tensors.
template <typename Acc>
void fill_angles(const core::RopePlan& plan, const AngleSetup& setup, int64_t b, int64_t t, Acc* cos_out,
                 Acc* sin_out) {
  int64_t pos[core::kMaxPositionStreams];
  plan.positions.at_streams(b, t, pos);
  const Acc af = static_cast<Acc>(plan.attention_factor);
  const Acc sign = plan.inverse ? Acc(-1) : Acc(1);
  for (int i = 0; i < plan.pairs; ++i) {
    const int64_t p = pos[plan.pair_position_stream ? plan.pair_position_stream[i] : 0];
    const double theta = plan.precision == Precision::accurate
                             ? core::accurate_angle(p, plan.scale, plan.inv_freq[i])
                             : double(core::compat_angle(p, setup.scale_f32, setup.inv_freq_f32[i]));
    // float64, and angles past the reduction's bound, take theta as is: the C library reduces
    // it exactly at any magnitude (a Cody-Waite step's 2^-53 |r| would show in float64).
    if (std::is_same_v<Acc, double> || !(std::fabs(theta) < core::kMaxReducedAngle)) {
      cos_out[i] = Acc(std::cos(theta)) * af;
      sin_out[i] = Acc(std::sin(theta)) * af * sign;
      continue;
    }
    const Acc r = static_cast<Acc>(core::reduce_angle(theta));
    cos_out[i] = std::cos(r) * af;
    sin_out[i] = std::sin(r) * af * sign;
  }
}

// Table calls: the caller's cos/sin of token (b, t), plan.table.width columns, sin negated for
// the inverse; the row kernels then rotate with them as with formed angles.
template <typename Acc>
void fill_from_table(const core::RopePlan& plan, int64_t b, int64_t t, Acc* cos_out, Acc* sin_out) {
  const core::TablePlan& table = plan.table;
  const Acc sign = plan.inverse ? Acc(-1) : Acc(1);
  for (int w = 0; w < table.width; ++w) {
    cos_out[w] = static_cast<Acc>(table.cos_at(plan.positions, b, t, w));
    sin_out[w] = static_cast<Acc>(table.sin_at(plan.positions, b, t, w)) * sign;
  }
}

}  // namespace rotary::cpu_backend
