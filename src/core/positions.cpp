// Positions: where each token sits (a value type of the public API), and the length they reach.
#include "rotary/rope.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/plan.h"
#include "core/strided.h"

namespace rotary {
namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("[positions_length] " + message); }

// Calls f(value) for each element of a host integer array.
template <typename F>
void for_each_index(const TensorView& a, const char* name, F&& f) {
  if (a.device.type != Device::Type::cpu)
    fail(std::string(name) + " must be in CPU memory to be read but is on " + to_string(a.device) + ".");
  if (!is_integer(a.dtype)) fail(std::string(name) + " must be an integer array but got type " + to_string(a.dtype) + ".");
  const Strides strides = a.strides.empty() ? row_major_strides(a.shape) : a.strides;
  core::for_each_offset(a.shape, strides, strides, [&](int64_t off, int64_t) { f(core::read_index(a.data, a.dtype, off)); });
}

// start + count without overflowing int64.
int64_t end_of(int64_t start, int64_t count, const char* what) {
  if (start > std::numeric_limits<int64_t>::max() - count)
    fail(std::string(what) + " " + std::to_string(start) + " plus " + std::to_string(count) + " tokens overflows int64.");
  return start + count;
}

int64_t tokens(const Shape& x_shape, int seq_axis) {
  const int ndim = int(x_shape.size()), axis = ndim + seq_axis;
  if (seq_axis >= -1 || axis < 0)
    fail("seq_axis " + std::to_string(seq_axis) + " is not a token axis of x of shape " + to_string(x_shape) + ".");
  return x_shape[axis];
}

int64_t ragged_length(const TensorView& cu, const std::optional<TensorView>& starts) {
  if (cu.ndim() != 1 || cu.shape[0] < 1)
    fail("cu_seqlens must be one dimensional with n+1 >= 1 elements but has shape " + to_string(cu.shape) + ".");
  std::vector<int64_t> bounds, first;
  for_each_index(cu, "cu_seqlens", [&](int64_t v) { bounds.push_back(v); });
  if (starts) {
    if (starts->ndim() != 1 || starts->shape[0] != cu.shape[0] - 1)
      fail("starts must have one element per sequence (" + std::to_string(cu.shape[0] - 1) + ") but has shape " +
           to_string(starts->shape) + ".");
    for_each_index(*starts, "starts", [&](int64_t v) { first.push_back(v); });
  }
  int64_t length = 0;
  for (size_t s = 0; s + 1 < bounds.size(); ++s)
    if (bounds[s + 1] > bounds[s])
      length = std::max(length, end_of(first.empty() ? 0 : first[s], bounds[s + 1] - bounds[s], "starts"));
  return length;
}

}  // namespace

int64_t positions_length(const Positions& positions, const Shape& x_shape, int seq_axis) {
  int64_t length = 0;
  switch (positions.kind()) {
    case Positions::Kind::ids:
      for_each_index(positions.array(), "position_ids", [&](int64_t v) { length = std::max(length, end_of(v, 1, "position id")); });
      return length;
    case Positions::Kind::ragged:
      return ragged_length(positions.array(), positions.starts());
    case Positions::Kind::offset:
      break;
  }
  const int64_t T = tokens(x_shape, seq_axis);
  if (T == 0) return 0;
  if (positions.is_scalar_offset()) return end_of(positions.scalar_offset(), T, "offset");
  for_each_index(positions.array(), "offset", [&](int64_t v) { length = std::max(length, end_of(v, T, "offset")); });
  return length;
}

Positions::Positions(int64_t offset) : offset_(offset) {}

Positions Positions::offsets(const TensorView& offsets) {
  Positions p;
  p.has_array_ = true;
  p.array_ = offsets;
  return p;
}

Positions Positions::ids(const TensorView& ids) {
  Positions p;
  p.kind_ = Kind::ids;
  p.has_array_ = true;
  p.array_ = ids;
  return p;
}

Positions Positions::ragged(const TensorView& cu_seqlens, const std::optional<TensorView>& starts) {
  Positions p;
  p.kind_ = Kind::ragged;
  p.has_array_ = true;
  p.array_ = cu_seqlens;
  p.starts_ = starts;
  return p;
}

Positions Positions::offsets(const Array& offsets) {
  Positions p = Positions::offsets(offsets.view());
  p.owned_.push_back(offsets);
  return p;
}

Positions Positions::ids(const Array& ids) {
  Positions p = Positions::ids(ids.view());
  p.owned_.push_back(ids);
  return p;
}

Positions Positions::ragged(const Array& cu_seqlens, const std::optional<Array>& starts) {
  Positions p = Positions::ragged(cu_seqlens.view(), starts ? std::optional<TensorView>(starts->view()) : std::nullopt);
  p.owned_.push_back(cu_seqlens);
  if (starts) p.owned_.push_back(*starts);
  return p;
}

}  // namespace rotary
