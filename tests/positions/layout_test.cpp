// Layouts and outputs: seq_axis -2 / -3, q and k as slices of one fused qkv tensor (no copy),
// a strided (and reversed) feature axis; new array, caller's array and in place; overlapping
// outputs refused, interleaved disjoint ones accepted.
#include <gtest/gtest.h>

#include "positions/oracle_check.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::expect_all_outputs_match;
using testing::int_array;
using testing::random_array;
using testing::throws_with;

TEST(PositionsLayout, SeqAxisMinus2AndMinus3Agree) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array bhtd = random_array({2, 3, 5, 32}, v.dtype, 31);
    const Array ids = int_array({7, 1, 2, 90, 4, 0, 6, 5, 8, 9}, {2, 5});
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    expect_all_outputs_match(bhtd, Positions::ids(ids.view()), o);
    const Array bthd = swapaxes(bhtd, 1, 2).contiguous();
    RopeOptions o3 = o;
    o3.seq_axis = -3;
    expect_all_outputs_match(bthd, Positions::ids(ids.view()), o3);
    EXPECT_TRUE(bit_equal(swapaxes(rope(bhtd, Positions::ids(ids.view()), o), 1, 2).contiguous(),
                          rope(bthd, Positions::ids(ids.view()), o3)));
    // More than one head axis: (B, T, G, H, D).
    expect_all_outputs_match(reshape(bthd, {2, 5, 3, 1, 32}), Positions(3), o3);
  }
}

TEST(PositionsLayout, FusedQkvSlicesInPlaceWithoutCopy) {
  const int B = 2, T = 3, Hq = 4, Hk = 2, D = 16;
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array qkv0 = random_array({B, T, (Hq + 2 * Hk) * D}, v.dtype, 32);
    Array qkv = qkv0.copy();
    const Array heads = reshape(qkv, {B, T, Hq + 2 * Hk, D});  // a view: qkv is contiguous
    const Array q = slice(heads, 2, 0, Hq), k = slice(heads, 2, Hq, Hq + Hk);
    ASSERT_EQ(q.view().data, qkv.raw_data());
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    o.seq_axis = -3;
    const Positions pos = Positions::offsets(int_array({5, 12}, {2}).view());
    const Array q_exact = reference::rope(q, pos, o), k_exact = reference::rope(k, pos, o);
    rope_inplace(q.view(), pos, o);
    rope_inplace(k.view(), pos, o);
    EXPECT_TRUE(testing::matches_oracle(q, q_exact));
    EXPECT_TRUE(testing::matches_oracle(k, k_exact));
    const Array heads0 = reshape(qkv0, {B, T, Hq + 2 * Hk, D});
    EXPECT_TRUE(bit_equal(slice(heads, 2, Hq + Hk, Hq + 2 * Hk).contiguous(),
                          slice(heads0, 2, Hq + Hk, Hq + 2 * Hk).contiguous()));  // v untouched
    // The same slices seen as (B, H, T, D): strided on every non-feature axis.
    const Array q2 = swapaxes(slice(reshape(qkv0, {B, T, Hq + 2 * Hk, D}), 2, 0, Hq), 1, 2);
    expect_all_outputs_match(q2, pos, testing::with_variant(RopeOptions{}, v));
  }
}

TEST(PositionsLayout, StridedAndReversedFeatureAxis) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    for (bool traditional : {false, true}) {
      RopeOptions o = testing::with_variant(RopeOptions{}, v);
      o.layout = pair_layout(traditional);
      const Array wide = random_array({2, 2, 3, 32}, v.dtype, 33);
      expect_all_outputs_match(slice(wide, 3, 1, 32, 2), Positions(4), o);  // feature stride 2
      // Feature axis reversed (stride -1), and features as a non-last memory axis.
      const Array reversed = wide.strided_view({2, 2, 3, 32}, {192, 96, 32, -1}, 31);
      expect_all_outputs_match(reversed, Positions(4), o);
      expect_all_outputs_match(transpose(random_array({32, 3, 2, 2}, v.dtype, 34)), Positions(9), o);
    }
  }
}

TEST(PositionsLayout, OutputModesPartialDimsAndStridedOut) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    o.dims = 12;  // features 12..19 are copied (or left in place)
    const Array x = random_array({2, 2, 4, 20}, v.dtype, 35);
    expect_all_outputs_match(x, Positions(2), o);
    // Into a caller's strided view (every other token of a bigger buffer).
    Array big = Array::zeros({2, 2, 8, 20}, v.dtype);
    const Array out = slice(big, 2, 0, 8, 2);
    rope(x.view(), out.view(), Positions(2), o);
    EXPECT_TRUE(testing::matches_oracle(out, reference::rope(x, Positions(2), o)));
    EXPECT_EQ(slice(big, 2, 1, 8, 2).at(5), 0.0);  // the gaps are untouched
  }
}

TEST(PositionsLayoutOverlap, InPlaceOnSelfOverlappingViewRefused) {
  // Spec regression: rows 8 elements apart but 16 wide overlap; in place would corrupt.
  Array buf = random_array({256}, float32, 36);
  const Array overlapping = buf.strided_view({1, 1, 4, 16}, {64, 64, 8, 1});
  EXPECT_TRUE(throws_with([&] { rope_inplace(overlapping.view(), Positions(0), {}); },
                          "out has elements that share memory"));
  const Array broadcast = buf.strided_view({2, 1, 4, 16}, {0, 64, 16, 1});
  EXPECT_TRUE(throws_with([&] { rope_inplace(broadcast.view(), Positions(0), {}); }, "share memory"));
  // A broadcast input read into a separate output is fine.
  const Array out = rope(broadcast, Positions(0), {});
  EXPECT_TRUE(testing::matches_oracle(out, reference::rope(broadcast, Positions(0), {})));
}

TEST(PositionsLayoutOverlap, NonNestedButDisjointViewAccepted) {
  // Head stride 2 (3 heads), token stride 3 (2 tokens), feature stride 8: 2h + 3t covers
  // {0,2,3,4,5,7}, so no two elements meet, which the exact check proves although the strides
  // are not nested (3 < the head axis' span 5).
  Array buf = random_array({200}, float32, 37);
  const Array x = buf.strided_view({1, 3, 2, 16}, {0, 2, 3, 8});
  const Array exact = reference::rope(x, Positions(1), {});
  rope_inplace(x.view(), Positions(1), {});
  EXPECT_TRUE(testing::matches_oracle(x, exact));
}

TEST(PositionsLayoutOverlap, OutOverlappingXRefusedDisjointInterleavedAccepted) {
  Array buf = random_array({2, 4, 3, 16}, float32, 38);
  const Array x = slice(buf, 2, 0, 2);
  const Array shifted = slice(buf, 2, 1, 3);  // shares x's row 1
  EXPECT_TRUE(throws_with([&] { rope(x.view(), shifted.view(), Positions(0), {}); },
                          "out overlaps x without being the same view"));
  // x = even heads, out = odd heads of one buffer: byte ranges intersect, elements do not.
  Array heads = random_array({2, 6, 3, 16}, float32, 39);
  const Array even = slice(heads, 1, 0, 6, 2), odd = slice(heads, 1, 1, 6, 2);
  const Array exact = reference::rope(even, Positions(5), {});
  rope(even.view(), odd.view(), Positions(5), {});
  EXPECT_TRUE(testing::matches_oracle(odd, exact));
  // out = x exactly is in place.
  const Array before = reference::rope(x, Positions(0), {});
  rope(x.view(), x.view(), Positions(0), {});
  EXPECT_TRUE(testing::matches_oracle(x, before));
}

TEST(PositionsLayoutValidation, LayoutErrors) {
  const Array x = random_array({2, 3, 8}, float32, 40);
  RopeOptions o;
  o.seq_axis = -1;
  EXPECT_TRUE(throws_with([&] { rope(x, Positions(0), o); }, "seq_axis must be -2"));
  o.seq_axis = -3;
  EXPECT_TRUE(throws_with([&] { rope(x, Positions(0), o); }, "seq_axis -3 needs an input (B, T, *, D)"));
  EXPECT_TRUE(throws_with([&] { rope(x.view(), random_array({2, 3, 4}, float32, 1).view(), Positions(0), {}); },
                          "out must have the shape of x"));
  EXPECT_TRUE(throws_with([&] { rope(x.view(), random_array({2, 3, 8}, float16, 1).view(), Positions(0), {}); },
                          "out must have the dtype of x"));
}

}  // namespace
}  // namespace rotary
