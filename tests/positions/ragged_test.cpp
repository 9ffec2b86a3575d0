// Ragged (packed) batches: (total_T, *heads, D) with cu_seqlens and optional starts, against
// the oracle and against rotating each sequence on its own; and the argument checks.
#include <gtest/gtest.h>

#include "positions/oracle_check.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::expect_all_outputs_match;
using testing::int_array;
using testing::random_array;
using testing::throws_with;

// Lengths 5, 0, 1, 7: a sequence of length 0 and one of length 1 (spec regression).
const std::vector<int64_t> kCu = {0, 5, 5, 6, 13};
const std::vector<int64_t> kStarts = {3, 9, 0, 100};

TEST(PositionsRagged, MixedLengthsWithEmptyAndSingleToken) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({13, 4, 32}, v.dtype, 11);
    for (Dtype it : {int32, int64}) {
      const Array cu = int_array(kCu, {5}, it);
      const Array starts = int_array(kStarts, {4}, it);
      for (bool traditional : {false, true}) {
        RopeOptions o = testing::with_variant(RopeOptions{}, v);
        o.layout = pair_layout(traditional);
        expect_all_outputs_match(x, Positions::ragged(cu.view()), o);
        expect_all_outputs_match(x, Positions::ragged(cu.view(), starts.view()), o);
      }
    }
  }
}

TEST(PositionsRagged, EqualsRotatingEachSequenceAlone) {
  const Array cu = int_array(kCu, {5});
  const Array starts = int_array(kStarts, {4});
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const RopeOptions o = testing::with_variant(RopeOptions{}, v);
    const Array x = random_array({13, 2, 16}, v.dtype, 12);
    const Array packed = rope(x, Positions::ragged(cu.view(), starts.view()), o);
    for (int s = 0; s < 4; ++s) {
      if (kCu[s] == kCu[s + 1]) continue;
      // Sequence s alone as (1, T, H, D) at offset starts[s].
      const Array seq = slice(x, 0, int(kCu[s]), int(kCu[s + 1]));
      const Shape shape4 = {1, seq.shape(0), 2, 16};
      RopeOptions o3 = o;
      o3.seq_axis = -3;
      const Array alone = rope(reshape(seq, shape4), Positions(kStarts[s]), o3);
      EXPECT_TRUE(bit_equal(reshape(alone, seq.shape()), slice(packed, 0, int(kCu[s]), int(kCu[s + 1])).contiguous()))
          << "sequence " << s;
    }
  }
}

TEST(PositionsRagged, NoHeadAxisStridedTokensAndPartialDims) {
  const Array cu = int_array({0, 1, 4, 4, 6}, {5}, int32);
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    o.dims = 8;  // partial rotary: features 8..15 pass through
    expect_all_outputs_match(random_array({6, 16}, v.dtype, 13), Positions::ragged(cu.view()), o);
    // Every other head of a (6, 6, 16) buffer: a strided head axis, no copy.
    const Array wide = random_array({6, 6, 16}, v.dtype, 14);
    const Array heads = slice(wide, 1, 0, 6, 2);
    const Array exact = reference::rope(heads, Positions::ragged(cu.view()), o);
    Array in_place = wide.copy();
    rope_inplace(slice(in_place, 1, 0, 6, 2).view(), Positions::ragged(cu.view()), o);
    EXPECT_TRUE(testing::matches_oracle(slice(in_place, 1, 0, 6, 2), exact));
    EXPECT_TRUE(bit_equal(slice(in_place, 1, 1, 6, 2).contiguous(), slice(wide, 1, 1, 6, 2).contiguous()));
  }
}

TEST(PositionsRagged, AllSequencesEmptyAndNoSequences) {
  const Array x = random_array({0, 2, 8}, float32, 15);
  EXPECT_NO_THROW(rope(x, Positions::ragged(int_array({0, 0, 0}, {3}).view()), {}));
  EXPECT_NO_THROW(rope(x, Positions::ragged(int_array({0}, {1}).view()), {}));
}

TEST(PositionsRaggedValidation, CuSeqlensErrorsNameTheArgument) {
  const Array x = random_array({6, 2, 8}, float32, 16);
  auto run = [&](const Array& cu) { return [&x, cu] { rope(x, Positions::ragged(cu.view()), {}); }; };
  EXPECT_TRUE(throws_with(run(int_array({1, 3, 6}, {3})), "cu_seqlens must start at 0 but starts at 1"));
  EXPECT_TRUE(throws_with(run(int_array({0, 4, 3, 6}, {4})), "cu_seqlens must be non-decreasing but element 2 (3)"));
  EXPECT_TRUE(throws_with(run(int_array({0, 3, 5}, {3})), "cu_seqlens must end at the number of tokens (6) but ends at 5"));
  EXPECT_TRUE(throws_with(run(int_array({0, 3, 9}, {3})), "cu_seqlens must end at the number of tokens (6)"));
  EXPECT_TRUE(throws_with(run(int_array({0, 3, 3, 6}, {2, 2})), "cu_seqlens must be one dimensional"));
  EXPECT_TRUE(throws_with(run(Array(std::initializer_list<float>{0, 6})), "cu_seqlens must be an integer array"));
}

TEST(PositionsRaggedValidation, StartsErrorsNameTheArgument) {
  const Array x = random_array({6, 2, 8}, float32, 17);
  const Array cu = int_array({0, 2, 6}, {3});
  auto run = [&](const Array& st) { return [&x, &cu, st] { rope(x, Positions::ragged(cu.view(), st.view()), {}); }; };
  EXPECT_TRUE(throws_with(run(int_array({0, 1, 2}, {3})), "starts must have one element per sequence (2)"));
  EXPECT_TRUE(throws_with(run(int_array({4, -1}, {2}, int32)), "starts must not be negative but element 1 is -1"));
  EXPECT_TRUE(throws_with(run(Array(std::initializer_list<float>{0, 1})), "starts must be an integer array"));
  // A ragged x needs only a token axis and a feature axis.
  EXPECT_TRUE(throws_with([&] { rope(random_array({6}, float32, 1), Positions::ragged(cu.view()), {}); },
                          "Input must have at least 2 dimensions"));
}

}  // namespace
}  // namespace rotary
