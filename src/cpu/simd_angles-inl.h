// Per-target cos/sin of one position row (included once per Highway target by
// simd_dispatch.cpp). The angle is formed and reduced mod 2*pi in double as core/angles.h does,
// then cos/sin are evaluated in double on [-pi/4, pi/4] after a quadrant split, and rounded
// to float once: the float results are within about one ulp of the exact values.
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

// cos and sin of r in [-pi, pi] (double lanes). Taylor terms through y^11 / y^12 on
// |y| <= pi/4 leave a truncation error below 1e-11, far under a float ulp (6e-8).
template <class DD>
HWY_INLINE void SinCosReduced(DD dd, hn::Vec<DD> r, hn::Vec<DD>& sin_r, hn::Vec<DD>& cos_r) {
  const auto q = hn::Round(hn::Mul(r, hn::Set(dd, 0.63661977236758134)));  // 2/pi; q in [-2, 2]
  auto y = hn::NegMulAdd(q, hn::Set(dd, 1.5707963267948966), r);            // pi/2, high part
  y = hn::NegMulAdd(q, hn::Set(dd, 6.123233995736766e-17), y);                // pi/2, low part
  const auto y2 = hn::Mul(y, y);
  auto ps = hn::Set(dd, -1.0 / 39916800.0);
  ps = hn::MulAdd(ps, y2, hn::Set(dd, 1.0 / 362880.0));
  ps = hn::MulAdd(ps, y2, hn::Set(dd, -1.0 / 5040.0));
  ps = hn::MulAdd(ps, y2, hn::Set(dd, 1.0 / 120.0));
  ps = hn::MulAdd(ps, y2, hn::Set(dd, -1.0 / 6.0));
  const auto s = hn::MulAdd(hn::Mul(ps, y2), y, y);
  auto pc = hn::Set(dd, 1.0 / 479001600.0);
  pc = hn::MulAdd(pc, y2, hn::Set(dd, -1.0 / 3628800.0));
  pc = hn::MulAdd(pc, y2, hn::Set(dd, 1.0 / 40320.0));
  pc = hn::MulAdd(pc, y2, hn::Set(dd, -1.0 / 720.0));
  pc = hn::MulAdd(pc, y2, hn::Set(dd, 1.0 / 24.0));
  pc = hn::MulAdd(pc, y2, hn::Set(dd, -0.5));
  const auto c = hn::MulAdd(pc, y2, hn::Set(dd, 1.0));
  // r = y + q*pi/2: q = +-1 swaps sin and cos; signs by quadrant.
  const auto swap = hn::Eq(hn::Abs(q), hn::Set(dd, 1.0));
  const auto s_sel = hn::IfThenElse(swap, c, s);
  const auto c_sel = hn::IfThenElse(swap, s, c);
  const auto sin_neg = hn::Or(hn::Lt(q, hn::Set(dd, -0.5)), hn::Gt(q, hn::Set(dd, 1.5)));
  const auto cos_neg = hn::Or(hn::Gt(q, hn::Set(dd, 0.5)), hn::Lt(q, hn::Set(dd, -1.5)));
  sin_r = hn::IfThenElse(sin_neg, hn::Neg(s_sel), s_sel);
  cos_r = hn::IfThenElse(cos_neg, hn::Neg(c_sel), c_sel);
}

// core::reduce_angle_once, lane-wise.
template <class DD>
HWY_INLINE hn::Vec<DD> ReduceTwoPi(DD dd, hn::Vec<DD> theta) {
  const auto k = hn::Round(hn::Mul(theta, hn::Set(dd, 1.0 / core::kTwoPiHi)));
  return hn::NegMulAdd(k, hn::Set(dd, core::kTwoPiLo), hn::NegMulAdd(k, hn::Set(dd, core::kTwoPiHi), theta));
}

// One vector of pairs starting at i; every pointer is readable for a full vector from i.
template <class DD>
HWY_INLINE void SinCosVector(DD dd, const AngleArgs& a, size_t i, const double* inv, const float* inv_f,
                             const double* pos, const float* posf, float* co, float* so) {
  const hn::Rebind<float, DD> df;
  hn::Vec<DD> theta;
  if (a.compat) {
    const auto p = posf ? hn::LoadU(df, posf + i) : hn::Set(df, a.posf);
    theta = hn::PromoteTo(dd, hn::Mul(p, hn::LoadU(df, inv_f + i)));
  } else {
    const auto p = pos ? hn::LoadU(dd, pos + i) : hn::Set(dd, a.pos);
    theta = hn::Mul(p, hn::LoadU(dd, inv + i));
  }
  const auto factor = hn::Set(df, a.factor);
  if (HWY_UNLIKELY(!hn::AllTrue(dd, hn::Lt(hn::Abs(theta), hn::Set(dd, core::kMaxReducedAngle))))) {
    // Past the reduction's bound (or not finite): the C library's, exact for any double.
    HWY_ALIGN double t[HWY_MAX_BYTES / sizeof(double)];
    HWY_ALIGN float c[HWY_MAX_BYTES / sizeof(double)], s[HWY_MAX_BYTES / sizeof(double)];
    hn::Store(theta, dd, t);
    for (size_t l = 0; l < hn::Lanes(dd); ++l) {
      c[l] = float(std::cos(t[l]));
      s[l] = float(std::sin(t[l]));
    }
    hn::StoreU(hn::Mul(hn::Load(df, c), factor), df, co + i);
    hn::StoreU(hn::Mul(hn::Mul(hn::Load(df, s), factor), hn::Set(df, a.sign)), df, so + i);
    return;
  }
  // core::reduce_angle, lane-wise: two steps, so |theta| >= 2^52 lands in [-pi, pi] too.
  const auto r = ReduceTwoPi(dd, ReduceTwoPi(dd, theta));
  hn::Vec<DD> s, c;
  SinCosReduced(dd, r, s, c);
  hn::StoreU(hn::Mul(hn::DemoteTo(df, c), factor), df, co + i);
  hn::StoreU(hn::Mul(hn::Mul(hn::DemoteTo(df, s), factor), hn::Set(df, a.sign)), df, so + i);
}

void SinCosRow(const AngleArgs& a, float* cos_out, float* sin_out) {
  const hn::ScalableTag<double> dd;
  const size_t N = hn::Lanes(dd);
  const size_t pairs = size_t(a.pairs);
  size_t i = 0;
  for (; i + N <= pairs; i += N)
    SinCosVector(dd, a, i, a.inv_freq, a.inv_freq_f32, a.pos_per_pair, a.posf_per_pair, cos_out, sin_out);
  if (i == pairs) return;
  // Tail: a padded copy of the inputs, so the vector code serves it too.
  constexpr size_t kMax = HWY_MAX_BYTES / sizeof(double);
  double inv[kMax] = {}, pos[kMax] = {};
  float inv_f[kMax] = {}, posf[kMax] = {}, co[kMax], so[kMax];
  const size_t n = pairs - i;
  if (a.inv_freq) std::copy(a.inv_freq + i, a.inv_freq + pairs, inv);
  if (a.inv_freq_f32) std::copy(a.inv_freq_f32 + i, a.inv_freq_f32 + pairs, inv_f);
  if (a.pos_per_pair) std::copy(a.pos_per_pair + i, a.pos_per_pair + pairs, pos);
  if (a.posf_per_pair) std::copy(a.posf_per_pair + i, a.posf_per_pair + pairs, posf);
  SinCosVector(dd, a, 0, inv, inv_f, a.pos_per_pair ? pos : nullptr, a.posf_per_pair ? posf : nullptr, co, so);
  std::copy(co, co + n, cos_out + i);
  std::copy(so, so + n, sin_out + i);
}

// The interleaved kernels' per-feature table (see RowBlock): 128-bit vectors, where
// InterleaveLower/Upper zip whole vectors (wider ones zip within 128-bit blocks).
void ExpandInterleaved(const float* c, const float* s, int pairs, float* c2, float* s2) {
  int i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::Full128<float> d4;
  for (; i + 4 <= pairs; i += 4) {
    const auto vc = hn::LoadU(d4, c + i), vs = hn::LoadU(d4, s + i), ns = hn::Neg(vs);
    hn::StoreU(hn::InterleaveLower(d4, vc, vc), d4, c2 + 2 * i);
    hn::StoreU(hn::InterleaveUpper(d4, vc, vc), d4, c2 + 2 * i + 4);
    hn::StoreU(hn::InterleaveLower(d4, ns, vs), d4, s2 + 2 * i);
    hn::StoreU(hn::InterleaveUpper(d4, ns, vs), d4, s2 + 2 * i + 4);
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
