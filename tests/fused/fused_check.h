// Shared pieces of the fused-path tests: cache builders for every layout and addressing, the
// oracle comparison of q and the caches (FP8 within one e4m3 ulp of the correctly rounded
// value), the case matrix, and the re-rotation's pair-ulp comparison and LongRoPE regimes.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/convert.h"
#include "core/fp8.h"
#include "positions/oracle_check.h"
#include "reference/fused_oracle.h"
#include "rotary/fused.h"
#include "rotary/scaling.h"

namespace rotary::testing {

// Spacing of e4m3 values around |v| (3 mantissa bits, smallest normal 2^-6).
inline double e4m3_ulp(double v) {
  int e;
  std::frexp(std::max(std::fabs(v), 1e-30), &e);
  return std::ldexp(1.0, std::max(e, -5) - 1 - 3);
}

inline double round_e4m3(double v) {
  return core::to_float(core::to_float8_e4m3(core::to_float_round_odd(v)));
}

// A cache's contents against the oracle's float64 expectation (unwritten elements included).
inline ::testing::AssertionResult cache_matches(const Array& got, const Array& exact, double scale) {
  if (got.dtype() != float8_e4m3) return close_to_oracle(got, exact, std::max(1.0, max_abs(exact)));
  for (int64_t i = 0; i < got.size(); ++i) {
    const double g = got.at(i), r = round_e4m3(exact.at(i));
    if (std::fabs(g - r) > e4m3_ulp(r))
      return ::testing::AssertionFailure() << "fp8 element " << i << ": got " << g << ", correctly rounded " << r
                                           << " (exact " << exact.at(i) << ", scale " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

// Values of `dtype` (FP8: of magnitude up to ~3 so a scale of 0.05 still saturates a few).
inline Array random_cache(const Shape& shape, Dtype dtype, unsigned seed) {
  if (dtype != float8_e4m3) return random_array(shape, dtype, seed);
  return random_array(shape, float32, seed).astype(float8_e4m3);
}

// a's values as float64, times `scale` (FP8 stored units -> values) or, with `divide`, divided
// by it (values -> stored units).
inline Array rescaled(const Array& a, double scale, bool divide = false) {
  std::vector<double> v(a.size());
  for (int64_t i = 0; i < a.size(); ++i) v[i] = divide ? a.at(i) / scale : a.at(i) * scale;
  return Array(v.data(), a.shape());
}

// The case matrix of the append tests.
struct AppendCase {
  Dtype dtype = float32;        // q, k, v
  Dtype cache_dtype = float32;  // cache arrays
  CacheLayout layout = CacheLayout::rows_then_heads;
  CacheSlots::Kind slots = CacheSlots::Kind::slot_mapping;
  bool traditional = false;
  bool q_in_place = false;
  std::string name() const {
    const char* kinds[] = {"write_positions", "slot_mapping", "block_table"};
    return to_string(dtype) + "->" + to_string(cache_dtype) +
           (layout == CacheLayout::rows_then_heads ? "/rows_then_heads/" : "/heads_then_rows/") +
           kinds[int(slots)] + (traditional ? "/interleaved" : "/half") + (q_in_place ? "/in_place" : "/q_out");
  }
};

// A cache of `pages` x `rows` for `heads` x D in the layout, with its slots for the tokens of
// `num_seqs` sequences of lengths `lens` (index arrays kept alive in `keep`).
struct TestCache {
  Array k = Array(0.0, float64), v = Array(0.0, float64);
  std::vector<Array> keep;
  KVCache cache;
};

inline Shape cache_shape(CacheLayout layout, int pages, int rows, int heads, int D) {
  return layout == CacheLayout::rows_then_heads ? Shape{pages, rows, heads, D} : Shape{pages, heads, rows, D};
}

// Slots for sequences of lengths `lens`: write_positions (page s, from row 1 + s), a scattered
// slot_mapping over 7 pages of 4 rows, or a block table over the same pages.
inline TestCache make_cache(const AppendCase& c, const std::vector<int64_t>& lens, int heads, int Dk, int Dv,
                            bool with_v = true) {
  TestCache tc;
  const int64_t n_seqs = int64_t(lens.size());
  int64_t total = 0;
  for (int64_t l : lens) total += l;
  const bool contiguous = c.slots == CacheSlots::Kind::write_positions;
  const int pages = contiguous ? int(n_seqs) + 1 : 7, rows = contiguous ? 8 : 4;
  tc.k = random_cache(cache_shape(c.layout, pages, rows, heads, Dk), c.cache_dtype, 71);
  if (with_v) tc.v = random_cache(cache_shape(c.layout, pages, rows, heads, Dv), c.cache_dtype, 72);
  else tc.v = Array(0.0, float64);
  tc.cache.k = tc.k.view();
  if (with_v) tc.cache.v = tc.v.view();
  tc.cache.layout = c.layout;
  tc.cache.k_scale = 0.5f;
  tc.cache.v_scale = 0.25f;
  if (contiguous) {
    std::vector<int64_t> starts;
    for (int64_t s = 0; s < n_seqs; ++s) starts.push_back(1 + s);
    tc.keep.push_back(int_array(starts, {int(n_seqs)}, int32));
    tc.cache.slots = CacheSlots::write_positions(tc.keep[0].view());
  } else if (c.slots == CacheSlots::Kind::slot_mapping) {
    std::vector<int64_t> slots;
    for (int64_t n = 0; n < total; ++n) slots.push_back((n * 11 + 3) % (pages * rows));  // distinct for total <= 28
    if (total > 2) slots[1] = -1;  // padding: writes nothing
    tc.keep.push_back(int_array(slots, {int(total)}));
    tc.cache.slots = CacheSlots::slot_mapping(tc.keep[0].view());
  } else {
    // Each used (sequence, column) gets its own block, in scattered order; unused entries are
    // -1 (padding, as real tables have): only the blocks a sequence reaches are read.
    std::vector<int64_t> table, cache_lens;
    const int cols = 4;
    int64_t next = 0;
    for (int64_t s = 0; s < n_seqs; ++s) {
      cache_lens.push_back(s % 2 ? 6 : 1);
      const int64_t first = cache_lens[s] / rows, last = (cache_lens[s] + lens[s] - 1) / rows;
      for (int col = 0; col < cols; ++col)
        table.push_back(col >= first && col <= last && lens[s] > 0 ? (next++ * 3 + 2) % pages : -1);
    }
    tc.keep.push_back(int_array(table, {int(n_seqs), cols}, int32));
    tc.keep.push_back(int_array(cache_lens, {int(n_seqs)}));
    tc.cache.slots = CacheSlots::block_table(tc.keep[0].view(), tc.keep[1].view());
  }
  return tc;
}

// got against exact within `ulps` ulps of got's dtype, measured on the magnitude of each
// element's rotation pair: a 16-bit cache rounds the pair once between the two rotations, and
// the second rotation moves that rounding (up to half an ulp of the pair's larger element) into
// both elements. float64 adds the rounding of the double angle itself (|theta| * 2^-53 per
// rotation), which no float64 computation of cos/sin at position p avoids.
inline ::testing::AssertionResult within_pair_ulps(const Array& got, const Array& exact, const RopeOptions& o,
                                                   double ulps, double max_position) {
  const int64_t D = exact.shape(-1), dims = o.dims ? o.dims : D, half = dims / 2;
  const double scale = std::max(1.0, max_abs(exact));
  const double floor = got.dtype() == float64 ? 4 * std::ldexp(max_position, -53) * scale
                                              : 8 * std::ldexp(1.0, -24) * scale;
  for (int64_t i = 0; i < got.size(); ++i) {
    const int64_t f = i % D;
    const int64_t partner = f >= dims ? f : o.layout == PairLayout::interleaved ? (f ^ 1) : (f < half ? f + half : f - half);
    const double r = exact.at(i), r2 = exact.at(i - f + partner);
    const double mag = std::sqrt(r * r + r2 * r2);
    if (std::fabs(got.at(i) - r) > ulps * ulp(mag, got.dtype()) + floor)
      return ::testing::AssertionFailure() << "element " << i << ": got " << got.at(i) << ", exact " << r << " ("
                                           << std::fabs(got.at(i) - r) / ulp(mag, got.dtype())
                                           << " ulps of the pair's magnitude " << mag << ")";
  }
  return ::testing::AssertionSuccess();
}

// LongRoPE's two factor sets at `dims`: short for the original window, long beyond it.
struct LongRopeRegimes {
  Frequencies short_freqs, long_freqs;
};
inline LongRopeRegimes longrope_regimes(int dims) {
  scaling::LongRopeParams lp;
  for (int i = 0; i < dims / 2; ++i) {
    lp.short_factor.push_back(1.0 + 0.05 * i);
    lp.long_factor.push_back(1.0 + 1.5 * i);
  }
  lp.original_max_position_embeddings = 4096;
  lp.factor = 32;
  LongRopeRegimes r{scaling::longrope(dims, 10000.0, lp, 4096), scaling::longrope(dims, 10000.0, lp, 131072)};
  r.short_freqs.attention_factor = 1.0;  // e.g. vLLM's short_mscale: the factor changes with the regime
  return r;
}

}  // namespace rotary::testing
