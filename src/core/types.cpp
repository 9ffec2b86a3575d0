// Names and small facts about dtypes, devices, shapes and views.

#include "rotary/dtype.h"
#include "rotary/tensor_view.h"

namespace rotary {

std::string to_string(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_: return "bool";
    case Dtype::Val::int32: return "int32";
    case Dtype::Val::int64: return "int64";
    case Dtype::Val::uint32: return "uint32";
    case Dtype::Val::float16: return "float16";
    case Dtype::Val::bfloat16: return "bfloat16";
    case Dtype::Val::float32: return "float32";
    case Dtype::Val::float64: return "float64";
    case Dtype::Val::float8_e4m3: return "float8_e4m3";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, Dtype d) { return os << to_string(d); }

std::string to_string(Device d) {
  return d.type == Device::Type::cpu ? "cpu" : "cuda:" + std::to_string(d.index);
}

// Plain string building, no iostreams: error paths must not depend on the process's locale
// machinery (a Python process can carry a second C++ runtime whose facets clash with ours).
std::string to_string(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

Strides row_major_strides(const Shape& shape) {
  Strides s(shape.size());
  int64_t acc = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

TensorView::TensorView(void* data_, Dtype dtype_, Shape shape_, Strides strides_, Device device_)
    : data(data_), dtype(dtype_), shape(std::move(shape_)), strides(std::move(strides_)),
      device(device_) {
  if (strides.empty()) strides = row_major_strides(shape);
}

int64_t TensorView::size() const {
  int64_t n = 1;
  for (int s : shape) n *= s;
  return n;
}

bool TensorView::is_contiguous() const {
  const Strides rm = row_major_strides(shape);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && strides[i] != rm[i]) return false;
  return true;
}

}  // namespace rotary
