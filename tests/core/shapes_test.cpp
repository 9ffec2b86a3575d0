// Shapes and strides of spec 1.1: decode with T == 1, 3-D to 5-D inputs, transposed
// (non-contiguous) inputs, and features beyond dims passed through bit-exact.
#include <gtest/gtest.h>

#include "test_util.h"

namespace rotary {
namespace {

using testing::close_to_oracle;
using testing::max_abs;
using testing::oracle_options;
using testing::random_array;

Array oracle(const Array& x, int dims, bool traditional, int offset) {
  return reference::rope(x, Positions(offset), oracle_options(dims, traditional, reference::inv_freq_from_base(dims, 10000)));
}

// Regression (peers): single-token decode with B > 1 left rows after the first unrotated.
TEST(Shapes, SingleTokenManyBatchRowsAndHeads) {
  for (bool traditional : {false, true}) {
    const Array x = random_array({6, 4, 1, 32}, float32, 3);
    const Array offsets({5, 17, 0, 3, 100, 9}, {6});
    const Array y = fast::rope(x, 32, traditional, 10000.f, 1.f, offsets);
    const Array exact = reference::rope(
        x, Positions::offsets(offsets.view()), oracle_options(32, traditional, reference::inv_freq_from_base(32, 10000)));
    EXPECT_TRUE(close_to_oracle(y, exact, max_abs(x)));
    // Every row changed (positions are nonzero for all but row 2, which must equal its input).
    for (int64_t b : {0, 1, 3, 4, 5}) EXPECT_NE(y.at(b * 4 * 32 + 1), x.at(b * 4 * 32 + 1)) << "row " << b;
    const Array y_int = fast::rope(x, 32, traditional, 10000.f, 1.f, 7);
    EXPECT_TRUE(close_to_oracle(y_int, oracle(x, 32, traditional, 7), max_abs(x)));
  }
}

TEST(Shapes, ThreeFourFiveDimensions) {
  for (const Shape& shape : {Shape{2, 7, 16}, Shape{2, 3, 7, 16}, Shape{2, 2, 3, 7, 16}}) {
    SCOPED_TRACE(to_string(shape));
    const Array x = random_array(shape, float32, 5);
    for (bool traditional : {false, true}) {
      const Array y = fast::rope(x, 16, traditional, 10000.f, 1.f, 2);
      EXPECT_TRUE(close_to_oracle(y, oracle(x, 16, traditional, 2), max_abs(x)));
    }
  }
}

// A (B, T, H, D) buffer viewed as (B, H, T, D): the non-contiguous input gives what its copy gives.
TEST(Shapes, TransposedInputEqualsItsContiguousCopy) {
  for (Dtype dt : {float32, float16, bfloat16, float64}) {
    const Array bthd = random_array({2, 9, 4, 24}, dt, 8);
    const Array bhtd = swapaxes(bthd, 1, 2);
    ASSERT_FALSE(bhtd.is_contiguous());
    for (bool traditional : {false, true}) {
      const Array y = fast::rope(bhtd, 16, traditional, 10000.f, 1.f, 3);
      const Array y_copy = fast::rope(bhtd.contiguous(), 16, traditional, 10000.f, 1.f, 3);
      EXPECT_TRUE(bit_equal(y.contiguous(), y_copy)) << to_string(dt);
      EXPECT_TRUE(close_to_oracle(y, oracle(bhtd, 16, traditional, 3), max_abs(bthd)));
    }
  }
}

TEST(Shapes, FeaturesBeyondDimsAreCopiedBitExact) {
  for (Dtype dt : {float32, float16, bfloat16, float64}) {
    Array x = random_array({2, 3, 5, 20}, dt, 11);
    for (bool traditional : {false, true}) {
      const Array y = fast::rope(x, 6, traditional, 10000.f, 1.f, 4);
      const Array tail_in = slice(x, -1, 6, 20), tail_out = slice(y, -1, 6, 20);
      EXPECT_TRUE(bit_equal(tail_in.contiguous(), tail_out.contiguous())) << to_string(dt);
      EXPECT_TRUE(close_to_oracle(y, oracle(x, 6, traditional, 4), max_abs(x)));
    }
  }
}

TEST(Shapes, ResultKeepsShapeAndDtypeAndLeavesInputAlone) {
  const Array x = random_array({1, 2, 3, 8}, bfloat16, 2);
  const Array before = x.copy();
  const Array y = fast::rope(x, 8, false, 10000.f, 1.f, 1);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.dtype(), bfloat16);
  EXPECT_TRUE(bit_equal(x, before));
}

TEST(Shapes, EmptyBatchAndZeroTokens) {
  const Array x = Array::zeros({0, 2, 3, 8}, float32);
  EXPECT_EQ(fast::rope(x, 8, false, 10000.f, 1.f, 0).shape(), x.shape());
  const Array z = Array::zeros({2, 2, 0, 8}, float32);
  EXPECT_EQ(fast::rope(z, 8, false, 10000.f, 1.f, 0).shape(), z.shape());
}

}  // namespace
}  // namespace rotary
