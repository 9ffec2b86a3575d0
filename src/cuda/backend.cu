// Host side of the CUDA backend: picks the vectorised or generic kernel and the grid, and
// launches once per call (Q and K together) with the plan as it is.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/dispatch.h"
#include "core/validate.h"
#include "cuda/backend.h"
#include "cuda/device.h"
#include "cuda/kernels.cuh"

namespace rotary::cuda_backend {
namespace {

static_assert(sizeof(LaunchArgs) <= 4096, "launch arguments must fit the classic 4 KiB limit");

// Threads of `Kernel` that can be resident on the whole device at once (occupancy API),
// asked once per kernel and device.
template <auto Kernel>
int64_t resident_threads(int device) {
  constexpr int kCachedDevices = 64;
  static std::atomic<int64_t> cache[kCachedDevices] = {};
  const bool cached = device >= 0 && device < kCachedDevices;
  if (cached) {
    const int64_t n = cache[device].load(std::memory_order_relaxed);
    if (n > 0) return n;
  }
  int sms = 0, blocks = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, Kernel, kBlockThreads, 0),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  const int64_t n = int64_t(sms) * blocks * kBlockThreads;
  if (cached) cache[device].store(n, std::memory_order_relaxed);
  return n;
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
// Table calls take the generic kernel (per-feature columns, hf rounding).
int vec_chunks(const core::RopePlan& plan) {
  if (plan.dtype == float64 || plan.table.cos.data) return 0;
  const int v = 16 / plan.dtype.size;
  const int rotated = plan.layout == PairLayout::interleaved ? plan.dims : plan.pairs;  // elements a lane set covers
  if (rotated % v != 0) return 0;
  bool copies = false;
  for (int k = 0; k < plan.n_tensors; ++k) {
    const core::TensorPair& tp = plan.tensors[k];
    if (!aligned(tp.in, plan, v) || !aligned(tp.out, plan, v)) return 0;
    copies = copies || !tp.in_place;
  }
  const int64_t tail = plan.D - plan.dims;
  if (copies && tail % v != 0) return 0;
  const int64_t chunks = rotated / v + (copies ? tail / v : 0);
  return chunks <= kBlockThreads ? int(chunks) : 0;
}

struct LaunchShape {
  dim3 grid, block;
  int64_t heads_per_group = 1;
};

// Block: x covers the feature chunks of a row (chunks > 0: vectorised), y stacks rows up to
// kBlockThreads threads. With few tokens, heads are spread over blockIdx.y until about the
// resident thread count is reached; with many tokens each thread walks all heads of its row.
LaunchShape launch_shape(const core::RopePlan& plan, int chunks, int64_t resident) {
  const int64_t rows = plan.B * plan.T, heads_total = plan.heads_total();  // > 0: execute skips empty calls
  int bx = chunks;
  if (chunks == 0) {
    const int64_t items = plan.pairs + (plan.D - plan.dims);
    bx = int(items >= kBlockThreads ? kBlockThreads : ((items + 31) / 32) * 32);
    if (bx == 0) bx = 32;
  }
  int by = kBlockThreads / bx;
  if (by < 1) by = 1;
  if (by > rows) by = int(rows);
  const int64_t row_blocks = (rows + by - 1) / by;
  if (row_blocks > 0x7fffffff) core::fail("[rope] x has too many tokens for one CUDA launch.");
  const int64_t base = row_blocks * by * bx;
  int64_t groups = 1;
  if (base < resident) groups = (resident + base - 1) / base;
  if (groups > heads_total) groups = heads_total;
  if (groups > 65535) groups = 65535;
  LaunchShape s;
  s.heads_per_group = (heads_total + groups - 1) / groups;
  groups = (heads_total + s.heads_per_group - 1) / s.heads_per_group;
  s.grid = dim3{unsigned(row_blocks), unsigned(groups)};
  s.block = dim3{unsigned(bx), unsigned(by)};
  return s;
}

template <auto Kernel>
void launch(LaunchArgs& args, int chunks) {
  const core::RopePlan& plan = args.plan;
  const LaunchShape s = launch_shape(plan, chunks, resident_threads<Kernel>(plan.device.index));
  args.heads_per_group = s.heads_per_group;
  Kernel<<<s.grid, s.block, 0, static_cast<cudaStream_t>(plan.cuda_stream)>>>(args);
}

// The vectorised kernel, specialised on a full-rotary head size (64/128/256) when there is one.
template <typename T, PairLayout L>
void launch_vec(LaunchArgs& args, int chunks) {
  const core::RopePlan& plan = args.plan;
  switch (plan.dims == plan.D ? int(plan.D) : 0) {
    case 64: return launch<rope_vec_kernel<T, L, 64>>(args, chunks);
    case 128: return launch<rope_vec_kernel<T, L, 128>>(args, chunks);
    case 256: return launch<rope_vec_kernel<T, L, 256>>(args, chunks);
    default: return launch<rope_vec_kernel<T, L, 0>>(args, chunks);
  }
}

template <typename T>
void launch_typed(LaunchArgs& args) {
  const int chunks = vec_chunks(args.plan);
  if constexpr (!std::is_same_v<T, double>) {
    if (chunks > 0)
      return core::dispatch_layout(args.plan.layout,
                                   [&](auto layout) { launch_vec<T, decltype(layout)::value>(args, chunks); });
  }
  launch<rope_generic_kernel<T>>(args, 0);
}

// Position-indexed tables with device-resident positions: raises *bad when a token's stream-0
// position is not a row of the table (run before the rotation, which then writes nothing).
__global__ void table_rows_kernel(const __grid_constant__ core::RopePlan p, int* bad) {
  const int64_t tokens = p.B * p.T;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < tokens; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / p.T, pos = p.positions.at(b, i - b * p.T, 0);
    if (pos < 0 || pos >= p.table.rows) atomicExch(bad, 1);
  }
}

// A position-indexed table read through device-resident positions (the planner could not read
// them): every position must name a table row. Checked on the device before the rotation is
// queued, so a bad position writes nothing; this waits for the stream once.
void check_table_rows(const core::RopePlan& plan) {
  cudaStream_t stream = static_cast<cudaStream_t>(plan.cuda_stream);
  ErrorFlag bad(stream);
  const int64_t tokens = plan.B * plan.T, blocks = (tokens + kBlockThreads - 1) / kBlockThreads;
  table_rows_kernel<<<unsigned(blocks < 1024 ? blocks : 1024), kBlockThreads, 0, stream>>>(plan, bad.device());
  check(cudaGetLastError(), "kernel launch");
  if (bad.raised())
    core::fail("[rope] table has " + std::to_string(plan.table.rows) + " rows (positions 0.." +
               std::to_string(plan.table.rows - 1) +
               ") but a token's position (device-resident positions) is outside them; nothing was written.");
}

}  // namespace

void run(const core::RopePlan& plan) {
  if (plan.pairs > kMaxPairs)
    core::fail("[rope] dims must be at most " + std::to_string(2 * kMaxPairs) + " on CUDA devices but is " +
               std::to_string(plan.dims) + ".");
  DeviceGuard guard(plan.device);
  if (plan.table.rows_unchecked) check_table_rows(plan);
  LaunchArgs args;
  args.plan = plan;
  for (int i = 0; i < plan.pairs; ++i) args.inv_freq[i] = plan.inv_freq[i];
  if (plan.pair_position_stream)
    for (int i = 0; i < plan.pairs; ++i) args.pair_position_stream[i] = plan.pair_position_stream[i];
  core::dispatch_float(plan.dtype, [&](auto type) { launch_typed<typename decltype(type)::type>(args); });
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace rotary::cuda_backend
