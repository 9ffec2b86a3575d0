// What every kernel receives by value (FlashInfer's pos_enc.cuh style): the plan as it is,
// its frequency table (host memory in the plan, so it travels here with the launch) and the
// launch's head split. The device helpers that read them sit below.
#pragma once

#include <cstdint>

#include "core/angles.h"
#include "core/plan.h"
#include "cuda/backend.h"

namespace rotary::cuda_backend {

struct LaunchArgs {
  core::RopePlan plan;
  int64_t heads_per_group = 1;  // head-parallel split: blockIdx.y picks a group of heads
  double inv_freq[kMaxPairs];
  uint8_t pair_position_stream[kMaxPairs];
};

// The angle of pair i at position p, in double: the precision mode's formation, the same as
// the CPU backend's (core/angles.h).
__device__ __forceinline__ double pair_theta(const core::RopePlan& p, const double* inv_freq, int64_t pos, int i) {
  const double inv = inv_freq[i];
  return p.precision == Precision::accurate ? core::accurate_angle(pos, p.scale, inv)
                                            : double(core::compat_angle(pos, static_cast<float>(p.scale), float(inv)));
}

// cos and sin of angle theta, times the attention factor, sin signed for the inverse. Acc is
// float, or double for float64 tensors. Double math here is per (token, pair), not per element.
template <typename Acc>
__device__ __forceinline__ void angle_cos_sin(const core::RopePlan& p, double theta, Acc& c, Acc& s) {
  const Acc r = static_cast<Acc>(core::reduce_angle(theta));
  Acc sr, cr;
  if constexpr (sizeof(Acc) == 4) sincosf(r, &sr, &cr);
  else sincos(r, &sr, &cr);
  const Acc af = static_cast<Acc>(p.attention_factor);
  c = cr * af;
  s = sr * af * (p.inverse ? Acc(-1) : Acc(1));
}

// cos and sin of pair i at position p (see angle_cos_sin).
template <typename Acc>
__device__ __forceinline__ void pair_angle(const core::RopePlan& p, const double* inv_freq, int64_t pos, int i,
                                           Acc& c, Acc& s) {
  angle_cos_sin<Acc>(p, pair_theta(p, inv_freq, pos, i), c, s);
}

// The position stream pair i reads.
__device__ __forceinline__ int pair_stream_of(const LaunchArgs& a, int i) {
  return a.plan.pair_position_stream ? a.pair_position_stream[i] : 0;
}

}  // namespace rotary::cuda_backend
