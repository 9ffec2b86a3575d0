// Argument checks shared by the MLX-signature API and the planner. Each throws
// std::invalid_argument with the exact text of rope-spec.md, in the spec's order.
#pragma once

#include <string>

#include "rotary/tensor_view.h"

namespace rotary::core {

[[noreturn]] void fail(const std::string& message);

// Spec 1.1 checks 1 and 2 (exactly one of base and freqs).
void check_base_or_freqs(bool has_base, bool has_freqs);
// Checks 3 and 4; min_ndim is 3 for (B, *, T, D) and 2 for ragged (N, *, D). The name form
// serves callers whose element type rotary may not know (Python's int8, complex64, ...).
void check_input(const TensorView& x, int min_ndim = 3);
void check_input(int ndim, const std::string& dtype_name, bool floating, int min_ndim = 3);
// Checks 5-7 for an offset array against batch size B.
void check_offset_array(const Shape& offset_shape, Dtype offset_dtype, int64_t B);
void check_offset_array(const Shape& offset_shape, const std::string& dtype_name, bool integer, int64_t B);
// Checks 8-10.
void check_dims(int dims, int64_t D);
// Check 11 (MLX's freqs array).
void check_freqs_shape(const Shape& freqs_shape, int dims);

// True when two distinct indices of the view reach the same memory (e.g. a zero stride).
// Exact: solved as a bounded integer equation; only a view whose search would exceed a work
// budget (never one with nested strides) is conservatively reported as overlapping.
bool overlaps_itself(const TensorView& v);
// True when the byte ranges the two views can touch intersect.
bool ranges_intersect(const TensorView& a, const TensorView& b);
// True when some byte of an element of a is also a byte of an element of b. Exact in the
// same sense as overlaps_itself: interleaved slices of one buffer (q, k and v heads of a
// fused qkv tensor) are told apart; over the work budget it answers true.
bool may_share_memory(const TensorView& a, const TensorView& b);
// True when a and b are the same view of the same memory.
bool same_view(const TensorView& a, const TensorView& b);

}  // namespace rotary::core
