// What the CUDA benchmarks share: the error check, CUDA-event timing of back-to-back calls
// (host planning included, as a caller sees it), the best device copy of a byte count (the
// faster of cudaMemcpyAsync and a vectorised copy kernel, both timed in the same run), the
// empty-launch time, and random device inputs.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "rotary/cuda.h"
#include "rotary/rotary.h"

namespace rotary::bench_cuda {

#define CHECK(call)                                                                  \
  do {                                                                               \
    cudaError_t e_ = (call);                                                         \
    if (e_ != cudaSuccess) {                                                         \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));              \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

__global__ void empty_kernel() {}

// Mean microseconds per call over enough back-to-back calls to fill ~100 ms.
inline double time_us(const std::function<void()>& fn) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) fn();
  CHECK(cudaEventRecord(a));
  for (int i = 0; i < 5; ++i) fn();
  CHECK(cudaEventRecord(b));
  CHECK(cudaEventSynchronize(b));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, a, b));
  const int iters = std::clamp(int(100.0 / std::max(ms / 5, 1e-3f)), 20, 20000);
  CHECK(cudaEventRecord(a));
  for (int i = 0; i < iters; ++i) fn();
  CHECK(cudaEventRecord(b));
  CHECK(cudaEventSynchronize(b));
  CHECK(cudaEventElapsedTime(&ms, a, b));
  CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 1000.0 * ms / iters;
}

// A vectorised device copy: 16-byte loads and stores, a few per thread in flight, grid-stride.
__global__ void copy16_kernel(const int4* __restrict__ src, int4* __restrict__ dst, size_t n16) {
  constexpr int kUnroll = 4;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n16; i += kUnroll * stride) {
    int4 v[kUnroll];
    for (int u = 0; u < kUnroll; ++u) v[u] = src[i + u * stride];
    for (int u = 0; u < kUnroll; ++u) dst[i + u * stride] = v[u];
  }
  for (; i < n16; i += stride) dst[i] = src[i];
}

struct CopyBaseline {
  double us;
  const char* kind;
};

// The best device copy of `bytes` (read `bytes`, write `bytes`, as rope reads and writes its
// tensors): the faster of cudaMemcpyAsync and the vectorised kernel, both timed here.
inline CopyBaseline copy_us(size_t bytes) {
  const Array src = Array::empty({int(bytes / 4)}, float32, cuda(0));
  const Array dst = Array::empty({int(bytes / 4)}, float32, cuda(0));
  const double memcpy_us =
      time_us([&] { CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToDevice)); });
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const size_t n16 = bytes / 16;  // every tensor here is a multiple of 16 bytes
  const int threads = 256;
  const int blocks = int(std::min<size_t>((n16 + threads - 1) / threads, size_t(sms) * 8));
  const double kernel_us = time_us([&] {
    copy16_kernel<<<std::max(blocks, 1), threads>>>(static_cast<const int4*>(src.raw_data()),
                                                   static_cast<int4*>(dst.raw_data()), n16);
  });
  return kernel_us < memcpy_us ? CopyBaseline{kernel_us, "copy kernel"} : CopyBaseline{memcpy_us, "cudaMemcpyAsync"};
}

inline Array device_random(const Shape& shape, Dtype dtype) {
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<float> v(size_t(std::min<int64_t>(n, 1 << 20)));
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& f : v) f = dist(gen);
  Array out = Array::empty(shape, dtype, cuda(0));
  const Array chunk = to_device(Array(v.data(), {int(v.size())}, dtype), cuda(0));
  const size_t cb = chunk.nbytes(), total = out.nbytes();
  for (size_t off = 0; off < total; off += cb)
    CHECK(cudaMemcpy(static_cast<char*>(out.raw_data()) + off, chunk.raw_data(), std::min(cb, total - off),
                     cudaMemcpyDeviceToDevice));
  return out;
}

// Microseconds per call of an empty kernel launch (the floor of any one-launch call).
inline double empty_launch_us() {
  return time_us([] { empty_kernel<<<1, 1>>>(); });
}

}  // namespace rotary::bench_cuda
