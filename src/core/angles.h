// How a (position, pair) becomes an angle, in the two precision modes of spec part 3.
// Host and device share these so every backend forms the same angle.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace rotary::core {

// 2*pi split into a double and its rounding error (Cody-Waite), for an exact reduction.
inline constexpr double kTwoPiHi = 6.283185307179586;
inline constexpr double kTwoPiLo = 2.4492935982947064e-16;

// Reduces a double angle to about [-pi, pi]. The fused multiply-add makes theta - k*hi exact,
// so the reduced angle is good to ~1e-15 rad even for |theta| ~ 2^33 (positions near 2^32).
ROTARY_HD inline double reduce_angle(double theta) {
  const double k = std::nearbyint(theta * (1.0 / kTwoPiHi));
  return std::fma(-k, kTwoPiLo, std::fma(-k, kTwoPiHi, theta));
}

// Accurate mode: position times frequency in double.
ROTARY_HD inline double accurate_angle(int64_t position, double scale, double inv_freq) {
  return static_cast<double>(position) * scale * inv_freq;
}

// Compat mode: MLX's and Hugging Face's float32 angle, float(p) * float(inv_freq).
ROTARY_HD inline float compat_angle(int64_t position, float scale, float inv_freq_f32) {
  const float p = scale * static_cast<float>(position);
  return p * inv_freq_f32;
}

}  // namespace rotary::core
