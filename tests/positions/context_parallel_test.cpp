// Context parallelism: each rank's shard rotated with its global ids equals the matching rows
// of the whole sequence rotated at once, bit for bit; dense and packed (ragged) forms.
#include <gtest/gtest.h>

#include "positions/oracle_check.h"
#include "rotary/context_parallel.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::int_array;
using testing::random_array;
using testing::throws_with;
namespace cp = context_parallel;

// The rank's local tokens of x (token axis `axis`): chunk r then chunk 2c-1-r, copied.
Array gather_local(const Array& x, int axis, int64_t seq_len, int rank, int world) {
  const auto chunks = cp::local_chunks(seq_len, rank, world);
  Shape shape = x.shape();
  shape[axis] = int(seq_len / world);
  Array out = Array::empty(shape, x.dtype());
  int64_t at = 0;
  for (const auto& c : chunks) {
    const Array src = slice(x, axis, int(c.begin), int(c.end));
    rope(src.view(), slice(out, axis, int(at), int(at + c.size())).view(), Positions(0),
         RopeOptions{.dims = 2, .freqs = Frequencies::from_periods({1e300})});  // angle 0: an exact copy
    at += c.size();
  }
  return out;
}

TEST(PositionsContextParallel, LocalChunksAndIds) {
  const auto c = cp::local_chunks(16, 1, 2);  // chunks of 4: rank 1 holds chunks 1 and 2
  EXPECT_EQ(c[0].begin, 4);
  EXPECT_EQ(c[0].end, 8);
  EXPECT_EQ(c[1].begin, 8);
  EXPECT_EQ(c[1].end, 12);
  const Array ids = cp::local_position_ids(16, 0, 2, 100);
  EXPECT_EQ(ids.dtype(), int64);
  const std::vector<int64_t> want = {100, 101, 102, 103, 112, 113, 114, 115};
  ASSERT_EQ(ids.size(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ids.at(i), double(want[i]));
}

TEST(PositionsContextParallel, ShardsEqualWholeSequence) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    for (int world : {1, 2, 4}) {
      const int64_t L = 8 * world;
      RopeOptions o = testing::with_variant(RopeOptions{}, v);
      o.seq_axis = -3;
      const Array x = random_array({2, int(L), 3, 32}, v.dtype, 71);
      const int64_t offset = 1000;
      const Array whole = rope(x, Positions(offset), o);
      for (int r = 0; r < world; ++r) {
        const Array ids = cp::local_position_ids(L, r, world, offset);
        const Array shard = rope(gather_local(x, 1, L, r, world), Positions::ids(ids.view()), o);
        EXPECT_TRUE(bit_equal(shard, gather_local(whole, 1, L, r, world))) << "world " << world << " rank " << r;
        EXPECT_TRUE(testing::matches_oracle(shard, gather_local(reference::rope(x, Positions(offset), o), 1, L, r, world)));
      }
    }
  }
}

TEST(PositionsContextParallel, RaggedShardsEqualWholeBatch) {
  const std::vector<int64_t> cu = {0, 8, 8, 24};  // lengths 8, 0, 16 with world 2
  const std::vector<int64_t> starts = {5, 0, 40};
  const int world = 2;
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const RopeOptions o = testing::with_variant(RopeOptions{}, v);
    const Array x = random_array({24, 2, 16}, v.dtype, 72);
    const Array whole = rope(x, Positions::ragged(int_array(cu, {4}).view(), int_array(starts, {3}).view()), o);
    for (int r = 0; r < world; ++r) {
      const cp::RaggedShard shard = cp::local_ragged(cu, r, world, starts);
      ASSERT_EQ(shard.cu_seqlens.size(), 7);
      // Gather the rank's rows sequence by sequence, as a packed shard.
      Array local = Array::empty({int(shard.cu_seqlens.at(6)), 2, 16}, v.dtype);
      Array want = Array::empty(local.shape(), v.dtype);
      int64_t at = 0;
      for (int s = 0; s < 3; ++s)
        for (const auto& c : cp::local_chunks(cu[s + 1] - cu[s], r, world)) {
          const int b = int(cu[s] + c.begin), e = int(cu[s] + c.end), n = int(c.size());
          const RopeOptions copy{.dims = 2, .freqs = Frequencies::from_periods({1e300})};
          rope(slice(x, 0, b, e).view(), slice(local, 0, int(at), int(at) + n).view(), Positions(0), copy);
          rope(slice(whole, 0, b, e).view(), slice(want, 0, int(at), int(at) + n).view(), Positions(0), copy);
          at += n;
        }
      const Array got = rope(local, Positions::ragged(shard.cu_seqlens.view(), shard.starts.view()), o);
      EXPECT_TRUE(bit_equal(got, want)) << "rank " << r;
    }
  }
}

TEST(PositionsContextParallelValidation, Errors) {
  EXPECT_TRUE(throws_with([] { cp::local_chunks(10, 0, 2); }, "seq_len must be a non-negative multiple of 2 * world_size (4)"));
  EXPECT_TRUE(throws_with([] { cp::local_chunks(16, 2, 2); }, "rank must be in [0, 2)"));
  EXPECT_TRUE(throws_with([] { cp::local_chunks(16, 0, 0); }, "world_size must be positive"));
  EXPECT_TRUE(throws_with([] { cp::local_position_ids(16, 0, 2, -1); }, "offset must not be negative"));
  EXPECT_TRUE(throws_with([] { cp::local_ragged({0, 8, 14}, 0, 2); }, "the length of sequence 1 must be"));
  EXPECT_TRUE(throws_with([] { cp::local_ragged({0, 8}, 0, 2, {1, 2}); }, "starts must have one value per sequence"));
}

}  // namespace
}  // namespace rotary
