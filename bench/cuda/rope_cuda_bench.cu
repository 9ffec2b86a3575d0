// rotary's CUDA kernels against the best device copy of the same bytes (the faster of
// cudaMemcpyAsync and a vectorised copy kernel), measured in the same run with CUDA events over
// many back-to-back calls (host planning included, as a caller sees it). Prints a Markdown
// table.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rotary/cuda.h"
#include "rotary/rotary.h"

namespace {

using namespace rotary;

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
double time_us(const std::function<void()>& fn) {
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
CopyBaseline copy_us(size_t bytes) {
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

Array device_random(const Shape& shape, Dtype dtype) {
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

void row(const char* name, Dtype dtype, size_t tensor_bytes, double us, const char* note = "") {
  const CopyBaseline copy = copy_us(tensor_bytes);
  const double gbs = 2.0 * double(tensor_bytes) / (us * 1e3);
  const double copy_gbs = 2.0 * double(tensor_bytes) / (copy.us * 1e3);
  std::printf("| %s | %s | %.1f | %.2f | %.0f | %.0f | %s | %.2f | %s |\n", name, to_string(dtype).c_str(),
              2.0 * double(tensor_bytes) / 1e6, us, gbs, copy_gbs, copy.kind, copy.us / us, note);
  std::fflush(stdout);
}

RopeOptions opts(int seq_axis) {
  RopeOptions o;
  o.seq_axis = seq_axis;
  o.freqs = Frequencies::from_base(128, 10000.0);
  return o;
}

}  // namespace

int main() {
  if (!cuda_available()) {
    std::printf("no CUDA GPU found: nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n\n", prop.name, prop.multiProcessorCount);
  const double empty = time_us([] { empty_kernel<<<1, 1>>>(); });
  std::printf("empty kernel launch: %.2f us per call\n\n", empty);
  std::printf("| case | dtype | MB moved | us/call | GB/s | best copy GB/s | best copy | ratio to it | note |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");

  // Ragged lengths: 1000 sequences of 1..512 tokens.
  std::mt19937 gen(7);
  std::vector<int32_t> cu{0};
  for (int s = 0; s < 1000; ++s) cu.push_back(cu.back() + 1 + int(gen() % 512));
  const Array cu_d = to_device(Array(cu.data(), {int(cu.size())}), cuda(0));
  std::vector<int32_t> offs(256);
  for (int b = 0; b < 256; ++b) offs[b] = 1000 + 37 * b;
  const Array offs_d = to_device(Array(offs.data(), {256}), cuda(0));

  for (Dtype dtype : {bfloat16, float16, float32}) {
    {  // prefill (B, H, T, D) = (4, 32, 4096, 128)
      const Array x = device_random({4, 32, 4096, 128}, dtype);
      const Array out = Array::empty(x.shape(), dtype, cuda(0));
      const RopeOptions o = opts(-2);
      row("prefill (4,32,4096,128)", dtype, x.nbytes(), time_us([&] { rope(x.view(), out.view(), Positions(0), o); }));
    }
    {  // decode (256, 32, 1, 128), one offset per sequence
      const Array x = device_random({256, 32, 1, 128}, dtype);
      const Array out = Array::empty(x.shape(), dtype, cuda(0));
      const RopeOptions o = opts(-2);
      const Positions pos = Positions::offsets(offs_d.view());
      const double us = time_us([&] { rope(x.view(), out.view(), pos, o); });
      char note[64];
      std::snprintf(note, sizeof note, "%.2fx empty launch", us / empty);
      row("decode (256,32,1,128)", dtype, x.nbytes(), us, note);
    }
    {  // ragged: 1000 sequences of 1..512 tokens, H = 32, D = 128
      const Array x = device_random({cu.back(), 32, 128}, dtype);
      const Array out = Array::empty(x.shape(), dtype, cuda(0));
      const RopeOptions o = opts(-2);
      const Positions pos = Positions::ragged(cu_d.view());
      row("ragged 1000 seqs (1-512), H=32", dtype, x.nbytes(), time_us([&] { rope(x.view(), out.view(), pos, o); }));
    }
    {  // fused Q+K (B, T, H, D): Hq = 32, Hk = 8, one launch against two calls
      const Array q = device_random({4, 4096, 32, 128}, dtype), k = device_random({4, 4096, 8, 128}, dtype);
      const Array qo = Array::empty(q.shape(), dtype, cuda(0)), ko = Array::empty(k.shape(), dtype, cuda(0));
      const RopeOptions o = opts(-3);
      const double fused = time_us([&] { rope_qk(q.view(), k.view(), qo.view(), ko.view(), Positions(0), o); });
      const double two = time_us([&] {
        rope(q.view(), qo.view(), Positions(0), o);
        rope(k.view(), ko.view(), Positions(0), o);
      });
      char note[80];
      std::snprintf(note, sizeof note, "two calls: %.2f us (fused %.2fx faster)", two, two / fused);
      row("fused Q+K (4,4096,32/8,128)", dtype, q.nbytes() + k.nbytes(), fused, note);
    }
    {  // decode-size fused Q+K: where one launch instead of two matters most
      const Array q = device_random({256, 1, 32, 128}, dtype), k = device_random({256, 1, 8, 128}, dtype);
      const RopeOptions o = opts(-3);
      const Positions pos = Positions::offsets(offs_d.view());
      const double fused = time_us([&] { rope_qk_inplace(q.view(), k.view(), pos, o); });
      const double two = time_us([&] {
        rope_inplace(q.view(), pos, o);
        rope_inplace(k.view(), pos, o);
      });
      char note[80];
      std::snprintf(note, sizeof note, "in place; two calls: %.2f us (fused %.2fx faster)", two, two / fused);
      row("fused Q+K decode (256,1,32/8,128)", dtype, q.nbytes() + k.nbytes(), fused, note);
    }
  }
  return 0;
}
