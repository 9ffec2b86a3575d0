// Element loads and stores through double, for copies, conversions and the oracle.
// Stores round once, directly from double to the element type.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/fp8.h"
#include "rotary/dtype.h"

namespace rotary::core {

// double -> float rounded to odd: a second rounding to a narrower format (float16, bfloat16)
// then equals one correct rounding from double.
inline float to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= 1u;
  std::memcpy(&f, &u, 4);
  return f;
}

inline double load_double(const void* p, Dtype dtype, int64_t i) {
  switch (dtype.val) {
    case Dtype::Val::float32: return static_cast<const float*>(p)[i];
    case Dtype::Val::float64: return static_cast<const double*>(p)[i];
    case Dtype::Val::float16: return to_float(static_cast<const float16_t*>(p)[i]);
    case Dtype::Val::bfloat16: return to_float(static_cast<const bfloat16_t*>(p)[i]);
    case Dtype::Val::int32: return static_cast<const int32_t*>(p)[i];
    case Dtype::Val::int64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case Dtype::Val::uint32: return static_cast<const uint32_t*>(p)[i];
    case Dtype::Val::bool_: return static_cast<const bool*>(p)[i] ? 1.0 : 0.0;
    case Dtype::Val::float8_e4m3: return to_float(static_cast<const float8_e4m3_t*>(p)[i]);
  }
  return 0.0;
}

inline void store_double(void* p, Dtype dtype, int64_t i, double v) {
  switch (dtype.val) {
    case Dtype::Val::float32: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case Dtype::Val::float64: static_cast<double*>(p)[i] = v; break;
    case Dtype::Val::float16:
      static_cast<float16_t*>(p)[i] = to_float16(to_float_round_odd(v));
      break;
    case Dtype::Val::bfloat16:
      static_cast<bfloat16_t*>(p)[i] = to_bfloat16(to_float_round_odd(v));
      break;
    case Dtype::Val::int32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); break;
    case Dtype::Val::int64: static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case Dtype::Val::uint32: static_cast<uint32_t*>(p)[i] = static_cast<uint32_t>(v); break;
    case Dtype::Val::bool_: static_cast<bool*>(p)[i] = v != 0.0; break;
    case Dtype::Val::float8_e4m3:  // round to odd first: the second rounding is then correct
      static_cast<float8_e4m3_t*>(p)[i] = to_float8_e4m3(to_float_round_odd(v));
      break;
  }
}

// Copies one element between types; integers to integers keep their full width.
inline void convert_element(const void* src, Dtype src_dtype, int64_t si, void* dst, Dtype dst_dtype,
                            int64_t di) {
  if (src_dtype == dst_dtype) {
    std::memcpy(static_cast<char*>(dst) + di * dst_dtype.size,
                static_cast<const char*>(src) + si * src_dtype.size, src_dtype.size);
  } else if (is_integer(src_dtype) && is_integer(dst_dtype)) {
    const int64_t v = src_dtype == int32    ? static_cast<const int32_t*>(src)[si]
                      : src_dtype == uint32 ? static_cast<const uint32_t*>(src)[si]
                                            : static_cast<const int64_t*>(src)[si];
    if (dst_dtype == int32) static_cast<int32_t*>(dst)[di] = static_cast<int32_t>(v);
    else if (dst_dtype == uint32) static_cast<uint32_t*>(dst)[di] = static_cast<uint32_t>(v);
    else static_cast<int64_t*>(dst)[di] = v;
  } else {
    store_double(dst, dst_dtype, di, load_double(src, src_dtype, si));
  }
}

}  // namespace rotary::core
