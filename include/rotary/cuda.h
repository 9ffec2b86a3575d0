// CUDA devices: whether one can be used, and copying arrays between host and device.
// Declared in every build; without the CUDA backend cuda_available() is false and any
// copy to a CUDA device throws std::invalid_argument.
#pragma once

#include "rotary/array.h"
#include "rotary/tensor_view.h"

namespace rotary {

// True when rotary was built with CUDA and at least one CUDA device is usable.
bool cuda_available();
// Number of usable CUDA devices (0 without CUDA).
int cuda_device_count();

// A row-major copy of `a` on `device` (host to device, device to host or device to device).
// Synchronous: returns when the copy is complete. A device source must be contiguous.
Array to_device(const Array& a, Device device);

// Waits until all work queued on `device` has finished (no-op for the CPU).
void synchronize(Device device);

}  // namespace rotary
