// The CUDA side of the fused calls (rotary/fused.h). Plain C++: core/fused_execute.cpp
// includes it without nvcc.
#pragma once

#include "core/fused_plan.h"

namespace rotary::cuda_backend {

// Runs on the plan's CUDA stream. Device-resident slot arrays (slot mapping, write positions,
// block tables, cache lengths) cannot be read on the host: the kernel checks every index
// against the cache, never writes outside it (the token's k and v rows are skipped), and
// reports: after the kernel the call waits for the stream and throws std::invalid_argument
// naming cache.slots when any index was outside the cache. Host-resident slot arrays were
// checked by the planner: they are copied to the device on the stream and the call returns
// without waiting.
void run_fused(const core::FusedPlan& plan);
void run_shift(const core::ShiftPlan& plan);

}  // namespace rotary::cuda_backend
