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

// AVX-512 targets may convert to bfloat16 in hardware (RotateHalf's kCvt, when the CPU has it).
#undef ROTARY_BF16_CVT
#undef ROTARY_ATTR_BF16_CVT
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 && defined(__GNUC__)
#define ROTARY_BF16_CVT 1
#else
#define ROTARY_BF16_CVT 0
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

// A vector under 16 bytes is stored plainly: x86 streams whole 16-byte registers, which would
// write past it.
template <bool kStream, class D, typename P>
HWY_INLINE void Put(D d, hn::Vec<D> v, P* p) {
#if ROTARY_STREAM_STORES
  if constexpr (kStream && hn::MaxLanes(D()) * sizeof(hn::TFromD<D>) >= 16) return hn::Stream(v, d, p);
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

// bytes from src to dst; with kStream the vector-aligned part of dst is written by streaming
// stores (unfenced: the caller's fence orders them).
template <bool kStream>
HWY_INLINE void CopyBytes(const uint8_t* src, uint8_t* dst, int64_t bytes) {
  int64_t k = 0;
#if ROTARY_STREAM_STORES
  if constexpr (kStream) {
    const hn::ScalableTag<uint8_t> d8;
    const int64_t N = int64_t(hn::Lanes(d8));
    for (; k < bytes && reinterpret_cast<uintptr_t>(dst + k) % N != 0; ++k) dst[k] = src[k];
    for (; k + N <= bytes; k += N) hn::Stream(hn::LoadU(d8, src + k), d8, dst + k);
  }
#endif
  std::memcpy(dst + k, src + k, size_t(bytes - k));
}

// Features [2*pairs, D) copied through; streamed like the rotated part when it is.
template <bool kStream, typename T>
HWY_INLINE void CopyTail(const RowBlock& b, const T* in, T* out) {
  if (!b.copy_tail || b.D <= 2 * b.pairs) return;
  CopyBytes<kStream>(reinterpret_cast<const uint8_t*>(in + 2 * b.pairs), reinterpret_cast<uint8_t*>(out + 2 * b.pairs),
                     (b.D - 2 * b.pairs) * int64_t(sizeof(T)));
}

// The rows of a block as moving pointers: the fields are read once (the kernels' stores could
// alias the block as far as the compiler knows, which made it reload and multiply them per
// row), and `rest` says whether anything follows the main loop (a tail of pairs or features).
template <typename T>
struct RowCursor {
  const T* in;
  T* out;
  const float *c, *s;
  int64_t in_stride, out_stride, table_stride;
  RowCursor(const RowBlock& b, const float* cos, const float* sin, int64_t tstride)
      : in(static_cast<const T*>(b.in)), out(static_cast<T*>(b.out)), c(cos), s(sin), in_stride(b.in_stride),
        out_stride(b.out_stride), table_stride(tstride) {}
  void next() {
    in += in_stride;
    out += out_stride;
    c += table_stride;
    s += table_stride;
  }
};

HWY_INLINE bool HasRest(const RowBlock& b, int64_t main_pairs) {
  return main_pairs != b.pairs || (b.copy_tail && b.D > 2 * int64_t(b.pairs));
}

// The pair count: a compile-time constant for the common head sizes (see Rotate), so the
// loops over a row have fixed trip counts and immediate offsets (with D = 128 a row is only
// 2-4 vector steps, and the per-row loop set-up was a fifth of the instructions); 0: b.pairs.
template <int kPairs>
HWY_INLINE int64_t PairsOf(const RowBlock& b) {
  return kPairs ? int64_t(kPairs) : int64_t(b.pairs);
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

#if ROTARY_BF16_CVT
// AVX512_BF16 (Zen 4, Sapphire Rapids): VCVTNE2PS2BF16 rounds two float vectors to nearest
// even in one instruction, as StoreF does, but flushes denormal inputs to zero; a store with a
// denormal result takes StoreF's path instead, so the bits are StoreF's. (Its NaN is the input's
// with the quiet bit set: StoreF's for the NaNs here, see StoreF.)
#define ROTARY_ATTR_BF16_CVT __attribute__((target(HWY_TARGET_STR ",avx512bf16")))
HWY_INLINE bool HasBF16Convert() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

// Whether a lane of a or b is denormal (the conversion would flush it).
template <class V>
ROTARY_ATTR_BF16_CVT HWY_INLINE bool AnyDenormal(V a, V b) {
  constexpr int kDenormal = 0x20;  // VFPCLASSPS category
  return !_kortestz_mask16_u8(_mm512_fpclass_ps_mask(a.raw, kDenormal), _mm512_fpclass_ps_mask(b.raw, kDenormal));
}

// lo and hi (16 floats each) to 32 consecutive bfloat16.
template <bool kStream, class DF>
ROTARY_ATTR_BF16_CVT HWY_INLINE void StoreBF16Cvt(DF df, hn::Vec<DF> lo, hn::Vec<DF> hi, bfloat16_t* p) {
  if (HWY_UNLIKELY(AnyDenormal(lo, hi))) return StoreF2<kStream>(df, lo, hi, p);
  const hn::Repartition<uint16_t, DF> d16;
  const __m512i bits = (__m512i)_mm512_cvtne2ps_pbh(hi.raw, lo.raw);
  Put<kStream>(d16, hn::Vec<decltype(d16)>{bits}, reinterpret_cast<uint16_t*>(p));
}

#else
#define ROTARY_ATTR_BF16_CVT
HWY_INLINE bool HasBF16Convert() { return false; }
#endif  // ROTARY_BF16_CVT

// Two float vectors to 2N consecutive elements, with the hardware bfloat16 conversion (kCvt).
template <bool kStream, bool kCvt, class DF, typename T>
ROTARY_ATTR_BF16_CVT HWY_INLINE void StoreRotated2(DF df, hn::Vec<DF> lo, hn::Vec<DF> hi, T* p) {
#if ROTARY_BF16_CVT
  if constexpr (kCvt) return StoreBF16Cvt<kStream>(df, lo, hi, p);
#endif
  StoreF2<kStream>(df, lo, hi, p);
}

// Half-split: own chunk [i, i+N) and partner chunk [i+pairs, i+pairs+N). kCvt: bfloat16 with
// the hardware conversion, the table in natural order (the backend's split is the identity on
// such a CPU, see SplitTableBF16). The target attribute only permits AVX512_BF16 instructions;
// code with kCvt false calls none, so it runs on CPUs without them.
template <typename T, bool kStream, int kPairs, bool kCvt = false>
ROTARY_ATTR_BF16_CVT void RotateHalf(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const int64_t pairs = PairsOf<kPairs>(b), main_pairs = pairs - pairs % (2 * N), rows = b.rows;
  const bool rest = HasRest(b, main_pairs);
  RowCursor<T> row(b, b.cos, b.sin, b.table_stride);
  for (int64_t r = 0; r < rows; ++r, row.next()) {
    const T* in = row.in;
    T* out = row.out;
    const float *c = row.c, *s = row.s;
    for (int64_t i = 0; i < main_pairs; i += 2 * N) {  // two vectors per step: more loads in flight
      const auto x1a = LoadF(df, in + i), x1b = LoadF(df, in + i + N);
      const auto x2a = LoadF(df, in + i + pairs), x2b = LoadF(df, in + i + N + pairs);
      const auto ca = hn::LoadU(df, c + i), cb = hn::LoadU(df, c + i + N);
      const auto sa = hn::LoadU(df, s + i), sb = hn::LoadU(df, s + i + N);
      StoreRotated2<kStream, kCvt>(df, hn::MulSub(x1a, ca, hn::Mul(x2a, sa)), hn::MulSub(x1b, cb, hn::Mul(x2b, sb)),
                                   out + i);
      StoreRotated2<kStream, kCvt>(df, hn::MulAdd(x2a, ca, hn::Mul(x1a, sa)), hn::MulAdd(x2b, cb, hn::Mul(x1b, sb)),
                                   out + i + pairs);
    }
    if (rest) HalfRemainder<kStream>(df, b, in, out, c, s, main_pairs);
  }
}

// Interleaved: pairs (2i, 2i+1) sit in adjacent lanes; the partner is the lane swapped with
// Reverse2, and the per-feature table carries the sign (see RowBlock).
template <typename T, bool kStream, int kPairs>
void RotateInterleaved(const RowBlock& b) {
  const int64_t dims = 2 * PairsOf<kPairs>(b), rows = b.rows;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
#else
  const int64_t N = 1;
#endif
  const int64_t main_dims = HWY_TARGET != HWY_SCALAR ? dims - dims % (2 * N) : 0;
  const bool rest = HasRest(b, main_dims / 2);
  RowCursor<T> row(b, b.cos, b.sin, b.table_stride);
  for (int64_t r = 0; r < rows; ++r, row.next()) {
    const T* in = row.in;
    T* out = row.out;
    const float *c = row.c, *s = row.s;
#if HWY_TARGET != HWY_SCALAR
    for (int64_t j = 0; j < main_dims; j += 2 * N) {
      const auto xa = LoadF(df, in + j), xb = LoadF(df, in + j + N);
      const auto ya = hn::MulAdd(xa, hn::LoadU(df, c + j), hn::Mul(hn::Reverse2(df, xa), hn::LoadU(df, s + j)));
      const auto yb =
          hn::MulAdd(xb, hn::LoadU(df, c + j + N), hn::Mul(hn::Reverse2(df, xb), hn::LoadU(df, s + j + N)));
      StoreF2<kStream>(df, ya, yb, out + j);
    }
#endif
    if (!rest) continue;
    int64_t j = main_dims;
#if HWY_TARGET != HWY_SCALAR
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
  // StoreF's rounding (nearest even, the same bits) on both halves at once in 16-bit lanes:
  // hi = the truncated bfloat16 pairs, lo = the bits below them; the carry is
  // (lo + (hi & 1) + 0x7fff) >> 16, computed without overflow by a rounding average.
  const hn::RebindToUnsigned<DF> du;
  const hn::Repartition<uint16_t, DF> d16;
  const auto e = hn::BitCast(du, even), o = hn::BitCast(du, odd);
  const auto hi = hn::OddEven(hn::BitCast(d16, o), hn::BitCast(d16, hn::ShiftRight<16>(e)));
  const auto lo = hn::OddEven(hn::BitCast(d16, hn::ShiftLeft<16>(o)), hn::BitCast(d16, e));
  const auto bias = hn::OrAnd(hn::Set(d16, uint16_t(0x7ffe)), hi, hn::Set(d16, uint16_t(1)));
  const auto carry = hn::ShiftRight<15>(hn::AverageRound(lo, bias));
  (void)df;
  Put<kStream>(d16, hn::Add(hi, carry), reinterpret_cast<uint16_t*>(p));
}


// One step of the half-split bfloat16 kernel: 2N pairs from i, the table split even/odd.
template <bool kStream, class DF, class V = hn::Vec<DF>>
HWY_INLINE void HalfStepBF16(DF df, const bfloat16_t* in, bfloat16_t* out, int64_t i, int64_t pairs, V ce, V co,
                             V se, V so) {
  V x1e, x1o, x2e, x2o;
  LoadBF16Pairs(df, in + i, x1e, x1o);
  LoadBF16Pairs(df, in + i + pairs, x2e, x2o);
  StoreBF16Pairs<kStream>(df, hn::MulSub(x1e, ce, hn::Mul(x2e, se)), hn::MulSub(x1o, co, hn::Mul(x2o, so)), out + i);
  StoreBF16Pairs<kStream>(df, hn::MulAdd(x2e, ce, hn::Mul(x1e, se)), hn::MulAdd(x2o, co, hn::Mul(x1o, so)),
                          out + i + pairs);
}

// The half-split bfloat16 kernel's table order (RowBlock::table_split): in each step of 2N
// pairs the even pairs' N values, then the odd pairs'. `split` may be `table`.
template <class DF>
HWY_INLINE void SplitEvenOdd(DF df, const float* table, int64_t main_pairs, float* split) {
  const int64_t N = int64_t(hn::Lanes(df));
  for (int64_t i = 0; i < main_pairs; i += 2 * N) {
    const auto a = hn::LoadU(df, table + i), b = hn::LoadU(df, table + i + N);
    hn::StoreU(hn::ConcatEven(df, b, a), df, split + i);
    hn::StoreU(hn::ConcatOdd(df, b, a), df, split + i + N);
  }
}

// The rows of the half-split bfloat16 kernel with the table split even/odd already (kSplit:
// `shared` for every row, else each row's) or split in registers per row.
template <bool kStream, int kPairs, bool kSplit>
void RotateHalfRowsBF16(const RowBlock& b, const float* shared_c, const float* shared_s) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const int64_t pairs = PairsOf<kPairs>(b), main_pairs = pairs - pairs % (2 * N), rows = b.rows;
  const bool rest = HasRest(b, main_pairs);
  RowCursor<bfloat16_t> row(b, b.cos, b.sin, b.table_stride);
  for (int64_t r = 0; r < rows; ++r, row.next()) {
    const float *c = shared_c ? shared_c : row.c, *s = shared_s ? shared_s : row.s;
    for (int64_t i = 0; i < main_pairs; i += 2 * N) {
      const auto ca = hn::LoadU(df, c + i), cb = hn::LoadU(df, c + i + N);
      const auto sa = hn::LoadU(df, s + i), sb = hn::LoadU(df, s + i + N);
      if constexpr (kSplit)
        HalfStepBF16<kStream>(df, row.in, row.out, i, pairs, ca, cb, sa, sb);
      else
        HalfStepBF16<kStream>(df, row.in, row.out, i, pairs, hn::ConcatEven(df, cb, ca), hn::ConcatOdd(df, cb, ca),
                              hn::ConcatEven(df, sb, sa), hn::ConcatOdd(df, sb, sa));
    }
    if (rest) HalfRemainder<kStream>(df, b, row.in, row.out, row.c, row.s, main_pairs);
  }
}

// Half-split bfloat16: 2N pairs per step with the table split even/odd: split already (the
// backend's tiles), split here once when every row shares it (the heads of one token), else
// split in registers per row.
template <bool kStream, int kPairs>
void RotateHalfBF16(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t pairs = PairsOf<kPairs>(b), main_pairs = pairs - pairs % (2 * int64_t(hn::Lanes(df)));
  constexpr int64_t kMaxSplit = 256;
  if (b.table_split) return RotateHalfRowsBF16<kStream, kPairs, true>(b, nullptr, nullptr);
  if (b.table_stride != 0 || b.rows < 2 || main_pairs > kMaxSplit)
    return RotateHalfRowsBF16<kStream, kPairs, false>(b, nullptr, nullptr);
  HWY_ALIGN float split_c[kMaxSplit], split_s[kMaxSplit];
  SplitEvenOdd(df, b.cos, main_pairs, split_c);
  SplitEvenOdd(df, b.sin, main_pairs, split_s);
  RotateHalfRowsBF16<kStream, kPairs, true>(b, split_c, split_s);
}

#if ROTARY_BF16_CVT
// StoreBF16Pairs with the hardware conversion (see StoreBF16Cvt): both halves converted at
// once, then zipped back into pairs by one 16-bit lane permutation.
template <bool kStream, class DF>
ROTARY_ATTR_BF16_CVT HWY_INLINE void StoreBF16PairsCvt(DF df, hn::Vec<DF> even, hn::Vec<DF> odd, bfloat16_t* p) {
  if (HWY_UNLIKELY(AnyDenormal(even, odd))) return StoreBF16Pairs<kStream>(df, even, odd, p);
  const hn::Repartition<uint16_t, DF> d16;
  const auto lane = hn::Iota(d16, 0);  // output lane j takes element j/2 of the even (j even) or odd half
  const auto from = hn::Add(hn::ShiftRight<1>(lane), hn::ShiftLeft<4>(hn::And(lane, hn::Set(d16, uint16_t(1)))));
  const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(odd.raw, even.raw);
  Put<kStream>(d16, hn::Vec<decltype(d16)>{_mm512_permutexvar_epi16(from.raw, halves)}, reinterpret_cast<uint16_t*>(p));
}
#endif

template <bool kStream, bool kCvt, class DF>
ROTARY_ATTR_BF16_CVT HWY_INLINE void StoreRotatedPairs(DF df, hn::Vec<DF> even, hn::Vec<DF> odd, bfloat16_t* p) {
#if ROTARY_BF16_CVT
  if constexpr (kCvt) return StoreBF16PairsCvt<kStream>(df, even, odd, p);
#endif
  StoreBF16Pairs<kStream>(df, even, odd, p);
}

// Interleaved bfloat16: N pairs per step, x1 and x2 straight from the split, half-split table.
// kCvt: the hardware conversion (as RotateHalf's).
template <bool kStream, int kPairs, bool kCvt>
ROTARY_ATTR_BF16_CVT void RotateInterleavedBF16(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const int64_t pairs = PairsOf<kPairs>(b), main_pairs = pairs - pairs % N, rows = b.rows;
  const bool rest = HasRest(b, main_pairs);
  RowCursor<bfloat16_t> row(b, b.pair_cos, b.pair_sin, b.pair_table_stride);
  for (int64_t r = 0; r < rows; ++r, row.next()) {
    for (int64_t i = 0; i < main_pairs; i += N) {
      hn::Vec<decltype(df)> x1, x2;
      LoadBF16Pairs(df, row.in + 2 * i, x1, x2);
      const auto vc = hn::LoadU(df, row.c + i), vs = hn::LoadU(df, row.s + i);
      StoreRotatedPairs<kStream, kCvt>(df, hn::MulSub(x1, vc, hn::Mul(x2, vs)), hn::MulAdd(x2, vc, hn::Mul(x1, vs)),
                              row.out + 2 * i);
    }
    if (!rest) continue;
    for (int64_t i = main_pairs; i < pairs; ++i)
      RotatePairScalar(row.in, row.out, 2 * i, 2 * i + 1, row.c[i], row.s[i]);
    CopyTail<kStream>(b, row.in, row.out);
  }
}

#if !HWY_HAVE_SCALABLE
// Rows sharing one table row (table_stride 0: the heads of one token, as in decode) with a
// pair count kPairs whose table fits in registers: cos/sin are loaded once, so a row loads
// only its own features, one load per stored vector as a copy does. Decode in place, one
// table for all rows, ran 1.3x faster than with the table reloaded per row (issue 12).
// kVecs table vectors (cos and sin) at most: half the registers.
template <int64_t kVecs>
constexpr bool TableFitsRegisters() {
  return kVecs > 0 && kVecs <= (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 ? 16 : 8);
}
constexpr int64_t LanesF() { return int64_t(hn::MaxLanes(hn::ScalableTag<float>())); }

// A shared table row in registers, kSteps steps of 2N floats: step k's cos vectors from
// c + 2Nk and c + 2Nk + N, its sin vectors likewise.
template <int64_t kSteps, class DF>
struct SharedTable {
  hn::Vec<DF> ca[kSteps], cb[kSteps], sa[kSteps], sb[kSteps];
  HWY_INLINE SharedTable(DF df, const float* c, const float* s) {
    constexpr int64_t N = LanesF();
    for (int64_t k = 0; k < kSteps; ++k) {
      ca[k] = hn::LoadU(df, c + 2 * N * k), cb[k] = hn::LoadU(df, c + 2 * N * k + N);
      sa[k] = hn::LoadU(df, s + 2 * N * k), sb[k] = hn::LoadU(df, s + 2 * N * k + N);
    }
  }
};

// Half-split (float32, float16, bfloat16 with kCvt): steps of 2N pairs, four table vectors each.
template <int kPairs>
constexpr int64_t HalfSharedSteps() {
  constexpr int64_t step = 2 * LanesF();
  return kPairs > 0 && kPairs % step == 0 && TableFitsRegisters<4 * (kPairs / step)>() ? kPairs / step : 0;
}
template <typename T, bool kStream, int kPairs, bool kCvt>
ROTARY_ATTR_BF16_CVT void RotateHalfShared(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  constexpr int64_t N = LanesF(), kSteps = HalfSharedSteps<kPairs>(), pairs = kPairs;
  const SharedTable<kSteps, decltype(df)> t(df, b.cos, b.sin);
  const bool tail = b.copy_tail && b.D > 2 * int64_t(kPairs);  // read once, not per row
  RowCursor<T> row(b, b.cos, b.sin, 0);
  for (int64_t r = 0; r < b.rows; ++r, row.next()) {
    for (int64_t k = 0; k < kSteps; ++k) {
      const int64_t i = 2 * N * k;
      const auto x1a = LoadF(df, row.in + i), x1b = LoadF(df, row.in + i + N);
      const auto x2a = LoadF(df, row.in + i + pairs), x2b = LoadF(df, row.in + i + N + pairs);
      StoreRotated2<kStream, kCvt>(df, hn::MulSub(x1a, t.ca[k], hn::Mul(x2a, t.sa[k])),
                                   hn::MulSub(x1b, t.cb[k], hn::Mul(x2b, t.sb[k])), row.out + i);
      StoreRotated2<kStream, kCvt>(df, hn::MulAdd(x2a, t.ca[k], hn::Mul(x1a, t.sa[k])),
                                   hn::MulAdd(x2b, t.cb[k], hn::Mul(x1b, t.sb[k])), row.out + i + pairs);
    }
    if (tail) CopyTail<kStream>(b, row.in, row.out);
  }
}

// Interleaved (float32, float16), per-feature table: steps of 2N features, four table vectors each.
template <int kPairs>
constexpr int64_t InterleavedSharedSteps() {
  constexpr int64_t step = 2 * LanesF();
  constexpr int64_t steps = 2 * kPairs / step;
  return kPairs > 0 && (2 * kPairs) % step == 0 && TableFitsRegisters<4 * steps>() ? steps : 0;
}
template <typename T, bool kStream, int kPairs>
void RotateInterleavedShared(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  constexpr int64_t N = LanesF(), kSteps = InterleavedSharedSteps<kPairs>();
  const SharedTable<kSteps, decltype(df)> t(df, b.cos, b.sin);
  const bool tail = b.copy_tail && b.D > 2 * int64_t(kPairs);  // read once, not per row
  RowCursor<T> row(b, b.cos, b.sin, 0);
  for (int64_t r = 0; r < b.rows; ++r, row.next()) {
    for (int64_t k = 0; k < kSteps; ++k) {
      const int64_t j = 2 * N * k;
      const auto xa = LoadF(df, row.in + j), xb = LoadF(df, row.in + j + N);
      StoreF2<kStream>(df, hn::MulAdd(xa, t.ca[k], hn::Mul(hn::Reverse2(df, xa), t.sa[k])),
                       hn::MulAdd(xb, t.cb[k], hn::Mul(hn::Reverse2(df, xb), t.sb[k])), row.out + j);
    }
    if (tail) CopyTail<kStream>(b, row.in, row.out);
  }
}

// Interleaved bfloat16, half-split table (pair_cos): steps of N pairs, two table vectors each.
template <int kPairs>
constexpr int64_t InterleavedBF16SharedSteps() {
  constexpr int64_t step = LanesF();
  return kPairs > 0 && kPairs % step == 0 && TableFitsRegisters<2 * (kPairs / step)>() ? kPairs / step : 0;
}
template <bool kStream, int kPairs, bool kCvt>
ROTARY_ATTR_BF16_CVT void RotateInterleavedBF16Shared(const RowBlock& b) {
  const hn::ScalableTag<float> df;
  constexpr int64_t N = LanesF(), kSteps = InterleavedBF16SharedSteps<kPairs>();
  hn::Vec<decltype(df)> vc[kSteps], vs[kSteps];
  for (int64_t k = 0; k < kSteps; ++k) {
    vc[k] = hn::LoadU(df, b.pair_cos + N * k);
    vs[k] = hn::LoadU(df, b.pair_sin + N * k);
  }
  const bool tail = b.copy_tail && b.D > 2 * int64_t(kPairs);  // read once, not per row
  RowCursor<bfloat16_t> row(b, b.pair_cos, b.pair_sin, 0);
  for (int64_t r = 0; r < b.rows; ++r, row.next()) {
    for (int64_t k = 0; k < kSteps; ++k) {
      hn::Vec<decltype(df)> x1, x2;
      LoadBF16Pairs(df, row.in + 2 * N * k, x1, x2);
      StoreRotatedPairs<kStream, kCvt>(df, hn::MulSub(x1, vc[k], hn::Mul(x2, vs[k])),
                                       hn::MulAdd(x2, vc[k], hn::Mul(x1, vs[k])), row.out + 2 * N * k);
    }
    if (tail) CopyTail<kStream>(b, row.in, row.out);
  }
}

// The shared-table kernel of a block, when it has one: true if it ran. Not for streamed
// blocks (prefill's head groups of 4 rows): there the float32 interleaved one measured 0.63-0.71
// of the non-temporal copy against 0.79-0.84 with the table reloaded per row, 3 alternated runs
// at load 0.8-1.2 (not confirmed on a quiet machine; reason not found).
template <typename T, bool kStream, int kPairs>
bool RotateSharedTable(const RowBlock& b, bool traditional) {
  if constexpr (kStream) {
    return false;
  } else if constexpr (std::is_same_v<T, bfloat16_t>) {
    if constexpr (InterleavedBF16SharedSteps<kPairs>() > 0) {
      // RotateFixed's bfloat16 interleaved kernel reads the half-split table (pair_cos).
      if (traditional && b.pair_cos && b.pair_table_stride == 0) {
        if (HasBF16Convert()) RotateInterleavedBF16Shared<kStream, kPairs, true>(b);
        else RotateInterleavedBF16Shared<kStream, kPairs, false>(b);
        return true;
      }
    }
    if constexpr (HalfSharedSteps<kPairs>() > 0) {
      if (!traditional && b.table_stride == 0 && HasBF16Convert()) {
        RotateHalfShared<T, kStream, kPairs, true>(b);
        return true;
      }
    }
  } else {
    if constexpr (InterleavedSharedSteps<kPairs>() > 0) {
      if (traditional && b.table_stride == 0) {
        RotateInterleavedShared<T, kStream, kPairs>(b);
        return true;
      }
    }
    if constexpr (HalfSharedSteps<kPairs>() > 0) {
      if (!traditional && b.table_stride == 0) {
        RotateHalfShared<T, kStream, kPairs, false>(b);
        return true;
      }
    }
  }
  return false;
}
#endif  // !HWY_HAVE_SCALABLE

#endif  // HWY_TARGET != HWY_SCALAR

// In place, the table of a half-split bfloat16 tile row into RotateHalfBF16's order (the
// scalar target has no such kernel and keeps the natural order).
void SplitTableBF16(float* cos, float* sin, int pairs) {
#if ROTARY_BF16_CVT
  if (HasBF16Convert()) return;  // RotateHalf<..., kCvt> reads the natural order
#endif
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> df;
  const int64_t main_pairs = pairs - pairs % (2 * int64_t(hn::Lanes(df)));
  SplitEvenOdd(df, cos, main_pairs, cos);
  SplitEvenOdd(df, sin, main_pairs, sin);
#else
  (void)cos, (void)sin, (void)pairs;
#endif
}

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

template <typename T, bool kStream, int kPairs>
void RotateFixed(const RowBlock& b, bool traditional) {
#if HWY_TARGET != HWY_SCALAR && !HWY_HAVE_SCALABLE
  if (RotateSharedTable<T, kStream, kPairs>(b, traditional)) return;
#endif
#if HWY_TARGET != HWY_SCALAR
  if constexpr (std::is_same_v<T, bfloat16_t>) {
    if (traditional && b.pair_cos)
      return HasBF16Convert() ? RotateInterleavedBF16<kStream, kPairs, true>(b)
                              : RotateInterleavedBF16<kStream, kPairs, false>(b);
    if (!traditional && HasBF16Convert()) return RotateHalf<T, kStream, kPairs, true>(b);
    if (!traditional) return RotateHalfBF16<kStream, kPairs>(b);
  }
#endif
  if (traditional) RotateInterleaved<T, kStream, kPairs>(b);
  else RotateHalf<T, kStream, kPairs>(b);
}

// The common head sizes (64, 128, 256 features) with their pair count a constant (PairsOf).
template <typename T, bool kStream>
void RotateAs(const RowBlock& b, bool traditional) {
  switch (b.pairs) {
    case 32: return RotateFixed<T, kStream, 32>(b, traditional);
    case 64: return RotateFixed<T, kStream, 64>(b, traditional);
    case 128: return RotateFixed<T, kStream, 128>(b, traditional);
    default: return RotateFixed<T, kStream, 0>(b, traditional);
  }
}

template <typename T>
void Rotate(const RowBlock& b, bool traditional) {
  if (CanStream<T>(b, traditional)) {
    RotateAs<T, true>(b, traditional);
    // Order the streamed lines before the pool reports the work done; a fence per call of a
    // few KiB stalls the stream (issue 12), so a caller of many small calls fences once.
    if (!b.caller_fences) hwy::FlushStream();
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
