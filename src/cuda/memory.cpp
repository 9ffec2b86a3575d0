// Device memory for Array (the allocator's hooks) and the device queries of rotary/cuda.h.
#include <cuda_runtime.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "core/allocator.h"
#include "cuda/device.h"
#include "rotary/cuda.h"

namespace rotary {
namespace {

using cuda_backend::check;
using cuda_backend::DeviceGuard;

void check_index(Device device, const char* what) {
  if (device.type != Device::Type::cuda) return;
  const int n = cuda_device_count();
  if (device.index < 0 || device.index >= n)
    throw std::invalid_argument(std::string("[") + what + "] device " + to_string(device) + " does not exist (" +
                                std::to_string(n) + " CUDA devices are usable).");
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error so later queries answer cleanly
    return 0;
  }
  return n;
}

bool cuda_available() { return cuda_device_count() > 0; }

void synchronize(Device device) {
  if (device.type != Device::Type::cuda) return;
  check_index(device, "synchronize");
  DeviceGuard guard(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

namespace detail {

void* device_malloc(size_t bytes, Device device) {
  check_index(device, "Array::empty");
  DeviceGuard guard(device);
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw std::bad_alloc();
  }
  check(err, "cudaMalloc");
  return p;
}

void device_free(void* ptr, Device device) {
  // Never throws: runs in destructors, possibly after the driver has shut down.
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return;
  if (previous != device.index) cudaSetDevice(device.index);
  cudaFree(ptr);
  if (previous != device.index) cudaSetDevice(previous);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device.type == Device::Type::cpu && src_device.type == Device::Type::cpu) {
    std::memcpy(dst, src, bytes);  // works without a GPU
    return;
  }
  check_index(dst_device, "to_device");
  check_index(src_device, "to_device");
  // Unified addressing: the runtime knows where each pointer lives.
  DeviceGuard guard(dst_device.type == Device::Type::cuda ? dst_device : src_device);
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
}

}  // namespace detail
}  // namespace rotary
