// The CPU backend: position rows split across threads; per row, angles once, then every
// batch row, tensor and head that shares them.
#include "cpu/backend.h"

#include <algorithm>
#include <vector>

#include "cpu/angles.h"
#include "cpu/parallel.h"
#include "cpu/rotate_row.h"
#include "core/validate.h"

namespace rotary::cpu_backend {

using core::RopePlan;
using core::read_index;

int64_t token_position(const core::PositionPlan& pp, int64_t b, int64_t t, int s) {
  if (pp.kind != Positions::Kind::ragged) return core::position_at(pp, b, t, s);
  // The sequence holding token t: the last s with cu_seqlens[s] <= t (skipping empty ones).
  int64_t lo = 0, hi = pp.num_seqs;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (read_index(pp.array, pp.dtype, mid * pp.stride_t) <= t) lo = mid;
    else hi = mid;
  }
  const int64_t start = pp.starts ? read_index(pp.starts, pp.starts_dtype, lo * pp.starts_stride) : 0;
  return start + t - read_index(pp.array, pp.dtype, lo * pp.stride_t);
}

AngleSetup::AngleSetup(const RopePlan& plan) : scale_f32(static_cast<float>(plan.scale)) {
  if (plan.precision == Precision::compat)
    inv_freq_f32.assign(plan.inv_freq, plan.inv_freq + plan.pairs);
}

namespace {

template <typename T>
void run_typed(const RopePlan& plan) {
  using Acc = typename Element<T>::Acc;
  const AngleSetup setup(plan);
  const bool shared = plan.positions.batch_invariant;
  int64_t heads_total = 0;
  for (int k = 0; k < plan.n_tensors; ++k) heads_total += plan.tensors[k].heads;
  const int64_t rows_per_position = heads_total * (shared ? plan.B : 1);

  parallel_for(plan.position_rows(), rows_per_position * plan.D, [&](int64_t begin, int64_t end) {
    std::vector<Acc> cos(plan.pairs), sin(plan.pairs);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t t = r % plan.T;
      const int64_t b0 = shared ? 0 : r / plan.T;
      fill_angles(plan, setup, b0, t, cos.data(), sin.data());
      const int64_t b_end = shared ? plan.B : b0 + 1;
      for (int64_t b = b0; b < b_end; ++b) {
        for (int k = 0; k < plan.n_tensors; ++k) {
          const core::TensorPair& tp = plan.tensors[k];
          const T* in = reinterpret_cast<const T*>(tp.in.data) + b * tp.in.stride_b + t * tp.in.stride_t;
          T* out = reinterpret_cast<T*>(tp.out.data) + b * tp.out.stride_b + t * tp.out.stride_t;
          for (int64_t h = 0; h < tp.heads; ++h)
            rotate_row<T>(in + tp.in.head_offset(h), out + tp.out.head_offset(h), tp.in.stride_d,
                          tp.out.stride_d, plan.pairs, plan.D, plan.traditional, tp.in_place, cos.data(),
                          sin.data());
        }
      }
    }
  });
}

}  // namespace

void run(const RopePlan& plan) {
  switch (plan.dtype.val) {
    case Dtype::Val::float32: return run_typed<float>(plan);
    case Dtype::Val::float64: return run_typed<double>(plan);
    case Dtype::Val::float16: return run_typed<float16_t>(plan);
    case Dtype::Val::bfloat16: return run_typed<bfloat16_t>(plan);
    default: core::fail("[rope] unsupported dtype " + to_string(plan.dtype) + ".");
  }
}

}  // namespace rotary::cpu_backend
