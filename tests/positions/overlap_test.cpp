// The exact memory-overlap checks behind the in-place and Q/K rules (core/validate.h).
#include <gtest/gtest.h>

#include <vector>

#include "core/validate.h"

namespace rotary::core {
namespace {

TensorView view(float* base, int64_t offset, Shape shape, Strides strides) {
  return TensorView(base + offset, float32, std::move(shape), std::move(strides));
}

TEST(PositionsOverlapCheck, SelfOverlap) {
  std::vector<float> buf(1024);
  float* p = buf.data();
  EXPECT_FALSE(overlaps_itself(view(p, 0, {2, 3, 4}, {12, 4, 1})));           // contiguous
  EXPECT_FALSE(overlaps_itself(view(p, 0, {2, 3, 4}, {1, 8, 24})));           // permuted
  EXPECT_FALSE(overlaps_itself(view(p, 12, {2, 3, 4}, {-12, 4, -1})));        // reversed
  EXPECT_FALSE(overlaps_itself(view(p, 0, {3, 2, 16}, {2, 3, 8})));           // not nested, disjoint
  EXPECT_FALSE(overlaps_itself(view(p, 0, {5, 1, 4}, {4, 0, 1})));            // zero stride on size 1
  EXPECT_FALSE(overlaps_itself(view(p, 0, {0, 3}, {0, 0})));                  // empty
  EXPECT_TRUE(overlaps_itself(view(p, 0, {2, 4}, {0, 1})));                   // broadcast
  EXPECT_TRUE(overlaps_itself(view(p, 0, {4, 16}, {8, 1})));                  // rows overlap
  EXPECT_TRUE(overlaps_itself(view(p, 0, {3, 2, 16}, {2, 3, 7})));            // 2*2 + 3 - 7 = 0
  EXPECT_TRUE(overlaps_itself(view(p, 0, {2, 2}, {5, 5})));                   // equal strides
}

TEST(PositionsOverlapCheck, TwoViews) {
  std::vector<float> buf(4096);
  float* p = buf.data();
  // Fused qkv (T=3, 12 heads of 8): q = heads 0..7, k = heads 8..9, v = heads 10..11.
  const TensorView q = view(p, 0, {3, 8, 8}, {96, 8, 1}), k = view(p, 64, {3, 2, 8}, {96, 8, 1}),
                   v = view(p, 80, {3, 2, 8}, {96, 8, 1});
  EXPECT_TRUE(ranges_intersect(q, k));  // the old range test refused these
  EXPECT_FALSE(may_share_memory(q, k));
  EXPECT_FALSE(may_share_memory(k, v));
  EXPECT_TRUE(may_share_memory(q, view(p, 60, {3, 2, 8}, {96, 8, 1})));  // k shifted into q's last head
  EXPECT_TRUE(may_share_memory(q, q));
  EXPECT_FALSE(may_share_memory(view(p, 0, {10}, {2}), view(p, 1, {10}, {2})));   // even vs odd
  EXPECT_TRUE(may_share_memory(view(p, 0, {10}, {2}), view(p, 4, {10}, {3})));    // meet at 4
  EXPECT_FALSE(may_share_memory(view(p, 0, {4}, {1}), view(p, 4, {4}, {1})));     // adjacent
  EXPECT_FALSE(may_share_memory(view(p, 0, {0}, {1}), view(p, 0, {4}, {1})));     // empty
  // Bytes, not elements: a float16 view inside a float32 element shares memory.
  const TensorView half(reinterpret_cast<char*>(p) + 2, float16, {1}, {1});
  EXPECT_TRUE(may_share_memory(view(p, 0, {1}, {1}), half));
  const TensorView next_half(reinterpret_cast<char*>(p) + 4, float16, {1}, {1});
  EXPECT_FALSE(may_share_memory(view(p, 0, {1}, {1}), next_half));
  // Different dims interleaved per token (x = even heads, out = odd heads).
  EXPECT_FALSE(may_share_memory(view(p, 0, {4, 3, 16}, {96, 32, 1}), view(p, 16, {4, 3, 16}, {96, 32, 1})));
}

}  // namespace
}  // namespace rotary::core
