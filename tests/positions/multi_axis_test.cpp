// Multi-axis positions: M-RoPE (Qwen2-VL contiguous sections, Qwen3-VL interleaved) and 2-D
// vision RoPE, against the oracle and against plain RoPE per stream; text tokens reduce to
// plain RoPE exactly; mismatched sections and stream counts are refused.
#include <gtest/gtest.h>

#include "positions/oracle_check.h"
#include "rotary/scaling.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::expect_all_outputs_match;
using testing::int_array;
using testing::random_array;
using testing::throws_with;

// (S, B, T) ids with distinct streams: t, h, w of an image grid after some text.
Array grid_ids(int streams, int B, int T, Dtype it) {
  std::vector<int64_t> v;
  for (int s = 0; s < streams; ++s)
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) v.push_back(s == 0 ? 4 + b + t / 4 : 4 + b + (s == 1 ? t % 4 : (t * 7) % 5));
  return int_array(v, {streams, B, T}, it);
}

TEST(PositionsMultiAxis, MRopeContiguousSections) {
  RopeOptions base;
  base.freqs = testing::mrope_freqs(16, 10000.0, {2, 3, 3}, false);
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({2, 3, 8, 16}, v.dtype, 21);
    for (Dtype it : {int32, int64}) {
      const Array ids = grid_ids(3, 2, 8, it);
      expect_all_outputs_match(x, Positions::ids(ids.view()), testing::with_variant(base, v));
      // (S, T) shares the ids across the batch.
      const Array shared = slice(ids, 1, 0, 1).contiguous();
      expect_all_outputs_match(x, Positions::ids(reshape(shared, {3, 8}).view()), testing::with_variant(base, v));
    }
  }
}

TEST(PositionsMultiAxis, MRopeInterleavedQwen3VL) {
  RopeOptions base;
  base.freqs = testing::mrope_freqs(128, 5000000.0, {24, 20, 20}, true);
  base.seq_axis = -3;
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const Array x = random_array({1, 8, 2, 128}, v.dtype, 22);
    expect_all_outputs_match(x, Positions::ids(grid_ids(3, 1, 8, int64).view()), testing::with_variant(base, v));
  }
}

TEST(PositionsMultiAxis, EachPairReadsItsSectionsStream) {
  // Independent of the oracle: pair j of M-RoPE equals pair j of plain RoPE run with stream
  // pair_position_stream[j] alone (same frequencies), bit for bit.
  for (bool interleaved : {false, true}) {
    const std::vector<int> sections = interleaved ? std::vector<int>{6, 5, 5} : std::vector<int>{4, 6, 6};
    RopeOptions mrope;
    mrope.freqs = testing::mrope_freqs(32, 10000.0, sections, interleaved);
    const Array ids = grid_ids(3, 1, 8, int64);
    const Array x = random_array({1, 2, 8, 32}, float32, 23);
    const Array got = rope(x, Positions::ids(reshape(ids, {3, 8}).view()), mrope);
    RopeOptions plain;
    plain.freqs = Frequencies::from_base(32, 10000.0);
    for (int s = 0; s < 3; ++s) {
      const Array one = reshape(slice(ids, 0, s, s + 1), {8});
      const Array by_stream = rope(x, Positions::ids(one.view()), plain);
      for (int j = 0; j < 16; ++j) {
        if (mrope.freqs.pair_position_stream[j] != s) continue;
        for (int f : {j, j + 16})
          EXPECT_TRUE(bit_equal(slice(got, 3, f, f + 1).contiguous(), slice(by_stream, 3, f, f + 1).contiguous()))
              << "interleaved " << interleaved << " pair " << j;
      }
    }
  }
}

TEST(PositionsMultiAxis, MRopeTextTokensReduceToPlainRope) {
  // Text tokens carry three equal positions: M-RoPE must equal plain RoPE bit for bit.
  for (bool interleaved : {false, true}) {
    RopeOptions mrope;
    mrope.freqs = testing::mrope_freqs(64, 1000000.0, interleaved ? std::vector<int>{12, 10, 10} : std::vector<int>{16, 8, 8}, interleaved);
    RopeOptions plain;
    plain.freqs = Frequencies::from_base(64, 1000000.0);
    std::vector<int64_t> v;
    for (int s = 0; s < 3; ++s)
      for (int t = 0; t < 10; ++t) v.push_back(37 + t);
    const Array ids = int_array(v, {3, 10});
    for (const auto& var : all_variants()) {
      SCOPED_TRACE(var.name());
      const Array x = random_array({2, 4, 10, 64}, var.dtype, 24);
      const Array m = rope(x, Positions::ids(ids.view()), testing::with_variant(mrope, var));
      EXPECT_TRUE(bit_equal(m, rope(x, Positions(37), testing::with_variant(plain, var))));
      EXPECT_TRUE(testing::matches_oracle(m, reference::rope(x, Positions(37), testing::with_variant(plain, var))));
    }
  }
}

TEST(PositionsMultiAxis, Vision2DRowColumn) {
  RopeOptions base;
  base.freqs = testing::vision_freqs(32, 10000.0);
  // A 3 x 4 patch grid: stream 0 the row, stream 1 the column.
  std::vector<int64_t> v;
  for (int s = 0; s < 2; ++s)
    for (int t = 0; t < 12; ++t) v.push_back(s == 0 ? t / 4 : t % 4);
  const Array ids = int_array(v, {2, 12}, int32);
  for (const auto& var : all_variants()) {
    SCOPED_TRACE(var.name());
    expect_all_outputs_match(random_array({2, 3, 12, 32}, var.dtype, 25), Positions::ids(ids.view()),
                             testing::with_variant(base, var));
  }
}

TEST(PositionsMultiAxis, ConfigBuildersGiveTheSameMaps) {
  // The config-level builders (scaling.h) and the spec formulas used here agree.
  for (bool interleaved : {false, true}) {
    const std::vector<int> sections = interleaved ? std::vector<int>{24, 20, 20} : std::vector<int>{16, 24, 24};
    const Frequencies built = scaling::mrope(Frequencies::from_base(128, 1e6), sections, interleaved);
    EXPECT_EQ(built.position_streams, 3);
    EXPECT_EQ(built.pair_position_stream, testing::mrope_pair_stream(sections, interleaved)) << "interleaved " << interleaved;
  }
  const Frequencies vision = scaling::vision_2d(80, 10000.0), mine = testing::vision_freqs(80, 10000.0);
  EXPECT_EQ(vision.position_streams, 2);
  EXPECT_EQ(vision.pair_position_stream, mine.pair_position_stream);
  ASSERT_EQ(vision.inv_freq.size(), mine.inv_freq.size());
  for (size_t i = 0; i < mine.inv_freq.size(); ++i) EXPECT_NEAR(vision.inv_freq[i], mine.inv_freq[i], 1e-15);
}

TEST(PositionsMultiAxisValidation, MismatchedSectionsAndStreams) {
  const Array x = random_array({1, 2, 4, 16}, float32, 26);
  const Array ids3 = grid_ids(3, 1, 4, int64);
  RopeOptions o;
  o.freqs = testing::mrope_freqs(16, 10000.0, {2, 3, 2}, false);  // sections sum to 7, not 8 pairs
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(ids3.view()), o); },
                          "freqs.pair_position_stream must have one entry per pair (8) but has 7"));
  o.freqs = testing::mrope_freqs(16, 10000.0, {2, 3, 3}, false);
  o.freqs.pair_position_stream[5] = 3;
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(ids3.view()), o); },
                          "freqs.pair_position_stream[5] names stream 3 but freqs.position_streams is 3"));
  o.freqs = testing::mrope_freqs(16, 10000.0, {2, 3, 3}, false);
  o.freqs.position_streams = 9;
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(ids3.view()), o); }, "freqs.position_streams must be between 1 and 8"));
  o.freqs = Frequencies::from_base(16, 10000.0);
  o.freqs.position_streams = 3;
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(ids3.view()), o); }, "freqs.pair_position_stream is empty"));

  o.freqs = testing::mrope_freqs(16, 10000.0, {2, 3, 3}, false);
  const Array ids2 = grid_ids(2, 1, 4, int64);
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(ids2.view()), o); },
                          "position_ids must have shape (3,4) or (3,1,4) but has shape (2,1,4)"));
  EXPECT_TRUE(throws_with([&] { rope(x, Positions(0), o); }, "multi-axis RoPE needs Positions::ids"));
  const Array flat = random_array({4, 2, 16}, float32, 27);
  EXPECT_TRUE(throws_with([&] { rope(flat, Positions::ragged(int_array({0, 4}, {2}).view()), o); },
                          "ragged positions (cu_seqlens) have a single position stream"));
  std::vector<int64_t> neg = {0, 1, 2, 3, 0, 1, -2, 3, 0, 1, 2, 3};
  EXPECT_TRUE(throws_with([&] { rope(x, Positions::ids(int_array(neg, {3, 4}).view()), o); },
                          "position_ids must not be negative but element 6 is -2"));
}

// A Frequencies with no inv_freq means the base-10000 default, which replaces it whole: a field
// set beside it used to be dropped (an attention factor of 2 rotated as if 1). Now refused,
// with nothing written.
TEST(PositionsMultiAxisValidation, DefaultFrequenciesRefuseFieldsTheyWouldDrop) {
  const Array x = random_array({1, 2, 4, 16}, float32, 28);
  const Array ids3 = grid_ids(3, 1, 4, int64);
  const auto values = [](const Array& a) { return std::vector<float>(a.data<float>(), a.data<float>() + a.size()); };
  Array out = random_array({1, 2, 4, 16}, float32, 29);
  const std::vector<float> before = values(out);
  const auto refused = [&](const RopeOptions& o, const Positions& p, const std::string& field) {
    EXPECT_TRUE(throws_with([&] { rope(x.view(), out.view(), p, o); },
                            "[rope] freqs sets " + field + " but has no inv_freq"))
        << field;
    EXPECT_EQ(values(out), before) << field;
  };
  RopeOptions o;
  o.freqs.attention_factor = 2.0;
  refused(o, Positions(3), "attention_factor");
  o.freqs = Frequencies{};
  o.freqs.pair_position_stream = std::vector<uint8_t>(8, 0);
  refused(o, Positions(3), "pair_position_stream");
  o.freqs = Frequencies{};
  o.freqs.position_streams = 3;
  refused(o, Positions::ids(ids3.view()), "position_streams");
  // The default itself still rotates by base 10000, and a given factor applies.
  o.freqs = Frequencies{};
  const Array plain = rope(x, Positions(3), o);
  o.freqs = Frequencies::from_base(16, 10000.0);
  EXPECT_EQ(values(plain), values(rope(x, Positions(3), o)));
  o.freqs.attention_factor = 2.0;
  const std::vector<float> doubled = values(rope(x, Positions(3), o)), once = values(plain);
  for (size_t i = 0; i < once.size(); ++i) EXPECT_FLOAT_EQ(doubled[i], 2.0f * once[i]) << i;
}

}  // namespace
}  // namespace rotary
