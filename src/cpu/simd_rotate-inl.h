// Per-target row rotation (included once per Highway target by simd_dispatch.cpp).
// Math is float32 for every storage type; the fma order matches rotate_row.h exactly:
//   out1 = fma(x1, c, -(x2*s)),  out2 = fma(x2, c, x1*s).
#if defined(ROTARY_CPU_SIMD_ROTATE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ROTARY_CPU_SIMD_ROTATE_INL_H_
#undef ROTARY_CPU_SIMD_ROTATE_INL_H_
#else
#define ROTARY_CPU_SIMD_ROTATE_INL_H_
#endif

#include <cmath>
#include <cstring>
#include <type_traits>

#include "cpu/rotate_row.h"
#include "cpu/simd.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

// Hardware float16 conversion rounds to nearest even. Highway's emulation on older x86
// targets truncates, so there float16 takes the scalar path to stay bit-exact.
#undef ROTARY_F16_NATIVE
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || \
    (HWY_ARCH_ARM_A64 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128)
#define ROTARY_F16_NATIVE 1
#else
#define ROTARY_F16_NATIVE 0
#endif

HWY_BEFORE_NAMESPACE();
namespace rotary::cpu_backend {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Loads/stores of one float vector's worth of elements of the storage type.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadF(DF df, const float* p) {
  return hn::LoadU(df, p);
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadF(DF df, const float16_t* p) {
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadF(DF df, const bfloat16_t* p) {
  // bfloat16 is the top half of a float32: widen and shift, exact.
  const hn::Rebind<uint16_t, DF> d16;
  const hn::RebindToUnsigned<DF> du;
  const auto bits = hn::PromoteTo(du, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p)));
  return hn::BitCast(df, hn::ShiftLeft<16>(bits));
}

// Streaming (non-temporal) stores skip the read-for-ownership of destination lines that a
// large output, which will not stay in cache anyway, would otherwise cost (a third more
// traffic). Only on x86 AVX2 and up, where every stored vector is a full register.
#undef ROTARY_STREAM_STORES
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define ROTARY_STREAM_STORES 1
#else
#define ROTARY_STREAM_STORES 0
#endif

template <bool kStream, class D, typename P>
HWY_INLINE void Put(D d, hn::Vec<D> v, P* p) {
#if ROTARY_STREAM_STORES
  if constexpr (kStream) return hn::Stream(v, d, p);
#endif
  hn::StoreU(v, d, p);
}

template <bool kStream, class DF>
HWY_INLINE void StoreF(DF df, hn::Vec<DF> v, float* p) {
  Put<kStream>(df, v, p);
}
template <bool kStream, class DF>
HWY_INLINE void StoreF(DF df, hn::Vec<DF> v, float16_t* p) {
  const hn::Rebind<hwy::float16_t, DF> dh;
  (void)df;
  Put<kStream>(dh, hn::DemoteTo(dh, v), reinterpret_cast<hwy::float16_t*>(p));
}
template <bool kStream, class DF>
HWY_INLINE void StoreF(DF df, hn::Vec<DF> v, bfloat16_t* p) {
  // Round to nearest even as to_bfloat16 (Highway 1.0's DemoteTo truncates). to_bfloat16's
  // NaN branch is not needed: every NaN here has zero low 16 bits (it is a bfloat16 input's,
  // quieted, or the default NaN; the backend keeps tables finite), so adding the rounding
  // bias leaves it the same NaN and the result equals to_bfloat16's bit for bit.
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> d16;
  const auto u = hn::BitCast(du, v);
  const auto rounded = hn::ShiftRight<16>(u + hn::Set(du, 0x7fffu) + (hn::ShiftRight<16>(u) & hn::Set(du, 1u)));
  (void)df;
  // Every lane is <= 0xffff, so truncating (or the saturating narrow) is exact.
#if HWY_TARGET <= HWY_AVX3
  (void)di;
  Put<kStream>(d16, hn::TruncateTo(d16, rounded), reinterpret_cast<uint16_t*>(p));
#else
  Put<kStream>(d16, hn::DemoteTo(d16, hn::BitCast(di, rounded)), reinterpret_cast<uint16_t*>(p));
#endif
}

// Two float vectors to 2N consecutive elements (the loops take two vectors per step for ILP).
template <bool kStream, class DF, typename T>
HWY_INLINE void StoreF2(DF df, hn::Vec<DF> lo, hn::Vec<DF> hi, T* p) {
  StoreF<kStream>(df, lo, p);
  StoreF<kStream>(df, hi, p + hn::Lanes(df));
}

// One pair, the scalar way (tails); identical arithmetic to the vector lanes.
template <typename T>
HWY_INLINE void RotatePairScalar(const T* in, T* out, int64_t i1, int64_t i2, float c, float s) {
  using E = Element<T>;
  const float x1 = E::load(in[i1]), x2 = E::load(in[i2]);
  out[i1] = E::store(std::fma(x1, c, -(x2 * s)));
  out[i2] = E::store(std::fma(x2, c, x1 * s));
}

// Features [2*pairs, D) copied through; streamed like the rotated part when it is.
template <bool kStream, typename T>
HWY_INLINE void CopyTail(const RowBlock& b, const T* in, T* out) {
  if (!b.copy_tail || b.D <= 2 * b.pairs) return;
  const uint8_t* src = reinterpret_cast<const uint8_t*>(in + 2 * b.pairs);
  uint8_t* dst = reinterpret_cast<uint8_t*>(out + 2 * b.pairs);
  const int64_t bytes = (b.D - 2 * b.pairs) * int64_t(sizeof(T));
  int64_t k = 0;
#if ROTARY_STREAM_STORES
  if constexpr (kStream) {
    const hn::ScalableTag<uint8_t> d8;
    const int64_t N = int64_t(hn::Lanes(d8));
    if (reinterpret_cast<uintptr_t>(dst) % N == 0)
      for (; k + N <= bytes; k += N) hn::Stream(hn::LoadU(d8, src + k), d8, dst + k);
  }
#endif
  std::memcpy(dst + k, src + k, size_t(bytes - k));
}

// The end of a half-split row from pair i on: one vector at a time, then pair by pair, then
// the unrotated tail (shared by the float and the bfloat16 kernels).
template <bool kStream, class DF, typename T>
HWY_INLINE void HalfRemainder(DF df, const RowBlock& b, const T* in, T* out, const float* c, const float* s,
                              int64_t i) {
  const int64_t N = int64_t(hn::Lanes(df)), pairs = b.pairs;
  for (; i + N <= pairs; i += N) {
    const auto x1 = LoadF(df, in + i), x2 = LoadF(df, in + i + pairs);
    const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
    StoreF<kStream>(df, hn::MulSub(x1, vc, hn::Mul(x2, vs)), out + i);
    StoreF<kStream>(df, hn::MulAdd(x2, vc, hn::Mul(x1, vs)), out + i + pairs);
  }
  for (; i < pairs; ++i) RotatePairScalar(in, out, i, i + pairs, c[i], s[i]);
  CopyTail<kStream>(b, in, out);
}

// Half-split: own chunk [i, i+N) and partner chunk [i+pairs, i+pairs+N).
template <typename T, bool kStream>
void RotateHalf(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const int64_t pairs = b.pairs;
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* in = static_cast<const T*>(b.in) + r * b.in_stride;
    T* out = static_cast<T*>(b.out) + r * b.out_stride;
    const float* c = b.cos + r * b.table_stride;
    const float* s = b.sin + r * b.table_stride;
    int64_t i = 0;
    for (; i + 2 * N <= pairs; i += 2 * N) {  // two vectors per step: more loads in flight
      const auto x1a = LoadF(df, in + i), x1b = LoadF(df, in + i + N);
      const auto x2a = LoadF(df, in + i + pairs), x2b = LoadF(df, in + i + N + pairs);
      const auto ca = hn::LoadU(df, c + i), cb = hn::LoadU(df, c + i + N);
      const auto sa = hn::LoadU(df, s + i), sb = hn::LoadU(df, s + i + N);
      StoreF2<kStream>(df, hn::MulSub(x1a, ca, hn::Mul(x2a, sa)), hn::MulSub(x1b, cb, hn::Mul(x2b, sb)), out + i);
      StoreF2<kStream>(df, hn::MulAdd(x2a, ca, hn::Mul(x1a, sa)), hn::MulAdd(x2b, cb, hn::Mul(x1b, sb)),
                       out + i + pairs);
    }
    HalfRemainder<kStream>(df, b, in, out, c, s, i);
  }
}

// Interleaved: pairs (2i, 2i+1) sit in adjacent lanes; the partner is the lane swapped with
// Reverse2, and the per-feature table carries the sign (see RowBlock).
template <typename T, bool kStream>
void RotateInterleaved(const RowBlock& b) {
  const int64_t dims = 2 * int64_t(b.pairs);
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* in = static_cast<const T*>(b.in) + r * b.in_stride;
    T* out = static_cast<T*>(b.out) + r * b.out_stride;
    const float* c = b.cos + r * b.table_stride;
    const float* s = b.sin + r * b.table_stride;
    int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
    const hn::ScalableTag<float> df;
    const int64_t N = int64_t(hn::Lanes(df));
    for (; j + 2 * N <= dims; j += 2 * N) {
      const auto xa = LoadF(df, in + j), xb = LoadF(df, in + j + N);
      const auto ya = hn::MulAdd(xa, hn::LoadU(df, c + j), hn::Mul(hn::Reverse2(df, xa), hn::LoadU(df, s + j)));
      const auto yb =
          hn::MulAdd(xb, hn::LoadU(df, c + j + N), hn::Mul(hn::Reverse2(df, xb), hn::LoadU(df, s + j + N)));
      StoreF2<kStream>(df, ya, yb, out + j);
    }
    for (; j + N <= dims; j += N) {
      const auto x = LoadF(df, in + j);
      const auto vc = hn::LoadU(df, c + j), vs = hn::LoadU(df, s + j);
      StoreF<kStream>(df, hn::MulAdd(x, vc, hn::Mul(hn::Reverse2(df, x), vs)), out + j);
    }
#endif
    for (; j < dims; j += 2) RotatePairScalar(in, out, j, j + 1, c[j], s[j + 1]);
    CopyTail<kStream>(b, in, out);
  }
}

#if HWY_TARGET != HWY_SCALAR
// bfloat16 with one 32-bit load per two elements: the even element of each pair of lanes is
// the low half (shift it up), the odd one the high half (mask it): exact widening and an
// even/odd split with no shuffles. Narrowing rounds both halves and merges them back.
template <class DF>
HWY_INLINE void LoadBF16Pairs(DF df, const bfloat16_t* p, hn::Vec<DF>& even, hn::Vec<DF>& odd) {
  const hn::RebindToUnsigned<DF> du;
  const auto v = hn::LoadU(du, reinterpret_cast<const uint32_t*>(p));
  even = hn::BitCast(df, hn::ShiftLeft<16>(v));
  odd = hn::BitCast(df, hn::And(v, hn::Set(du, 0xffff0000u)));
}
template <bool kStream, class DF>
HWY_INLINE void StoreBF16Pairs(DF df, hn::Vec<DF> even, hn::Vec<DF> odd, bfloat16_t* p) {
  const hn::RebindToUnsigned<DF> du;
  const auto round = [&](hn::Vec<DF> v) {  // StoreF's rounding, before the shift
    const auto u = hn::BitCast(du, v);
    return u + hn::Set(du, 0x7fffu) + (hn::ShiftRight<16>(u) & hn::Set(du, 1u));
  };
  (void)df;
  const auto bits = hn::Or(hn::And(round(odd), hn::Set(du, 0xffff0000u)), hn::ShiftRight<16>(round(even)));
  Put<kStream>(du, bits, reinterpret_cast<uint32_t*>(p));
}

// Half-split bfloat16: 2N pairs per step; the table is split even/odd in registers.
template <bool kStream>
void RotateHalfBF16(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const int64_t pairs = b.pairs;
  for (int64_t r = 0; r < b.rows; ++r) {
    const bfloat16_t* in = static_cast<const bfloat16_t*>(b.in) + r * b.in_stride;
    bfloat16_t* out = static_cast<bfloat16_t*>(b.out) + r * b.out_stride;
    const float* c = b.cos + r * b.table_stride;
    const float* s = b.sin + r * b.table_stride;
    int64_t i = 0;
    for (; i + 2 * N <= pairs; i += 2 * N) {
      hn::Vec<decltype(df)> x1e, x1o, x2e, x2o;
      LoadBF16Pairs(df, in + i, x1e, x1o);
      LoadBF16Pairs(df, in + i + pairs, x2e, x2o);
      const auto ca = hn::LoadU(df, c + i), cb = hn::LoadU(df, c + i + N);
      const auto sa = hn::LoadU(df, s + i), sb = hn::LoadU(df, s + i + N);
      const auto ce = hn::ConcatEven(df, cb, ca), co = hn::ConcatOdd(df, cb, ca);
      const auto se = hn::ConcatEven(df, sb, sa), so = hn::ConcatOdd(df, sb, sa);
      StoreBF16Pairs<kStream>(df, hn::MulSub(x1e, ce, hn::Mul(x2e, se)), hn::MulSub(x1o, co, hn::Mul(x2o, so)),
                              out + i);
      StoreBF16Pairs<kStream>(df, hn::MulAdd(x2e, ce, hn::Mul(x1e, se)), hn::MulAdd(x2o, co, hn::Mul(x1o, so)),
                              out + i + pairs);
    }
    HalfRemainder<kStream>(df, b, in, out, c, s, i);
  }
}

// Interleaved bfloat16: N pairs per step, x1 and x2 straight from the split, half-split table.
template <bool kStream>
void RotateInterleavedBF16(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  for (int64_t r = 0; r < b.rows; ++r) {
    const bfloat16_t* in = static_cast<const bfloat16_t*>(b.in) + r * b.in_stride;
    bfloat16_t* out = static_cast<bfloat16_t*>(b.out) + r * b.out_stride;
    const float* c = b.pair_cos + r * b.pair_table_stride;
    const float* s = b.pair_sin + r * b.pair_table_stride;
    int64_t i = 0;
    for (; i + N <= b.pairs; i += N) {
      hn::Vec<decltype(df)> x1, x2;
      LoadBF16Pairs(df, in + 2 * i, x1, x2);
      const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
      StoreBF16Pairs<kStream>(df, hn::MulSub(x1, vc, hn::Mul(x2, vs)), hn::MulAdd(x2, vc, hn::Mul(x1, vs)),
                              out + 2 * i);
    }
    for (; i < b.pairs; ++i) RotatePairScalar(in, out, 2 * i, 2 * i + 1, c[i], s[i]);
    CopyTail<kStream>(b, in, out);
  }
}
#endif  // HWY_TARGET != HWY_SCALAR

// Scalar fallback for float16 where the target has no exact hardware conversion.
template <typename T>
void RotateScalarRows(const RowBlock& b, bool traditional) {
  for (int64_t r = 0; r < b.rows; ++r) {
    const T* in = static_cast<const T*>(b.in) + r * b.in_stride;
    T* out = static_cast<T*>(b.out) + r * b.out_stride;
    const float* c = b.cos + r * b.table_stride;
    const float* s = b.sin + r * b.table_stride;
    for (int64_t i = 0; i < b.pairs; ++i) {
      if (traditional) RotatePairScalar(in, out, 2 * i, 2 * i + 1, c[2 * i], s[2 * i + 1]);
      else RotatePairScalar(in, out, i, i + b.pairs, c[i], s[i]);
    }
    CopyTail<false>(b, in, out);
  }
}

// Streaming needs every vector store aligned: the output, its row strides and (half-split)
// the partner chunk's offset all multiples of one stored vector.
template <typename T>
bool CanStream(const RowBlock& b, bool traditional) {
  if (!ROTARY_STREAM_STORES || !b.nontemporal) return false;
  // The widest store: N elements, or 2N bfloat16 (StoreBF16Pairs).
  const int64_t vec = int64_t(hn::Lanes(hn::ScalableTag<float>())) * (std::is_same_v<T, bfloat16_t> ? 4 : int64_t(sizeof(T)));
  return reinterpret_cast<uintptr_t>(b.out) % vec == 0 && (b.out_stride * int64_t(sizeof(T))) % vec == 0 &&
         (traditional || (b.pairs * int64_t(sizeof(T))) % vec == 0);
}

template <typename T, bool kStream>
void RotateAs(const RowBlock& b, bool traditional) {
#if HWY_TARGET != HWY_SCALAR
  if constexpr (std::is_same_v<T, bfloat16_t>) {
    if (traditional && b.pair_cos) return RotateInterleavedBF16<kStream>(b);
    if (!traditional) return RotateHalfBF16<kStream>(b);
  }
#endif
  if (traditional) RotateInterleaved<T, kStream>(b);
  else RotateHalf<T, kStream>(b);
}

template <typename T>
void Rotate(const RowBlock& b, bool traditional) {
  if (CanStream<T>(b, traditional)) {
    RotateAs<T, true>(b, traditional);
    hwy::FlushStream();  // order the streamed lines before the pool reports the work done
    return;
  }
  RotateAs<T, false>(b, traditional);
}

void RotateF32Half(const RowBlock& b) { Rotate<float>(b, false); }
void RotateF32Interleaved(const RowBlock& b) { Rotate<float>(b, true); }
void RotateBF16Half(const RowBlock& b) { Rotate<bfloat16_t>(b, false); }
void RotateBF16Interleaved(const RowBlock& b) { Rotate<bfloat16_t>(b, true); }
#if ROTARY_F16_NATIVE
void RotateF16Half(const RowBlock& b) { Rotate<float16_t>(b, false); }
void RotateF16Interleaved(const RowBlock& b) { Rotate<float16_t>(b, true); }
#else
void RotateF16Half(const RowBlock& b) { RotateScalarRows<float16_t>(b, false); }
void RotateF16Interleaved(const RowBlock& b) { RotateScalarRows<float16_t>(b, true); }
#endif

}  // namespace HWY_NAMESPACE
}  // namespace rotary::cpu_backend
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
