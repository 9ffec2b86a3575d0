// What a RoPE rotates by: one inverse frequency per pair, the attention factor,
// and (for multi-axis RoPE) which position stream each pair reads.
#pragma once

#include <cstdint>
#include <vector>

namespace rotary {

struct Frequencies {
  std::vector<double> inv_freq;      // radians per position unit, one per rotated pair (dims/2)
  double attention_factor = 1.0;     // multiplies cos and sin (YaRN, LongRoPE)
  std::vector<uint8_t> pair_position_stream;  // empty, or one position stream per pair (M-RoPE)
  int position_streams = 1;                   // position streams the pairs read from

  int pairs() const { return int(inv_freq.size()); }

  // inv_freq[i] = base ** (-2i/dims), computed in double: the one default-frequency builder
  // (a call without frequencies of its own uses from_base(dims, 10000); such a call leaves the
  // other fields at their defaults, as one set there is refused rather than dropped).
  static Frequencies from_base(int dims, double base);
  // inv_freq[i] = 1 / periods[i] (MLX's `freqs` are periods).
  static Frequencies from_periods(const std::vector<double>& periods);
};

}  // namespace rotary
