// Visiting every element of a strided n-d tensor in row-major order.
#pragma once

#include <cstdint>
#include <vector>

#include "rotary/tensor_view.h"

namespace rotary::core {

// Calls f(offset_a, offset_b) for each index in row-major order, where the offsets are
// the element offsets into two tensors of the same shape with strides a and b.
template <typename F>
void for_each_offset(const Shape& shape, const Strides& a, const Strides& b, F&& f) {
  const int n = int(shape.size());
  for (int s : shape)
    if (s == 0) return;
  std::vector<int> idx(n, 0);
  int64_t oa = 0, ob = 0;
  while (true) {
    f(oa, ob);
    int d = n - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += a[d];
        ob += b[d];
        break;
      }
      oa -= a[d] * (shape[d] - 1);
      ob -= b[d] * (shape[d] - 1);
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace rotary::core
