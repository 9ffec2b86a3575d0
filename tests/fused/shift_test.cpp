// KV re-rotation: shift(rope(k, p), d) equals rope(k, p + d) within 2 ulp (accurate precision;
// ulps of each rotation pair's magnitude, see within_pair_ulps),
// on contiguous and paged caches, per-page and per-row deltas of either sign, row counts, and
// FP8 caches (dequantise, rotate, requantise: within one e4m3 ulp of the oracle); M-RoPE
// frequencies shifted by one delta per position stream; a LongRoPE regime change (short ->
// long factors, attention factor rescaled) equal to rope with the new frequencies.
#include <gtest/gtest.h>

#include "core/fused_plan.h"
#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::longrope_regimes;
using testing::LongRopeRegimes;
using testing::random_array;
using testing::within_pair_ulps;

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
  const Array exact = reference::rope(testing::rescaled(cache0, scale), Positions::ids(deltas.view()), o);
  EXPECT_TRUE(testing::cache_matches(cache, testing::rescaled(exact, scale, true), scale));
}

// Ids of three position streams (3, B, T): stream s of token (b, t) at base[s][b] + t * step[s].
Array stream_ids(const std::vector<std::vector<int64_t>>& base, const std::vector<int64_t>& step, int B, int T) {
  std::vector<int64_t> v;
  for (int s = 0; s < 3; ++s)
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) v.push_back(base[s][b] + t * step[s]);
  return int_array(v, {3, B, T});
}

TEST(FusedShift, MropeMovesEachStreamByItsDelta) {
  // (B, T, H, D) cache of keys rotated at M-RoPE positions (3, B, T); per-stream deltas (3, B)
  // and (3, B, T) give rope at the moved positions.
  const int B = 2, T = 4, H = 2, D = 64;
  for (Dtype d : {float32, bfloat16, float64})
    for (bool interleaved_sections : {false, true}) {
      SCOPED_TRACE(to_string(d) + (interleaved_sections ? " interleaved sections" : " contiguous sections"));
      RopeOptions o;
      o.seq_axis = -3;
      o.freqs = scaling::mrope(Frequencies::from_base(D, 1000000.0), {8, 12, 12}, interleaved_sections);
      const Array k = random_array({B, T, H, D}, d, 4);
      const Array p0 = stream_ids({{0, 300}, {5, 7}, {9, 2}}, {1, 0, 0}, B, T);
      const Array per_seq = int_array({40, -250, 3, 0, -1, 11}, {3, B});
      Array cache = rope(k, Positions::ids(p0.view()), o);
      shift_cache(cache.view(), CacheLayout::rows_then_heads, per_seq.view(), std::nullopt, o);
      const Array p1 = stream_ids({{40, 50}, {8, 7}, {8, 13}}, {1, 0, 0}, B, T);
      EXPECT_TRUE(within_pair_ulps(cache, reference::rope(k, Positions::ids(p1.view()), o), o, 2.0, 400));
      // Per row: every token of every stream moved by its own delta (a second shift of the
      // shifted cache: one more rounding of the pair, so 3 ulp).
      std::vector<int64_t> dr, moved;
      for (int64_t i = 0; i < p1.size(); ++i) {
        dr.push_back((i * 7919) % 61 - 30);
        moved.push_back(int64_t(p1.at(i)) + dr.back());
      }
      const Array per_row = int_array(dr, {3, B, T}), p2 = int_array(moved, {3, B, T});
      shift_cache(cache.view(), CacheLayout::rows_then_heads, per_row.view(), std::nullopt, o);
      EXPECT_TRUE(within_pair_ulps(cache, reference::rope(k, Positions::ids(p2.view()), o), o, 3.0, 400));
    }
}

TEST(FusedShift, LongRopeRegimeChangeEqualsRopeWithTheLongFactors) {
  // Keys cached at p0[b] + t with the short factors (attention factor 1) read, after the shift,
  // as rope(k, p0 + delta) with the long factors and their attention factor: within 2 ulp of
  // the pair's magnitude times the factor ratio (the cache's rounding is rescaled by it).
  const int B = 3, T = 6, H = 2, D = 40, dims = 32;
  const LongRopeRegimes lr = longrope_regimes(dims);
  ASSERT_NE(lr.long_freqs.attention_factor, lr.short_freqs.attention_factor);
  const double ratio = lr.long_freqs.attention_factor / lr.short_freqs.attention_factor;
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (bool trad : {false, true})
      for (Precision precision : {Precision::accurate, Precision::compat}) {
        SCOPED_TRACE(to_string(d) + (trad ? " interleaved" : " half") +
                     (precision == Precision::accurate ? " accurate" : " compat"));
        RopeOptions old_o, new_o;
        old_o.precision = new_o.precision = precision;
        old_o.seq_axis = new_o.seq_axis = -3;
        old_o.layout = new_o.layout = pair_layout(trad);
        old_o.dims = new_o.dims = dims;
        old_o.freqs = lr.short_freqs;
        new_o.freqs = lr.long_freqs;
        const Array k = random_array({B, T, H, D}, d, 5);
        const Array p0 = int_array({0, 4000, 4090}, {B}), delta = int_array({0, 17, -90}, {B});
        Array cache = rope(k, Positions::offsets(p0.view()), old_o);
        const Array cached = cache.copy();
        const FrequencyChange change{lr.short_freqs, p0.view()};
        shift_cache(cache.view(), CacheLayout::rows_then_heads, delta.view(), std::nullopt, new_o, std::nullopt,
                    change);
        const Array p1 = int_array({0, 4017, 4000}, {B});
        EXPECT_TRUE(within_pair_ulps(cache, reference::rope(k, Positions::offsets(p1.view()), new_o), new_o,
                                     2.0 * std::max(1.0, ratio), 4100 + T));
        // And against the oracle of the shift itself applied to the cached (rounded) keys: one
        // rounding, plus (float64) the double angle's own error, as for rope at p + delta.
        const Array exact = reference::shift_cache(cached, CacheLayout::rows_then_heads, delta.view(), std::nullopt,
                                                   new_o, change);
        EXPECT_TRUE(within_pair_ulps(cache, exact, new_o, 2.0, 4100 + T));
      }
}

TEST(FusedShift, RegimeChangeOnPagedFp8CacheWithPerRowPositions) {
  // A paged HND FP8 cache whose rows hold arbitrary positions (pages, rows): the oracle of the
  // shift on the dequantised values, within one e4m3 ulp of the correctly rounded value.
  const int pages = 3, rows = 4, H = 2, D = 32;
  const LongRopeRegimes lr = longrope_regimes(D);
  RopeOptions o;
  o.freqs = lr.long_freqs;
  const float scale = 0.02f;
  const Array cache0 = testing::random_cache({pages, H, rows, D}, float8_e4m3, 6);
  Array cache = cache0.copy();
  std::vector<int64_t> pos;
  for (int i = 0; i < pages * rows; ++i) pos.push_back(4096 - 5 * i);
  const Array positions = int_array(pos, {pages, rows}), delta = int_array({3, 0, -7}, {pages}, int32);
  const Array counts = int_array({4, 2, 0}, {pages});
  const FrequencyChange change{lr.short_freqs, positions.view()};
  shift_cache(cache.view(), CacheLayout::heads_then_rows, delta.view(), counts.view(), o, scale, change);
  const Array exact = reference::shift_cache(testing::rescaled(cache0, scale), CacheLayout::heads_then_rows,
                                             delta.view(), counts.view(), o, change);
  EXPECT_TRUE(testing::cache_matches(cache, testing::rescaled(exact, scale, true), scale));
}

TEST(FusedShift, RefusesMismatchedStreamsAndChanges) {
  Array cache = random_array({2, 4, 1, 16}, float32, 7);
  const Array c0 = cache.copy();
  RopeOptions mrope;
  mrope.freqs = scaling::mrope(Frequencies::from_base(16, 10000.0), {2, 3, 3}, false);
  const Array one_stream = int_array({1, 2}, {2}), streams = int_array({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_TRUE(testing::throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, one_stream.view(),
                                                     std::nullopt, mrope); }, "deltas must have shape (3, 2,)"));
  const FrequencyChange change{Frequencies::from_base(16, 10000.0), one_stream.view()};
  EXPECT_TRUE(testing::throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, streams.view(),
                                                     std::nullopt, mrope, std::nullopt, change); },
                                   "a frequency change needs single-stream frequencies"));
  RopeOptions plain;
  const FrequencyChange short_change{Frequencies::from_base(8, 10000.0), one_stream.view()};
  EXPECT_TRUE(testing::throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, one_stream.view(),
                                                     std::nullopt, plain, std::nullopt, short_change); },
                                   "change.from must have dims/2 = 8"));
  const Array bad_positions = int_array({1, 2, 3}, {3});
  const FrequencyChange bad{Frequencies::from_base(16, 10000.0), bad_positions.view()};
  EXPECT_TRUE(testing::throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, one_stream.view(),
                                                     std::nullopt, plain, std::nullopt, bad); },
                                   "change.positions must have shape (2,) or (2, 4)"));
  EXPECT_TRUE(bit_equal(cache, c0));
}

TEST(FusedShift, ChangePositionsOnTheHostOfADeviceCacheAreStaged) {
  // Planned only, never run (no GPU needed): views that say cuda:0 over host memory. A CUDA
  // cache's old positions may be in host memory (the CUDA backend copies them for the call);
  // a host cache's must be on the host.
  Array cache = random_array({2, 4, 1, 16}, float32, 7);
  const Array deltas = int_array({1, 2}, {2}), starts = int_array({0, 8}, {2});
  TensorView cache_d = cache.view(), deltas_d = deltas.view(), starts_d = starts.view();
  cache_d.device = deltas_d.device = starts_d.device = cuda(0);
  const RopeOptions o;
  const Frequencies from = Frequencies::from_base(16, 10000.0);
  const FrequencyChange host_change{from, starts.view()}, device_change{from, starts_d};
  const core::ShiftPlan staged = core::make_shift_plan(cache_d, CacheLayout::rows_then_heads, deltas_d, std::nullopt,
                                                       o, std::nullopt, &host_change);
  EXPECT_TRUE(staged.from_host_resident);
  EXPECT_EQ(staged.from_positions, starts.view().data);
  EXPECT_FALSE(core::make_shift_plan(cache_d, CacheLayout::rows_then_heads, deltas_d, std::nullopt, o, std::nullopt,
                                     &device_change).from_host_resident);
  EXPECT_FALSE(core::make_shift_plan(cache.view(), CacheLayout::rows_then_heads, deltas.view(), std::nullopt, o,
                                     std::nullopt, &host_change).from_host_resident);
  EXPECT_TRUE(testing::throws_with([&] { core::make_shift_plan(cache.view(), CacheLayout::rows_then_heads,
                                                               deltas.view(), std::nullopt, o, std::nullopt,
                                                               &device_change); },
                                   "change.positions is on cuda:0 but the tensors are on cpu"));
}

}  // namespace
}  // namespace rotary
