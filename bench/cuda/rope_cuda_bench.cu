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

#include "cuda_bench_common.cuh"
#include "rotary/cuda.h"
#include "rotary/rotary.h"

namespace {

using namespace rotary;
using namespace rotary::bench_cuda;

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
  const double empty = empty_launch_us();
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
