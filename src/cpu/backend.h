// The CPU backend: runs a RopePlan whose tensors are in host memory.
#pragma once

#include "core/plan.h"

namespace rotary::cpu_backend {

void run(const core::RopePlan& plan);

// simd: Highway kernels and vectorised angles for float32/float16/bfloat16 with a contiguous
// feature axis (the default). scalar: the plain loop of the core (std::sin/cos, one element
// at a time), kept as the baseline for benchmarks and tests. Initially scalar when the
// environment variable ROTARY_CPU_KERNEL is "scalar".
enum class KernelMode { simd, scalar };
KernelMode kernel_mode();
void set_kernel_mode(KernelMode mode);

}  // namespace rotary::cpu_backend
