// The CUDA backend's entry point (plain C++: execute.cpp includes it without nvcc).
#pragma once

#include "core/plan.h"

namespace rotary::cuda_backend {

// Runs a plan whose tensors live on a CUDA device, asynchronously on plan.cuda_stream.
// Device-resident position arrays are read by the kernels; their values (e.g. that
// cu_seqlens is non-decreasing and ends at the token count) cannot be checked on the
// host, as in flash-attn: invalid values give wrong angles but never out-of-bounds access.
// The exception is a position-indexed cos/sin table (the position picks a table row): there
// every position is checked on the device first, and the call waits for that check.
void run(const core::RopePlan& plan);

// Largest number of rotated pairs (dims / 2) the kernels take (inv_freq travels by value).
inline constexpr int kMaxPairs = 256;

}  // namespace rotary::cuda_backend
