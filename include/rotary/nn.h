// MLX's nn::RoPE module.
#pragma once

#include <ostream>
#include <string>

#include "rotary/array.h"

namespace rotary::nn {

// Rotary position embedding with fixed settings; calls fast::rope.
class RoPE {
 public:
  explicit RoPE(int dims, bool traditional = false, float base = 10000, float scale = 1.0);

  // Rotates x (B, *, T, D) at positions arange(T) + offset.
  Array operator()(const Array& x, int offset = 0) const;
  // ... with an integer offset of shape (), (1,) or (B,).
  Array operator()(const Array& x, const Array& offset) const;

  int dims() const { return dims_; }
  bool traditional() const { return traditional_; }
  float base() const { return base_; }
  float scale() const { return scale_; }

  // "RoPE(64, traditional=false)"
  std::string to_string() const;

 private:
  int dims_;
  bool traditional_;
  float base_;
  float scale_;
};

std::ostream& operator<<(std::ostream& os, const RoPE& rope);

}  // namespace rotary::nn
