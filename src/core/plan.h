// RopePlan: one validated, canonical description of a RoPE call, the only thing a
// backend receives. Built by make_plan() from the public API's arguments.
#pragma once

#include <cstdint>

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
  int64_t head_offset(int64_t h) const {
    int64_t off = 0;
    for (int a = n_head_axes - 1; a >= 0; --a) {
      off += (h % head_size[a]) * head_stride[a];
      h /= head_size[a];
    }
    return off;
  }
};

// An input and the output it is written to (the same geometry when in place).
struct TensorPair {
  TensorGeometry in;
  TensorGeometry out;
  int64_t heads = 1;  // product of the head sizes
  bool in_place = false;
};

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
};

struct RopePlan {
  Dtype dtype = float32;
  Device device = cpu;
  int64_t B = 1, T = 1, D = 0;  // ragged: B = 1, T = total tokens
  int dims = 0;                 // rotated features
  int pairs = 0;                // dims / 2
  bool traditional = false;
  bool inverse = false;
  Precision precision = Precision::accurate;

  int n_tensors = 1;  // 2 for fused Q and K
  TensorPair tensors[2];

  PositionPlan positions;

  const double* inv_freq = nullptr;     // pairs values, host memory
  const uint8_t* pair_stream = nullptr;  // pairs values or null (every pair reads stream 0)
  double scale = 1.0;
  double attention_factor = 1.0;

  void* stream = nullptr;  // CUDA stream

  // Distinct position rows: T when positions are shared across the batch, else B * T.
  int64_t position_rows() const { return positions.batch_invariant ? T : B * T; }
};

// Reads element i of an integer array of type dtype (int32, int64 or uint32).
inline int64_t read_index(const void* p, Dtype dtype, int64_t i) {
  if (dtype == int32) return static_cast<const int32_t*>(p)[i];
  if (dtype == uint32) return static_cast<const uint32_t*>(p)[i];
  return static_cast<const int64_t*>(p)[i];
}

// Position of token t of batch row b in stream s (host memory only; ragged excluded).
inline int64_t position_at(const PositionPlan& pp, int64_t b, int64_t t, int s) {
  if (pp.kind == Positions::Kind::offset)
    return t + (pp.array ? read_index(pp.array, pp.dtype, b * pp.stride_b) : pp.offset);
  return read_index(pp.array, pp.dtype, s * pp.stride_s + b * pp.stride_b + t * pp.stride_t);
}

// Validates everything and builds the plan. `freqs` must outlive the plan.
RopePlan make_plan(const TensorView* inputs, const TensorView* outputs, int n_tensors,
                   const Positions& positions, const RopeOptions& options,
                   const Frequencies& freqs);

// Runs a plan on the backend of its device.
void execute(const RopePlan& plan);

}  // namespace rotary::core
