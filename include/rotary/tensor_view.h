// Shapes, devices, and the non-owning view every kernel works on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rotary/dtype.h"

namespace rotary {

using Shape = std::vector<int>;        // as in MLX
using Strides = std::vector<int64_t>;  // in elements, not bytes

// Where memory lives. CUDA memory is only reachable when the CUDA backend is built.
struct Device {
  enum class Type : uint8_t { cpu, cuda };
  Type type = Type::cpu;
  int index = 0;

  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};
inline constexpr Device cpu{Device::Type::cpu, 0};
inline Device cuda(int index = 0) { return Device{Device::Type::cuda, index}; }
std::string to_string(Device d);  // "cpu", "cuda:0"

// "(2,3)"; a scalar prints as "()".
std::string to_string(const Shape& shape);

// Row-major strides for a shape.
Strides row_major_strides(const Shape& shape);

// A tensor in memory someone else owns: pointer, dtype, shape, strides (elements).
// Strides may be zero or negative; the view must stay valid while a call uses it.
struct TensorView {
  void* data = nullptr;
  Dtype dtype = float32;
  Shape shape;
  Strides strides;  // empty means row-major
  Device device = cpu;

  TensorView() = default;
  TensorView(void* data, Dtype dtype, Shape shape, Strides strides = {}, Device device = cpu);

  int ndim() const { return int(shape.size()); }
  int64_t size() const;
  bool is_contiguous() const;  // row-major, no gaps
};

}  // namespace rotary
