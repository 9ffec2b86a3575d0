// QK RMSNorm + RoPE in one pass against the float64 oracle (RMSNorm in double, then the
// rotation): every dtype, head sizes that are not multiples of 64 up to 512, the Gemma (1 + w)
// form, partial rotary, in place and into buffers, and continuing into the cache append.
#include <gtest/gtest.h>

#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::random_array;

TEST(FusedNorm, EveryDtypeAndHeadSize) {
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (int D : {2, 64, 80, 128, 200, 256, 512})
      for (bool gemma : {false, true}) {
        SCOPED_TRACE(to_string(d) + " D=" + std::to_string(D) + (gemma ? " gemma" : ""));
        RopeOptions o;
        o.seq_axis = -3;
        o.layout = pair_layout(D == 80);
        o.dims = D == 256 ? 128 : 0;  // partial rotary: normalised over all of D, rotated over 128
        const Array q = random_array({2, 3, 4, D}, d, 1), k = random_array({2, 3, 2, D}, d, 2);
        const Array wq = random_array({D}, bfloat16, 3), wk = random_array({D}, float32, 4);
        const QKNorm norm{wq.view(), wk.view(), 1e-6f, gemma};
        const Array offsets = int_array({3, 70000}, {2});
        const Positions pos = Positions::offsets(offsets.view());
        const Array q_exact = reference::rope(reference::rms_norm(q, wq, double(1e-6f), gemma), pos, o);
        const Array k_exact = reference::rope(reference::rms_norm(k, wk, double(1e-6f), gemma), pos, o);
        Array q_out = Array::zeros(q.shape(), d), k_out = Array::zeros(k.shape(), d);
        rms_norm_rope(q.view(), k.view(), q_out.view(), k_out.view(), norm, pos, o);
        EXPECT_TRUE(testing::matches_oracle(q_out, q_exact));
        EXPECT_TRUE(testing::matches_oracle(k_out, k_exact));
        Array q_in = q.copy(), k_in = k.copy();
        rms_norm_rope(q_in.view(), k_in.view(), q_in.view(), k_in.view(), norm, pos, o);
        EXPECT_TRUE(bit_equal(q_in, q_out));
        EXPECT_TRUE(bit_equal(k_in, k_out));
      }
}

TEST(FusedNorm, ContinuesIntoTheCacheAppend) {
  const int D = 128;
  for (Dtype d : {bfloat16, float32})
    for (Dtype cd : {d, float8_e4m3})
      for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::slot_mapping, CacheSlots::Kind::block_table}) {
        const testing::AppendCase c{d, cd, CacheLayout::heads_then_rows, s, false, true};
        SCOPED_TRACE(c.name());
        RopeOptions o;
        o.seq_axis = -3;
        const Array q = random_array({2, 3, 8, D}, d, 5), k = random_array({2, 3, 2, D}, d, 6);
        const Array v = random_array({2, 3, 2, D}, d, 7);
        const Array wq = random_array({D}, d, 8), wk = random_array({D}, d, 9);
        const QKNorm norm{wq.view(), wk.view(), 1e-5f, false};
        testing::TestCache tc = testing::make_cache(c, {3, 3}, 2, D, D);
        const Array k0 = tc.k.copy(), v0 = tc.v.copy();
        const Positions pos(40);
        Array q_run = q.copy();
        rope_and_cache(q_run.view(), k.view(), v.view(), q_run.view(), tc.cache, pos, o, norm);
        EXPECT_TRUE(testing::matches_oracle(q_run, reference::rope(reference::rms_norm(q, wq, double(1e-5f), false), pos, o)));
        const Array k_exact = reference::rope(reference::rms_norm(k, wk, double(1e-5f), false), pos, o);
        const reference::CacheContents want = reference::cache_after(k_exact, v, k0, v0, tc.cache, pos, o.seq_axis);
        EXPECT_TRUE(testing::cache_matches(tc.k, want.k, *tc.cache.k_scale));
        EXPECT_TRUE(testing::cache_matches(tc.v, want.v, *tc.cache.v_scale));
      }
}

}  // namespace
}  // namespace rotary
