// Argument checks of the MLX-signature API, the extended API and the planner. Each throws
// std::invalid_argument with the exact text of rope-spec.md, in the spec's order.
#pragma once

#include <optional>
#include <string>

#include "rotary/frequencies.h"
#include "rotary/rope.h"
#include "rotary/tensor_view.h"

namespace rotary::core {

[[noreturn]] void fail(const std::string& message);

// Checks 3 and 4; min_ndim is 3 for (B, *, T, D) and 2 for ragged (N, *, D). The name form
// serves callers whose element type rotary may not know (Python's int8, complex64, ...).
void check_input(const TensorView& x, int min_ndim = 3);
void check_input(int ndim, const std::string& dtype_name, bool floating, int min_ndim = 3);

// An MLX-signature call (fast.rope, nn.RoPE, rope_vjp) as spec 1.1's checks see it. Element
// types come as a name and a kind, so Python can describe types rotary does not know.
struct MlxCall {
  int x_ndim = 0;
  int64_t x_batch = 0, x_last = 0;  // x.shape[0] and x.shape[-1] (read only once x has 3 axes)
  std::string x_dtype;
  bool x_floating = false;
  std::optional<float> base;
  const Shape* offset_shape = nullptr;  // null: a scalar (Python int) offset
  std::string offset_dtype;
  bool offset_integer = true;
  int dims = 0;
  const Shape* freqs_shape = nullptr;  // null: no freqs
};
// The one validation of MLX-signature calls (C++ fast:: and nn:: and the Python bindings):
// checks 1-11 in the spec's order. Such calls then run through core::run, which does not
// repeat them.
void check_mlx_call(const MlxCall& call);
// The frequencies of a checked MLX call: from base, or from freqs' dims/2 periods.
Frequencies mlx_frequencies(int dims, const std::optional<float>& base, const double* periods);

// The same checks (3-10) for a call of the extended API: x's rank and type, an offset array,
// the rotated dims (0: all of D). rotary::rope runs them before core::run.
void check_call(const TensorView& x, const Positions& positions, const RopeOptions& options);

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
