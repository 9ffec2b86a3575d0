// The CPU backend: runs a RopePlan whose tensors are in host memory.
#pragma once

#include "core/plan.h"

namespace rotary::cpu_backend {

void run(const core::RopePlan& plan);

}  // namespace rotary::cpu_backend
