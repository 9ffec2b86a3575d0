// The float64 oracle: spec formulas element by element, angles and sin/cos in double.
// Slow on purpose and independent of the planner and the kernels; every backend is tested
// against it.
#pragma once

#include "rotary/array.h"
#include "rotary/rope.h"

namespace rotary::reference {

// The exact result as a float64 array of x's shape (round it once with astype()).
// Reads positions (every kind, multi-stream and ragged), frequencies (base 10000 when
// options.freqs is empty), layout, direction and precision exactly as rotary::rope does; in
// compat mode the angle is the float32 product float(scale*float(p)) * float(inv_freq) that
// the mode defines, and everything after it stays double.
Array rope(const Array& x, const Positions& positions, const RopeOptions& options);

// Element idx (a multi-index, one entry per dimension) of a host integer array.
int64_t read_int(const TensorView& v, const std::vector<int64_t>& idx);

// inv_freq[i] = base ** (-2i/dims), or 1/periods[i], in double.
std::vector<double> inv_freq_from_base(int dims, double base);

}  // namespace rotary::reference
