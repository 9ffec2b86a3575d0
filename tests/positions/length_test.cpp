// positions_length: the largest position + 1 of a call, which picks length-dependent
// frequencies (dynamic NTK, LongRoPE), for every positions form, against known answers.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "positions/oracle_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::throws_with;

TEST(PositionsLength, ScalarOffsetAddsTheTokensOfTheSequenceAxis) {
  EXPECT_EQ(positions_length(Positions(7), {2, 4, 5, 16}), 12);             // (B, H, T, D): T = 5
  EXPECT_EQ(positions_length(Positions(7), {2, 5, 4, 16}, -3), 12);         // (B, T, H, D)
  EXPECT_EQ(positions_length(Positions(0), {1, 8, 1, 128}), 1);             // a decode step at 0
  EXPECT_EQ(positions_length(Positions(4096), {1, 8, 1, 128}), 4097);
  EXPECT_EQ(positions_length(Positions(9), {2, 4, 0, 16}), 0);              // no token
}

TEST(PositionsLength, OffsetArrayTakesItsLargestRow) {
  for (Dtype dt : {int32, int64, uint32}) {
    SCOPED_TRACE(to_string(dt));
    const Array rows = int_array({3, 100, 9}, {3}, dt);
    EXPECT_EQ(positions_length(Positions::offsets(rows), {3, 2, 6, 8}), 106);
    EXPECT_EQ(positions_length(Positions::offsets(int_array({41}, {1}, dt)), {2, 2, 6, 8}), 47);
    EXPECT_EQ(positions_length(Positions::offsets(int_array({41}, {}, dt)), {2, 6, 2, 8}, -3), 47);
  }
}

TEST(PositionsLength, IdsTakeTheirLargestWhateverTheLayout) {
  EXPECT_EQ(positions_length(Positions::ids(int_array({4, 2, 9, 0}, {4}, int32)), {1, 2, 4, 8}), 10);
  // (B, T), read through a transposed (strided) view: the largest is in row 1.
  const Array bt = int_array({0, 5, 1, 6, 2, 7000}, {3, 2});
  EXPECT_EQ(positions_length(Positions::ids(transpose(bt)), {2, 1, 3, 8}), 7001);
  EXPECT_EQ(positions_length(Positions::ids(int_array({}, {0})), {1, 1, 0, 8}), 0);
}

TEST(PositionsLength, MultiAxisIdsTakeTheLargestOverEveryStream) {
  // M-RoPE (3, T): temporal, height, width; the width stream reaches furthest.
  const Array streams = int_array({0, 1, 2, 3, 0, 0, 1, 1, 0, 1, 0, 12}, {3, 4});
  EXPECT_EQ(positions_length(Positions::ids(streams), {1, 2, 4, 8}), 13);
  // (3, B, T) with the largest in the temporal stream of row 1.
  const Array sbt = int_array({0, 1, 50, 51, 0, 0, 0, 0, 1, 1, 2, 2}, {3, 2, 2}, int32);
  EXPECT_EQ(positions_length(Positions::ids(sbt), {2, 2, 2, 8}), 52);
}

TEST(PositionsLength, RaggedTakesTheLargestStartPlusLength) {
  const Array cu = int_array({0, 3, 3, 7}, {4}, int32);  // lengths 3, 0, 4
  EXPECT_EQ(positions_length(Positions::ragged(cu), {7, 2, 8}), 4);
  // Starts 10, 500, 2: the empty sequence has no position, so its start does not count.
  EXPECT_EQ(positions_length(Positions::ragged(cu, int_array({10, 500, 2}, {3})), {7, 2, 8}), 13);
  EXPECT_EQ(positions_length(Positions::ragged(cu, int_array({10, 500, 2000}, {3}, uint32)), {7, 2, 8}), 2004);
  EXPECT_EQ(positions_length(Positions::ragged(int_array({0}, {1})), {0, 2, 8}), 0);
}

TEST(PositionsLength, RefusesWhatItCannotRead) {
  const float f[2] = {1.0f, 2.0f};
  EXPECT_TRUE(throws_with([&] { positions_length(Positions::ids(Array(f, {2}, float32)), {1, 1, 2, 8}); },
                          "position_ids must be an integer array but got type float32"));
  const Array cu = int_array({0, 3, 7}, {3});
  EXPECT_TRUE(throws_with([&] { positions_length(Positions::ragged(cu, int_array({1}, {1})), {7, 2, 8}); },
                          "starts must have one element per sequence (2) but has shape (1)"));
  EXPECT_TRUE(throws_with([&] { positions_length(Positions::ragged(int_array({}, {0})), {0, 2, 8}); },
                          "cu_seqlens must be one dimensional with n+1 >= 1 elements"));
  EXPECT_TRUE(throws_with([&] { positions_length(Positions(0), {4, 8}, -3); }, "seq_axis -3 is not a token axis"));
  EXPECT_TRUE(throws_with([&] { positions_length(Positions(0), {2, 4, 8}, -1); }, "seq_axis -1 is not a token axis"));
  EXPECT_TRUE(throws_with([&] { positions_length(Positions(std::numeric_limits<int64_t>::max()), {1, 1, 2, 8}); },
                          "overflows int64"));
}

}  // namespace
}  // namespace rotary
