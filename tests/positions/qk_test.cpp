// Q and K in one call: grouped-query attention (Hq = 32, Hk = 8), shared positions, in place
// and into separate or fused outputs; q/k overlaps are refused precisely.
#include <gtest/gtest.h>

#include "positions/oracle_check.h"

namespace rotary {
namespace {

using testing::all_variants;
using testing::int_array;
using testing::random_array;
using testing::throws_with;

constexpr int kHq = 32, kHk = 8, kD = 128;

// rope_qk (new outputs and in place) against the oracle and against two separate rope calls.
void expect_qk_matches(const Array& q, const Array& k, const Positions& pos, const RopeOptions& o) {
  const Array q_exact = reference::rope(q, pos, o), k_exact = reference::rope(k, pos, o);
  Array q_out = Array::zeros(q.shape(), q.dtype()), k_out = Array::zeros(k.shape(), k.dtype());
  rope_qk(q.view(), k.view(), q_out.view(), k_out.view(), pos, o);
  EXPECT_TRUE(testing::matches_oracle(q_out, q_exact));
  EXPECT_TRUE(testing::matches_oracle(k_out, k_exact));
  EXPECT_TRUE(bit_equal(q_out, rope(q, pos, o)));
  EXPECT_TRUE(bit_equal(k_out, rope(k, pos, o)));
  Array q_in = q.copy(), k_in = k.copy();
  rope_qk_inplace(q_in.view(), k_in.view(), pos, o);
  EXPECT_TRUE(bit_equal(q_in, q_out));
  EXPECT_TRUE(bit_equal(k_in, k_out));
}

TEST(PositionsQK, GqaHq32Hk8AllVariants) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    const RopeOptions o = testing::with_variant(RopeOptions{}, v);
    const Array q = random_array({2, kHq, 3, kD}, v.dtype, 51), k = random_array({2, kHk, 3, kD}, v.dtype, 52);
    expect_qk_matches(q, k, Positions(17), o);
    expect_qk_matches(q, k, Positions::ids(int_array({4, 5, 6, 100, 0, 1}, {2, 3}, int32).view()), o);
  }
}

TEST(PositionsQK, GqaRaggedAndMultiAxis) {
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    const Array cu = int_array({0, 1, 1, 5}, {4});
    const Array starts = int_array({30, 2, 7}, {3});
    expect_qk_matches(random_array({5, kHq, kD}, v.dtype, 53), random_array({5, kHk, kD}, v.dtype, 54),
                      Positions::ragged(cu.view(), starts.view()), o);
    o.freqs = testing::mrope_freqs(kD, 1000000.0, {16, 24, 24}, false);
    o.seq_axis = -3;
    std::vector<int64_t> ids;
    for (int s = 0; s < 3; ++s)
      for (int t = 0; t < 4; ++t) ids.push_back(s == 0 ? 3 : 3 + t * (s + 1));
    expect_qk_matches(random_array({1, 4, kHq, kD}, v.dtype, 55), random_array({1, 4, kHk, kD}, v.dtype, 56),
                      Positions::ids(int_array(ids, {3, 4}).view()), o);
  }
}

TEST(PositionsQK, FusedQkvInputsAndInterleavedFusedOutputs) {
  // Inputs: q and k heads of one (B, T, (Hq+2Hk)*D) projection; outputs: q and k heads of
  // another fused buffer. Their byte ranges interleave but no element is shared: accepted.
  const int B = 2, T = 3, W = kHq + 2 * kHk;
  for (const auto& v : all_variants()) {
    SCOPED_TRACE(v.name());
    RopeOptions o = testing::with_variant(RopeOptions{}, v);
    o.seq_axis = -3;
    const Array qkv = reshape(random_array({B, T, W * kD}, v.dtype, 57), {B, T, W, kD});
    const Array q = slice(qkv, 2, 0, kHq), k = slice(qkv, 2, kHq, kHq + kHk);
    Array out = Array::zeros({B, T, W, kD}, v.dtype);
    const Array q_out = slice(out, 2, 0, kHq), k_out = slice(out, 2, kHq, kHq + kHk);
    const Positions pos = Positions::offsets(int_array({0, 1000}, {2}).view());
    rope_qk(q.view(), k.view(), q_out.view(), k_out.view(), pos, o);
    EXPECT_TRUE(testing::matches_oracle(q_out, reference::rope(q, pos, o)));
    EXPECT_TRUE(testing::matches_oracle(k_out, reference::rope(k, pos, o)));
    // In place on the fused projection: q and k interleave per token, still disjoint.
    Array qkv_in = qkv.copy();
    rope_qk_inplace(slice(qkv_in, 2, 0, kHq).view(), slice(qkv_in, 2, kHq, kHq + kHk).view(), pos, o);
    EXPECT_TRUE(bit_equal(slice(qkv_in, 2, 0, kHq).contiguous(), q_out.contiguous()));
    EXPECT_TRUE(bit_equal(slice(qkv_in, 2, kHq, kHq + kHk).contiguous(), k_out.contiguous()));
    EXPECT_TRUE(bit_equal(slice(qkv_in, 2, kHq + kHk, W).contiguous(), slice(qkv, 2, kHq + kHk, W).contiguous()));
  }
}

TEST(PositionsQKValidation, OverlapsRefused) {
  Array q = random_array({1, 4, 2, 16}, float32, 58), k = random_array({1, 2, 2, 16}, float32, 59);
  EXPECT_TRUE(throws_with([&] { rope_qk_inplace(q.view(), q.view(), Positions(0), {}); },
                          "q and k share memory; rope_qk_inplace needs q and k to be separate"));
  const Array q_part = slice(q, 1, 2, 4);  // k = heads 2..3 of q: overlapping in place
  EXPECT_TRUE(throws_with([&] { rope_qk_inplace(q.view(), q_part.view(), Positions(0), {}); }, "share memory"));
  Array out = Array::zeros({1, 5, 2, 16}, float32);
  EXPECT_TRUE(throws_with([&] {
    rope_qk(q.view(), k.view(), slice(out, 1, 0, 4).view(), slice(out, 1, 3, 5).view(), Positions(0), {});
  }, "q_out and k_out share memory"));
  // qk holds q = heads 0..1 and k = heads 2..3; an output on the other tensor is refused.
  Array qk = random_array({1, 4, 2, 16}, float32, 60);
  const Array q2 = slice(qk, 1, 0, 2), k2 = slice(qk, 1, 2, 4);
  Array spare = Array::zeros({1, 2, 2, 16}, float32);
  EXPECT_TRUE(throws_with([&] { rope_qk(q2.view(), k2.view(), k2.view(), spare.view(), Positions(0), {}); },
                          "q_out overlaps k; writing q would change k before it is read"));
  EXPECT_TRUE(throws_with([&] { rope_qk(q2.view(), k2.view(), spare.view(), q2.view(), Positions(0), {}); },
                          "k_out overlaps q; writing k would change q before it is read"));
  // Reading one input as both q and k into separate outputs is fine.
  Array q_out = Array::zeros(q2.shape(), float32), k_out = Array::zeros(q2.shape(), float32);
  EXPECT_NO_THROW(rope_qk(q2.view(), q2.view(), q_out.view(), k_out.view(), Positions(0), {}));
  EXPECT_TRUE(bit_equal(q_out, k_out));
}

TEST(PositionsQKValidation, MismatchedQAndK) {
  const Array q = random_array({2, 4, 3, 16}, float32, 61);
  auto run = [&](const Array& k) { return [&q, k] { Array qc = q.copy(), kc = k.copy(); rope_qk_inplace(qc.view(), kc.view(), Positions(0), {}); }; };
  EXPECT_TRUE(throws_with(run(random_array({2, 2, 4, 16}, float32, 1)), "q and k must share dtype, batch, tokens and head size"));
  EXPECT_TRUE(throws_with(run(random_array({1, 2, 3, 16}, float32, 1)), "q and k must share"));
  EXPECT_TRUE(throws_with(run(random_array({2, 2, 3, 8}, float32, 1)), "q and k must share"));
  EXPECT_TRUE(throws_with(run(random_array({2, 2, 3, 16}, float16, 1)), "q and k must share"));
}

}  // namespace
}  // namespace rotary
