#include "core/allocator.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace rotary::detail {
namespace {

constexpr size_t kAlignment = 64;            // a cache line: what SIMD loads want
constexpr size_t kMaxCachedBytes = size_t(4) << 30;  // beyond this, freed buffers go back to the OS

// Sizes are rounded up to a bucket so that near sizes share buffers: powers of two
// up to 1 MiB, then multiples of 1 MiB.
size_t bucket(size_t bytes) {
  if (bytes <= 64) return 64;
  if (bytes <= (size_t(1) << 20)) {
    size_t b = 64;
    while (b < bytes) b <<= 1;
    return b;
  }
  return (bytes + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
}

struct Cache {
  std::mutex mutex;
  std::multimap<size_t, void*> free_host;  // bucket size -> buffer
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: buffers may be released during static teardown
  return *c;
}

}  // namespace

Buffer::~Buffer() {
  if (external || !ptr) return;
  if (device.type == Device::Type::cuda) {
    device_free(ptr, device);
    return;
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.bytes + bytes <= kMaxCachedBytes) {
    c.free_host.emplace(bytes, ptr);
    c.bytes += bytes;
  } else {
    std::free(ptr);
  }
}

std::shared_ptr<Buffer> allocate(size_t bytes, Device device) {
  auto buf = std::make_shared<Buffer>();
  buf->device = device;
  if (device.type == Device::Type::cuda) {
    buf->bytes = bytes;
    buf->ptr = bytes ? device_malloc(bytes, device) : nullptr;
    return buf;
  }
  const size_t size = bucket(bytes);
  buf->bytes = size;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_host.find(size);
    if (it != c.free_host.end()) {
      buf->ptr = it->second;
      c.bytes -= size;
      c.free_host.erase(it);
      return buf;
    }
  }
  buf->ptr = std::aligned_alloc(kAlignment, size);
  if (!buf->ptr) throw std::bad_alloc();
  return buf;
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes;
}

void clear_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, ptr] : c.free_host) std::free(ptr);
  c.free_host.clear();
  c.bytes = 0;
}

#ifndef ROTARY_WITH_CUDA
// Without the CUDA backend no device memory can exist; say so clearly.
[[noreturn]] static void no_cuda() {
  throw std::invalid_argument("[rotary] CUDA device memory requested but rotary was built without CUDA.");
}
void* device_malloc(size_t, Device) { no_cuda(); }
void device_free(void*, Device) {}
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device.type != Device::Type::cpu || src_device.type != Device::Type::cpu) no_cuda();
  std::memcpy(dst, src, bytes);
}
#endif

}  // namespace rotary::detail
