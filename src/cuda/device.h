// The CUDA backend's one error check and one device guard (plain C++, no nvcc needed).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "rotary/tensor_view.h"

namespace rotary::cuda_backend {

// Throws std::runtime_error naming the call when err is not cudaSuccess.
void check(cudaError_t err, const char* what);

// Makes `device` current for a scope and restores the caller's device after (as torch's
// guard). A CPU device leaves the current device alone.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

// Whether `stream` is capturing a CUDA graph: a call on it must not wait for it (a capture
// cannot hold a wait; CUDA invalidates it).
bool capturing(cudaStream_t stream);

// A device int that kernels raise (set to 1) when a device-resident index is bad, for one call:
// allocated and cleared on the call's stream (stream-ordered, so concurrent calls on other
// streams have their own), freed on it after. raised() waits for the stream.
class ErrorFlag {
 public:
  explicit ErrorFlag(cudaStream_t stream);
  ~ErrorFlag();
  ErrorFlag(const ErrorFlag&) = delete;
  ErrorFlag& operator=(const ErrorFlag&) = delete;
  int* device() const { return flag_; }
  bool raised();

 private:
  cudaStream_t stream_;
  int* flag_ = nullptr;
};

// Host arrays one call reads on the device (already checked by the planner), copied there on
// the call's stream and freed on it after the call's kernels. A copy from pageable memory
// returns once the driver has staged it, so the call does not wait for the kernel.
class StagedBuffers {
 public:
  struct Axis {
    int64_t size, stride;  // in elements
  };
  explicit StagedBuffers(cudaStream_t stream) : stream_(stream) {}
  ~StagedBuffers();
  StagedBuffers(const StagedBuffers&) = delete;
  StagedBuffers& operator=(const StagedBuffers&) = delete;
  // The elements a strided view of `element_size`-byte elements spans, copied; returns where
  // element 0 lands on the device (`host` itself for an empty view: never read).
  const void* stage(const void* host, size_t element_size, std::initializer_list<Axis> axes);

 private:
  cudaStream_t stream_;
  std::vector<void*> buffers_;
};

}  // namespace rotary::cuda_backend
