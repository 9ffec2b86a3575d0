// Position sources of the extended API: MLX offsets (int, (B,) array) and explicit ids
// ((T,) and (B,T), int32 and int64), every dtype, precision and direction, against the oracle.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "positions/oracle_check.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::expect_all_outputs_match;
using testing::int_array;
using testing::random_array;
using testing::throws_with;

RopeOptions base_options(bool traditional = false) {
  RopeOptions o;
  o.layout = pair_layout(traditional);
  return o;
}

TEST(PositionsOffset, ScalarOffsetIncludingNegative) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({2, 3, 5, 16}, v.dtype, 1);
    for (int64_t offset : {int64_t(0), int64_t(7), int64_t(-3), int64_t(1) << 20})
      expect_all_outputs_match(x, Positions(offset), testing::with_variant(base_options(), v));
  }
}

TEST(PositionsOffset, PerBatchRowArray) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({3, 2, 4, 16}, v.dtype, 2);
    const RopeOptions o = testing::with_variant(base_options(true), v);
    for (Dtype it : {int32, int64}) {
      // (B,), negative entries allowed as in MLX; (1,) and () broadcast.
      const Array per_row = int_array({0, 9, -2}, {3}, it);
      expect_all_outputs_match(x, Positions::offsets(per_row.view()), o);
      expect_all_outputs_match(x, Positions::offsets(int_array({5}, {1}, it).view()), o);
      expect_all_outputs_match(x, Positions::offsets(int_array({11}, {}, it).view()), o);
    }
  }
}

TEST(PositionsIds, SharedAcrossBatchT) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({2, 3, 6, 32}, v.dtype, 3);
    for (Dtype it : {int32, int64}) {
      const Array ids = int_array({4, 0, 17, 17, 1000, 3}, {6}, it);  // any order, repeats allowed
      expect_all_outputs_match(x, Positions::ids(ids.view()), testing::with_variant(base_options(), v));
    }
  }
}

TEST(PositionsIds, PerBatchRowBT) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({2, 3, 4, 16}, v.dtype, 4);
    for (Dtype it : {int32, int64}) {
      const Array ids = int_array({0, 1, 2, 3, 50, 51, 52, 9}, {2, 4}, it);
      expect_all_outputs_match(x, Positions::ids(ids.view()), testing::with_variant(base_options(true), v));
      // (1,T) broadcasts over the batch.
      const Array one_row = int_array({8, 6, 4, 2}, {1, 4}, it);
      expect_all_outputs_match(x, Positions::ids(one_row.view()), testing::with_variant(base_options(), v));
    }
  }
}

TEST(PositionsIds, StridedIdsAndSeqAxisMinus3) {
  // ids as a column of a wider array (non-unit stride), x as (B, T, H, D).
  const Array table = int_array({0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105}, {2, 3, 2});
  const Array ids = table.strided_view({2, 3}, {6, 2}, 1);  // (B,T) = 100..105, stride 2
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    RopeOptions o = testing::with_variant(base_options(), v);
    o.seq_axis = -3;
    const Array x = random_array({2, 3, 4, 16}, v.dtype, 5);
    expect_all_outputs_match(x, Positions::ids(ids.view()), o);
  }
}

TEST(PositionsIds, LargePositionsStayAccurate) {
  // Accurate mode: error flat in position (spec part 3), checked up to 2^20.
  const Array ids = int_array({(1 << 20) - 1, 1 << 19, 123457, 999983}, {4});
  for (Dtype d : {float32, float16, bfloat16, float64}) {
    RopeOptions o;
    o.precision = Precision::accurate;
    const Array x = random_array({1, 2, 4, 64}, d, 6);
    EXPECT_TRUE(testing::matches_oracle(rope(x, Positions::ids(ids.view()), o),
                                        reference::rope(x, Positions::ids(ids.view()), o)));
  }
}

TEST(PositionsRegression, SingleTokenManyRowsRotatesEveryRow) {
  // T == 1 with B > 1: each batch row must get its own position (decode with per-row caches).
  const Array offsets = int_array({3, 40, 500, 7}, {4});
  const Array ids = int_array({3, 40, 500, 7}, {4, 1});
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const RopeOptions o = testing::with_variant(base_options(), v);
    std::vector<float> row_values(8 * 32);
    for (size_t i = 0; i < row_values.size(); ++i) row_values[i] = float(std::sin(0.37 * double(i)));
    std::vector<float> values;
    for (int b = 0; b < 4; ++b) values.insert(values.end(), row_values.begin(), row_values.end());
    const Array x(values.data(), {4, 8, 1, 32}, v.dtype);  // the same rows in every batch entry
    expect_all_outputs_match(x, Positions::offsets(offsets.view()), o);
    expect_all_outputs_match(x, Positions::ids(ids.view()), o);
    const Array by_offset = rope(x, Positions::offsets(offsets.view()), o);
    EXPECT_TRUE(bit_equal(by_offset, rope(x, Positions::ids(ids.view()), o)));
    for (int b = 0; b < 4; ++b) {
      const Array row = rope(slice(x, 0, b, b + 1), Positions(int64_t(offsets.at(b))), o);
      EXPECT_TRUE(bit_equal(row, slice(by_offset, 0, b, b + 1).contiguous())) << "row " << b;
      if (b > 0) EXPECT_FALSE(bit_equal(row, slice(by_offset, 0, 0, 1).contiguous())) << "row " << b;
    }
  }
}

TEST(PositionsValidation, OffsetsErrorsNameTheArgument) {
  const Array x = random_array({2, 1, 3, 8}, float32, 8);
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::offsets(int_array({1, 2, 3}, {3}).view()), {}); },
                          "offset must be a scalar or vector with 2 elements"));
  const Array f = Array(std::initializer_list<float>{1.0f, 2.0f});
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::offsets(f.view()), {}); }, "offset must be an integer"));
}

TEST(PositionsValidation, IdsErrorsNameTheArgument) {
  const Array x = random_array({2, 1, 3, 8}, float32, 9);
  auto run = [&](const Array& ids) { return [&x, ids] { rope(x, Positions::ids(ids.view()), {}); }; };
  EXPECT_TRUE(throws_with(run(int_array({0, 1, 2, 3}, {4})), "position_ids must have shape (3,) or (2,3)"));
  EXPECT_TRUE(throws_with(run(int_array({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3})), "position_ids must have shape"));
  EXPECT_TRUE(throws_with(run(int_array({0, 1, 2, 0, 1, 2}, {1, 2, 3})), "multi-axis ids need freqs"));
  EXPECT_TRUE(throws_with(run(int_array({0, -1, 2}, {3}, int32)), "position_ids must not be negative but element 1 is -1"));
  EXPECT_TRUE(throws_with(run(Array(std::initializer_list<float>{0, 1, 2})), "position_ids must be an integer array"));
}

}  // namespace
}  // namespace rotary
