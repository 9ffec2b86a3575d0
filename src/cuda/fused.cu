// The fused calls on CUDA. Append / QK-norm: one block per token; the block forms the token's
// cos/sin once in shared memory and locates its cache slot once, then each warp takes whole
// head rows (q's, k's, v's): a row is loaded once into the warp's shared buffer (float, double
// for float64), RMS-normalised with a warp reduction, rotated pair by pair with the CPU's fma
// order, and stored once, converted to its destination dtype (FP8: value / scale, nearest even,
// saturating). Re-rotation: one warp per cached row, pairs rotated in place (a frequency
// change reads its old frequencies and positions from device memory).
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/fp8.h"
#include "core/fused_plan.h"
#include "core/validate.h"
#include "cuda/backend.h"
#include "cuda/device.h"
#include "cuda/fused.h"
#include "cuda/kernels.cuh"
#include "cuda/launch_args.cuh"

namespace rotary::cuda_backend {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

// The frequency tables travel by value with the launch, as in LaunchArgs (the plan holds host
// pointers).
struct FreqArgs {
  double inv_freq[kMaxPairs];
  uint8_t pair_position_stream[kMaxPairs];
};

struct FusedArgs {
  core::FusedPlan plan;
  FreqArgs freqs;
  int* error;  // device flag (ErrorFlag): a slot index outside the cache; null without a cache
};
struct ShiftArgs {
  core::ShiftPlan plan;
  FreqArgs freqs;
};
static_assert(sizeof(FusedArgs) <= 4096 && sizeof(ShiftArgs) <= 4096, "launch parameters must fit 4 KiB");

// One row's destination: element base, dtype, feature stride, FP8 scale.
struct Dest {
  char* data;
  Dtype dtype;
  int64_t stride_d;
  float scale;
};

// --- append / QK norm -------------------------------------------------------------------------

// A q or k head row (rotated, normalised with weight `k_or_q` when the plan has a norm) or a v
// row (copied), by one warp through its buffer.
template <typename Acc>
__device__ void warp_row(const FusedArgs& a, const char* src, Dtype src_dt, int64_t sd, int64_t D, const Dest& d,
                         int norm_index, bool rotate, const Acc* cs, const Acc* sn, Acc* buf, int lane) {
  const core::FusedPlan& p = a.plan;
  const core::RopePlan& r = p.rope;
  if (!rotate) {
    for (int64_t i = lane; i < D; i += 32) store_elem(d.data, d.dtype, i * d.stride_d, load_elem<Acc>(src, src_dt, i * sd, 1.f), d.scale);
    return;
  }
  for (int64_t i = lane; i < D; i += 32) buf[i] = load_elem<Acc>(src, src_dt, i * sd, 1.f);
  if (norm_index >= 0) {
    double sum = 0;
    for (int64_t i = lane; i < D; i += 32) sum += double(buf[i]) * double(buf[i]);
    for (int m = 16; m > 0; m >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, m);
    const Acc rstd = Acc(1.0 / sqrt(sum / double(D) + double(p.norm.eps)));
    const core::NormPlan& n = p.norm;
    for (int64_t i = lane; i < D; i += 32) {
      const Acc w = load_elem<Acc>(static_cast<const char*>(n.weight[norm_index]), n.weight_dtype[norm_index],
                                   i * n.weight_stride[norm_index], 1.f);
      buf[i] = buf[i] * rstd * (n.unit_offset ? Acc(1) + w : w);
    }
  }
  __syncwarp();
  for (int i = lane; i < r.pairs; i += 32) {
    const int64_t i1 = r.layout == PairLayout::interleaved ? 2 * int64_t(i) : i, i2 = r.layout == PairLayout::interleaved ? i1 + 1 : i1 + r.pairs;
    const Acc x1 = buf[i1], x2 = buf[i2];
    store_elem(d.data, d.dtype, i1 * d.stride_d, rotated_fused(x1, -x2, cs[i], sn[i]), d.scale);
    store_elem(d.data, d.dtype, i2 * d.stride_d, rotated_fused(x2, x1, cs[i], sn[i]), d.scale);
  }
  for (int64_t i = r.dims + lane; i < D; i += 32) store_elem(d.data, d.dtype, i * d.stride_d, buf[i], d.scale);
  __syncwarp();
}

template <typename Acc>
__global__ void __launch_bounds__(kThreads) fused_kernel(const __grid_constant__ FusedArgs a) {
  const core::FusedPlan& p = a.plan;
  const core::RopePlan& r = p.rope;
  extern __shared__ __align__(16) unsigned char smem[];
  Acc* cs = reinterpret_cast<Acc*>(smem);
  Acc* sn = cs + r.pairs;
  __shared__ int64_t s_page, s_row;
  __shared__ int s_write_kv;
  const int64_t b = blockIdx.x / r.T, t = blockIdx.x % r.T;
  if (threadIdx.x < r.pairs) {
    int64_t pos[core::kMaxPositionStreams];
    r.positions.at_streams(b, t, pos);
    for (int i = threadIdx.x; i < r.pairs; i += kThreads)
      pair_angle<Acc>(r, a.freqs.inv_freq, pos[r.pair_position_stream ? a.freqs.pair_position_stream[i] : 0], i, cs[i],
                      sn[i]);
  }
  if (threadIdx.x == 0) {
    s_write_kv = 1;
    if (p.to_cache) {
      int64_t s, j, page = 0, row = 0;
      p.sequence_of(b, t, s, j);
      const core::SlotStatus st = p.slots.locate(s, j, b, t, page, row);
      if (st == core::SlotStatus::out_of_range && a.error) atomicExch(a.error, 1);
      s_write_kv = st == core::SlotStatus::write;
      s_page = page;
      s_row = row;
    }
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  Acc* buf = sn + r.pairs + warp * r.D;
  const core::TensorPair& q = r.tensors[0];
  const core::TensorPair& k = r.tensors[1];
  const int64_t hq = q.heads, hk = k.heads, hv = p.has_v ? p.v_heads : 0;
  const int64_t es = r.dtype.size;
  for (int64_t item = warp; item < hq + hk + hv; item += kWarps) {
    if (item >= hq && !s_write_kv) break;
    const bool is_q = item < hq, is_k = !is_q && item < hq + hk;
    const int64_t h = is_q ? item : is_k ? item - hq : item - hq - hk;
    const core::TensorGeometry& in = is_q ? q.in : is_k ? k.in : p.v;
    const char* src = in.data + (b * in.stride_b + t * in.stride_t + in.head_offset(h)) * es;
    Dest d;
    if (is_q || !p.to_cache) {
      const core::TensorGeometry& o = is_q ? q.out : k.out;
      d = {o.data + (b * o.stride_b + t * o.stride_t + o.head_offset(h)) * es, r.dtype, o.stride_d, 1.f};
    } else {
      const core::CacheGeometry& c = is_k ? p.k_cache : p.v_cache;
      d = {c.data + c.row_offset(s_page, s_row, h) * c.dtype.size, c.dtype, c.stride_d, c.scale};
    }
    const int norm_index = p.norm.enabled && (is_q || is_k) ? (is_q ? 0 : 1) : -1;
    warp_row<Acc>(a, src, r.dtype, in.stride_d, is_q || is_k ? r.D : p.v_D, d, norm_index, is_q || is_k, cs, sn, buf,
                  lane);
  }
}

// --- re-rotation ------------------------------------------------------------------------------

template <typename Acc>
__global__ void __launch_bounds__(kThreads) shift_kernel(const __grid_constant__ ShiftArgs a) {
  const core::ShiftPlan& p = a.plan;
  const core::RopePlan& r = p.rope;
  const core::CacheGeometry& c = p.cache;
  extern __shared__ __align__(16) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  Acc* cs = reinterpret_cast<Acc*>(smem) + warp * 2 * r.pairs;
  Acc* sn = cs + r.pairs;
  const int64_t page = blockIdx.x, row = int64_t(blockIdx.y) * kWarps + warp;
  if (row >= p.rows_of(page)) return;
  if (p.from_inv_freq) {  // a change: each pair turns by its new angle at p + delta minus its old at p
    const int64_t from = p.from_position(page, row), to = from + p.delta(page, row, 0);
    for (int i = lane; i < r.pairs; i += 32)
      angle_cos_sin<Acc>(r, pair_theta(r, a.freqs.inv_freq, to, i) - pair_theta(r, p.from_inv_freq, from, i), cs[i],
                         sn[i]);
  } else {
    for (int i = lane; i < r.pairs; i += 32) {  // M-RoPE: the delta of the pair's position stream
      const int stream = r.pair_position_stream ? a.freqs.pair_position_stream[i] : 0;
      pair_angle<Acc>(r, a.freqs.inv_freq, p.delta(page, row, stream), i, cs[i], sn[i]);
    }
  }
  __syncwarp();
  for (int64_t h = 0; h < c.heads; ++h) {
    char* x = c.data + c.row_offset(page, row, h) * c.dtype.size;
    for (int i = lane; i < r.pairs; i += 32) {
      const int64_t i1 = r.layout == PairLayout::interleaved ? 2 * int64_t(i) : i, i2 = r.layout == PairLayout::interleaved ? i1 + 1 : i1 + r.pairs;
      const Acc x1 = load_elem<Acc>(x, c.dtype, i1 * c.stride_d, c.scale);
      const Acc x2 = load_elem<Acc>(x, c.dtype, i2 * c.stride_d, c.scale);
      store_elem(x, c.dtype, i1 * c.stride_d, rotated_fused(x1, -x2, cs[i], sn[i]), c.scale);
      store_elem(x, c.dtype, i2 * c.stride_d, rotated_fused(x2, x1, cs[i], sn[i]), c.scale);
    }
  }
}

// --- host side --------------------------------------------------------------------------------

FreqArgs freq_args(const core::RopePlan& r, const char* api) {
  if (r.pairs > kMaxPairs)
    core::fail(std::string("[") + api + "] dims must be at most " + std::to_string(2 * kMaxPairs) +
               " on CUDA devices but is " + std::to_string(r.dims) + ".");
  FreqArgs f;
  for (int i = 0; i < r.pairs; ++i) f.inv_freq[i] = r.inv_freq[i];
  if (r.pair_position_stream)
    for (int i = 0; i < r.pairs; ++i) f.pair_position_stream[i] = r.pair_position_stream[i];
  return f;
}

// A device call's host-resident slot arrays (already checked by the planner) staged on the
// call's stream, and the plan's pointers moved to the copies.
void stage_slots(core::FusedPlan& plan, StagedBuffers& staged) {
  core::SlotPlan& sp = plan.slots;
  const core::RopePlan& r = plan.rope;
  using Kind = CacheSlots::Kind;
  const size_t es = sp.index_dtype.size;
  if (sp.kind == Kind::write_positions) sp.index = staged.stage(sp.index, es, {{plan.num_seqs, sp.stride_s}});
  if (sp.kind == Kind::slot_mapping) sp.index = staged.stage(sp.index, es, {{r.B, sp.stride_b}, {r.T, sp.stride_t}});
  if (sp.kind == Kind::block_table) {
    sp.index = staged.stage(sp.index, es, {{plan.num_seqs, sp.stride_s}, {sp.table_cols, sp.stride_c}});
    sp.lens = staged.stage(sp.lens, sp.lens_dtype.size, {{plan.num_seqs, sp.lens_stride}});
  }
}

// A frequency change's old frequencies (they do not fit the launch parameters beside the new)
// and, when in host memory, its old positions, staged on the call's stream; the plan's
// pointers moved to the copies.
void stage_change(core::ShiftPlan& plan, StagedBuffers& staged) {
  const int pairs = plan.rope.pairs;
  plan.from_inv_freq = static_cast<const double*>(staged.stage(plan.from_inv_freq, sizeof(double), {{pairs, 1}}));
  if (plan.from_host_resident)
    plan.from_positions = staged.stage(plan.from_positions, plan.from_positions_dtype.size,
                                       {{plan.cache.pages, plan.from_stride_page},
                                        {plan.from_stride_row ? plan.cache.rows : 1, plan.from_stride_row}});
}

template <typename Acc>
void launch_fused(const FusedArgs& a, size_t smem, cudaStream_t s) {
  if (smem > 48 * 1024) check(cudaFuncSetAttribute(fused_kernel<Acc>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), "cudaFuncSetAttribute");
  fused_kernel<Acc><<<unsigned(a.plan.rope.B * a.plan.rope.T), kThreads, smem, s>>>(a);
}

}  // namespace

void run_fused(const core::FusedPlan& plan) {
  const core::RopePlan& r = plan.rope;
  DeviceGuard guard(r.device);
  const int64_t tokens = r.B * r.T;
  if (tokens > 0x7fffffff) core::fail("[rope_and_cache] too many tokens for one CUDA launch.");
  cudaStream_t stream = static_cast<cudaStream_t>(r.cuda_stream);
  FusedArgs a{plan, freq_args(r, "rope_and_cache"), nullptr};
  // Host-resident slots were checked by the planner: copied over, no wait. Device-resident
  // ones can only be checked by the kernel, which raises the flag; the call waits to report it,
  // except while a CUDA graph is captured (a capture cannot hold the wait): then a bad slot's
  // tokens are skipped unreported, as vLLM's reshape_and_cache, and never written out of bounds.
  StagedBuffers staged(stream);
  std::optional<ErrorFlag> bad;
  if (plan.to_cache && plan.slots.host_resident) stage_slots(a.plan, staged);
  if (plan.to_cache && !plan.slots.host_resident && !capturing(stream)) {
    bad.emplace(stream);
    a.error = bad->device();
  }
  const bool wide = r.dtype == float64;
  const size_t acc = wide ? sizeof(double) : sizeof(float);
  const size_t smem = acc * size_t(2 * r.pairs + kWarps * r.D);
  if (wide) launch_fused<double>(a, smem, stream);
  else launch_fused<float>(a, smem, stream);
  check(cudaGetLastError(), "kernel launch");
  if (bad && bad->raised())  // device-resident slots are only known here: wait and report
    core::fail("[rope_and_cache] cache.slots addressed a row outside the cache (a slot, block table entry or start "
               "beyond its pages or rows); those tokens' k and v rows were not written.");
}

void run_shift(const core::ShiftPlan& plan) {
  const core::RopePlan& r = plan.rope;
  DeviceGuard guard(r.device);
  ShiftArgs a{plan, freq_args(r, "shift_cache")};
  const bool wide = plan.cache.dtype == float64;
  const size_t smem = (wide ? sizeof(double) : sizeof(float)) * size_t(2 * r.pairs * kWarps);
  const dim3 grid{unsigned(plan.cache.pages), unsigned((plan.cache.rows + kWarps - 1) / kWarps)};
  if (plan.cache.pages > 0x7fffffff || grid.y > 65535) core::fail("[shift_cache] k_cache is too large for one CUDA launch.");
  cudaStream_t stream = static_cast<cudaStream_t>(r.cuda_stream);
  StagedBuffers staged(stream);
  if (plan.from_inv_freq) stage_change(a.plan, staged);
  if (wide) shift_kernel<double><<<grid, kThreads, smem, stream>>>(a);
  else shift_kernel<float><<<grid, kThreads, smem, stream>>>(a);
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace rotary::cuda_backend
