// Hands a plan to the backend of its device.
#include "core/plan.h"
#include "core/validate.h"
#include "cpu/backend.h"

#ifdef ROTARY_WITH_CUDA
#include "cuda/backend.h"
#endif

namespace rotary::core {

void execute(const RopePlan& plan) {
  // Empty tensors (B, T or every head count 0, e.g. a ragged batch of empty sequences): nothing
  // to write, and no backend has to handle zero-sized loops.
  int64_t heads = 0;
  for (int k = 0; k < plan.n_tensors; ++k) heads += plan.tensors[k].heads;
  if (plan.B == 0 || plan.T == 0 || heads == 0) return;
  if (plan.device.type == Device::Type::cpu) return cpu_backend::run(plan);
#ifdef ROTARY_WITH_CUDA
  return cuda_backend::run(plan);
#else
  fail("[rope] x is on " + to_string(plan.device) + " but rotary was built without CUDA.");
#endif
}

}  // namespace rotary::core
