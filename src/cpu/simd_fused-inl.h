// Per-target row helpers of the fused paths (included once per Highway target by
// simd_dispatch.cpp, after simd_rotate-inl.h whose LoadF/StoreF they reuse): a row of the
// storage type to float32 and back (FP8 e4m3 with a scale, saturating, nearest even), and the
// RMSNorm pieces (sum of squares in double lanes, the scale by rstd * w), and the row kernel
// that runs them with the rotation: one pass per vector where whole vectors fit, else through a
// float buffer.
#if defined(ROTARY_CPU_SIMD_FUSED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ROTARY_CPU_SIMD_FUSED_INL_H_
#undef ROTARY_CPU_SIMD_FUSED_INL_H_
#else
#define ROTARY_CPU_SIMD_FUSED_INL_H_
#endif

#include "core/fp8.h"
#include "cpu/simd.h"
#include "cpu/simd_fused.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace rotary::cpu_backend {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename T>
HWY_INLINE void LoadRowAs(const T* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  int64_t i = 0;
  if (!std::is_same_v<T, float16_t> || ROTARY_F16_NATIVE)
    for (; i + N <= n; i += N) hn::StoreU(LoadF(df, src + i), df, dst + i);
  for (; i < n; ++i) dst[i] = Element<T>::load(src[i]);
}

template <typename T>
HWY_INLINE void StoreRowAs(const float* src, T* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  int64_t i = 0;
  if (!std::is_same_v<T, float16_t> || ROTARY_F16_NATIVE)
    for (; i + N <= n; i += N) StoreF<false>(df, hn::LoadU(df, src + i), dst + i);
  for (; i < n; ++i) dst[i] = Element<T>::store(src[i]);
}

// core::to_float8_e4m3 lane-wise on v = value / scale; the results equal it bit for bit.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToSigned<DF>> E4m3Codes(DF df, hn::Vec<DF> v) {
  const hn::RebindToSigned<DF> di;
  const auto u = hn::BitCast(di, v);
  const auto a = hn::And(u, hn::Set(di, 0x7fffffff));
  const auto sign = hn::And(hn::ShiftRight<24>(u), hn::Set(di, 0x80));
  const auto r = hn::Add(hn::Add(a, hn::Set(di, 0x7ffff)), hn::And(hn::ShiftRight<20>(a), hn::Set(di, 1)));
  // Normal: the rounded exponent and top 3 mantissa bits are r >> 20; e4m3's bias is 7, float's
  // 127, so the code is (r >> 20) - (120 << 3).
  const auto normal = hn::Sub(hn::ShiftRight<20>(r), hn::Set(di, 120 << 3));
  // Below 2^-6: the subnormal grid of 2^-9, nearest even (the default rounding mode).
  const auto sub = hn::NearestInt(hn::Mul(hn::BitCast(df, a), hn::Set(df, 512.0f)));
  // From 448 up (inf included) the code would pass 0x7e: saturate there.
  auto code = hn::Min(hn::IfThenElse(hn::Lt(a, hn::Set(di, 0x3c800000)), sub, normal), hn::Set(di, 0x7e));
  code = hn::IfThenElse(hn::Gt(a, hn::Set(di, 0x7f800000)), hn::Set(di, 0x7f), code);  // NaN
  return hn::Or(code, sign);
}

HWY_INLINE void StoreRowE4m3(const float* src, core::float8_e4m3_t* dst, int64_t n, float scale) {
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint8_t, decltype(df)> d8;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  for (; i + N <= n; i += N) {
    const auto codes = E4m3Codes(df, hn::Div(hn::LoadU(df, src + i), vs));
    hn::StoreU(hn::DemoteTo(d8, codes), d8, reinterpret_cast<uint8_t*>(dst + i));
  }
#endif
  for (; i < n; ++i) dst[i] = core::to_float8_e4m3(src[i] / scale);
}

void CopyBytesKernel(const void* src, void* dst, int64_t bytes, bool nontemporal) {
  const auto* from = static_cast<const uint8_t*>(src);
  auto* to = static_cast<uint8_t*>(dst);
  if (nontemporal) return CopyBytes<true>(from, to, bytes);
  CopyBytes<false>(from, to, bytes);
}

void LoadRowF32(Dtype dtype, const void* src, float* dst, int64_t n) {
  if (dtype == float16) return LoadRowAs(static_cast<const float16_t*>(src), dst, n);
  if (dtype == bfloat16) return LoadRowAs(static_cast<const bfloat16_t*>(src), dst, n);
  LoadRowAs(static_cast<const float*>(src), dst, n);
}

void StoreRowF32(Dtype dtype, const float* src, void* dst, int64_t n, float scale) {
  if (dtype == float16) return StoreRowAs(src, static_cast<float16_t*>(dst), n);
  if (dtype == bfloat16) return StoreRowAs(src, static_cast<bfloat16_t*>(dst), n);
  if (dtype == float8_e4m3) return StoreRowE4m3(src, static_cast<core::float8_e4m3_t*>(dst), n, scale);
  StoreRowAs(src, static_cast<float*>(dst), n);
}

// Sum of the squares of a row in double lanes, four accumulators deep (the one order both row
// kernels use, so their sums agree bit for bit).
template <typename T>
HWY_INLINE double SumSquares(const T* src, int64_t n) {
  double sum = 0;
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if (!std::is_same_v<T, float16_t> || ROTARY_F16_NATIVE) {
    const hn::ScalableTag<float> df;
    const hn::Half<decltype(df)> dh;
    const hn::Repartition<double, decltype(df)> dd;
    const int64_t N = int64_t(hn::Lanes(df));
    auto a0 = hn::Zero(dd), a1 = hn::Zero(dd), a2 = hn::Zero(dd), a3 = hn::Zero(dd);
    for (; i + 2 * N <= n; i += 2 * N) {
      const auto v = LoadF(df, src + i), u = LoadF(df, src + i + N);
      const auto v0 = hn::PromoteTo(dd, hn::LowerHalf(dh, v)), v1 = hn::PromoteTo(dd, hn::UpperHalf(dh, v));
      const auto u0 = hn::PromoteTo(dd, hn::LowerHalf(dh, u)), u1 = hn::PromoteTo(dd, hn::UpperHalf(dh, u));
      a0 = hn::MulAdd(v0, v0, a0);
      a1 = hn::MulAdd(v1, v1, a1);
      a2 = hn::MulAdd(u0, u0, a2);
      a3 = hn::MulAdd(u1, u1, a3);
    }
    sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  }
#endif
  for (; i < n; ++i) {
    const float x = Element<T>::load(src[i]);
    sum += double(x) * double(x);
  }
  return sum;
}

// A row of T into the float buffer, returning the sum of its squares (read again from L1).
template <typename T>
HWY_INLINE double LoadRowSquares(const T* src, float* dst, int64_t n) {
  LoadRowAs(src, dst, n);
  return SumSquares(src, n);
}

double LoadRowSquaresAs(Dtype dtype, const void* src, float* dst, int64_t n) {
  if (dtype == float16) return LoadRowSquares(static_cast<const float16_t*>(src), dst, n);
  if (dtype == bfloat16) return LoadRowSquares(static_cast<const bfloat16_t*>(src), dst, n);
  return LoadRowSquares(static_cast<const float*>(src), dst, n);
}

// x *= rstd * w, rstd = 1 / sqrt(sum / n + eps).
HWY_INLINE void ScaleRow(float* x, const float* w, int64_t n, double sum, float eps) {
  const float rstd = float(1.0 / std::sqrt(sum / double(n) + double(eps)));
  const hn::ScalableTag<float> df;
  const int64_t M = int64_t(hn::Lanes(df));
  const auto vr = hn::Set(df, rstd);
  int64_t j = 0;
  for (; j + M <= n; j += M) hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + j), vr), hn::LoadU(df, w + j)), df, x + j);
  for (; j < n; ++j) x[j] = x[j] * rstd * w[j];
}

// One float vector to the destination type; FP8 as StoreRowE4m3 (value / scale).
template <bool kStream, class DF, typename T>
HWY_INLINE void PutRowVector(DF df, hn::Vec<DF> v, T* p, hn::Vec<DF> scale) {
  if constexpr (std::is_same_v<T, core::float8_e4m3_t>) {
    const hn::Rebind<uint8_t, DF> d8;
    Put<kStream>(d8, hn::DemoteTo(d8, E4m3Codes(df, hn::Div(v, scale))), reinterpret_cast<uint8_t*>(p));
  } else {
    (void)scale;
    StoreF<kStream>(df, v, p);
  }
}

enum class RowOp { copy, half, interleaved };
constexpr int64_t kMaxSplitFeatures = 512;  // OnePassNormBF16's split w and table on the stack

// Rows of a one-pass job are normalised in blocks of this many: their rstds are formed first,
// together (RowRstds).
constexpr int64_t kNormBlock = 16;

// rstd = 1 / sqrt(sum / D + eps) of n <= kNormBlock rows, rounded to float. Per row, the
// division and square root behind one row's sum were a 50-cycle chain the next row's loads
// waited behind (a fifth of the norm kernels' time); in double lanes for a block they are one
// chain, and IEEE division and square root give the bits of the scalar formula in ScaleRow.
template <typename S>
HWY_INLINE void RowRstds(const S* src, int64_t stride, int64_t n, int64_t D, float eps, float* rstd) {
  HWY_ALIGN double sums[kNormBlock];
  for (int64_t r = 0; r < n; ++r) sums[r] = SumSquares(src + r * stride, D);
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const int64_t M = int64_t(hn::Lanes(dd));
  const auto vd = hn::Set(dd, double(D)), veps = hn::Set(dd, double(eps)), one = hn::Set(dd, 1.0);
  int64_t r = 0;
  for (; r + M <= n; r += M)
    hn::StoreU(hn::DemoteTo(df, hn::Div(one, hn::Sqrt(hn::Add(hn::Div(hn::Load(dd, sums + r), vd), veps)))), df,
               rstd + r);
  for (; r < n; ++r) rstd[r] = float(1.0 / std::sqrt(sums[r] / double(D) + double(eps)));
}

// row(r, rstd) for each row of the job; with kNorm, rstd is the row's (RowRstds), else 0.
template <bool kNorm, typename S, class RowFn>
HWY_INLINE void ForEachRow(const BufferedRows& j, const RowFn& row) {
  HWY_ALIGN float rstd[kNormBlock] = {};
  for (int64_t r0 = 0; r0 < j.rows; r0 += kNormBlock) {
    const int64_t n = std::min(kNormBlock, j.rows - r0);
    if constexpr (kNorm) RowRstds(static_cast<const S*>(j.src) + r0 * j.src_stride, j.src_stride, n, j.D, j.eps, rstd);
    for (int64_t r = 0; r < n; ++r) row(r0 + r, rstd[r]);
  }
}

// Rows in one pass per vector: load, (x * rstd) * w, rotate, convert, store, with the same
// operations in the same order as the buffered pipeline (LoadRowSquares, ScaleRow, RotateHalf /
// RotateInterleaved on float, StoreRowF32), so the results are the same bits. Needs
// D == 2 * pairs (rotated ops) and D a multiple of the vector (OnePassFits). kStream: every
// store non-temporal (StreamsRows checked the alignment); the caller fences.
template <typename S, typename T, RowOp kOp, bool kNorm, bool kStream>
void OnePassRows(const BufferedRows& j) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df)), D = j.D, half = D / 2;
  const auto vscale = hn::Set(df, j.scale);
  const float *c = j.angles.cos, *s = j.angles.sin;
  ForEachRow<kNorm, S>(j, [&](int64_t r, float rstd) {
    const S* in = static_cast<const S*>(j.src) + r * j.src_stride;
    T* out = static_cast<T*>(j.dst) + r * j.dst_stride;
    const auto vr = hn::Set(df, rstd);
    const auto load = [&](int64_t i) {
      const auto x = LoadF(df, in + i);
      if constexpr (kNorm) return hn::Mul(hn::Mul(x, vr), hn::LoadU(df, j.w + i));
      else return x;
    };
    if constexpr (kOp == RowOp::half) {
      for (int64_t i = 0; i < half; i += N) {
        const auto x1 = load(i), x2 = load(i + half);
        const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
        PutRowVector<kStream>(df, hn::MulSub(x1, vc, hn::Mul(x2, vs)), out + i, vscale);
        PutRowVector<kStream>(df, hn::MulAdd(x2, vc, hn::Mul(x1, vs)), out + i + half, vscale);
      }
    } else {
      for (int64_t i = 0; i < D; i += N) {
        const auto x = load(i);
        if constexpr (kOp == RowOp::copy) PutRowVector<kStream>(df, x, out + i, vscale);
        else
          PutRowVector<kStream>(df, hn::MulAdd(x, hn::LoadU(df, c + i), hn::Mul(hn::Reverse2(df, x), hn::LoadU(df, s + i))),
                                out + i, vscale);
      }
    }
  });
}

// Whether a job takes OnePassRows: a SIMD target, source and destination types it loads and
// stores exactly, whole vectors, and a rotation over the whole row (else the buffered pipeline).
HWY_INLINE bool OnePassFits(const BufferedRows& j) {
#if HWY_TARGET == HWY_SCALAR
  (void)j;
  return false;
#else
  const int64_t N = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  const bool f16 = j.src_dtype == float16 || j.dst_dtype == float16;
  if (f16 && !ROTARY_F16_NATIVE) return false;
  if (j.rotate && (2 * int64_t(j.angles.pairs) != j.D || !j.angles.cos)) return false;
  const int64_t step = j.rotate && j.layout == PairLayout::half_split ? 2 * N : N;
  return j.D % step == 0 && (j.rotate || !j.w);
#endif
}

#if HWY_TARGET != HWY_SCALAR
// RMSNorm + rotation of bfloat16 rows into bfloat16: 2N features per step split even/odd by
// LoadBF16Pairs and merged back by StoreBF16Pairs (3 and about 7 operations per 2N values, not
// 6 and 16), with w and the half-split table split the same way once per job (one token's
// heads: the table is the token's; w, the same for every token, is split again, about 1 % of
// the job at D = 128). Lane for lane the arithmetic of OnePassRows, so the same bits.
template <RowOp kOp, bool kStream>
void OnePassNormBF16(const BufferedRows& j) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df)), D = j.D, half = D / 2;
  HWY_ALIGN float w[kMaxSplitFeatures], c[kMaxSplitFeatures / 2], s[kMaxSplitFeatures / 2];
  SplitEvenOdd(df, j.w, D, w);
  if constexpr (kOp == RowOp::half) {
    SplitEvenOdd(df, j.angles.cos, half, c);
    SplitEvenOdd(df, j.angles.sin, half, s);
  }
  ForEachRow<true, bfloat16_t>(j, [&](int64_t r, float rstd) {
    const bfloat16_t* in = static_cast<const bfloat16_t*>(j.src) + r * j.src_stride;
    bfloat16_t* out = static_cast<bfloat16_t*>(j.dst) + r * j.dst_stride;
    const auto vr = hn::Set(df, rstd);
    const auto load = [&](int64_t i, hn::Vec<decltype(df)>& even, hn::Vec<decltype(df)>& odd) {
      LoadBF16Pairs(df, in + i, even, odd);
      even = hn::Mul(hn::Mul(even, vr), hn::Load(df, w + i));
      odd = hn::Mul(hn::Mul(odd, vr), hn::Load(df, w + i + N));
    };
    hn::Vec<decltype(df)> x1e, x1o, x2e, x2o;
    if constexpr (kOp == RowOp::half) {
      for (int64_t i = 0; i < half; i += 2 * N) {
        load(i, x1e, x1o);
        load(i + half, x2e, x2o);
        const auto ce = hn::Load(df, c + i), co = hn::Load(df, c + i + N);
        const auto se = hn::Load(df, s + i), so = hn::Load(df, s + i + N);
        StoreBF16Pairs<kStream>(df, hn::MulSub(x1e, ce, hn::Mul(x2e, se)), hn::MulSub(x1o, co, hn::Mul(x2o, so)), out + i);
        StoreBF16Pairs<kStream>(df, hn::MulAdd(x2e, ce, hn::Mul(x1e, se)), hn::MulAdd(x2o, co, hn::Mul(x1o, so)),
                                out + i + half);
      }
    } else {  // the even lanes are the pairs' first features: the compact table applies as is
      for (int64_t i = 0; i < D; i += 2 * N) {
        load(i, x1e, x2e);
        const auto vc = hn::LoadU(df, j.angles.pair_cos + i / 2), vs = hn::LoadU(df, j.angles.pair_sin + i / 2);
        StoreBF16Pairs<kStream>(df, hn::MulSub(x1e, vc, hn::Mul(x2e, vs)), hn::MulAdd(x2e, vc, hn::Mul(x1e, vs)),
                                out + i);
      }
    }
  });
}
#endif

template <typename S, typename T, bool kStream>
void OnePassAs(const BufferedRows& j) {
  if (!j.rotate) return OnePassRows<S, T, RowOp::copy, false, kStream>(j);
  if (j.layout == PairLayout::half_split)
    return j.w ? OnePassRows<S, T, RowOp::half, true, kStream>(j) : OnePassRows<S, T, RowOp::half, false, kStream>(j);
  return j.w ? OnePassRows<S, T, RowOp::interleaved, true, kStream>(j)
             : OnePassRows<S, T, RowOp::interleaved, false, kStream>(j);
}

// Whether every store of a one-pass job of `vector_bytes`-wide stores is aligned for streaming:
// the first row, the row stride and (half-split) the second half's offset. A row's steps are
// whole vectors (OnePassFits), so they are too.
HWY_INLINE bool StreamsRows(const BufferedRows& j, int64_t vector_bytes) {
  if (!ROTARY_STREAM_STORES || !j.nontemporal) return false;
  const int64_t size = j.dst_dtype.size;
  const bool halves = j.rotate && j.layout == PairLayout::half_split;
  return reinterpret_cast<uintptr_t>(j.dst) % vector_bytes == 0 && (j.dst_stride * size) % vector_bytes == 0 &&
         (!halves || (j.D / 2 * size) % vector_bytes == 0);
}

template <typename S, typename T>
void OnePassTo(const BufferedRows& j) {
  const int64_t N = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  if (StreamsRows(j, N * int64_t(sizeof(T)))) return OnePassAs<S, T, true>(j);
  OnePassAs<S, T, false>(j);
}

template <typename S>
void OnePassFrom(const BufferedRows& j) {
  switch (j.dst_dtype.val) {
    case Dtype::Val::float16: return OnePassTo<S, float16_t>(j);
    case Dtype::Val::bfloat16: return OnePassTo<S, bfloat16_t>(j);
    case Dtype::Val::float8_e4m3: return OnePassTo<S, core::float8_e4m3_t>(j);
    default: return OnePassTo<S, float>(j);
  }
}

#if HWY_TARGET != HWY_SCALAR
// OnePassNormBF16 when the job fits it: its stores are 2N bfloat16 wide.
template <RowOp kOp>
void OnePassNormBF16As(const BufferedRows& j) {
  const int64_t N = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  if (StreamsRows(j, 4 * N)) return OnePassNormBF16<kOp, true>(j);
  OnePassNormBF16<kOp, false>(j);
}
#endif

void BufferedRowsKernel(const BufferedRows& j) {
#if HWY_TARGET != HWY_SCALAR
  if (OnePassFits(j)) {
    if (j.src_dtype == bfloat16 && j.dst_dtype == bfloat16 && j.w && j.D <= kMaxSplitFeatures) {
      const int64_t N = int64_t(hn::Lanes(hn::ScalableTag<float>()));
      if (j.layout == PairLayout::half_split && j.D % (4 * N) == 0) return OnePassNormBF16As<RowOp::half>(j);
      if (j.layout == PairLayout::interleaved && j.D % (2 * N) == 0 && j.angles.pair_cos)
        return OnePassNormBF16As<RowOp::interleaved>(j);
    }
    if (j.src_dtype == float16) return OnePassFrom<float16_t>(j);
    if (j.src_dtype == bfloat16) return OnePassFrom<bfloat16_t>(j);
    return OnePassFrom<float>(j);
  }
#endif
  const char* src = static_cast<const char*>(j.src);
  char* dst = static_cast<char*>(j.dst);
  RowBlock b = j.angles;
  b.in = b.out = j.buffer;
  b.rows = 1;
  b.copy_tail = false;
  b.nontemporal = false;
  for (int64_t r = 0; r < j.rows; ++r) {
    const char* row = src + r * j.src_stride * j.src_dtype.size;
    if (j.w) ScaleRow(j.buffer, j.w, j.D, LoadRowSquaresAs(j.src_dtype, row, j.buffer, j.D), j.eps);
    else LoadRowF32(j.src_dtype, row, j.buffer, j.D);
    if (j.rotate) RotateAs<float, false>(b, j.layout == PairLayout::interleaved);
    StoreRowF32(j.dst_dtype, j.buffer, dst + r * j.dst_stride * j.dst_dtype.size, j.D, j.scale);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace rotary::cpu_backend
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
