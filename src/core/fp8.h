// FP8 E4M3 (OCP "e4m3fn": bias 7, no infinities, 0x7f/0xff NaN, largest finite 448), the
// KV-cache storage type. Host and device share these conversions.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/hd.h"

namespace rotary::core {

struct float8_e4m3_t {
  uint8_t bits;
};

inline constexpr float kE4m3Max = 448.0f;

// Bit cast for host and device (rotary/dtype.h's are host only); memcpy compiles to a move on both.
template <typename To, typename From>
ROTARY_HD inline To bit_cast_hd(From v) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast_hd needs types of one size");
  To to;
  memcpy(&to, &v, sizeof(To));
  return to;
}

ROTARY_HD inline float to_float(float8_e4m3_t v) {
  const uint32_t sign = uint32_t(v.bits & 0x80u) << 24;
  const uint32_t exp = (v.bits >> 3) & 0xfu, man = v.bits & 7u;
  if (exp == 0xf && man == 7) return bit_cast_hd<float>(sign | 0x7fc00000u);  // NaN
  if (exp == 0) {
    const float m = float(man) * 0.001953125f;  // man * 2^-9, exact
    return sign ? -m : m;
  }
  return bit_cast_hd<float>(sign | ((exp + 120u) << 23) | (man << 20));
}

// Round to nearest even, saturating: every value beyond +-448 (infinities included) becomes
// +-448 (vLLM clamps before converting); NaN stays NaN.
ROTARY_HD inline float8_e4m3_t to_float8_e4m3(float f) {
  const uint32_t u = bit_cast_hd<uint32_t>(f);
  const uint8_t sign = uint8_t((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return {uint8_t(sign | 0x7fu)};
  if (a >= 0x43e00000u) return {uint8_t(sign | 0x7eu)};  // >= 448
  if (a < 0x3c800000u) {
    // below the smallest normal (2^-6): the subnormal grid of 2^-9, nearest even
    const float v = bit_cast_hd<float>(a) * 512.0f;  // exact
    uint32_t m = uint32_t(v);
    const float rest = v - float(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) ++m;
    return {uint8_t(sign | m)};  // m == 8 is 2^-6, the smallest normal's encoding
  }
  const uint32_t r = a + 0x7ffffu + ((a >> 20) & 1u);  // round the mantissa to 3 bits
  return {uint8_t(sign | (((r >> 23) - 120u) << 3) | ((r >> 20) & 7u))};
}

}  // namespace rotary::core
