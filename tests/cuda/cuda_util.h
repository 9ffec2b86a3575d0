// Helpers of the GPU tests: skipping without a GPU, host <-> device copies, and running a
// call on the GPU and comparing it with the float64 oracle.
#pragma once

#include <gtest/gtest.h>

#include "reference/oracle.h"
#include "rotary/cuda.h"
#include "rotary/rotary.h"
#include "test_util.h"

namespace rotary::testing {

// Every GPU test starts with this: CI machines build the CUDA code but have no GPU.
#define ROTARY_REQUIRE_GPU()                                                                   \
  do {                                                                                         \
    if (!::rotary::cuda_available())                                                           \
      GTEST_SKIP() << "no CUDA GPU found (or rotary built without CUDA): GPU test skipped"; \
  } while (0)

inline Array gpu(const Array& host) { return to_device(host, cuda(0)); }
inline Array host(const Array& dev) { return to_device(dev, cpu); }

// Rotates host array x on the GPU (x and every position array copied there) and checks the
// result against the oracle. `positions_dev` must already point at device memory.
inline ::testing::AssertionResult gpu_matches_oracle(const Array& x, const Positions& positions_host,
                                                     const Positions& positions_dev, const RopeOptions& options) {
  const Array exact = reference::rope(x, positions_host, options);
  const Array got = host(rope(gpu(x), positions_dev, options));
  return close_to_oracle(got, exact, max_abs(x));
}

}  // namespace rotary::testing
