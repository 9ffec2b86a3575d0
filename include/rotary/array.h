// rotary::Array: an owning n-dimensional array in MLX's style, with free views.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "rotary/dtype.h"
#include "rotary/tensor_view.h"

namespace rotary {

namespace detail {
struct Buffer;  // shared storage, returned to the allocator's cache when the last Array lets go
// Element type of C++ type T, for the typed constructors and data<T>().
template <typename T>
constexpr Dtype dtype_of();
template <> constexpr Dtype dtype_of<float>() { return float32; }
template <> constexpr Dtype dtype_of<double>() { return float64; }
template <> constexpr Dtype dtype_of<int32_t>() { return int32; }
template <> constexpr Dtype dtype_of<int64_t>() { return int64; }
template <> constexpr Dtype dtype_of<uint32_t>() { return uint32; }
template <> constexpr Dtype dtype_of<bool>() { return bool_; }
template <> constexpr Dtype dtype_of<float16_t>() { return float16; }
template <> constexpr Dtype dtype_of<bfloat16_t>() { return bfloat16; }
// The shape of an initializer list of n values: {n} when none is given; throws on a mismatch
// before anything is copied.
Shape list_shape(size_t n, Shape shape);
}  // namespace detail

class Array {
 public:
  // Copies `data` (row-major, shape's element count) converting each element to `dtype`.
  template <typename T>
  Array(const T* data, Shape shape, Dtype dtype = detail::dtype_of<T>())
      : Array(static_cast<const void*>(data), detail::dtype_of<T>(), std::move(shape), dtype) {}

  // A 1-D array of the values, or of `shape` (row-major).
  template <typename T>
  Array(std::initializer_list<T> values, Shape shape = {})
      : Array(values.begin(), detail::list_shape(values.size(), std::move(shape))) {}

  // A copy of a contiguous range's values (std::vector, std::span): 1-D, or of `shape`
  // (row-major); throws when the value count does not fill the shape.
  template <typename T>
  Array(const std::vector<T>& values, Shape shape = {})
      : Array(values.data(), detail::list_shape(values.size(), std::move(shape))) {}
  template <typename T, size_t N>
  Array(std::span<T, N> values, Shape shape = {})
      : Array(static_cast<const std::remove_cv_t<T>*>(values.data()), detail::list_shape(values.size(), std::move(shape))) {}

  // Scalars (0-d): int gives int32, float gives float32, as in MLX.
  Array(int value);
  Array(int64_t value);
  Array(float value);
  Array(double value, Dtype dtype);

  // Uninitialised array of the shape (contents are whatever the allocator returns).
  static Array empty(Shape shape, Dtype dtype, Device device = cpu);
  static Array zeros(Shape shape, Dtype dtype);

  const Shape& shape() const { return shape_; }
  int shape(int axis) const;  // negative axes count from the end
  const Strides& strides() const { return strides_; }
  Dtype dtype() const { return dtype_; }
  int ndim() const { return int(shape_.size()); }
  int64_t size() const;
  int64_t nbytes() const { return size() * dtype_.size; }
  Device device() const;
  bool is_contiguous() const;  // row-major without gaps

  // A converted copy (always a new buffer, row-major).
  Array astype(Dtype dtype) const;
  // Itself when already row-major, else a row-major copy.
  Array contiguous() const;
  // A deep row-major copy.
  Array copy() const;

  // Typed pointer to the first element; the array must be contiguous and of type T.
  template <typename T>
  T* data() {
    check_data_access(detail::dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  template <typename T>
  const T* data() const {
    check_data_access(detail::dtype_of<T>());
    return static_cast<const T*>(raw_data());
  }
  // First element as T (for 0-d and size-1 arrays, and tests).
  template <typename T>
  T item() const;

  // Element at a flat row-major index, converted to double (tests, printing).
  double at(int64_t flat_index) const;

  void* raw_data() const;  // pointer to the first element, honouring the view's offset
  TensorView view() const;  // a non-owning view of the same memory
  // An Array is accepted wherever a TensorView is (rope_inplace(x, ...)): its view.
  operator TensorView() const { return view(); }

  // A view over `shape`/`strides` of the same buffer (offset in elements).
  Array strided_view(Shape shape, Strides strides, int64_t offset_elements = 0) const;
  // Adopts external memory without copying; `keep_alive` is held as long as the array lives.
  static Array from_external(const TensorView& view, std::shared_ptr<void> keep_alive);

 private:
  Array(const void* src, Dtype src_dtype, Shape shape, Dtype dtype);
  Array(std::shared_ptr<detail::Buffer> buffer, int64_t offset, Shape shape, Strides strides,
        Dtype dtype);
  void check_data_access(Dtype requested) const;

  std::shared_ptr<detail::Buffer> buffer_;
  int64_t offset_ = 0;  // elements from the buffer's start
  Shape shape_;
  Strides strides_;
  Dtype dtype_;
};

// Views without copying.
Array swapaxes(const Array& a, int axis1, int axis2);
Array transpose(const Array& a, const std::vector<int>& axes);
Array transpose(const Array& a);  // reverses the axes
Array reshape(const Array& a, Shape shape);  // a view when contiguous, else a copy
Array slice(const Array& a, int axis, int start, int stop, int step = 1);  // a view

// Largest |a - b| over all elements (computed in double); shapes must match.
double max_abs_diff(const Array& a, const Array& b);
// True when shapes, dtypes and every element's bits are equal.
bool bit_equal(const Array& a, const Array& b);

std::ostream& operator<<(std::ostream& os, const Array& a);

template <typename T>
T Array::item() const {
  return static_cast<T>(at(0));
}

}  // namespace rotary
