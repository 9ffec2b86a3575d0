// The cases of the cos/sin-table tests (RopeOptions::table), shared by the CPU test
// (tests/cpu/table_test.cpp) and the GPU test (tests/cuda/table_cuda_test.cpp): the table holds
// the float64 oracle's own angles, so rotating with it must give the oracle's result.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace rotary::testing {

struct TableCase {
  Dtype dtype = float32;
  bool interleaved = false;
  bool per_feature = false;  // table width dims (else dims/2)
  bool by_position = false;
  bool inverse = false;
  TableRounding rounding = TableRounding::fused;
};

// Every dtype, both layouts, both table widths, token and position rows, the inverse, both roundings.
inline std::vector<TableCase> all_table_cases() {
  std::vector<TableCase> cases;
  for (Dtype dtype : {float32, float16, bfloat16, float64})
    for (bool interleaved : {false, true})
      for (bool per_feature : {false, true})
        for (bool by_position : {false, true})
          for (bool inverse : {false, true})
            for (TableRounding rounding : {TableRounding::fused, TableRounding::hf})
              cases.push_back({dtype, interleaved, per_feature, by_position, inverse, rounding});
  return cases;
}

inline std::string describe(const TableCase& c) {
  return to_string(c.dtype) + (c.interleaved ? " interleaved" : " half_split") +
         (c.per_feature ? " per_feature" : " per_pair") + (c.by_position ? " by_position" : " by_token") +
         (c.inverse ? " inverse" : "") + (c.rounding == TableRounding::hf ? " hf" : " fused");
}

// cos/sin of every table row r at position row_position(r), width columns, in table_dtype, of shape
// `shape` (rows elements before the last axis).
inline Array make_table(const std::vector<double>& inv_freq, const Shape& shape, bool interleaved, bool want_sin,
                        Dtype table_dtype, const std::function<int64_t(int64_t)>& row_position) {
  const int pairs = int(inv_freq.size());
  const int width = shape.back();
  int64_t rows = 1;
  for (size_t a = 0; a + 1 < shape.size(); ++a) rows *= shape[a];
  std::vector<double> v(rows * width);
  for (int64_t r = 0; r < rows; ++r)
    for (int w = 0; w < width; ++w) {
      const int pair = width == pairs ? w : (interleaved ? w / 2 : w % pairs);
      const double theta = double(row_position(r)) * inv_freq[pair];
      v[r * width + w] = want_sin ? std::sin(theta) : std::cos(theta);
    }
  return Array(v.data(), shape).astype(table_dtype);
}

// The host inputs of one case: x (B, H, T, D), position ids (B, T), the oracle's options and
// the cos/sin table (float32, float64 for float64 x).
struct TableInputs {
  static constexpr int kB = 2, kH = 3, kT = 5, kD = 16, kDims = 12, kRows = 40;
  TableCase c;
  std::vector<int64_t> id_values;  // token (b, t) at id_values[b * T + t]
  RopeOptions exact;               // the oracle's: frequencies instead of the table
  Array x, ids, cos, sin;

  explicit TableInputs(const TableCase& tc)
      : c(tc),
        id_values(token_ids()),
        exact(oracle_options(tc)),
        x(random_array({kB, kH, kT, kD}, tc.dtype, 7)),
        ids(id_values.data(), {kB, kT}),
        cos(table_of(false)),
        sin(table_of(true)) {}

  static std::vector<int64_t> token_ids() {
    std::vector<int64_t> id(kB * kT);
    for (int64_t i = 0; i < kB * kT; ++i) id[i] = (i * 7 + 3) % kRows;
    return id;
  }
  static RopeOptions oracle_options(const TableCase& tc) {
    RopeOptions o;
    o.dims = kDims;
    o.layout = pair_layout(tc.interleaved);
    o.inverse = tc.inverse;
    o.freqs.inv_freq = reference::inv_freq_from_base(kDims, 10000);
    return o;
  }
  // Position rows (kRows, W) or token rows (B, T, W); float32, float64 for float64 x.
  Array table_of(bool want_sin) const {
    const int width = c.per_feature ? kDims : kDims / 2;
    const Dtype table_dtype = c.dtype == float64 ? float64 : float32;
    const std::vector<int64_t>& id = id_values;
    auto by_token = [&id](int64_t r) { return id[r]; };  // row r = b * T + t
    auto identity = [](int64_t r) { return r; };
    const Shape shape = c.by_position ? Shape{kRows, width} : Shape{kB, kT, width};
    const std::function<int64_t(int64_t)> where =
        c.by_position ? std::function<int64_t(int64_t)>(identity) : by_token;
    return make_table(exact.freqs.inv_freq, shape, c.interleaved, want_sin, table_dtype, where);
  }
  CosSinTable table(const Array& cos_on, const Array& sin_on) const {
    return {cos_on.view(), sin_on.view(), c.by_position ? CosSinTable::Rows::position : CosSinTable::Rows::token};
  }
  // The table call's options, angles from `table`.
  RopeOptions options(const CosSinTable& table) const {
    RopeOptions o = exact;
    o.freqs = {};
    o.table = &table;
    o.rounding = c.rounding;
    return o;
  }
  Array oracle() const { return reference::rope(x, Positions::ids(ids.view()), exact); }
};

inline bool is_16bit(Dtype d) { return d == float16 || d == bfloat16; }

// hf rounding in a 16-bit dtype rounds three times, each product at its own magnitude: within
// 1.5 ulps of the largest input of the exact result (three half-ulp roundings); 2 allowed.
// Every other case: the oracle's tolerance.
inline ::testing::AssertionResult table_result_close(const TableCase& c, const Array& got, const Array& exact,
                                                     double input_scale) {
  if (!(c.rounding == TableRounding::hf && is_16bit(c.dtype))) return close_to_oracle(got, exact, input_scale);
  const double allowed = 2 * ulp(input_scale, got.dtype());
  for (int64_t i = 0; i < got.size(); ++i)
    if (std::fabs(got.at(i) - exact.at(i)) > allowed)
      return ::testing::AssertionFailure() << "element " << i << ": got " << got.at(i) << ", exact " << exact.at(i);
  return ::testing::AssertionSuccess();
}

}  // namespace rotary::testing
