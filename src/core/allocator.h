// Buffers for Array: a size-bucketed cache, so repeated calls that return new arrays
// reuse warm pages instead of faulting fresh ones in (as MLX's and PyTorch's allocators do).
#pragma once

#include <cstddef>
#include <memory>

#include "rotary/tensor_view.h"

namespace rotary::detail {

struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;     // capacity actually allocated
  Device device = cpu;
  std::shared_ptr<void> external;  // set when the memory belongs to someone else

  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();
};

// A buffer of at least `bytes` on `device`, from the cache when one fits.
std::shared_ptr<Buffer> allocate(size_t bytes, Device device);

// Bytes the cache holds for reuse (for tests), and dropping them.
size_t cached_bytes();
void clear_cache();

// Device memory hooks, provided by the CUDA backend when it is built.
void* device_malloc(size_t bytes, Device device);
void device_free(void* ptr, Device device);
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace rotary::detail
