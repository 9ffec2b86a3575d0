// Hands a plan to the backend of its device: the only place that knows which backends exist.
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
  if (plan.B == 0 || plan.T == 0 || plan.heads_total() == 0) return;
  if (plan.device.type == Device::Type::cpu) return cpu_backend::run(plan);
#ifdef ROTARY_WITH_CUDA
  return cuda_backend::run(plan);
#else
  fail("[rope] x is on " + to_string(plan.device) + " but rotary was built without CUDA.");
#endif
}

void run(const TensorView* inputs, const TensorView* outputs, int n_tensors, const Positions& positions,
         const RopeOptions& options) {
  execute(make_plan(inputs, outputs, n_tensors, positions, options));
}

}  // namespace rotary::core
