#include "rotary/nn.h"

#include "rotary/fast.h"

namespace rotary::nn {

RoPE::RoPE(int dims, bool traditional, float base, float scale)
    : dims_(dims), traditional_(traditional), base_(base), scale_(scale) {}

Array RoPE::operator()(const Array& x, int offset) const {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

Array RoPE::operator()(const Array& x, const Array& offset) const {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

std::string RoPE::to_string() const {
  return "RoPE(" + std::to_string(dims_) + ", traditional=" + (traditional_ ? "true" : "false") + ")";
}

std::ostream& operator<<(std::ostream& os, const RoPE& rope) { return os << rope.to_string(); }

}  // namespace rotary::nn
