// The float64 oracle of the fused calls (rotary/fused.h): RMSNorm in double, and where each
// token's rows land in a cache, both from the public descriptions alone (not the planner).
// With reference::rope they give the exact expected q, k_out and cache contents.
#pragma once

#include <optional>

#include "rotary/array.h"
#include "rotary/fused.h"
#include "rotary/rope.h"

namespace rotary::reference {

// Each row (last axis) of x: x / sqrt(mean(x^2) + eps) * w, or * (1 + w); float64 result.
Array rms_norm(const Array& x, const Array& weight, double eps, bool unit_offset);

// The caches after a rope_and_cache call, as float64 arrays of the caches' shapes: the original
// contents, with each written row replaced by the token's exact row of k_rows / v_rows (k's
// and v's shapes; divided by the scale for a FP8 cache, unrounded). ragged: k is (N, *heads, D)
// with positions' cu_seqlens; else (B, *heads, T, D) / (B, T, *heads, D) by seq_axis. v_cache
// may be an empty (0-d) array when no values are cached.
struct CacheContents {
  Array k;
  Array v;
};
CacheContents cache_after(const Array& k_rows, const Array& v_rows, const Array& k_cache, const Array& v_cache,
                          const KVCache& cache, const Positions& positions, int seq_axis);

// The exact re-rotation (rotary/fused.h shift_cache) of a cache's values: `cache` holds the
// values as float64 (a FP8 cache already dequantised: stored * scale), in `layout`. Each pair of
// row r of page g (r < row_counts[g] when given) turns by its new angle at p + delta minus its
// old angle at p (long double; compat precision: each angle the float32 product, as rope's
// oracle forms it), and with a change is multiplied by the attention-factor ratio; without a
// change the angle is that of delta at the inv_freq of the pair's position stream.
// Returns the values (float64, cache's shape).
Array shift_cache(const Array& cache, CacheLayout layout, const TensorView& deltas,
                  const std::optional<TensorView>& row_counts, const RopeOptions& options,
                  const std::optional<FrequencyChange>& change);

}  // namespace rotary::reference
