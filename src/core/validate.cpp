#include "core/validate.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rotary::core {

void fail(const std::string& message) { throw std::invalid_argument(message); }

void check_input(int ndim, const std::string& dtype_name, bool floating, int min_ndim) {
  if (ndim < min_ndim)
    fail("[rope] Input must have at least " + std::to_string(min_ndim) +
         " dimensions but got input with " + std::to_string(ndim) + " dimensions.");
  if (!floating) fail("[rope] Input must be a floating type but got " + dtype_name + ".");
}

void check_input(const TensorView& x, int min_ndim) {
  check_input(x.ndim(), to_string(x.dtype), is_floating(x.dtype), min_ndim);
}

namespace {

// Spec 1.1 checks 1 and 2 (exactly one of base and freqs).
void check_base_or_freqs(bool has_base, bool has_freqs) {
  if (has_base && has_freqs) fail("[rope] Only one of base or freqs can have a value.");
  if (!has_base && !has_freqs) fail("[rope] Neither base nor freqs has a value.");
}

// Checks 5-7 for an offset array against batch size B.
void check_offset_array(const Shape& shape, const std::string& dtype_name, bool integer, int64_t B) {
  if (shape.size() > 1)
    fail("[rope] offset must have at most one dimension but has shape " + to_string(shape) + ".");
  const int64_t n = shape.empty() ? 1 : shape[0];
  if (n != 1 && n != B)
    fail("[rope] offset must be a scalar or vector with " + std::to_string(B) +
         " elements but has shape " + to_string(shape) + ".");
  if (!integer) fail("[rope] offset must be an integer but got type " + dtype_name + ".");
}

void check_offset_array(const Shape& shape, Dtype dtype, int64_t B) {
  check_offset_array(shape, to_string(dtype), is_integer(dtype), B);
}

// Checks 8-10.
void check_dims(int dims, int64_t D) {
  if (dims <= 0) fail("[rope] dims must be positive but got " + std::to_string(dims) + ".");
  if (dims % 2 != 0) fail("[rope] dims must be even but got " + std::to_string(dims) + ".");
  if (dims > D)
    fail("[rope] dims must not exceed the input's last dimension (D) but got " + std::to_string(dims) + ".");
}

// Check 11 (MLX's freqs array).
void check_freqs_shape(const Shape& shape, int dims) {
  if (shape.size() != 1 || shape[0] != dims / 2)
    fail("[rope] freqs must be one dimensional with size " + std::to_string(dims / 2) +
         " but got shape " + to_string(shape) + ".");
}

}  // namespace

void check_mlx_call(const MlxCall& c) {
  check_base_or_freqs(c.base.has_value(), c.freqs_shape != nullptr);
  check_input(c.x_ndim, c.x_dtype, c.x_floating);
  if (c.offset_shape) check_offset_array(*c.offset_shape, c.offset_dtype, c.offset_integer, c.x_batch);
  check_dims(c.dims, c.x_last);
  if (c.freqs_shape) check_freqs_shape(*c.freqs_shape, c.dims);
}

Frequencies mlx_frequencies(int dims, const std::optional<float>& base, const double* periods) {
  if (!periods) return Frequencies::from_base(dims, static_cast<double>(*base));
  return Frequencies::from_periods(std::vector<double>(periods, periods + dims / 2));
}

void check_call(const TensorView& x, const Positions& positions, const RopeOptions& options) {
  check_input(x, positions.kind() == Positions::Kind::ragged ? 2 : 3);
  const TensorView& offsets = positions.array();
  if (positions.kind() == Positions::Kind::offset && offsets.data)
    check_offset_array(offsets.shape, offsets.dtype, x.shape[0]);
  const int64_t D = x.shape.back();
  check_dims(options.dims == 0 ? int(D) : options.dims, D);
}

namespace {

// One term c * x of a bounded linear equation, c > 0 and lo <= x <= hi.
struct Term {
  int64_t coef;
  int64_t lo, hi;
};

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Depth-first search for integers x with sum coef*x == target (and, when need_nonzero, some x
// != 0), largest coefficient first. Each level only tries the x that leave a remainder the
// finer terms can still reach, so nested strides (every real layout) try at most two values
// per level. Past `budget` visited nodes it gives up and answers true (conservative).
class BoundedSolver {
 public:
  explicit BoundedSolver(std::vector<Term> terms) : terms_(std::move(terms)) {
    std::sort(terms_.begin(), terms_.end(), [](const Term& a, const Term& b) { return a.coef > b.coef; });
    rest_lo_.assign(terms_.size() + 1, 0);
    rest_hi_.assign(terms_.size() + 1, 0);
    for (size_t k = terms_.size(); k-- > 0;) {
      rest_lo_[k] = rest_lo_[k + 1] + terms_[k].coef * terms_[k].lo;
      rest_hi_[k] = rest_hi_[k + 1] + terms_[k].coef * terms_[k].hi;
    }
  }

  bool solvable(int64_t target, bool need_nonzero) {
    need_nonzero_ = need_nonzero;
    work_ = 0;
    return search(0, target, false);
  }

 private:
  static constexpr int64_t kBudget = 1 << 17;

  bool search(size_t k, int64_t remainder, bool nonzero) {
    if (++work_ > kBudget) return true;
    if (k == terms_.size()) return remainder == 0 && (nonzero || !need_nonzero_);
    if (remainder < rest_lo_[k] || remainder > rest_hi_[k]) return false;
    const Term& t = terms_[k];
    const int64_t x_lo = std::max(t.lo, ceil_div(remainder - rest_hi_[k + 1], t.coef));
    const int64_t x_hi = std::min(t.hi, floor_div(remainder - rest_lo_[k + 1], t.coef));
    for (int64_t x = x_lo; x <= x_hi; ++x)
      if (search(k + 1, remainder - x * t.coef, nonzero || x != 0)) return true;
    return false;
  }

  std::vector<Term> terms_;
  std::vector<int64_t> rest_lo_, rest_hi_;  // reach of the terms from k on
  bool need_nonzero_ = false;
  int64_t work_ = 0;
};

// Adds coef * x, x in [0, n-1], with the coefficient made positive and equal coefficients
// merged (x1 + x2 over two intervals covers exactly the summed interval).
void add_term(std::vector<Term>& terms, int64_t coef, int64_t lo, int64_t hi) {
  if (coef == 0 || (lo == 0 && hi == 0)) return;
  if (coef < 0) {
    coef = -coef;
    std::swap(lo, hi);
    lo = -lo;
    hi = -hi;
  }
  for (Term& t : terms)
    if (t.coef == coef) {
      t.lo += lo;
      t.hi += hi;
      return;
    }
  terms.push_back({coef, lo, hi});
}

}  // namespace

bool overlaps_itself(const TensorView& v) {
  // Quick accept: sorted by |stride|, each axis steps past everything the finer axes span.
  std::vector<std::pair<int64_t, int64_t>> axes;  // (|stride|, size)
  for (int i = 0; i < v.ndim(); ++i) {
    if (v.shape[i] == 0) return false;
    if (v.shape[i] > 1) axes.emplace_back(std::abs(v.strides[i]), v.shape[i]);
  }
  std::sort(axes.begin(), axes.end());
  int64_t span = 1;  // elements covered by the finer axes
  bool nested = true;
  for (auto [stride, size] : axes) {
    if (stride < span) nested = false;
    span = stride * (size - 1) + span;
  }
  if (nested) return false;
  // Otherwise: two distinct indices meet iff sum stride_k * d_k == 0 for some non-zero d
  // with |d_k| < size_k. A zero or repeated stride answers at once.
  std::vector<Term> terms;
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i].first == 0 || (i > 0 && axes[i].first == axes[i - 1].first)) return true;
    terms.push_back({axes[i].first, -(axes[i].second - 1), axes[i].second - 1});
  }
  return BoundedSolver(std::move(terms)).solvable(0, true);
}

bool may_share_memory(const TensorView& a, const TensorView& b) {
  if (!ranges_intersect(a, b)) return false;
  // Element bytes [A, A+ea) and [B, B+eb) meet iff A - B in [-(ea-1), eb-1], i.e.
  // (A - a.data) - (B - b.data) + w == b.data - a.data for some w in [-(eb-1), ea-1].
  const int64_t ea = a.dtype.size, eb = b.dtype.size;
  std::vector<Term> terms;
  for (int i = 0; i < a.ndim(); ++i) add_term(terms, a.strides[i] * ea, 0, a.shape[i] - 1);
  for (int i = 0; i < b.ndim(); ++i) add_term(terms, -b.strides[i] * eb, 0, b.shape[i] - 1);
  add_term(terms, 1, -(eb - 1), ea - 1);
  const int64_t target = static_cast<const char*>(b.data) - static_cast<const char*>(a.data);
  return BoundedSolver(std::move(terms)).solvable(target, false);
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
