// The SIMD row kernels against the scalar row loop, bit for bit, given the same cos/sin
// tables: every dtype, both layouts, every D from 2 to 130 and 254 to 258 (vector tails, the
// constant pair counts), partial rotary, in place, the bfloat16 table split even/odd, and
// values that exercise float16/bfloat16 rounding (ties, subnormals, overflow).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/rotate_row.h"
#include "cpu/simd.h"
#include "rotary/dtype.h"

namespace rotary::cpu_backend {
namespace {

template <typename T>
T from_float(float v) {
  if constexpr (std::is_same_v<T, float>) return v;
  else return Element<T>::store(v);
}

template <typename T>
Dtype dtype_for() {
  if constexpr (std::is_same_v<T, float>) return float32;
  else if constexpr (std::is_same_v<T, float16_t>) return float16;
  else return bfloat16;
}

// Rows of random values times `magnitude`, random angles; returns true when equal.
template <typename T>
::testing::AssertionResult simd_equals_scalar(bool traditional, int D, int dims, float magnitude, bool in_place,
                                              unsigned seed, bool shared_table = false, int rows = 3) {
  const int pairs = dims / 2;
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<double> angle(-3.2, 3.2);
  std::vector<T> x(size_t(rows) * D), want(x.size()), got(x.size());
  for (auto& v : x) v = from_float<T>(normal(gen) * magnitude);
  std::vector<float> c(size_t(rows) * pairs), s(c.size()), c2(size_t(rows) * dims), s2(c2.size());
  for (size_t i = 0; i < c.size(); ++i) {
    const double a = angle(gen);
    c[i] = float(std::cos(a));
    s[i] = float(std::sin(a));
  }
  for (int r = 0; r < rows; ++r)
    expand_interleaved(&c[size_t(r) * pairs], &s[size_t(r) * pairs], pairs, &c2[size_t(r) * dims],
                       &s2[size_t(r) * dims]);
  want = x;  // so that in place and copies agree on the tail
  got = x;
  for (int r = 0; r < rows; ++r)
    rotate_row<T>(in_place ? &want[size_t(r) * D] : &x[size_t(r) * D], &want[size_t(r) * D], 1, 1, pairs, D,
                  pair_layout(traditional), in_place, &c[size_t(shared_table ? 0 : r) * pairs],
                  &s[size_t(shared_table ? 0 : r) * pairs]);
  if (!in_place) std::fill(reinterpret_cast<char*>(got.data()), reinterpret_cast<char*>(got.data() + got.size()), 0x55);
  RowBlock b;
  b.in = in_place ? got.data() : x.data();
  b.out = got.data();
  b.rows = rows;
  b.in_stride = b.out_stride = D;
  b.cos = traditional ? c2.data() : c.data();
  b.sin = traditional ? s2.data() : s.data();
  b.table_stride = shared_table ? 0 : traditional ? dims : pairs;  // shared: the heads of one token
  b.pairs = pairs;
  b.D = D;
  b.copy_tail = !in_place;
  // Interleaved: once with the per-feature table only, once with the half-split table too.
  // Half-split bfloat16: once with the table as is, once split even/odd as the backend's tiles.
  const bool bf16_half = std::is_same_v<T, bfloat16_t> && !traditional;
  std::vector<float> split_c = c, split_s = s;
  for (int r = 0; bf16_half && r < rows; ++r)
    split_table_bf16(&split_c[size_t(r) * pairs], &split_s[size_t(r) * pairs], pairs);
  for (int with_pairs = 0; with_pairs < (traditional || bf16_half ? 2 : 1); ++with_pairs) {
  if (with_pairs && in_place) got = x;
  if (with_pairs && traditional) {
    b.pair_cos = c.data();
    b.pair_sin = s.data();
    b.pair_table_stride = shared_table ? 0 : pairs;
  }
  if (with_pairs && bf16_half) {
    b.cos = split_c.data();
    b.sin = split_s.data();
    b.table_split = true;
  }
  rotate_rows_simd(dtype_for<T>(), pair_layout(traditional), b);
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t a = 0, e = 0;
    std::memcpy(&a, &got[i], sizeof(T));
    std::memcpy(&e, &want[i], sizeof(T));
    if (a != e)
      return ::testing::AssertionFailure() << "D=" << D << " dims=" << dims << " traditional=" << traditional
                                           << " pair/split table " << with_pairs << " shared " << shared_table
                                           << " element " << i << ": simd bits "
                                           << std::hex << a << ", scalar " << e;
  }
  }
  return ::testing::AssertionSuccess();
}

// Every D to 130, and the largest head size with a constant pair count (D = 256: 128 pairs).
std::vector<int> head_sizes() {
  std::vector<int> sizes;
  for (int D = 2; D <= 130; ++D) sizes.push_back(D);
  for (int D : {254, 256, 257, 258}) sizes.push_back(D);
  return sizes;
}

template <typename T>
void every_shape(float magnitude) {
  for (int trad = 0; trad < 2; ++trad)
    for (int D : head_sizes()) {
      const int full = D & ~1;
      for (int dims : {full, 2 * ((full / 2 + 1) / 2), 2}) {
        if (dims < 2 || dims > D) continue;
        for (int in_place = 0; in_place < 2; ++in_place)
          for (int shared = 0; shared < 2; ++shared)
            ASSERT_TRUE(simd_equals_scalar<T>(trad, D, dims, magnitude, in_place, unsigned(D * 7 + dims), shared));
      }
    }
}

// Runs f once on every SIMD target this CPU supports (AVX3, AVX2, SSE4, ...).
template <typename F>
void on_every_target(F f) {
  for (const std::string& target : simd_targets()) {
    SCOPED_TRACE("target " + target);
    use_simd_target(target);
    ASSERT_EQ(std::string(simd_target_name()), target);
    f();
  }
  use_simd_target("");
}

TEST(CpuSimdRows, Float32EveryDimBitExact) { on_every_target([] { every_shape<float>(1.0f); }); }
TEST(CpuSimdRows, Float16EveryDimBitExact) { on_every_target([] { every_shape<float16_t>(1.0f); }); }
TEST(CpuSimdRows, BFloat16EveryDimBitExact) { on_every_target([] { every_shape<bfloat16_t>(1.0f); }); }

// Large and tiny magnitudes: float16 overflow to inf and subnormal rounding, bfloat16 ties.
TEST(CpuSimdRows, Float16ExtremesBitExact) {
  on_every_target([] {
  for (float m : {3.0e4f, 4.0e4f, 1.0e-5f, 3.0e-7f, 6.0e-8f})
    for (int trad = 0; trad < 2; ++trad)
      for (int shared = 0; shared < 2; ++shared)
        ASSERT_TRUE(simd_equals_scalar<float16_t>(trad, 128, 128, m, false, 3, shared)) << "magnitude " << m;
  });
}
TEST(CpuSimdRows, BFloat16ExtremesBitExact) {
  on_every_target([] {
  for (float m : {1.0e38f, 1.0e-38f, 1.0e-42f, 7.0f})
    for (int trad = 0; trad < 2; ++trad)
      for (int shared = 0; shared < 2; ++shared)
        ASSERT_TRUE(simd_equals_scalar<bfloat16_t>(trad, 128, 128, m, false, 5, shared)) << "magnitude " << m;
  });
}

// Many rows with one table (decode: a token's 32 heads), the shared-table kernels' case: cos/sin
// held in registers across rows. Every dtype, layout, constant pair count, in place or not,
// with and without an unrotated tail, on every target.
TEST(CpuSimdRows, SharedTableManyRowsBitExact) {
  on_every_target([] {
    for (int trad = 0; trad < 2; ++trad)
      for (int dims : {64, 128, 256})
        for (int D : {dims, dims + 6})
          for (int in_place = 0; in_place < 2; ++in_place)
            for (int rows : {1, 2, 32, 33}) {
              const unsigned seed = unsigned(dims + D + rows);
              ASSERT_TRUE(simd_equals_scalar<float>(trad, D, dims, 1.0f, in_place, seed, true, rows)) << rows;
              ASSERT_TRUE(simd_equals_scalar<float16_t>(trad, D, dims, 1.0f, in_place, seed, true, rows)) << rows;
              ASSERT_TRUE(simd_equals_scalar<bfloat16_t>(trad, D, dims, 1.0f, in_place, seed, true, rows)) << rows;
            }
  });
}

// The bfloat16 store rounds to nearest even exactly like to_bfloat16, inf and NaN included.
TEST(CpuSimdRows, BFloat16StoreMatchesToBFloat16) {
  // Random bfloat16 bit patterns (NaN, inf, subnormals) times a cos with low mantissa bits set.
  std::mt19937 gen(11);
  std::uniform_int_distribution<uint32_t> bits;
  const int pairs = 64, D = 128;
  std::vector<bfloat16_t> x(D), out(D);
  std::vector<float> c(pairs), s(pairs);
  for (int trial = 0; trial < 200; ++trial) {
    for (auto& v : x) v = bfloat16_t{uint16_t(bits(gen) >> 16)};
    for (int i = 0; i < pairs; ++i) {
      c[i] = 1.0f + float(bits(gen) >> 9) * 0x1p-23f;  // mantissa bits below bfloat16's: forces rounding
      s[i] = 0.0f;
    }
    RowBlock b;
    b.in = x.data();
    b.out = out.data();
    b.cos = c.data();
    b.sin = s.data();
    b.pairs = pairs;
    b.D = D;
    rotate_rows_simd(bfloat16, PairLayout::half_split, b);
    for (int j = 0; j < D; ++j) {
      const float x1 = to_float(x[j]), x2 = to_float(x[j < pairs ? j + pairs : j - pairs]);
      const float ci = c[j % pairs];
      const float v = j < pairs ? std::fma(x1, ci, -(x2 * 0.0f)) : std::fma(x1, ci, x2 * 0.0f);
      const uint16_t want = to_bfloat16(v).bits;
      if (std::isnan(v)) ASSERT_TRUE(std::isnan(to_float(out[j])));
      else ASSERT_EQ(out[j].bits, want) << "value " << v;
    }
  }
}

TEST(CpuSimdRows, TargetIsNamed) {
  const std::string name = simd_target_name();
  std::printf("SIMD target: %s\n", name.c_str());
  EXPECT_FALSE(name.empty());
}

// The interleaved kernels' per-feature table, every length (vector body and scalar tail).
TEST(CpuSimdRows, ExpandInterleavedMatchesItsDefinition) {
  on_every_target([] {
  for (int pairs = 1; pairs <= 70; ++pairs) {
    std::vector<float> c(pairs), s(pairs), c2(2 * pairs, 7.0f), s2(2 * pairs, 7.0f);
    for (int i = 0; i < pairs; ++i) {
      c[i] = 0.25f * float(i) + 1.0f;
      s[i] = -0.5f * float(i) - 2.0f;
    }
    expand_interleaved(c.data(), s.data(), pairs, c2.data(), s2.data());
    for (int i = 0; i < pairs; ++i) {
      ASSERT_EQ(c2[2 * i], c[i]) << pairs << " " << i;
      ASSERT_EQ(c2[2 * i + 1], c[i]) << pairs << " " << i;
      ASSERT_EQ(s2[2 * i], -s[i]) << pairs << " " << i;
      ASSERT_EQ(s2[2 * i + 1], s[i]) << pairs << " " << i;
    }
  }
  });
}

}  // namespace
}  // namespace rotary::cpu_backend
