// Host side of the CUDA backend: turns a RopePlan into launch parameters, picks the
// vectorised or generic kernel and the grid, and launches once per call (Q and K together).
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/validate.h"
#include "cuda/backend.h"
#include "cuda/kernels.cuh"

namespace rotary::cuda_backend {
namespace {

static_assert(sizeof(Params) <= 4096, "launch parameters must fit the classic 4 KiB limit");

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("[rope] CUDA ") + what + " failed: " + cudaGetErrorString(err));
}

int index_type(Dtype d) { return d == int32 ? kInt32 : d == uint32 ? kUint32 : kInt64; }

// Multiprocessor count per device, asked once (the attribute query costs a driver call).
int sm_count(int device) {
  static std::atomic<int> cache[64] = {};
  if (device < 0 || device >= 64) return 132;
  int n = cache[device].load(std::memory_order_relaxed);
  if (n == 0) {
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    cache[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

TensorArgs tensor_args(const core::TensorPair& tp) {
  TensorArgs a;
  a.in = tp.in.data;
  a.out = tp.out.data;
  a.in_b = tp.in.stride_b;
  a.in_t = tp.in.stride_t;
  a.in_d = tp.in.stride_d;
  a.out_b = tp.out.stride_b;
  a.out_t = tp.out.stride_t;
  a.out_d = tp.out.stride_d;
  a.heads = tp.heads;
  a.in_place = tp.in_place;
  // The planner merges in and out head axes together, so both share the axis count and sizes.
  a.n_head_axes = tp.in.n_head_axes;
  for (int k = 0; k < tp.in.n_head_axes; ++k) {
    a.head_size[k] = tp.in.head_size[k];
    a.in_h[k] = tp.in.head_stride[k];
    a.out_h[k] = tp.out.head_stride[k];
  }
  return a;
}

Params make_params(const core::RopePlan& plan) {
  Params p;
  p.n_tensors = plan.n_tensors;
  p.heads_total = 0;
  for (int k = 0; k < plan.n_tensors; ++k) {
    p.t[k] = tensor_args(plan.tensors[k]);
    p.heads_total += plan.tensors[k].heads;
  }
  p.B = plan.B;
  p.T = plan.T;
  p.D = plan.D;
  p.rows = plan.B * plan.T;
  p.pairs = plan.pairs;
  p.dims = plan.dims;
  p.accurate = plan.precision == Precision::accurate;
  p.traditional = plan.traditional;
  p.sign = plan.inverse ? -1.0f : 1.0f;
  p.attention_factor = plan.attention_factor;
  p.scale = plan.scale;
  p.scale_f32 = static_cast<float>(plan.scale);
  const core::PositionPlan& pp = plan.positions;
  p.pos.kind = int(pp.kind);
  p.pos.streams = pp.streams;
  p.pos.dtype = index_type(pp.dtype);
  p.pos.offset = pp.offset;
  p.pos.array = pp.array;
  p.pos.stride_s = pp.stride_s;
  p.pos.stride_b = pp.stride_b;
  p.pos.stride_t = pp.stride_t;
  p.pos.starts = pp.starts;
  p.pos.starts_dtype = index_type(pp.starts_dtype);
  p.pos.starts_stride = pp.starts_stride;
  p.pos.num_seqs = pp.num_seqs;
  for (int i = 0; i < plan.pairs; ++i) p.inv_freq[i] = plan.inv_freq[i];
  p.has_pair_stream = plan.pair_stream != nullptr;
  if (p.has_pair_stream)
    for (int i = 0; i < plan.pairs; ++i) p.pair_stream[i] = plan.pair_stream[i];
  return p;
}

bool aligned(const core::TensorGeometry& g, const core::RopePlan& plan, int v) {
  if (g.stride_d != 1 || reinterpret_cast<uintptr_t>(g.data) % 16 != 0) return false;
  if (plan.B > 1 && g.stride_b % v != 0) return false;
  if (plan.T > 1 && g.stride_t % v != 0) return false;
  for (int a = 0; a < g.n_head_axes; ++a)
    if (g.head_size[a] > 1 && g.head_stride[a] % v != 0) return false;
  return true;
}

// Feature chunks per row for the vectorised kernel, or 0 when it cannot run.
int vec_chunks(const core::RopePlan& plan) {
  if (plan.dtype == float64) return 0;
  const int v = 16 / plan.dtype.size;
  if ((plan.traditional ? plan.dims : plan.pairs) % v != 0) return 0;
  bool copies = false;
  for (int k = 0; k < plan.n_tensors; ++k) {
    const core::TensorPair& tp = plan.tensors[k];
    if (!aligned(tp.in, plan, v) || !aligned(tp.out, plan, v)) return 0;
    copies = copies || !tp.in_place;
  }
  const int64_t tail = plan.D - plan.dims;
  if (copies && tail % v != 0) return 0;
  const int64_t chunks = (plan.traditional ? plan.dims : plan.pairs) / v + (copies ? tail / v : 0);
  return chunks <= kBlockThreads ? int(chunks) : 0;
}

template <typename T, bool TRAD>
void launch_vec(const Params& p, int head_dim, dim3 grid, dim3 block, cudaStream_t s) {
  switch (head_dim) {
    case 64: return rope_vec_kernel<T, TRAD, 64><<<grid, block, 0, s>>>(p);
    case 128: return rope_vec_kernel<T, TRAD, 128><<<grid, block, 0, s>>>(p);
    case 256: return rope_vec_kernel<T, TRAD, 256><<<grid, block, 0, s>>>(p);
    default: return rope_vec_kernel<T, TRAD, 0><<<grid, block, 0, s>>>(p);
  }
}

template <typename T>
void launch_typed(const Params& p, bool vec, int head_dim, dim3 grid, dim3 block, cudaStream_t s) {
  if (!vec) return rope_generic_kernel<T><<<grid, block, 0, s>>>(p);
  if (p.traditional) return launch_vec<T, true>(p, head_dim, grid, block, s);
  return launch_vec<T, false>(p, head_dim, grid, block, s);
}

// Makes the plan's device current for the launch and restores the caller's afterwards.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
    switched_ = previous_ != device;
  }
  ~DeviceScope() {
    if (switched_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

}  // namespace

void run(const core::RopePlan& plan) {
  if (plan.pairs > kMaxPairs)
    core::fail("[rope] dims must be at most " + std::to_string(2 * kMaxPairs) +
               " on CUDA devices but is " + std::to_string(plan.dims) + ".");
  DeviceScope scope(plan.device.index);
  Params p = make_params(plan);
  const int64_t rows = p.rows, heads_total = p.heads_total;  // > 0: core::execute skips empty calls

  // Block: x covers the feature chunks of a row, y stacks rows up to kBlockThreads threads.
  const int chunks = vec_chunks(plan);
  const bool vec = chunks > 0;
  int bx = chunks;
  if (!vec) {
    const int64_t items = plan.pairs + (plan.D - plan.dims);
    bx = int(items >= kBlockThreads ? kBlockThreads : ((items + 31) / 32) * 32);
    if (bx == 0) bx = 32;
  }
  int by = kBlockThreads / bx;
  if (by < 1) by = 1;
  if (by > rows) by = int(rows);
  const int64_t row_blocks = (rows + by - 1) / by;

  // Head-parallel split: with few tokens, spread heads over blockIdx.y until about one full
  // wave of threads is resident; with many tokens each thread walks all heads of its row.
  const int64_t target = int64_t(sm_count(plan.device.index)) * 2048;
  const int64_t base = row_blocks * by * bx;
  int64_t groups = 1;
  if (base < target) groups = (target + base - 1) / base;
  if (groups > heads_total) groups = heads_total;
  if (groups > 65535) groups = 65535;
  const int64_t per_group = (heads_total + groups - 1) / groups;
  groups = (heads_total + per_group - 1) / per_group;
  p.heads_per_group = int(per_group);
  if (row_blocks > 0x7fffffff) core::fail("[rope] x has too many tokens for one CUDA launch.");

  const int head_dim = plan.dims == plan.D ? int(plan.D) : 0;
  const dim3 grid{unsigned(row_blocks), unsigned(groups)};
  const dim3 block{unsigned(bx), unsigned(by)};
  cudaStream_t stream = static_cast<cudaStream_t>(plan.stream);
  switch (plan.dtype.val) {
    case Dtype::Val::float32: launch_typed<float>(p, vec, head_dim, grid, block, stream); break;
    case Dtype::Val::float16: launch_typed<float16_t>(p, vec, head_dim, grid, block, stream); break;
    case Dtype::Val::bfloat16: launch_typed<bfloat16_t>(p, vec, head_dim, grid, block, stream); break;
    case Dtype::Val::float64: rope_generic_kernel<double><<<grid, block, 0, stream>>>(p); break;
    default: core::fail("[rope] unsupported dtype " + to_string(plan.dtype) + ".");
  }
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace rotary::cuda_backend
