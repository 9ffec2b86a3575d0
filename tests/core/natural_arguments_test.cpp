// The API takes what a user naturally passes (issue 11 item 13): an Array where a view is
// wanted, a std::vector or std::span to build an Array. The docs' snippets compile as written.
#include <gtest/gtest.h>

#include <span>
#include <stdexcept>
#include <vector>

#include "reference/oracle.h"
#include "rotary/rotary.h"
#include "test_util.h"

namespace rotary {
namespace {

using testing::close_to_oracle;
using testing::max_abs;
using testing::random_array;

TEST(NaturalArguments, ArrayFromVectorAndSpan) {
  const int T = 4;
  std::vector<int64_t> ids_data = {0, 1, 2, 3, 0, 0, 1, 1, 0, 1, 0, 1};
  Array thw(ids_data, {3, T});  // docs/API.md's M-RoPE snippet
  EXPECT_EQ(thw.shape(), (Shape{3, T}));
  EXPECT_EQ(thw.dtype(), int64);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(thw.at(i), double(ids_data[i]));
  const std::vector<float> values = {1.5f, -2.0f, 3.25f};
  const Array flat(values);  // no shape: 1-D
  EXPECT_EQ(flat.shape(), (Shape{3}));
  EXPECT_EQ(flat.at(2), 3.25);
  const Array from_span(std::span<const int64_t>(ids_data).first(6), {2, 3});
  EXPECT_EQ(from_span.shape(), (Shape{2, 3}));
  EXPECT_EQ(from_span.at(5), double(ids_data[5]));
  EXPECT_EQ(from_span.at(3), double(ids_data[3]));
  EXPECT_THROW(Array(ids_data, {5, 3}), std::invalid_argument);  // 12 values cannot fill 15
}

TEST(NaturalArguments, PositionsFromArraysMatchViews) {
  const Array x = random_array({2, 3, 4, 16}, float32);
  const Array ids({3, 1, 4, 1, 5, 9, 2, 6}, {2, 4});
  RopeOptions o;
  const Array via_view = rope(x, Positions::ids(ids.view()), o);
  const Array via_array = rope(x, Positions::ids(ids), o);  // README's Positions::ids(position_ids)
  EXPECT_TRUE(bit_equal(via_view, via_array));
  EXPECT_TRUE(close_to_oracle(via_array, reference::rope(x, Positions::ids(ids), o), max_abs(x)));
  // A temporary Array is kept alive by the Positions.
  const Positions temporary = Positions::offsets(Array({7, 11}, {2}));
  const Array offsets({7, 11}, {2});
  EXPECT_TRUE(bit_equal(rope(x, temporary, o), rope(x, Positions::offsets(offsets.view()), o)));
  const Array packed = random_array({5, 2, 16}, float32);
  const Positions ragged = Positions::ragged(Array({0, 2, 5}, {3}), Array({10, 20}, {2}));
  const Array cu({0, 2, 5}, {3}), starts({10, 20}, {2});
  EXPECT_TRUE(bit_equal(rope(packed, ragged, o), rope(packed, Positions::ragged(cu.view(), starts.view()), o)));
}

TEST(NaturalArguments, ArraysWhereViewsAreWanted) {
  const Array q = random_array({1, 4, 2, 8}, float32), k = random_array({1, 1, 2, 8}, float32);
  const Array q_expected = rope(q, Positions(3), {}), k_expected = rope(k, Positions(3), {});
  Array q_out = Array::zeros(q.shape(), float32), k_out = Array::zeros(k.shape(), float32);
  rope_qk(q, k, q_out, k_out, Positions(3), {});  // Arrays as the TensorViews of rope_qk
  EXPECT_TRUE(bit_equal(q_out, q_expected));
  EXPECT_TRUE(bit_equal(k_out, k_expected));
  Array x = q.copy();
  rope_inplace(x, Positions(3), {});
  EXPECT_TRUE(bit_equal(x, q_expected));
}

}  // namespace
}  // namespace rotary
