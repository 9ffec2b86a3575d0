// RopePlan: one validated, canonical description of a RoPE call, the only thing a backend
// receives. A plain struct that host and device code read alike (ROTARY_HD accessors): the
// CPU kernels take it by reference, the CUDA kernels by value. Built by make_plan().
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "rotary/dtype.h"
#include "rotary/frequencies.h"
#include "rotary/rope.h"
#include "rotary/tensor_view.h"

namespace rotary::core {

inline constexpr int kMaxHeadAxes = 6;
inline constexpr int kMaxPositionStreams = 8;  // multi-axis RoPE streams a plan may read

// One tensor's axes in canonical order: batch b, token t, heads h (flattened), features d.
// Strides are in elements; data points at element (0, 0, 0, 0).
struct TensorGeometry {
  char* data = nullptr;
  int64_t stride_b = 0;
  int64_t stride_t = 0;
  int64_t stride_d = 1;
  int n_head_axes = 0;  // after merging axes that collapse into one
  int64_t head_size[kMaxHeadAxes] = {};
  int64_t head_stride[kMaxHeadAxes] = {};

  // Element offset of flattened head index h (row-major over the head axes).
  ROTARY_HD int64_t head_offset(int64_t h) const {
    if (n_head_axes <= 1) return n_head_axes ? h * head_stride[0] : 0;
    int64_t off = 0;
    for (int a = n_head_axes - 1; a >= 0; --a) {
      off += (h % head_size[a]) * head_stride[a];
      h /= head_size[a];
    }
    return off;
  }
};

// An input and the output it is written to (the same geometry when in place). The planner
// merges the head axes of both together: they share the axis count and sizes.
struct TensorPair {
  TensorGeometry in;
  TensorGeometry out;
  int64_t heads = 1;  // product of the head sizes
  bool in_place = false;
};

// Element i of an integer array of type dtype (int32, int64 or uint32), on the reader's side.
ROTARY_HD inline int64_t read_index(const void* p, Dtype dtype, int64_t i) {
#if defined(__CUDA_ARCH__)
  if (dtype.val == Dtype::Val::int32) return __ldg(static_cast<const int32_t*>(p) + i);
  if (dtype.val == Dtype::Val::uint32) return __ldg(static_cast<const uint32_t*>(p) + i);
  return __ldg(static_cast<const long long*>(p) + i);
#else
  if (dtype.val == Dtype::Val::int32) return static_cast<const int32_t*>(p)[i];
  if (dtype.val == Dtype::Val::uint32) return static_cast<const uint32_t*>(p)[i];
  return static_cast<const int64_t*>(p)[i];
#endif
}

// Where token (b, t) sits, for position stream s. Pointers are on the plan's device.
struct PositionPlan {
  Positions::Kind kind = Positions::Kind::offset;
  int64_t offset = 0;              // scalar offset (kind offset, array == nullptr)
  const void* array = nullptr;     // offsets (B), ids, or cu_seqlens (num_seqs + 1)
  Dtype dtype = int64;
  int64_t stride_s = 0, stride_b = 0, stride_t = 0;  // element strides into array (0: broadcast)
  int streams = 1;
  const void* starts = nullptr;    // ragged: start position per sequence (optional)
  Dtype starts_dtype = int64;
  int64_t starts_stride = 0;
  int64_t num_seqs = 0;            // ragged
  bool batch_invariant = true;     // positions independent of b: angles shared across batch rows

  // Position of token t of batch row b in stream s, any kind; ragged: the sequence holding t
  // is found by binary search over cu_seqlens, so callers index by token alone.
  ROTARY_HD int64_t at(int64_t b, int64_t t, int s) const {
    switch (kind) {
      case Positions::Kind::offset:
        return t + (array ? read_index(array, dtype, b * stride_b) : offset);
      case Positions::Kind::ids:
        return read_index(array, dtype, s * stride_s + b * stride_b + t * stride_t);
      case Positions::Kind::ragged:
        break;
    }
    int64_t q, j;
    ragged_sequence(t, q, j);
    return (starts ? read_index(starts, starts_dtype, q * starts_stride) : 0) + j;  // j first: no overflow
  }

  // Ragged: the sequence q holding token t (the last q with cu_seqlens[q] <= t, skipping empty
  // ones) by binary search, and t's index j within it.
  ROTARY_HD void ragged_sequence(int64_t t, int64_t& q, int64_t& j) const {
    int64_t lo = 0, hi = num_seqs;  // the answer in [lo, hi)
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      if (read_index(array, dtype, mid * stride_t) <= t) lo = mid;
      else hi = mid;
    }
    q = lo;
    j = t - read_index(array, dtype, lo * stride_t);
  }

  // Positions of token (b, t) in every stream (at most kMaxPositionStreams).
  ROTARY_HD void at_streams(int64_t b, int64_t t, int64_t* pos) const {
    if (streams == 1) {
      pos[0] = at(b, t, 0);
      return;
    }
    for (int s = 0; s < streams; ++s) pos[s] = at(b, t, s);
  }
};

// One of a table's cos/sin arrays, on the plan's device. Strides in elements (stride_b 0:
// broadcast over the batch). The element index is shared by host and device readers; each side
// converts the element with its own loader (at() on the host, load_elem in cuda/kernels.cuh).
struct TableArray {
  const void* data = nullptr;
  int64_t stride_b = 0, stride_row = 0, stride_w = 1;
  ROTARY_HD int64_t index(int64_t b, int64_t row, int64_t w) const {
    return b * stride_b + row * stride_row + w * stride_w;
  }
  double at(Dtype dtype, int64_t i) const {
    if (dtype == float32) return static_cast<const float*>(data)[i];
    if (dtype == float64) return static_cast<const double*>(data)[i];
    if (dtype == float16) return to_float(static_cast<const float16_t*>(data)[i]);
    return to_float(static_cast<const bfloat16_t*>(data)[i]);
  }
};

// A call's caller-given cos/sin (CosSinTable, validated). cos.data null: angles are formed.
struct TablePlan {
  TableArray cos, sin;
  Dtype dtype = float32;
  bool by_position = false;  // rows indexed by the token's position, else by (b, t)
  int width = 0;             // pairs (per pair) or dims (per feature)
  bool hf_rounding = false;
  int64_t rows = 0;          // the table's rows (positions 0..rows-1 when by_position)
  // by_position with positions on the device: the planner could not read them, so the backend
  // checks every position against `rows` before it writes (CUDA: cuda/backend.cu).
  bool rows_unchecked = false;

  // The table row token t at stream-0 position pos reads (with batch row b: index(b, row, w)).
  ROTARY_HD int64_t row_of(int64_t t, int64_t pos) const { return by_position ? pos : t; }
  // The column feature e of pair i reads: one per pair, or one per feature (width dims).
  ROTARY_HD int64_t column_of(int i, int64_t e, int pairs) const { return width == pairs ? i : e; }

  // cos/sin of feature column w for token (b, t), on the host.
  double cos_at(const PositionPlan& pp, int64_t b, int64_t t, int64_t w) const {
    return cos.at(dtype, cos.index(b, row_of(t, by_position ? pp.at(b, t, 0) : 0), w));
  }
  double sin_at(const PositionPlan& pp, int64_t b, int64_t t, int64_t w) const {
    return sin.at(dtype, sin.index(b, row_of(t, by_position ? pp.at(b, t, 0) : 0), w));
  }
};

struct RopePlan {
  Dtype dtype = float32;
  Device device = cpu;
  int64_t B = 1, T = 1, D = 0;  // ragged: B = 1, T = total tokens
  int dims = 0;                 // rotated features
  int pairs = 0;                // dims / 2
  PairLayout layout = PairLayout::half_split;
  bool inverse = false;
  Precision precision = Precision::accurate;

  int n_tensors = 1;  // 2 for fused Q and K
  TensorPair tensors[2];

  PositionPlan positions;

  // Frequencies, resolved once by the planner (base 10000 when the call names none). Host
  // memory: a backend that runs elsewhere copies them (the CUDA launch passes them by value).
  const double* inv_freq = nullptr;               // pairs values
  const uint8_t* pair_position_stream = nullptr;  // pairs values, or null: every pair reads stream 0
  double scale = 1.0;
  double attention_factor = 1.0;

  TablePlan table;  // caller-given cos/sin (table.cos.data non-null), else angles from inv_freq

  void* cuda_stream = nullptr;

  // Heads of every tensor together (Q's then K's).
  ROTARY_HD int64_t heads_total() const { return tensors[0].heads + (n_tensors > 1 ? tensors[1].heads : 0); }
  // Element distance from pair i's first feature to its second, and between pairs' first features.
  ROTARY_HD int64_t partner_distance() const { return layout == PairLayout::interleaved ? 1 : pairs; }
  ROTARY_HD int64_t pair_step() const { return layout == PairLayout::interleaved ? 2 : 1; }
};

// Validates the parts of a call that MLX's checks (check_mlx_call) do not cover and builds the
// plan. The tensors' views and options.freqs must outlive the plan.
RopePlan make_plan(const TensorView* inputs, const TensorView* outputs, int n_tensors,
                   const Positions& positions, const RopeOptions& options);

// The frequency, layout, direction, precision and stream fields of `plan` (its pairs set) from
// the options and the call's frequencies (those must have `pairs` values). Also used by the
// fused calls' plans (core/fused_plan.h).
void plan_rotation(const RopeOptions& options, const Frequencies& freqs, RopePlan& plan);

// The table part of make_plan (plan_table.cpp): checks options.table against x and the plan's
// shape and positions (already planned), and returns it in plan form.
TablePlan plan_table(const CosSinTable& table, const TensorView& x, const RopeOptions& options,
                     const RopePlan& plan);

// Runs a plan on the backend of its device.
void execute(const RopePlan& plan);

// Plans and executes a call that passed check_call (extended API) or check_mlx_call (MLX
// signatures): one or two tensors (q and k) into their outputs.
void run(const TensorView* inputs, const TensorView* outputs, int n_tensors, const Positions& positions,
         const RopeOptions& options);

}  // namespace rotary::core
