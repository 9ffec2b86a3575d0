// Element types and the 16-bit float conversions every backend shares.
#pragma once

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>

namespace rotary {

// An element type, as in MLX: compare with the constants below.
struct Dtype {
  enum class Val : uint8_t { bool_, int32, int64, uint32, float16, bfloat16, float32, float64, float8_e4m3 };
  Val val;
  uint8_t size;  // bytes per element

  constexpr bool operator==(const Dtype& o) const { return val == o.val; }
  constexpr bool operator!=(const Dtype& o) const { return val != o.val; }
};

inline constexpr Dtype bool_{Dtype::Val::bool_, 1};
inline constexpr Dtype int32{Dtype::Val::int32, 4};
inline constexpr Dtype int64{Dtype::Val::int64, 8};
inline constexpr Dtype uint32{Dtype::Val::uint32, 4};
inline constexpr Dtype float16{Dtype::Val::float16, 2};
inline constexpr Dtype bfloat16{Dtype::Val::bfloat16, 2};
inline constexpr Dtype float32{Dtype::Val::float32, 4};
inline constexpr Dtype float64{Dtype::Val::float64, 8};
// OCP FP8 E4M3 (torch.float8_e4m3fn): a KV-cache storage type only (fused.h), not a rope input.
inline constexpr Dtype float8_e4m3{Dtype::Val::float8_e4m3, 1};

constexpr bool is_floating(Dtype d) {
  return d == float16 || d == bfloat16 || d == float32 || d == float64;
}
constexpr bool is_integer(Dtype d) { return d == int32 || d == int64 || d == uint32; }

// "float32", "int64", "bool", ... (the names error messages use).
std::string to_string(Dtype d);
std::ostream& operator<<(std::ostream& os, Dtype d);

// Storage types for the 16-bit floats: plain bits, converted through float.
struct float16_t {
  uint16_t bits;
};
struct bfloat16_t {
  uint16_t bits;
};

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float to_float(bfloat16_t h) { return bits_to_float(uint32_t(h.bits) << 16); }

// Round to nearest even; NaN stays NaN (quiet).
inline bfloat16_t to_bfloat16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bfloat16_t{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bfloat16_t{uint16_t(u >> 16)};
}

inline float to_float(float16_t h) {
  const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1fu;
  const uint32_t man = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in float
    float v = float(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest even, overflow to infinity, subnormals kept.
inline float16_t to_float16(float f) {
  const uint32_t u = float_to_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return float16_t{uint16_t(sign | 0x7e00u)};  // nan
  if (a >= 0x477ff000u) return float16_t{uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (a < 0x38800000u) {
    // below the smallest normal (2^-14): subnormal grid of 2^-24, rounded to nearest even
    const float v = bits_to_float(a) * 16777216.0f;  // exact scaling to units of 2^-24
    uint32_t m = uint32_t(v);
    const float rest = v - float(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) ++m;
    return float16_t{uint16_t(sign | m)};
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round mantissa to 10 bits
  return float16_t{uint16_t(sign | (((r >> 23) - 112u) << 10) | ((r >> 13) & 0x3ffu))};
}

}  // namespace rotary
