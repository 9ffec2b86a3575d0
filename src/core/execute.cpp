// Hands a plan to the backend of its device.
#include "core/plan.h"
#include "core/validate.h"
#include "cpu/backend.h"

#ifdef ROTARY_WITH_CUDA
#include "cuda/backend.h"
#endif

namespace rotary::core {

void execute(const RopePlan& plan) {
  if (plan.device.type == Device::Type::cpu) return cpu_backend::run(plan);
#ifdef ROTARY_WITH_CUDA
  return cuda_backend::run(plan);
#else
  fail("[rope] x is on " + to_string(plan.device) + " but rotary was built without CUDA.");
#endif
}

}  // namespace rotary::core
