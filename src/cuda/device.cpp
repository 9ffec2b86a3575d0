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

}  // namespace rotary::cuda_backend
