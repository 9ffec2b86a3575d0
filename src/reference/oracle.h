// The float64 oracle: spec formulas element by element, angles and sin/cos in double.
// Slow on purpose and independent of the planner and the kernels; every backend is tested
// against it.
#pragma once

#include "rotary/array.h"
#include "rotary/rope.h"

namespace rotary::reference {

// The exact result as a float64 array of x's shape (round it once with astype()).
// Reads positions, frequencies, layout and direction exactly as rotary::rope does.
Array rope(const Array& x, const Positions& positions, const RopeOptions& options);

// inv_freq[i] = base ** (-2i/dims), or 1/periods[i], in double.
std::vector<double> inv_freq_from_base(int dims, double base);

}  // namespace rotary::reference
