// Hands a fused plan to the backend of its device.
#include "core/fused_plan.h"
#include "core/validate.h"
#include "cpu/fused.h"

#ifdef ROTARY_WITH_CUDA
#include "cuda/fused.h"
#endif

namespace rotary::core {

void execute(const FusedPlan& plan) {
  if (plan.rope.B == 0 || plan.rope.T == 0) return;  // no token: nothing to write
  if (plan.rope.device.type == Device::Type::cpu) return cpu_backend::run_fused(plan);
#ifdef ROTARY_WITH_CUDA
  return cuda_backend::run_fused(plan);
#else
  fail("[rope_and_cache] the tensors are on " + to_string(plan.rope.device) + " but rotary was built without CUDA.");
#endif
}

void execute(const ShiftPlan& plan) {
  if (plan.cache.pages == 0 || plan.cache.rows == 0 || plan.cache.heads == 0) return;
  if (plan.rope.device.type == Device::Type::cpu) return cpu_backend::run_shift(plan);
#ifdef ROTARY_WITH_CUDA
  return cuda_backend::run_shift(plan);
#else
  fail("[shift_cache] k_cache is on " + to_string(plan.rope.device) + " but rotary was built without CUDA.");
#endif
}

}  // namespace rotary::core
