// KV re-rotation: shift(rope(k, p), d) equals rope(k, p + d) within 2 ulp (accurate precision;
// ulps of each rotation pair's magnitude, see within_pair_ulps),
// on contiguous and paged caches, per-page and per-row deltas of either sign, row counts, and
// FP8 caches (dequantise, rotate, requantise: within one e4m3 ulp of the oracle).
#include <gtest/gtest.h>

#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::random_array;

// got against exact within `ulps` ulps of got's dtype, measured on the magnitude of each
// element's rotation pair: a 16-bit cache rounds the pair once between the two rotations, and
// the second rotation moves that rounding (up to half an ulp of the pair's larger element) into
// both elements. float64 adds the rounding of the double angle itself (|theta| * 2^-53 per
// rotation), which no float64 computation of cos/sin at position p avoids.
::testing::AssertionResult within_pair_ulps(const Array& got, const Array& exact, const RopeOptions& o,
                                            double ulps, double max_position) {
  const int64_t D = exact.shape(-1), dims = o.dims ? o.dims : D, half = dims / 2;
  const double scale = std::max(1.0, testing::max_abs(exact));
  const double floor = got.dtype() == float64 ? 4 * std::ldexp(max_position, -53) * scale
                                              : 8 * std::ldexp(1.0, -24) * scale;
  for (int64_t i = 0; i < got.size(); ++i) {
    const int64_t f = i % D;
    const int64_t partner = f >= dims ? f : o.layout == PairLayout::interleaved ? (f ^ 1) : (f < half ? f + half : f - half);
    const double r = exact.at(i), r2 = exact.at(i - f + partner);
    const double mag = std::sqrt(r * r + r2 * r2);
    if (std::fabs(got.at(i) - r) > ulps * testing::ulp(mag, got.dtype()) + floor)
      return ::testing::AssertionFailure() << "element " << i << ": got " << got.at(i) << ", exact " << r << " ("
                                           << std::fabs(got.at(i) - r) / testing::ulp(mag, got.dtype())
                                           << " ulps of the pair's magnitude " << mag << ")";
  }
  return ::testing::AssertionSuccess();
}

TEST(FusedShift, ShiftedRopeEqualsRopeAtTheSum) {
  // A contiguous (B, max_T, H, D) cache: page b holds sequence b at positions p0[b] + t.
  const int B = 3, T = 5, H = 2, D = 64;
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (bool trad : {false, true}) {
      SCOPED_TRACE(to_string(d) + (trad ? " interleaved" : " half"));
      RopeOptions o;
      o.seq_axis = -3;
      o.layout = pair_layout(trad);
      o.dims = 48;  // features 48..63 are not rotated and stay as they are
      const Array k = random_array({B, T, H, D}, d, 1);
      const Array p0 = int_array({0, 4000, 123456}, {B}), delta = int_array({17, -3999, 1000000}, {B});
      const Array p1 = int_array({17, 1, 1123456}, {B});
      Array cache = rope(k, Positions::offsets(p0.view()), o);
      shift_cache(cache.view(), CacheLayout::rows_then_heads, delta.view(), std::nullopt, o);
      EXPECT_TRUE(within_pair_ulps(cache, reference::rope(k, Positions::offsets(p1.view()), o), o, 2.0, 1123456 + T));
    }
}

TEST(FusedShift, PagedPerBlockDeltasRowCountsAndAttentionFactor) {
  const int pages = 4, rows = 8, H = 3, D = 32;
  for (Dtype d : {float32, bfloat16}) {
    SCOPED_TRACE(to_string(d));
    RopeOptions o;
    o.freqs = Frequencies::from_base(D, 500000.0);
    o.freqs.attention_factor = 1.2;  // carried by the cached keys already: not applied again
    const Array cache0 = random_array({pages, H, rows, D}, d, 2);
    Array cache = cache0.copy();
    const Array delta = int_array({5, -2, 0, 70000}, {pages}, int32), counts = int_array({8, 3, 0, 6}, {pages});
    shift_cache(cache.view(), CacheLayout::heads_then_rows, delta.view(), counts.view(), o);
    // Oracle: each row rotated by its page's delta with attention factor 1; rows past the count untouched.
    RopeOptions plain = o;
    plain.freqs.attention_factor = 1.0;
    std::vector<int64_t> ids;
    for (int p = 0; p < pages; ++p)
      for (int r = 0; r < rows; ++r) ids.push_back(delta.at(p) == 0 ? 0 : int64_t(delta.at(p)));
    const Array rotated = reference::rope(cache0, Positions::ids(int_array(ids, {pages, rows}).view()), plain);
    std::vector<double> want(cache0.size());
    for (int64_t i = 0; i < cache0.size(); ++i) {
      const int64_t p = i / (H * rows * D), r = (i / D) % rows;
      want[i] = r < counts.at(p) ? rotated.at(i) : cache0.at(i);
    }
    EXPECT_TRUE(testing::matches_oracle(cache, Array(want.data(), cache0.shape())));
  }
}

TEST(FusedShift, PerRowDeltasAndFp8Cache) {
  const int pages = 3, rows = 4, H = 2, D = 64;
  RopeOptions o;
  o.layout = PairLayout::interleaved;
  const float scale = 0.01f;
  const Array cache0 = testing::random_cache({pages, rows, H, D}, float8_e4m3, 3);
  Array cache = cache0.copy();
  std::vector<int64_t> d;
  for (int i = 0; i < pages * rows; ++i) d.push_back(i * 37 - 200);
  const Array deltas = int_array(d, {pages, rows});
  EXPECT_TRUE(testing::throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, deltas.view(),
                                                    std::nullopt, o); }, "scale"));
  EXPECT_TRUE(bit_equal(cache, cache0));
  shift_cache(cache.view(), CacheLayout::rows_then_heads, deltas.view(), std::nullopt, o, scale);
  o.seq_axis = -3;
  Array dequant = cache0.astype(float64);
  std::vector<double> v(dequant.size());
  for (int64_t i = 0; i < dequant.size(); ++i) v[i] = dequant.at(i) * scale;
  const Array exact = reference::rope(Array(v.data(), cache0.shape()), Positions::ids(deltas.view()), o);
  std::vector<double> stored(exact.size());
  for (int64_t i = 0; i < exact.size(); ++i) stored[i] = exact.at(i) / scale;
  EXPECT_TRUE(testing::cache_matches(cache, Array(stored.data(), cache0.shape()), scale));
}

}  // namespace
}  // namespace rotary
