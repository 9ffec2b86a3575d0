#include "cuda/device.h"

#include <stdexcept>
#include <string>

namespace rotary::cuda_backend {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("[rotary] CUDA ") + what + " failed: " + cudaGetErrorString(err));
}

DeviceGuard::DeviceGuard(Device device) {
  if (device.type != Device::Type::cuda) return;
  check(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ == device.index) return;
  check(cudaSetDevice(device.index), "cudaSetDevice");
  switched_ = true;
}

DeviceGuard::~DeviceGuard() {
  if (switched_) cudaSetDevice(previous_);
}

bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

ErrorFlag::ErrorFlag(cudaStream_t stream) : stream_(stream) {
  check(cudaMallocAsync(reinterpret_cast<void**>(&flag_), sizeof(int), stream_), "cudaMallocAsync");
  const cudaError_t err = cudaMemsetAsync(flag_, 0, sizeof(int), stream_);
  if (err != cudaSuccess) cudaFreeAsync(flag_, stream_);
  check(err, "cudaMemsetAsync");
}

ErrorFlag::~ErrorFlag() { cudaFreeAsync(flag_, stream_); }

bool ErrorFlag::raised() {
  int value = 0;
  check(cudaMemcpyAsync(&value, flag_, sizeof(int), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  return value != 0;
}

StagedBuffers::~StagedBuffers() {
  for (void* b : buffers_)
    if (b) cudaFreeAsync(b, stream_);
}

const void* StagedBuffers::stage(const void* host, size_t element_size, std::initializer_list<Axis> axes) {
  int64_t lo = 0, hi = 0;
  for (const Axis& a : axes) {
    if (a.size == 0) return host;
    (a.stride < 0 ? lo : hi) += (a.size - 1) * a.stride;
  }
  const size_t bytes = size_t(hi - lo + 1) * element_size;
  void*& buffer = buffers_.emplace_back(nullptr);  // recorded before it exists: freed however we leave
  check(cudaMallocAsync(&buffer, bytes, stream_), "cudaMallocAsync");
  const char* first = static_cast<const char*>(host) + lo * int64_t(element_size);
  check(cudaMemcpyAsync(buffer, first, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
  return static_cast<const char*>(buffer) - lo * int64_t(element_size);
}

}  // namespace rotary::cuda_backend
