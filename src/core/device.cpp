// Copies between devices (rotary/cuda.h), through the allocator's device hooks; the
// device queries live here only for builds without CUDA (src/cuda/memory.cpp otherwise).
#include <stdexcept>

#include "core/allocator.h"
#include "rotary/cuda.h"

namespace rotary {

Array to_device(const Array& a, Device device) {
  if (device.type == Device::Type::cuda && device.index < 0)
    throw std::invalid_argument("[to_device] device index must not be negative but is " +
                                std::to_string(device.index) + ".");
  // A host source may be strided: make it row-major on the host first.
  const Array src = a.device().type == Device::Type::cpu ? a.contiguous() : a;
  if (!src.is_contiguous())
    throw std::invalid_argument("[to_device] a is a non-contiguous array on " + to_string(a.device()) +
                                "; device arrays must be contiguous to copy.");
  Array out = Array::empty(src.shape(), src.dtype(), device);
  if (src.nbytes() > 0)
    detail::device_copy(out.raw_data(), device, src.raw_data(), src.device(), size_t(src.nbytes()));
  return out;
}

#ifndef ROTARY_WITH_CUDA
bool cuda_available() { return false; }
int cuda_device_count() { return 0; }
void synchronize(Device device) {
  if (device.type == Device::Type::cuda)
    throw std::invalid_argument("[synchronize] device is " + to_string(device) +
                                " but rotary was built without CUDA.");
}
#endif

}  // namespace rotary
