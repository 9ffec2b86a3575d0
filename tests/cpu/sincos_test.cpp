// The vectorised angle path (sincos_row): float32 cos/sin within 2 ulp of the double-precision
// result for positions up to 2^20 and every pair, in accurate mode; compat mode forms the
// float32 angle as MLX does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <random>
#include <vector>

#include "core/angles.h"
#include "cpu/simd.h"
#include "reference/oracle.h"

namespace rotary::cpu_backend {
namespace {

// |got - exact| in units of the float32 ulp at |exact| (subnormal floor at 2^-149).
double ulps(float got, double exact) {
  int e;
  std::frexp(std::max(std::fabs(exact), 0x1p-126), &e);
  return std::fabs(double(got) - exact) / std::ldexp(1.0, e - 24);
}

struct Worst {
  double cos = 0, sin = 0;
  int64_t at = 0;
};

Worst worst_error(const std::vector<double>& inv_freq, const std::vector<int64_t>& positions, double scale) {
  const int pairs = int(inv_freq.size());
  std::vector<float> c(pairs), s(pairs);
  Worst w;
  for (const int64_t p : positions) {
    AngleArgs a;
    a.pairs = pairs;
    a.pos = double(p) * scale;
    a.inv_freq = inv_freq.data();
    sincos_row(a, c.data(), s.data());
    for (int i = 0; i < pairs; ++i) {
      const double theta = core::accurate_angle(p, scale, inv_freq[i]);  // the double angle
      const double ec = ulps(c[i], std::cos(theta)), es = ulps(s[i], std::sin(theta));
      if (std::max(ec, es) > std::max(w.cos, w.sin)) w.at = p;
      w.cos = std::max(w.cos, ec);
      w.sin = std::max(w.sin, es);
    }
  }
  return w;
}

// Every position in [0, 8192) and in [2^20 - 8192, 2^20], and 20000 random ones between.
std::vector<int64_t> test_positions() {
  std::vector<int64_t> p;
  for (int64_t i = 0; i < 8192; ++i) p.push_back(i);
  for (int64_t i = (1 << 20) - 8192; i <= (1 << 20); ++i) p.push_back(i);
  std::mt19937_64 gen(7);
  std::uniform_int_distribution<int64_t> mid(8192, (1 << 20) - 8192);
  for (int i = 0; i < 20000; ++i) p.push_back(mid(gen));
  return p;
}

TEST(CpuSinCos, WithinTwoUlpUpTo2Pow20) {
  const auto positions = test_positions();
  for (const std::string& target : simd_targets()) {
  use_simd_target(target);
  std::printf("target %s\n", target.c_str());
  for (double base : {10000.0, 500000.0}) {
    for (int dims : {128, 64, 6}) {  // 6: a vector tail on every target
      const Worst w = worst_error(reference::inv_freq_from_base(dims, base), positions, 1.0);
      std::printf("base %.0f dims %d: max error cos %.3f ulp, sin %.3f ulp (position %lld)\n", base, dims, w.cos,
                  w.sin, (long long)w.at);
      EXPECT_LE(w.cos, 2.0);
      EXPECT_LE(w.sin, 2.0);
    }
  }
  }
  use_simd_target("");
}

TEST(CpuSinCos, WithinTwoUlpWithScaleAndNegativePositions) {
  std::vector<int64_t> positions;
  for (int64_t i = -5000; i < 5000; i += 3) positions.push_back(i * 209);
  const Worst w = worst_error(reference::inv_freq_from_base(128, 10000), positions, 0.25);
  EXPECT_LE(w.cos, 2.0);
  EXPECT_LE(w.sin, 2.0);
}

// Positions 2^52..2^62 and the int64 extremes: one reduction of theta / 2pi is no longer exact
// there (it used to land in the wrong quadrant: position 2^54, inv_freq 1 gave (-0.897, -0.441)
// for (cos, sin) = (-0.441, 0.897)). Frequencies up to 2 take the vector path; 3 and 1e6 go past
// its bound to the C library's reduction.
TEST(CpuSinCos, WithinTwoUlpForEveryInt64Position) {
  std::vector<int64_t> positions = {INT64_MAX, INT64_MIN, INT64_MIN + 1, -(int64_t(1) << 54)};
  for (int e = 52; e <= 62; ++e)
    for (int64_t d : {-3, -1, 0, 1, 2, 12345}) positions.push_back((int64_t(1) << e) + d);
  std::mt19937_64 gen(11);
  for (int i = 0; i < 2000; ++i) positions.push_back(int64_t(gen()));
  std::vector<double> inv = reference::inv_freq_from_base(128, 10000);
  for (double f : {1.0, 2.0, 0.7, 1.5, 3.0, 1e6}) inv.push_back(f);  // a full vector of each on every target
  for (const std::string& target : simd_targets()) {
    use_simd_target(target);
    const Worst w = worst_error(inv, positions, 1.0);
    EXPECT_LE(w.cos, 2.0) << target << " position " << w.at;
    EXPECT_LE(w.sin, 2.0) << target << " position " << w.at;
  }
  use_simd_target("");
}

TEST(CpuSinCos, Position2Pow54IsInTheRightQuadrant) {
  const std::vector<double> inv(8, 1.0);
  std::vector<float> c(8), s(8);
  AngleArgs a;
  a.pairs = 8;
  a.pos = 0x1p54;
  a.inv_freq = inv.data();
  sincos_row(a, c.data(), s.data());
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(c[i], std::cos(0x1p54), 1e-7);  // -0.441
    EXPECT_NEAR(s[i], std::sin(0x1p54), 1e-7);  //  0.897
  }
}

TEST(CpuSinCos, FactorSignAndPerPairPositions) {
  const auto inv = reference::inv_freq_from_base(16, 10000);
  std::vector<double> pos(8);
  for (int i = 0; i < 8; ++i) pos[i] = double(i * 1000 + 3);
  std::vector<float> c(8), s(8);
  AngleArgs a;
  a.pairs = 8;
  a.pos_per_pair = pos.data();
  a.inv_freq = inv.data();
  a.factor = 0.5f;
  a.sign = -1.0f;
  sincos_row(a, c.data(), s.data());
  for (int i = 0; i < 8; ++i) {
    const double theta = pos[i] * inv[i];
    EXPECT_NEAR(c[i], 0.5 * std::cos(theta), 1e-7);
    EXPECT_NEAR(s[i], -0.5 * std::sin(theta), 1e-7);
  }
}

TEST(CpuSinCos, CompatUsesTheFloat32Angle) {
  const auto inv = reference::inv_freq_from_base(128, 10000);
  std::vector<float> inv_f(inv.begin(), inv.end()), c(64), s(64);
  const int64_t p = (1 << 20) - 3;
  AngleArgs a;
  a.pairs = 64;
  a.compat = true;
  a.posf = float(p);
  a.inv_freq = inv.data();
  a.inv_freq_f32 = inv_f.data();
  sincos_row(a, c.data(), s.data());
  for (int i = 0; i < 64; ++i) {
    const double theta = double(core::compat_angle(p, 1.0f, inv_f[i]));
    EXPECT_LE(ulps(c[i], std::cos(theta)), 2.0) << i;
    EXPECT_LE(ulps(s[i], std::sin(theta)), 2.0) << i;
  }
}

// The row-level bound check (AngleArgs::inv_freq_max known) gives the same bits as the
// per-vector check, on every target: positions from 0 to past the reduction's bound, both
// modes, with and without factor and sign, with a vector tail.
TEST(CpuSinCos, RowBoundCheckGivesTheSameBits) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  for (const std::string& target : simd_targets()) {
    SCOPED_TRACE("target " + target);
    use_simd_target(target);
    for (int pairs : {21, 64}) {
      const auto inv = reference::inv_freq_from_base(2 * pairs, 10000);
      const std::vector<float> inv_f(inv.begin(), inv.end());
      for (const int64_t p : {int64_t(0), int64_t(3), int64_t(1) << 20, int64_t(1) << 40, -(int64_t(1) << 62), big})
        for (const double scale : {1.0, 4.0})  // 4 * 2^63: past the bound
          for (int mode = 0; mode < 4; ++mode) {
            AngleArgs a;
            a.pairs = pairs;
            a.compat = mode & 1;
            a.pos = double(p) * scale;
            a.posf = float(scale) * float(p);
            a.inv_freq = inv.data();
            a.inv_freq_f32 = inv_f.data();
            a.factor = mode & 2 ? 0.75f : 1.0f;
            a.sign = mode & 2 ? -1.0f : 1.0f;
            std::vector<float> c(pairs), s(pairs), c_row(pairs), s_row(pairs);
            sincos_row(a, c.data(), s.data());
            a.inv_freq_max = 1.0;  // inv_freq_from_base: the first frequency, 1, is the largest
            sincos_row(a, c_row.data(), s_row.data());
            for (int i = 0; i < pairs; ++i) {
              ASSERT_EQ(std::memcmp(&c[i], &c_row[i], 4), 0) << "p " << p << " scale " << scale << " mode " << mode << " i " << i;
              ASSERT_EQ(std::memcmp(&s[i], &s_row[i], 4), 0) << "p " << p << " scale " << scale << " mode " << mode << " i " << i;
            }
          }
    }
  }
  use_simd_target("");
}

}  // namespace
}  // namespace rotary::cpu_backend
