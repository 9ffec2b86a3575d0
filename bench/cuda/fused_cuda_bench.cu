// The fused paths (rotary/fused.h) on the GPU, as bench/fused_bench.cpp on the CPU: each fused
// call against the unfused sequence a user would otherwise run, and against the best device
// copy of the bytes the fused call must move (each input element read once, each output element
// written once; the faster of cudaMemcpyAsync and a vectorised copy kernel, timed in the same
// run). Decode rows also give the ratio to an empty kernel launch. CUDA events over back-to-back
// calls, host planning (and the fused call's stream wait for slot errors) included.
//
// Unfused: rope_qk_inplace then a scatter kernel writing k and v rows (FP8: quantising) to their
// slots, as vLLM's reshape_and_cache; an RMSNorm kernel on q and k then rope; for MLA, rope of
// q_pe and k_pe then the latent and k_pe scatters; for re-rotation, the inverse rope at the old
// positions then rope at the new ones. Llama-3-8B-like heads (32 q, 8 kv, D 128), bfloat16;
// DeepSeek-V3-like MLA (128 heads, rope_dim 64, latent 512).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fp8.h"
#include "cuda_bench_common.cuh"
#include "rotary/cuda.h"
#include "rotary/rotary.h"

namespace {

using namespace rotary;
using namespace rotary::bench_cuda;

constexpr int kHq = 32, kHkv = 8, kD = 128, kBlock = 16;
constexpr int kChunk = 8;  // bfloat16 elements per 16-byte load

// Unfused cache write: row r = token n * heads + h of `src` (rows of D bfloat16, contiguous) to
// dst + slot[n] * slot_stride + h * D + offset (elements), 16 bytes per thread; FP8 quantises
// (value / scale, core/fp8.h's rounding).
template <bool FP8>
__global__ void scatter_rows_kernel(const __nv_bfloat16* src, int64_t rows, int heads, int D, const int64_t* slot,
                                    void* dst, int64_t slot_stride, int64_t offset, float scale) {
  const int chunks = D / kChunk;
  const int64_t total = rows * chunks;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / chunks, c = i - r * chunks, n = r / heads, h = r - n * heads;
    const int64_t at = slot[n] * slot_stride + h * D + offset + c * kChunk;
    const uint4 v = reinterpret_cast<const uint4*>(src + r * D)[c];
    if constexpr (!FP8) {
      *reinterpret_cast<uint4*>(static_cast<__nv_bfloat16*>(dst) + at) = v;
    } else {
      const __nv_bfloat16* e = reinterpret_cast<const __nv_bfloat16*>(&v);
      uint8_t q[kChunk];
      for (int k = 0; k < kChunk; ++k) q[k] = core::to_float8_e4m3(__bfloat162float(e[k]) / scale).bits;
      *reinterpret_cast<uint2*>(static_cast<uint8_t*>(dst) + at) = *reinterpret_cast<const uint2*>(q);
    }
  }
}

template <bool FP8>
void scatter_rows(const Array& src, int heads, int D, const Array& slots, void* dst, int64_t slot_stride,
                  int64_t offset = 0, float scale = 1.f) {
  const int64_t rows = src.size() / D, total = rows * (D / kChunk);
  const int blocks = int(std::min<int64_t>((total + 255) / 256, 4096));
  scatter_rows_kernel<FP8><<<std::max(blocks, 1), 256>>>(static_cast<const __nv_bfloat16*>(src.raw_data()), rows,
                                                         heads, D, static_cast<const int64_t*>(slots.raw_data()), dst,
                                                         slot_stride, offset, scale);
}

// Unfused RMSNorm of every D-row of a bfloat16 tensor in place, one warp per row, float sums.
__global__ void rms_norm_kernel(__nv_bfloat16* x, int64_t rows, int D, const __nv_bfloat16* w, float eps) {
  const int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  __nv_bfloat16* row = x + r * D;
  float sum = 0;
  for (int i = lane; i < D; i += 32) sum += __bfloat162float(row[i]) * __bfloat162float(row[i]);
  for (int m = 16; m > 0; m >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, m);
  const float rstd = rsqrtf(sum / float(D) + eps);
  for (int i = lane; i < D; i += 32) row[i] = __float2bfloat16(__bfloat162float(row[i]) * rstd * __bfloat162float(w[i]));
}

void rms_norm(const Array& x, const Array& w) {
  const int64_t rows = x.size() / kD;
  rms_norm_kernel<<<unsigned((rows * 32 + 255) / 256), 256>>>(static_cast<__nv_bfloat16*>(x.raw_data()), rows, kD,
                                                              static_cast<const __nv_bfloat16*>(w.raw_data()), 1e-6f);
}

Array device_zeros(const Shape& shape, Dtype dtype) {
  Array a = Array::empty(shape, dtype, cuda(0));
  CHECK(cudaMemset(a.raw_data(), 0, a.nbytes()));
  return a;
}

Array device_ints(const std::vector<int64_t>& v) { return to_device(Array(v.data(), {int(v.size())}), cuda(0)); }

struct Case {
  double bytes = 0;  // the fused call's reads + writes
  bool decode = false;
  std::function<void()> fused, unfused;
};

void report(const std::string& name, const Case& c, double empty_us) {
  const double fused = time_us(c.fused), unfused = time_us(c.unfused);
  const size_t half = (size_t(c.bytes / 2) / 16) * 16;  // the copy reads and writes half each
  const CopyBaseline copy = copy_us(std::max<size_t>(half, 16));
  char decode[48] = "";
  if (c.decode) std::snprintf(decode, sizeof decode, "%.2fx", fused / empty_us);
  std::printf("| %s | %.2f | %.2f | %.2f | %.2fx | %.0f | %s %.2f | %.2f | %s |\n", name.c_str(), c.bytes / 1048576.0,
              fused, unfused, unfused / fused, c.bytes / (fused * 1e3), copy.kind, copy.us, copy.us / fused, decode);
  std::fflush(stdout);
}

// GQA append of B x T tokens: a paged (blocks, 16, 8, 128) cache by slot mapping, or a contiguous
// (B, max_T, 8, 128) cache by write positions; bfloat16 or FP8 cache; optionally QK-norm first.
// host_slots: the fused call takes the slot arrays from host memory (checked on the host, no
// stream wait) instead of the device (checked in the kernel, the call waits to report).
Case append_case(int B, int T, bool paged, Dtype cache_dtype, bool norm, bool host_slots = false) {
  struct State {
    Array q, k, v, kc, vc, slots, starts, offsets, w, slots_host, starts_host;
  };
  const int64_t n = int64_t(B) * T, max_T = T + 100 + 3 * int64_t(B);  // room for every start + T
  const int64_t pages = paged ? (n + kBlock - 1) / kBlock + B : B, rows = paged ? kBlock : max_T;
  std::vector<int64_t> slot(n), start(B), off(B);
  for (int b = 0; b < B; ++b) {
    off[b] = 100 + 37 * b;  // positions, as in bench/fused_bench.cpp
    start[b] = 100 + 3 * b;  // contiguous cache rows written: [start, start + T) of max_T
  }
  for (int64_t i = 0; i < n; ++i)  // paged: scattered, distinct; contiguous: row start + t of page b
    slot[i] = paged ? (i * 7) % (pages * kBlock) : (i / T) * max_T + start[i / T] + i % T;
  auto s = std::make_shared<State>(State{device_random({B, T, kHq, kD}, bfloat16), device_random({B, T, kHkv, kD}, bfloat16),
                                         device_random({B, T, kHkv, kD}, bfloat16),
                                         device_zeros({int(pages), int(rows), kHkv, kD}, cache_dtype),
                                         device_zeros({int(pages), int(rows), kHkv, kD}, cache_dtype),
                                         device_ints(slot), device_ints(start), device_ints(off),
                                         device_random({kD}, bfloat16), Array(slot.data(), {int(n)}),
                                         Array(start.data(), {B})});
  RopeOptions o;
  o.seq_axis = -3;
  const Positions pos = Positions::offsets(s->offsets.view());
  const Array& slots = host_slots ? s->slots_host : s->slots;
  const Array& starts = host_slots ? s->starts_host : s->starts;
  const CacheSlots where = paged ? CacheSlots::slot_mapping(slots.view()) : CacheSlots::write_positions(starts.view());
  const KVCache cache{s->kc.view(), s->vc.view(), CacheLayout::rows_then_heads, where, 0.05f, 0.05f};
  std::optional<QKNorm> qk;
  if (norm) qk = QKNorm{s->w.view(), s->w.view(), 1e-6f, false};
  const bool fp8 = cache_dtype == float8_e4m3;
  Case c;
  c.decode = T == 1;
  c.bytes = 2.0 * double(s->q.nbytes() + s->k.nbytes() + s->v.nbytes());
  if (fp8) c.bytes -= double(s->k.nbytes() + s->v.nbytes()) / 2;  // 1-byte cache writes
  c.fused = [s, pos, o, cache, qk] { rope_and_cache(s->q.view(), s->k.view(), s->v.view(), s->q.view(), cache, pos, o, qk); };
  c.unfused = [s, pos, o, norm, fp8] {
    if (norm) {
      rms_norm(s->q, s->w);
      rms_norm(s->k, s->w);
    }
    rope_qk_inplace(s->q.view(), s->k.view(), pos, o);
    const int64_t stride = int64_t(kHkv) * kD;
    if (fp8) {
      scatter_rows<true>(s->k, kHkv, kD, s->slots, s->kc.raw_data(), stride, 0, 0.05f);
      scatter_rows<true>(s->v, kHkv, kD, s->slots, s->vc.raw_data(), stride, 0, 0.05f);
    } else {
      scatter_rows<false>(s->k, kHkv, kD, s->slots, s->kc.raw_data(), stride);
      scatter_rows<false>(s->v, kHkv, kD, s->slots, s->vc.raw_data(), stride);
    }
  };
  return c;
}

// QK RMSNorm + RoPE in place (Qwen3-8B-like heads), no cache.
Case norm_case(int B, int T) {
  auto q = std::make_shared<Array>(device_random({B, T, kHq, kD}, bfloat16));
  auto k = std::make_shared<Array>(device_random({B, T, kHkv, kD}, bfloat16));
  auto w = std::make_shared<Array>(device_random({kD}, bfloat16));
  RopeOptions o;
  o.seq_axis = -3;
  Case c;
  c.decode = T == 1;
  c.bytes = 2.0 * double(q->nbytes() + k->nbytes());
  c.fused = [=] {
    rms_norm_rope(q->view(), k->view(), q->view(), k->view(), QKNorm{w->view(), w->view(), 1e-6f, false}, Positions(9), o);
  };
  c.unfused = [=] {
    rms_norm(*q, *w);
    rms_norm(*k, *w);
    rope_qk_inplace(q->view(), k->view(), Positions(9), o);
  };
  return c;
}

// DeepSeek-V3-like MLA over N ragged tokens into a (blocks, 64, 576) bfloat16 cache.
Case mla_case(int N) {
  constexpr int Hq = 128, nope = 128, dr = 64, rank = 512, block = 64;
  struct State {
    Array q, k_pe, kv_c, cache, slots, cu;
  };
  const int blocks = (N + block - 1) / block + 1;
  std::vector<int64_t> slot(N), cu{0, N};
  for (int i = 0; i < N; ++i) slot[i] = (int64_t(i) * 7) % (int64_t(blocks) * block);
  auto s = std::make_shared<State>(State{device_random({N, Hq, nope + dr}, bfloat16), device_random({N, dr}, bfloat16),
                                         device_random({N, rank}, bfloat16),
                                         device_zeros({blocks, block, rank + dr}, bfloat16), device_ints(slot),
                                         device_ints(cu)});
  RopeOptions o;
  o.layout = PairLayout::interleaved;
  const Array q_pe = slice(s->q, 2, nope, nope + dr);
  Case c;
  c.decode = N <= 64;
  c.bytes = 2.0 * (double(N) * Hq * dr * 2 + double(s->k_pe.nbytes() + s->kv_c.nbytes()));
  c.fused = [s, q_pe, o] {
    rope_and_cache_mla(q_pe.view(), s->k_pe.view(), s->kv_c.view(), s->cache.view(), CacheSlots::slot_mapping(s->slots.view()),
                       Positions::ragged(s->cu.view()), o);
  };
  c.unfused = [s, q_pe, o, N] {
    const Positions pos = Positions::ragged(s->cu.view());
    rope_inplace(q_pe.view(), pos, o);
    rope_inplace(reshape(s->k_pe, {N, 1, dr}).view(), pos, o);
    scatter_rows<false>(s->kv_c, 1, rank, s->slots, s->cache.raw_data(), rank + dr);
    scatter_rows<false>(s->k_pe, 1, dr, s->slots, s->cache.raw_data(), rank + dr, rank);
  };
  return c;
}

// Re-rotation of a contiguous (B, T, 8, 128) bfloat16 key cache by a per-sequence delta.
Case shift_case(int B, int T) {
  struct State {
    Array cache, deltas, old_pos, new_pos;
  };
  auto s = std::make_shared<State>(State{device_random({B, T, kHkv, kD}, bfloat16), device_ints(std::vector<int64_t>(B, -500)),
                                         device_ints(std::vector<int64_t>(B, 1000)),
                                         device_ints(std::vector<int64_t>(B, 500))});
  RopeOptions o;
  o.seq_axis = -3;
  Case c;
  c.bytes = 2.0 * double(s->cache.nbytes());
  c.fused = [s, o] { shift_cache(s->cache.view(), CacheLayout::rows_then_heads, s->deltas.view(), std::nullopt, o); };
  c.unfused = [s, o] {
    RopeOptions inv = o;
    inv.inverse = true;
    rope_inplace(s->cache.view(), Positions::offsets(s->old_pos.view()), inv);
    rope_inplace(s->cache.view(), Positions::offsets(s->new_pos.view()), o);
  };
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";  // only cases whose name contains it
  if (filter == "--help" || filter == "-h") {
    std::printf("usage: fused_cuda_bench [NAME_SUBSTRING]\n");
    return 0;
  }
  if (!cuda_available()) {
    std::printf("no CUDA GPU found: nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const double empty = empty_launch_us();
  std::printf("device: %s, %d SMs; empty kernel launch %.2f us\n\n", prop.name, prop.multiProcessorCount, empty);
  std::printf("| case | MiB moved | fused us | unfused us | speedup | fused GB/s | best copy, us | vs copy | decode vs empty launch |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::pair<std::string, std::function<Case()>>> cases = {
      {"append paged prefill B=4 T=4096", [] { return append_case(4, 4096, true, bfloat16, false); }},
      {"append paged decode B=256", [] { return append_case(256, 1, true, bfloat16, false); }},
      {"append paged decode B=256, host slots", [] { return append_case(256, 1, true, bfloat16, false, true); }},
      {"append contiguous prefill B=4 T=4096", [] { return append_case(4, 4096, false, bfloat16, false); }},
      {"append contiguous decode B=256", [] { return append_case(256, 1, false, bfloat16, false); }},
      {"append contiguous decode B=256, host slots", [] { return append_case(256, 1, false, bfloat16, false, true); }},
      {"append fp8 paged prefill B=4 T=4096", [] { return append_case(4, 4096, true, float8_e4m3, false); }},
      {"append fp8 paged decode B=256", [] { return append_case(256, 1, true, float8_e4m3, false); }},
      {"norm+rope prefill B=4 T=4096", [] { return norm_case(4, 4096); }},
      {"norm+rope decode B=256", [] { return norm_case(256, 1); }},
      {"norm+append paged prefill B=4 T=4096", [] { return append_case(4, 4096, true, bfloat16, true); }},
      {"norm+append paged decode B=256", [] { return append_case(256, 1, true, bfloat16, true); }},
      {"mla prefill N=16384", [] { return mla_case(16384); }},
      {"mla decode N=64", [] { return mla_case(64); }},
      {"shift B=4 T=4096", [] { return shift_case(4, 4096); }},
  };
  for (const auto& [name, make] : cases)
    if (filter.empty() || name.find(filter) != std::string::npos) report(name, make(), empty);
  return 0;
}
