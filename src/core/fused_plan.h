// FusedPlan and ShiftPlan: the validated descriptions of the fused calls of rotary/fused.h.
// Each embeds the RopePlan of its rotation (positions, frequencies, layout, q/k geometry) and
// adds where the rows go: the cache arrays, the slot addressing, the optional QK RMSNorm.
// Plain structs with ROTARY_HD accessors, read as they are by the CPU and CUDA kernels.
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/plan.h"
#include "rotary/fused.h"

namespace rotary::core {

// One cache array: pages of rows of heads of D features.
struct CacheGeometry {
  char* data = nullptr;
  Dtype dtype = float32;
  int64_t pages = 0, rows = 0, heads = 0, D = 0;
  int64_t stride_page = 0, stride_row = 0, stride_head = 0, stride_d = 1;
  float scale = 1.0f;  // FP8: stored = value / scale

  ROTARY_HD int64_t row_offset(int64_t page, int64_t row, int64_t head) const {
    return page * stride_page + row * stride_row + head * stride_head;
  }
};

enum class SlotStatus : uint8_t { write, skip, out_of_range };

// The token -> (page, row) addressing of CacheSlots.
struct SlotPlan {
  CacheSlots::Kind kind = CacheSlots::Kind::write_positions;
  const void* index = nullptr;  // starts, slots or block table
  Dtype index_dtype = int64;
  // starts: [s * stride_s]; slots: [b * stride_b + t * stride_t]; table: [s * stride_s + c * stride_c]
  int64_t stride_s = 0, stride_b = 0, stride_t = 0, stride_c = 0;
  const void* lens = nullptr;  // block_table: cache_lens
  Dtype lens_dtype = int64;
  int64_t lens_stride = 0;
  int64_t pages = 0, rows = 0, table_cols = 0;
  // A device call's index (and lens) in host memory: checked by the planner, copied to the
  // device by the CUDA backend, which then need not wait to report bad slots.
  bool host_resident = false;

  // Where the j-th new token of sequence s (token (b, t) of the input) goes.
  ROTARY_HD SlotStatus locate(int64_t s, int64_t j, int64_t b, int64_t t, int64_t& page, int64_t& row) const {
    int64_t c;
    switch (kind) {
      case CacheSlots::Kind::write_positions:
        page = s;
        row = read_index(index, index_dtype, s * stride_s) + j;
        break;
      case CacheSlots::Kind::slot_mapping:
        c = read_index(index, index_dtype, b * stride_b + t * stride_t);
        if (c < 0) return SlotStatus::skip;
        page = c / rows;
        row = c - page * rows;
        break;
      case CacheSlots::Kind::block_table: {
        c = read_index(lens, lens_dtype, s * lens_stride) + j;
        const int64_t col = c / rows;
        if (c < 0 || col >= table_cols) return SlotStatus::out_of_range;
        page = read_index(index, index_dtype, s * stride_s + col * stride_c);
        row = c - col * rows;
        break;
      }
    }
    return page >= 0 && page < pages && row >= 0 && row < rows ? SlotStatus::write : SlotStatus::out_of_range;
  }
};

// Per-head RMSNorm of q (0) and k (1) before the rotation.
struct NormPlan {
  bool enabled = false;
  const void* weight[2] = {nullptr, nullptr};
  Dtype weight_dtype[2] = {float32, float32};
  int64_t weight_stride[2] = {1, 1};
  float eps = 1e-6f;
  bool unit_offset = false;
};

struct FusedPlan {
  RopePlan rope;  // q: tensors[0]; k: tensors[1] (its out is k_out, or unused with a cache)
  bool to_cache = false;
  bool has_v = false;
  TensorGeometry v;  // v's input rows (features at stride v.stride_d)
  int64_t v_heads = 0, v_D = 0;
  CacheGeometry k_cache, v_cache;
  SlotPlan slots;
  NormPlan norm;
  int64_t num_seqs = 1;  // sequences of the batch: B, or the ragged count

  // Sequence s and index j within it of token (b, t): b and t, or the ragged search.
  ROTARY_HD void sequence_of(int64_t b, int64_t t, int64_t& s, int64_t& j) const {
    if (rope.positions.kind == Positions::Kind::ragged) return rope.positions.ragged_sequence(t, s, j);
    s = b;
    j = t;
  }
};

// Re-rotation of a key cache in place by per-page (or per-row) deltas, per position stream.
struct ShiftPlan {
  // frequencies, layout, precision; attention factor 1, or new / old with a change; no tensors.
  // Its positions are the deltas: ids of (stream, page as b, row as t), so the RoPE backend's
  // angle code forms the delta angles, M-RoPE streams included.
  RopePlan rope;
  CacheGeometry cache;
  const void* deltas = nullptr;
  Dtype deltas_dtype = int64;
  int64_t deltas_stride_page = 0, deltas_stride_row = 0;  // stride_row 0: one delta per page
  int64_t deltas_stride_stream = 0;                       // M-RoPE: (streams, pages[, rows])
  const void* row_counts = nullptr;  // optional
  Dtype row_counts_dtype = int64;
  int64_t row_counts_stride = 0;
  // FrequencyChange: the old inverse frequencies and the rows' old positions (null: no change).
  const double* from_inv_freq = nullptr;
  const void* from_positions = nullptr;
  Dtype from_positions_dtype = int64;
  int64_t from_stride_page = 0, from_stride_row = 0;  // stride_row 0: positions[page] + row
  // A device cache's old positions in host memory: copied to the device by the CUDA backend.
  bool from_host_resident = false;

  ROTARY_HD int64_t rows_of(int64_t page) const {
    if (!row_counts) return cache.rows;
    const int64_t n = read_index(row_counts, row_counts_dtype, page * row_counts_stride);
    return n < 0 ? 0 : n > cache.rows ? cache.rows : n;
  }
  ROTARY_HD int64_t delta(int64_t page, int64_t row, int stream) const {
    return read_index(deltas, deltas_dtype,
                      stream * deltas_stride_stream + page * deltas_stride_page + row * deltas_stride_row);
  }
  // The old position of a row (with a change).
  ROTARY_HD int64_t from_position(int64_t page, int64_t row) const {
    const int64_t p = read_index(from_positions, from_positions_dtype, page * from_stride_page + row * from_stride_row);
    return from_stride_row ? p : p + row;
  }
  // Whether every row needs its own angles (per-row deltas, or a change: angles depend on p).
  ROTARY_HD bool per_row() const { return deltas_stride_row != 0 || from_inv_freq != nullptr; }
};

// Validate and plan the calls of rotary/fused.h (options.freqs must outlive the plan; without
// frequencies the call uses core::call_frequencies). Nothing is written by either; every error
// is std::invalid_argument naming the argument.
FusedPlan make_fused_plan(const TensorView& q, const TensorView& k, const TensorView* v, const TensorView& q_out,
                          const TensorView* k_out, const KVCache* cache, const QKNorm* norm, const Positions& positions,
                          const RopeOptions& options, const char* api);
ShiftPlan make_shift_plan(const TensorView& k_cache, CacheLayout layout, const TensorView& deltas,
                          const std::optional<TensorView>& row_counts, const RopeOptions& options,
                          std::optional<float> scale, const FrequencyChange* change = nullptr);

// Run on the backend of the plan's device.
void execute(const FusedPlan& plan);
void execute(const ShiftPlan& plan);

}  // namespace rotary::core
