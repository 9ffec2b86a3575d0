#include "rotary/array.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>
#include <string>

#include "core/allocator.h"
#include "core/convert.h"
#include "core/strided.h"

namespace rotary {

namespace {

int64_t element_count(const Shape& shape) {
  int64_t n = 1;
  for (int s : shape) {
    if (s < 0) throw std::invalid_argument("[Array] shape " + to_string(shape) + " has a negative size.");
    n *= s;
  }
  return n;
}

int normalize_axis(int axis, int ndim, const char* what) {
  const int a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim)
    throw std::invalid_argument(std::string("[") + what + "] axis " + std::to_string(axis) +
                                " is out of bounds for an array with " + std::to_string(ndim) +
                                " dimensions.");
  return a;
}

void require_host(const Array& a, const char* what) {
  if (a.device().type != Device::Type::cpu)
    throw std::invalid_argument(std::string("[") + what + "] needs an array in CPU memory but got one on " +
                                to_string(a.device()) + ".");
}

}  // namespace

Shape detail::list_shape(size_t n, Shape shape) {
  if (shape.empty()) return Shape{int(n)};
  if (element_count(shape) != int64_t(n))
    throw std::invalid_argument("[Array] an initializer list of " + std::to_string(n) +
                                " values does not fill shape " + to_string(shape) + ".");
  return shape;
}

Array::Array(std::shared_ptr<detail::Buffer> buffer, int64_t offset, Shape shape, Strides strides,
             Dtype dtype)
    : buffer_(std::move(buffer)), offset_(offset), shape_(std::move(shape)),
      strides_(std::move(strides)), dtype_(dtype) {}

Array::Array(const void* src, Dtype src_dtype, Shape shape, Dtype dtype) : dtype_(dtype) {
  const int64_t n = element_count(shape);
  buffer_ = detail::allocate(size_t(n) * dtype.size, cpu);
  shape_ = std::move(shape);
  strides_ = row_major_strides(shape_);
  for (int64_t i = 0; i < n; ++i) core::convert_element(src, src_dtype, i, buffer_->ptr, dtype, i);
}

Array::Array(int value) : Array(&value, Shape{}, int32) {}
Array::Array(int64_t value) : Array(&value, Shape{}, int64) {}
Array::Array(float value) : Array(&value, Shape{}, float32) {}
Array::Array(double value, Dtype dtype) : Array(&value, Shape{}, dtype) {}

Array Array::empty(Shape shape, Dtype dtype, Device device) {
  const int64_t n = element_count(shape);
  Strides strides = row_major_strides(shape);
  return Array(detail::allocate(size_t(n) * dtype.size, device), 0, std::move(shape),
               std::move(strides), dtype);
}

Array Array::zeros(Shape shape, Dtype dtype) {
  Array a = empty(std::move(shape), dtype);
  std::memset(a.raw_data(), 0, size_t(a.nbytes()));
  return a;
}

int Array::shape(int axis) const { return shape_[normalize_axis(axis, ndim(), "Array::shape")]; }

int64_t Array::size() const { return element_count(shape_); }

Device Array::device() const { return buffer_ ? buffer_->device : cpu; }

bool Array::is_contiguous() const { return view().is_contiguous(); }

void* Array::raw_data() const {
  return static_cast<char*>(buffer_->ptr) + offset_ * dtype_.size;
}

TensorView Array::view() const { return TensorView(raw_data(), dtype_, shape_, strides_, device()); }

void Array::check_data_access(Dtype requested) const {
  if (requested != dtype_)
    throw std::invalid_argument("[Array::data] requested " + to_string(requested) +
                                " but the array holds " + to_string(dtype_) + ".");
  if (!is_contiguous())
    throw std::invalid_argument("[Array::data] the array is not contiguous; call contiguous() first.");
}

Array Array::astype(Dtype dtype) const {
  require_host(*this, "Array::astype");
  Array out = empty(shape_, dtype);
  const void* src = raw_data();
  void* dst = out.raw_data();
  int64_t di = 0;
  core::for_each_offset(shape_, strides_, strides_, [&](int64_t so, int64_t) {
    core::convert_element(src, dtype_, so, dst, dtype, di++);
  });
  return out;
}

Array Array::copy() const {
  if (device().type == Device::Type::cpu) return astype(dtype_);
  if (!is_contiguous())
    throw std::invalid_argument("[Array::copy] device arrays must be contiguous to copy.");
  Array out = empty(shape_, dtype_, device());
  detail::device_copy(out.raw_data(), device(), raw_data(), device(), size_t(nbytes()));
  return out;
}

Array Array::contiguous() const { return is_contiguous() ? *this : copy(); }

double Array::at(int64_t flat_index) const {
  require_host(*this, "Array::at");
  if (flat_index < 0 || flat_index >= size())
    throw std::invalid_argument("[Array::at] index " + std::to_string(flat_index) +
                                " is out of range for an array of size " + std::to_string(size()) + ".");
  int64_t off = 0;
  for (int d = ndim() - 1; d >= 0; --d) {
    off += (flat_index % shape_[d]) * strides_[d];
    flat_index /= shape_[d];
  }
  return core::load_double(raw_data(), dtype_, off);
}

Array Array::strided_view(Shape shape, Strides strides, int64_t offset_elements) const {
  if (shape.size() != strides.size())
    throw std::invalid_argument("[Array::strided_view] shape and strides differ in length.");
  return Array(buffer_, offset_ + offset_elements, std::move(shape), std::move(strides), dtype_);
}

Array Array::from_external(const TensorView& view, std::shared_ptr<void> keep_alive) {
  auto buf = std::make_shared<detail::Buffer>();
  buf->ptr = view.data;
  buf->device = view.device;
  buf->external = keep_alive ? std::move(keep_alive) : std::shared_ptr<void>(view.data, [](void*) {});
  Strides strides = view.strides.empty() ? row_major_strides(view.shape) : view.strides;
  return Array(std::move(buf), 0, view.shape, std::move(strides), view.dtype);
}

Array swapaxes(const Array& a, int axis1, int axis2) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis(axis1, a.ndim(), "swapaxes")],
            axes[normalize_axis(axis2, a.ndim(), "swapaxes")]);
  return transpose(a, axes);
}

Array transpose(const Array& a, const std::vector<int>& axes) {
  if (int(axes.size()) != a.ndim())
    throw std::invalid_argument("[transpose] got " + std::to_string(axes.size()) +
                                " axes for an array with " + std::to_string(a.ndim()) + " dimensions.");
  std::vector<bool> seen(a.ndim(), false);
  Shape shape(a.ndim());
  Strides strides(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) {
    const int ax = normalize_axis(axes[i], a.ndim(), "transpose");
    if (seen[ax]) throw std::invalid_argument("[transpose] repeated axis " + std::to_string(axes[i]) + ".");
    seen[ax] = true;
    shape[i] = a.shape()[ax];
    strides[i] = a.strides()[ax];
  }
  return a.strided_view(std::move(shape), std::move(strides));
}

Array transpose(const Array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, axes);
}

Array reshape(const Array& a, Shape shape) {
  if (element_count(shape) != a.size())
    throw std::invalid_argument("[reshape] cannot reshape an array of shape " + to_string(a.shape()) +
                                " into shape " + to_string(shape) + ".");
  const Array c = a.contiguous();
  Strides strides = row_major_strides(shape);
  return c.strided_view(std::move(shape), std::move(strides));
}

Array slice(const Array& a, int axis, int start, int stop, int step) {
  const int ax = normalize_axis(axis, a.ndim(), "slice");
  const int n = a.shape()[ax];
  if (step <= 0) throw std::invalid_argument("[slice] step must be positive.");
  start = std::clamp(start < 0 ? start + n : start, 0, n);
  stop = std::clamp(stop < 0 ? stop + n : stop, start, n);
  Shape shape = a.shape();
  Strides strides = a.strides();
  shape[ax] = (stop - start + step - 1) / step;
  strides[ax] *= step;
  return a.strided_view(std::move(shape), std::move(strides), int64_t(start) * a.strides()[ax]);
}

double max_abs_diff(const Array& a, const Array& b) {
  if (a.shape() != b.shape())
    throw std::invalid_argument("[max_abs_diff] shapes " + to_string(a.shape()) + " and " +
                                to_string(b.shape()) + " differ.");
  double m = 0.0;
  const void* pa = a.raw_data();
  const void* pb = b.raw_data();
  core::for_each_offset(a.shape(), a.strides(), b.strides(), [&](int64_t oa, int64_t ob) {
    const double d = std::fabs(core::load_double(pa, a.dtype(), oa) - core::load_double(pb, b.dtype(), ob));
    if (d > m || std::isnan(d)) m = std::isnan(d) ? INFINITY : d;
  });
  return m;
}

bool bit_equal(const Array& a, const Array& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const char* pa = static_cast<const char*>(a.raw_data());
  const char* pb = static_cast<const char*>(b.raw_data());
  const int sz = a.dtype().size;
  bool equal = true;
  core::for_each_offset(a.shape(), a.strides(), b.strides(), [&](int64_t oa, int64_t ob) {
    equal = equal && std::memcmp(pa + oa * sz, pb + ob * sz, sz) == 0;
  });
  return equal;
}

std::ostream& operator<<(std::ostream& os, const Array& a) {
  os << "array(shape=" << to_string(a.shape()) << ", dtype=" << a.dtype();
  if (a.device().type == Device::Type::cpu && a.size() <= 16) {
    os << ", [";
    for (int64_t i = 0; i < a.size(); ++i) os << (i ? ", " : "") << a.at(i);
    os << "]";
  }
  return os << ")";
}

}  // namespace rotary
