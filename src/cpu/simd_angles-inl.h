// Per-target cos/sin of one position row (included once per Highway target by
// simd_dispatch.cpp). The angle is formed and reduced mod 2*pi and split into quadrants in
// double as core/angles.h does; the reduced angle, as a float and its remainder, then takes
// cos/sin in float32 (twice the lanes of double), summed so one rounding dominates: within
// about one float ulp of the exact values (tests/cpu/sincos_test.cpp).
#if defined(ROTARY_CPU_SIMD_ANGLES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ROTARY_CPU_SIMD_ANGLES_INL_H_
#undef ROTARY_CPU_SIMD_ANGLES_INL_H_
#else
#define ROTARY_CPU_SIMD_ANGLES_INL_H_
#endif

#include <algorithm>
#include <cmath>

#include "core/angles.h"
#include "cpu/simd.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace rotary::cpu_backend {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// core::reduce_angle_once, lane-wise.
template <class DD>
HWY_INLINE hn::Vec<DD> ReduceTwoPi(DD dd, hn::Vec<DD> theta) {
  const auto k = hn::Round(hn::Mul(theta, hn::Set(dd, 1.0 / core::kTwoPiHi)));
  return hn::NegMulAdd(k, hn::Set(dd, core::kTwoPiLo), hn::NegMulAdd(k, hn::Set(dd, core::kTwoPiHi), theta));
}

// theta of the pairs [i, i + Lanes(dd)) in double (see AngleArgs); every pointer is readable
// for a full vector from i.
template <class DD>
HWY_INLINE hn::Vec<DD> Theta(DD dd, const AngleArgs& a, size_t i, const double* inv, const float* inv_f,
                             const double* pos, const float* posf) {
  if (a.compat) {
    const hn::Rebind<float, DD> dh;
    const auto p = posf ? hn::LoadU(dh, posf + i) : hn::Set(dh, a.posf);
    return hn::PromoteTo(dd, hn::Mul(p, hn::LoadU(dh, inv_f + i)));
  }
  const auto p = pos ? hn::LoadU(dd, pos + i) : hn::Set(dd, a.pos);
  return hn::Mul(p, hn::LoadU(dd, inv + i));
}

// theta = y + q * pi/2 with q in {-2, ..., 2} and |y| <= pi/4, in double: core::reduce_angle
// (two steps, so |theta| >= 2^52 lands in [-pi, pi] too), then a two-part pi/2.
template <class DD>
HWY_INLINE void QuadrantSplit(DD dd, hn::Vec<DD> theta, hn::Vec<DD>& y, hn::Vec<DD>& q) {
  const auto r = ReduceTwoPi(dd, ReduceTwoPi(dd, theta));
  q = hn::Round(hn::Mul(r, hn::Set(dd, 0.63661977236758134)));  // 2/pi
  y = hn::NegMulAdd(q, hn::Set(dd, 6.123233995736766e-17), hn::NegMulAdd(q, hn::Set(dd, 1.5707963267948966), r));
}

// cos and sin of y + ylo (|y| <= pi/4, ylo below half an ulp of y) in float32, rotated by the
// quadrant q. Taylor terms through y^9 / y^10 (truncation below 3e-9 relative, 0.05 float
// ulp); the leading terms are summed so that one rounding dominates: sin = y + (y^3 P + ylo),
// cos = (1 - y^2/2) + its rounding error + the rest, with y^2's own error from an fma.
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE void SinCosFloat(DF df, V y, V ylo, V q, V& sin_out, V& cos_out) {
  const auto y2 = hn::Mul(y, y);
  const auto y2_err = hn::MulSub(y, y, y2);  // y*y - y2, exact
  auto ps = hn::Set(df, 1.0f / 362880.0f);
  ps = hn::MulAdd(ps, y2, hn::Set(df, -1.0f / 5040.0f));
  ps = hn::MulAdd(ps, y2, hn::Set(df, 1.0f / 120.0f));
  ps = hn::MulAdd(ps, y2, hn::Set(df, -1.0f / 6.0f));
  const auto s = hn::Add(y, hn::MulAdd(hn::Mul(y, y2), ps, ylo));
  auto pc = hn::Set(df, -1.0f / 3628800.0f);
  pc = hn::MulAdd(pc, y2, hn::Set(df, 1.0f / 40320.0f));
  pc = hn::MulAdd(pc, y2, hn::Set(df, -1.0f / 720.0f));
  pc = hn::MulAdd(pc, y2, hn::Set(df, 1.0f / 24.0f));
  const auto half_y2 = hn::Mul(y2, hn::Set(df, 0.5f));
  const auto w = hn::Sub(hn::Set(df, 1.0f), half_y2);
  const auto w_err = hn::Sub(hn::Sub(hn::Set(df, 1.0f), w), half_y2);  // 1 - half_y2 - w, exact
  // The rest: y^4 P - (y2_err / 2 + y * ylo) (the cross term of (y + ylo)^2 / 2).
  const auto rest = hn::MulSub(hn::Mul(y2, y2), pc, hn::MulAdd(y2_err, hn::Set(df, 0.5f), hn::Mul(y, ylo)));
  const auto c = hn::Add(w, hn::Add(w_err, rest));
  // theta = y + q*pi/2: q = +-1 swaps sin and cos; signs by quadrant.
  const auto swap = hn::Eq(hn::Abs(q), hn::Set(df, 1.0f));
  const auto s_sel = hn::IfThenElse(swap, c, s);
  const auto c_sel = hn::IfThenElse(swap, s, c);
  const auto sin_neg = hn::Or(hn::Lt(q, hn::Set(df, -0.5f)), hn::Gt(q, hn::Set(df, 1.5f)));
  const auto cos_neg = hn::Or(hn::Gt(q, hn::Set(df, 0.5f)), hn::Lt(q, hn::Set(df, -1.5f)));
  sin_out = hn::IfThenElse(sin_neg, hn::Neg(s_sel), s_sel);
  cos_out = hn::IfThenElse(cos_neg, hn::Neg(c_sel), c_sel);
}

#if HWY_TARGET != HWY_SCALAR
// Pairs [i, i + Lanes(df)): the reduction in double on each half, cos/sin in float32 on the
// whole vector (twice the lanes of double).
// kChecked: some |theta| of the row may reach the reduction's bound (else the row's bound
// said none does); kScaled: the attention factor or the sign is not 1 (times 1 is exact).
template <bool kChecked, bool kScaled, class DF>
HWY_INLINE void SinCosVector(DF df, const AngleArgs& a, size_t i, const double* inv, const float* inv_f,
                             const double* pos, const float* posf, float* co, float* so) {
  const hn::Half<DF> dh;
  const hn::Rebind<double, decltype(dh)> dd;
  const size_t nd = hn::Lanes(dd);
  const auto theta_lo = Theta(dd, a, i, inv, inv_f, pos, posf), theta_hi = Theta(dd, a, i + nd, inv, inv_f, pos, posf);
  // sin * (factor * sign) equals (sin * factor) * sign: the sign is +-1.
  const auto factor = hn::Set(df, a.factor), sin_factor = hn::Set(df, a.factor * a.sign);
  const auto bound = hn::Set(dd, core::kMaxReducedAngle);
  if (kChecked &&
      HWY_UNLIKELY(!hn::AllTrue(dd, hn::And(hn::Lt(hn::Abs(theta_lo), bound), hn::Lt(hn::Abs(theta_hi), bound))))) {
    // Past the reduction's bound (or not finite): the C library's, exact for any double.
    HWY_ALIGN double t[2 * HWY_MAX_BYTES / sizeof(double)];
    HWY_ALIGN float c[HWY_MAX_BYTES / sizeof(float)], s[HWY_MAX_BYTES / sizeof(float)];
    hn::Store(theta_lo, dd, t);
    hn::Store(theta_hi, dd, t + nd);
    for (size_t l = 0; l < 2 * nd; ++l) {
      c[l] = float(std::cos(t[l]));
      s[l] = float(std::sin(t[l]));
    }
    hn::StoreU(hn::Mul(hn::Load(df, c), factor), df, co + i);
    hn::StoreU(hn::Mul(hn::Load(df, s), sin_factor), df, so + i);
    return;
  }
  hn::Vec<decltype(dd)> y_lo, q_lo, y_hi, q_hi;
  QuadrantSplit(dd, theta_lo, y_lo, q_lo);
  QuadrantSplit(dd, theta_hi, y_hi, q_hi);
  const auto yf_lo = hn::DemoteTo(dh, y_lo), yf_hi = hn::DemoteTo(dh, y_hi);
  const auto y = hn::Combine(df, yf_hi, yf_lo);
  const auto ylo = hn::Combine(df, hn::DemoteTo(dh, hn::Sub(y_hi, hn::PromoteTo(dd, yf_hi))),
                               hn::DemoteTo(dh, hn::Sub(y_lo, hn::PromoteTo(dd, yf_lo))));
  const auto q = hn::Combine(df, hn::DemoteTo(dh, q_hi), hn::DemoteTo(dh, q_lo));
  hn::Vec<DF> s, c;
  SinCosFloat(df, y, ylo, q, s, c);
  hn::StoreU(kScaled ? hn::Mul(c, factor) : c, df, co + i);
  hn::StoreU(kScaled ? hn::Mul(s, sin_factor) : s, df, so + i);
}

// The full vectors of a row from pair 0; returns the first pair not done.
template <bool kChecked, bool kScaled>
HWY_INLINE size_t SinCosVectors(const AngleArgs& a, float* cos_out, float* sin_out) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df), pairs = size_t(a.pairs);
  size_t i = 0;
  for (; i + N <= pairs; i += N)
    SinCosVector<kChecked, kScaled>(df, a, i, a.inv_freq, a.inv_freq_f32, a.pos_per_pair, a.posf_per_pair, cos_out,
                                    sin_out);
  return i;
}

// Whether some |theta_i| of the row may reach the reduction's bound: with one position and a
// known largest |frequency| m, |theta_i| <= |pos| * m rounded (rounding is monotonic).
HWY_INLINE bool RowNeedsCheck(const AngleArgs& a) {
  if (a.compat ? a.posf_per_pair != nullptr : a.pos_per_pair != nullptr) return true;
  const double bound = a.compat ? double(std::fabs(a.posf) * float(a.inv_freq_max)) : std::fabs(a.pos) * a.inv_freq_max;
  return !(bound < core::kMaxReducedAngle);  // NaN and inf too
}

#endif  // HWY_TARGET != HWY_SCALAR

void SinCosRow(const AngleArgs& args, float* cos_out, float* sin_out) {
  const size_t pairs = size_t(args.pairs);
#if HWY_TARGET == HWY_SCALAR
  const AngleArgs& a = args;
  // No half vectors here (and no FMA: the backend never calls this target); the reference form.
  for (size_t i = 0; i < pairs; ++i) {
    const hn::ScalableTag<double> dd;
    const double theta = hn::GetLane(Theta(dd, a, i, a.inv_freq, a.inv_freq_f32, a.pos_per_pair, a.posf_per_pair));
    cos_out[i] = float(std::cos(theta)) * a.factor;
    sin_out[i] = float(std::sin(theta)) * a.factor * a.sign;
  }
#else
  const AngleArgs a = args;  // a copy the stores below cannot alias: its fields stay in registers
  const hn::ScalableTag<float> df;
  const bool checked = RowNeedsCheck(a), scaled = a.factor != 1.0f || a.sign != 1.0f;
  const size_t i = checked ? (scaled ? SinCosVectors<true, true>(a, cos_out, sin_out)
                                     : SinCosVectors<true, false>(a, cos_out, sin_out))
                           : (scaled ? SinCosVectors<false, true>(a, cos_out, sin_out)
                                     : SinCosVectors<false, false>(a, cos_out, sin_out));
  if (i == pairs) return;
  // Tail: a padded copy of the inputs, so the vector code serves it too.
  constexpr size_t kMax = HWY_MAX_BYTES / sizeof(float);
  double inv[kMax] = {}, pos[kMax] = {};
  float inv_f[kMax] = {}, posf[kMax] = {}, co[kMax], so[kMax];
  const size_t n = pairs - i;
  if (a.inv_freq) std::copy(a.inv_freq + i, a.inv_freq + pairs, inv);
  if (a.inv_freq_f32) std::copy(a.inv_freq_f32 + i, a.inv_freq_f32 + pairs, inv_f);
  if (a.pos_per_pair) std::copy(a.pos_per_pair + i, a.pos_per_pair + pairs, pos);
  if (a.posf_per_pair) std::copy(a.posf_per_pair + i, a.posf_per_pair + pairs, posf);
  SinCosVector<true, true>(df, a, 0, inv, inv_f, a.pos_per_pair ? pos : nullptr, a.posf_per_pair ? posf : nullptr, co, so);
  std::copy(co, co + n, cos_out + i);
  std::copy(so, so + n, sin_out + i);
#endif
}

// The interleaved kernels' per-feature table (see RowBlock): full vectors, each output vector
// one lane permutation of c or s (pairs j/2 of the vector's half), the sign of sin flipped in
// the even lanes (as Neg: the sign bit).
void ExpandInterleaved(const float* c, const float* s, int pairs, float* c2, float* s2) {
  int i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int N = int(hn::Lanes(df));
  const auto lower = hn::IndicesFromVec(df, hn::ShiftRight<1>(hn::Iota(di, 0)));
  const auto upper = hn::IndicesFromVec(df, hn::ShiftRight<1>(hn::Iota(di, N)));
  const auto sign_even = hn::BitCast(df, hn::OddEven(hn::Zero(di), hn::Set(di, int32_t(0x80000000u))));
  for (; i + N <= pairs; i += N) {
    const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
    hn::StoreU(hn::TableLookupLanes(vc, lower), df, c2 + 2 * i);
    hn::StoreU(hn::TableLookupLanes(vc, upper), df, c2 + 2 * i + N);
    hn::StoreU(hn::Xor(hn::TableLookupLanes(vs, lower), sign_even), df, s2 + 2 * i);
    hn::StoreU(hn::Xor(hn::TableLookupLanes(vs, upper), sign_even), df, s2 + 2 * i + N);
  }
#endif
  for (; i < pairs; ++i) {
    c2[2 * i] = c2[2 * i + 1] = c[i];
    s2[2 * i] = -s[i];
    s2[2 * i + 1] = s[i];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace rotary::cpu_backend
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
