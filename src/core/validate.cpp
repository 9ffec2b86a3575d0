#include "core/validate.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rotary::core {

void fail(const std::string& message) { throw std::invalid_argument(message); }

void check_input(const TensorView& x, int min_ndim) {
  if (x.ndim() < min_ndim)
    fail("[rope] Input must have at least " + std::to_string(min_ndim) +
         " dimensions but got input with " + std::to_string(x.ndim()) + " dimensions.");
  if (!is_floating(x.dtype))
    fail("[rope] Input must be a floating type but got " + to_string(x.dtype) + ".");
}

void check_offset_array(const Shape& shape, Dtype dtype, int64_t B) {
  if (shape.size() > 1)
    fail("[rope] offset must have at most one dimension but has shape " + to_string(shape) + ".");
  const int64_t n = shape.empty() ? 1 : shape[0];
  if (n != 1 && n != B)
    fail("[rope] offset must be a scalar or vector with " + std::to_string(B) +
         " elements but has shape " + to_string(shape) + ".");
  if (!is_integer(dtype)) fail("[rope] offset must be an integer but got type " + to_string(dtype) + ".");
}

void check_dims(int dims, int64_t D) {
  if (dims <= 0) fail("[rope] dims must be positive but got " + std::to_string(dims) + ".");
  if (dims % 2 != 0) fail("[rope] dims must be even but got " + std::to_string(dims) + ".");
  if (dims > D)
    fail("[rope] dims must not exceed the input's last dimension (D) but got " + std::to_string(dims) + ".");
}

void check_freqs_shape(const Shape& shape, int dims) {
  if (shape.size() != 1 || shape[0] != dims / 2)
    fail("[rope] freqs must be one dimensional with size " + std::to_string(dims / 2) +
         " but got shape " + to_string(shape) + ".");
}

bool overlaps_itself(const TensorView& v) {
  // Sorted by |stride|, each axis must step past everything the finer axes span.
  std::vector<std::pair<int64_t, int64_t>> axes;  // (|stride|, size)
  for (int i = 0; i < v.ndim(); ++i) {
    if (v.shape[i] == 0) return false;
    if (v.shape[i] > 1) axes.emplace_back(std::abs(v.strides[i]), v.shape[i]);
  }
  std::sort(axes.begin(), axes.end());
  int64_t span = 1;  // elements covered by the finer axes
  for (auto [stride, size] : axes) {
    if (stride < span) return true;
    span = stride * (size - 1) + span;
  }
  return false;
}

namespace {
// [first, last] byte addresses a view can touch.
std::pair<const char*, const char*> byte_range(const TensorView& v) {
  int64_t lo = 0, hi = 0;
  for (int i = 0; i < v.ndim(); ++i) {
    if (v.shape[i] == 0) return {nullptr, nullptr};
    const int64_t reach = v.strides[i] * (v.shape[i] - 1);
    (reach < 0 ? lo : hi) += reach;
  }
  const char* base = static_cast<const char*>(v.data);
  return {base + lo * v.dtype.size, base + (hi + 1) * v.dtype.size - 1};
}
}  // namespace

bool ranges_intersect(const TensorView& a, const TensorView& b) {
  if (a.device != b.device) return false;
  auto [a0, a1] = byte_range(a);
  auto [b0, b1] = byte_range(b);
  if (!a0 || !b0) return false;
  return a0 <= b1 && b0 <= a1;
}

bool same_view(const TensorView& a, const TensorView& b) {
  return a.data == b.data && a.device == b.device && a.dtype == b.dtype && a.shape == b.shape &&
         a.strides == b.strides;
}

}  // namespace rotary::core
