// The API boundary refuses what it cannot index (issue 11 items 4 and 7): positions past
// int64, and TensorViews that are not well formed. Each refusal names the argument and writes
// nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "positions/oracle_check.h"
#include "rotary/rotary.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::throws_with;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

RopeOptions options() {
  RopeOptions o;
  o.dims = 4;
  return o;
}

// A (1, 1, T, 4) float32 buffer and a checker that it is still as it was.
struct Buffer {
  explicit Buffer(int T) : values(size_t(T) * 4) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = float(i) + 0.5f;
    original = values;
    view = TensorView(values.data(), float32, {1, 1, T, 4});
  }
  bool untouched() const { return std::memcmp(values.data(), original.data(), values.size() * 4) == 0; }
  std::vector<float> values, original;
  TensorView view;
};

TEST(PositionOverflow, ScalarOffsetPastInt64IsRefused) {
  Buffer x(2);
  EXPECT_TRUE(throws_with([&] { rope_inplace(x.view, Positions(kMax), options()); },
                          "offset is 9223372036854775807; plus the token index (up to 1) it overflows int64"));
  EXPECT_TRUE(x.untouched());
  // The last representable position is fine.
  EXPECT_NO_THROW(rope_inplace(x.view, Positions(kMax - 1), options()));
}

TEST(PositionOverflow, OffsetArrayElementPastInt64IsRefused) {
  std::vector<float> buf(2 * 3 * 4, 1.0f);
  const TensorView x(buf.data(), float32, {2, 1, 3, 4});
  const std::vector<float> before = buf;
  const Array offsets = int_array({0, kMax - 1}, {2});
  EXPECT_TRUE(throws_with([&] { rope_inplace(x, Positions::offsets(offsets.view()), options()); },
                          "offset[1] is 9223372036854775806; plus the token index (up to 2) it overflows"));
  EXPECT_EQ(buf, before);
  const Array fits = int_array({0, kMax - 2}, {2});
  EXPECT_NO_THROW(rope_inplace(x, Positions::offsets(fits.view()), options()));
}

TEST(PositionOverflow, RaggedStartPastInt64IsRefused) {
  Buffer x(3);
  const TensorView packed(x.values.data(), float32, {3, 1, 4});
  const Array cu = int_array({0, 1, 3}, {3});
  const Array starts = int_array({kMax, kMax}, {2});  // sequence 0 has 1 token: fits; sequence 1 has 2
  EXPECT_TRUE(throws_with([&] { rope_inplace(packed, Positions::ragged(cu.view(), starts.view()), options()); },
                          "starts[1] is 9223372036854775807; plus the token index (up to 1) it overflows"));
  EXPECT_TRUE(x.untouched());
  const Array fits = int_array({kMax, kMax - 1}, {2});
  EXPECT_NO_THROW(rope_inplace(packed, Positions::ragged(cu.view(), fits.view()), options()));
}

TEST(ViewChecks, StridesMustMatchTheShape) {
  Buffer x(2);
  TensorView short_strides = x.view;
  short_strides.strides = {8, 4};
  EXPECT_TRUE(throws_with([&] { rope_inplace(short_strides, Positions(0), options()); },
                          "[rope] x has 4 dimensions but 2 strides; a view needs one stride per dimension."));
  std::vector<float> out_buf(8, 0.0f);
  TensorView out(out_buf.data(), float32, {1, 1, 2, 4});
  out.strides.pop_back();
  EXPECT_TRUE(throws_with([&] { rope(x.view, out, Positions(0), options()); }, "[rope] out has 4 dimensions but 3"));
  EXPECT_TRUE(x.untouched());
  EXPECT_EQ(out_buf, std::vector<float>(8, 0.0f));
}

TEST(ViewChecks, NegativeSizesAreRefused) {
  Buffer x(2);
  TensorView negative = x.view;
  negative.shape[2] = -2;
  EXPECT_TRUE(throws_with([&] { rope_inplace(negative, Positions(0), options()); },
                          "[rope] x has a negative size in its shape (1,1,-2,4)."));
  const Array ids = int_array({0, 1}, {2});
  TensorView bad_ids = ids.view();
  bad_ids.shape[0] = -1;
  EXPECT_TRUE(throws_with([&] { rope_inplace(x.view, Positions::ids(bad_ids), options()); },
                          "[rope] position_ids has a negative size"));
  EXPECT_TRUE(x.untouched());
}

TEST(ViewChecks, NullDataOnlyForEmptyViews) {
  Buffer x(2);
  const TensorView null_x(nullptr, float32, {1, 1, 2, 4});
  EXPECT_TRUE(throws_with([&] { rope_inplace(null_x, Positions(0), options()); },
                          "[rope] x has no data (a null pointer) but 8 elements; only an empty view may have null data."));
  const TensorView null_offsets(nullptr, int64, {1});
  EXPECT_TRUE(throws_with([&] { rope_inplace(x.view, Positions::offsets(null_offsets), options()); },
                          "[rope] offset has no data (a null pointer) but 1 elements"));
  const TensorView null_ids(nullptr, int64, {2});
  EXPECT_TRUE(throws_with([&] { rope_inplace(x.view, Positions::ids(null_ids), options()); },
                          "[rope] position_ids has no data"));
  const Array cu = int_array({0, 2}, {2});
  const TensorView null_starts(nullptr, int64, {1});
  const TensorView packed(x.values.data(), float32, {2, 1, 4});
  EXPECT_TRUE(throws_with([&] { rope_inplace(packed, Positions::ragged(cu.view(), null_starts), options()); },
                          "[rope] starts has no data"));
  EXPECT_TRUE(x.untouched());
  // An empty view may have null data: nothing to read or write.
  const TensorView empty(nullptr, float32, {1, 1, 0, 4});
  EXPECT_NO_THROW(rope_inplace(empty, Positions(0), options()));
}

}  // namespace
}  // namespace rotary
