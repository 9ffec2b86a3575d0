// RoPE + KV-cache append against the float64 oracle: every dtype, cache dtype (activation,
// float32, FP8 e4m3), cache layout, addressing (write positions, slot mapping, block table),
// pair layout, q in place or into a buffer; GQA; every positions form; partial rotary; a
// combined k/v array; MLA. q must also equal the unfused rope() bit for bit.
#include <gtest/gtest.h>

#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::AppendCase;
using testing::int_array;
using testing::random_array;

constexpr int kHq = 8, kHkv = 2, kD = 64;

// One rope_and_cache call on (q, k, v) checked in full: q (q_out or in place) against the
// oracle and against rope(); both caches, written rows and untouched ones, against the oracle.
void expect_append(const AppendCase& c, const Array& q, const Array& k, const Array& v, const Positions& pos,
                   const RopeOptions& o, const std::vector<int64_t>& lens) {
  testing::TestCache tc = testing::make_cache(c, lens, kHkv, k.shape(-1), v.shape(-1));
  const Array k0 = tc.k.copy(), v0 = tc.v.copy();
  Array q_out = c.q_in_place ? q.copy() : Array::zeros(q.shape(), q.dtype());
  const Array q_in = c.q_in_place ? q_out : q;
  rope_and_cache(q_in.view(), k.view(), v.view(), q_out.view(), tc.cache, pos, o);

  EXPECT_TRUE(testing::matches_oracle(q_out, reference::rope(q, pos, o)));
  EXPECT_TRUE(bit_equal(q_out.contiguous(), rope(q, pos, o)));
  const Array k_exact = reference::rope(k, pos, o);
  const reference::CacheContents want = reference::cache_after(k_exact, v, k0, v0, tc.cache, pos, o.seq_axis);
  EXPECT_TRUE(testing::cache_matches(tc.k, want.k, *tc.cache.k_scale)) << "k cache";
  EXPECT_TRUE(testing::cache_matches(tc.v, want.v, *tc.cache.v_scale)) << "v cache";
  if (c.cache_dtype == q.dtype()) {  // same dtype: the cached k rows are rope()'s bit for bit
    const Array unfused = rope(k, pos, o);
    const reference::CacheContents direct = reference::cache_after(unfused, v, k0, v0, tc.cache, pos, o.seq_axis);
    EXPECT_TRUE(bit_equal(tc.k, direct.k.astype(tc.k.dtype()))) << "k cache vs rope()";
    EXPECT_TRUE(bit_equal(tc.v, direct.v.astype(tc.v.dtype()))) << "v cache vs a copy";
  }
}

std::vector<AppendCase> matrix() {
  std::vector<AppendCase> cases;
  for (Dtype d : {float32, float16, bfloat16, float64}) {
    std::vector<Dtype> cache_dtypes{d, float8_e4m3};
    if (d != float32) cache_dtypes.push_back(float32);
    for (Dtype cd : cache_dtypes)
      for (CacheLayout l : {CacheLayout::rows_then_heads, CacheLayout::heads_then_rows})
        for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::slot_mapping,
                       CacheSlots::Kind::block_table})
          for (bool trad : {false, true}) cases.push_back({d, cd, l, s, trad, trad});
  }
  return cases;
}

TEST(FusedAppend, EveryDtypeCacheLayoutAndAddressing) {
  const int B = 2, T = 3;
  for (const AppendCase& c : matrix()) {
    SCOPED_TRACE(c.name());
    RopeOptions o;
    o.layout = pair_layout(c.traditional);
    o.seq_axis = -3;
    const Array q = random_array({B, T, kHq, kD}, c.dtype, 1), k = random_array({B, T, kHkv, kD}, c.dtype, 2);
    const Array v = random_array({B, T, kHkv, kD}, c.dtype, 3);
    expect_append(c, q, k, v, Positions::offsets(int_array({5, 900}, {2}, int32).view()), o, {T, T});
  }
}

TEST(FusedAppend, HeadsBeforeTokensInputsAndPartialRotary) {
  for (Dtype d : {float32, bfloat16})
    for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::block_table}) {
      const AppendCase c{d, d, CacheLayout::heads_then_rows, s, false, false};
      SCOPED_TRACE(c.name());
      RopeOptions o;
      o.dims = 32;  // features 32..63 copied to the cache unrotated
      const Array q = random_array({2, kHq, 3, kD}, d, 4), k = random_array({2, kHkv, 3, kD}, d, 5);
      const Array v = random_array({2, kHkv, 3, 48}, d, 6);  // v with its own head size
      expect_append(c, q, k, v, Positions(7), o, {3, 3});
    }
}

TEST(FusedAppend, RaggedIdsAndMultiAxisPositions) {
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::slot_mapping,
                   CacheSlots::Kind::block_table}) {
      const AppendCase c{d, float8_e4m3, CacheLayout::rows_then_heads, s, false, true};
      SCOPED_TRACE(c.name());
      RopeOptions o;
      const Array cu = int_array({0, 2, 2, 5}, {4});
      const Array starts = int_array({40, 3, 1000}, {3});
      const Array q = random_array({5, kHq, kD}, d, 7), k = random_array({5, kHkv, kD}, d, 8);
      const Array v = random_array({5, kHkv, kD}, d, 9);
      expect_append(c, q, k, v, Positions::ragged(cu.view(), starts.view()), o, {2, 0, 3});

      RopeOptions ids_o;
      ids_o.seq_axis = -3;
      const Array ids = int_array({3, 8, 9, 0, 1, 2}, {2, 3});
      const Array q2 = random_array({2, 3, kHq, kD}, d, 10), k2 = random_array({2, 3, kHkv, kD}, d, 11);
      const Array v2 = random_array({2, 3, kHkv, kD}, d, 12);
      expect_append(c, q2, k2, v2, Positions::ids(ids.view()), ids_o, {3, 3});

      RopeOptions mo = ids_o;  // M-RoPE (Qwen2-VL sections) over one batch row
      mo.freqs = testing::mrope_freqs(kD, 1000000.0, {8, 12, 12}, false);
      std::vector<int64_t> m;
      for (int st = 0; st < 3; ++st)
        for (int t = 0; t < 4; ++t) m.push_back(st == 0 ? 2 + t : 2 + t * (st + 1));
      const Array q3 = random_array({1, 4, kHq, kD}, d, 13), k3 = random_array({1, 4, kHkv, kD}, d, 14);
      const Array v3 = random_array({1, 4, kHkv, kD}, d, 15);
      expect_append(c, q3, k3, v3, Positions::ids(int_array(m, {3, 4}).view()), mo, {4});
    }
}

TEST(FusedAppend, CombinedKvArrayAndFp8Saturation) {
  // vLLM/FlashInfer keep k and v in one (num_blocks, 2, block_size, H, D) array.
  for (Dtype cd : {bfloat16, float8_e4m3}) {
    SCOPED_TRACE(to_string(cd));
    Array kv = testing::random_cache({7, 2, 4, kHkv, kD}, cd, 20);
    const Array kv0 = kv.copy();
    auto [kc, vc] = split_kv(kv.view(), 1);
    const Array slots = int_array({9, 2, 27, 14, 0, 5}, {6});
    KVCache cache{kc, vc, CacheLayout::rows_then_heads, CacheSlots::slot_mapping(slots.view()), 0.05f, 0.002f};
    RopeOptions o;
    o.seq_axis = -3;
    const Array q = random_array({2, 3, kHq, kD}, bfloat16, 21), k = random_array({2, 3, kHkv, kD}, bfloat16, 22);
    const Array v = random_array({2, 3, kHkv, kD}, bfloat16, 23);  // |v| / 0.002 beyond 448: saturates
    const Positions pos(11);
    Array q_out = Array::zeros(q.shape(), bfloat16);
    rope_and_cache(q.view(), k.view(), v.view(), q_out.view(), cache, pos, o);
    const Array k_before = slice(kv0, 1, 0, 1).contiguous(), v_before = slice(kv0, 1, 1, 2).contiguous();
    KVCache ref = cache;
    const Array k_got = reshape(slice(kv, 1, 0, 1).contiguous(), {7, 4, kHkv, kD});
    const Array v_got = reshape(slice(kv, 1, 1, 2).contiguous(), {7, 4, kHkv, kD});
    const reference::CacheContents want = reference::cache_after(
        reference::rope(k, pos, o), v, reshape(k_before, {7, 4, kHkv, kD}), reshape(v_before, {7, 4, kHkv, kD}), ref,
        pos, o.seq_axis);
    EXPECT_TRUE(testing::cache_matches(k_got, want.k, 0.05));
    EXPECT_TRUE(testing::cache_matches(v_got, want.v, 0.002));
    if (cd == float8_e4m3) EXPECT_EQ(testing::max_abs(v_got), 448.0);
  }
}

// A call that moves 32 MiB or more streams its stores (non-temporal, fenced once per worker
// range): q in place, the rotated k rows, the v copy, and the one-pass kernels of FP8, float32
// and RMSNorm rows. Its q and caches must equal the same tokens appended in small calls, which
// store normally. Slots are every other row of a (pages, 16, 8, 128) cache, so streamed rows
// sit between rows left untouched.
TEST(FusedAppend, StreamedLargeCallEqualsSmallCalls) {
  const int T = 1400, Hq = 32, Hkv = 8, D = 128, chunk = 200;  // 1400 tokens x 24 KiB
  const Array q = random_array({1, T, Hq, D}, bfloat16, 40), k = random_array({1, T, Hkv, D}, bfloat16, 41);
  const Array v = random_array({1, T, Hkv, D}, bfloat16, 42);
  const Array wq = random_array({D}, bfloat16, 43), wk = random_array({D}, bfloat16, 44);
  std::vector<int64_t> slot(T);
  for (int t = 0; t < T; ++t) slot[t] = 2 * t + 1;
  const Array slots(slot.data(), {T});
  const int pages = (2 * T + 15) / 16;
  for (Dtype cd : {bfloat16, float8_e4m3, float32})
    for (bool norm : {false, true})
      for (bool trad : {false, true}) {
        SCOPED_TRACE(to_string(cd) + (norm ? " norm" : "") + (trad ? " interleaved" : " half"));
        RopeOptions o;
        o.layout = pair_layout(trad);
        o.seq_axis = -3;
        std::optional<QKNorm> qk;
        if (norm) qk = QKNorm{wq.view(), wk.view(), 1e-6f, false};
        const auto run = [&](int t0, int t1, Array& q_run, Array& kc, Array& vc) {
          const Array qs = slice(q_run, 1, t0, t1);
          const KVCache cache{kc.view(), vc.view(), CacheLayout::rows_then_heads,
                              CacheSlots::slot_mapping(slice(slots, 0, t0, t1).view()), 0.05f, 0.05f};
          rope_and_cache(qs.view(), slice(k, 1, t0, t1).view(), slice(v, 1, t0, t1).view(), qs.view(), cache,
                         Positions(3 + t0), o, qk);
        };
        Array q_big = q.copy(), kc_big = Array::zeros({pages, 16, Hkv, D}, cd), vc_big = kc_big.copy();
        run(0, T, q_big, kc_big, vc_big);
        Array q_small = q.copy(), kc_small = Array::zeros({pages, 16, Hkv, D}, cd), vc_small = kc_small.copy();
        for (int t0 = 0; t0 < T; t0 += chunk) run(t0, std::min(T, t0 + chunk), q_small, kc_small, vc_small);
        EXPECT_TRUE(bit_equal(q_big, q_small));
        EXPECT_TRUE(bit_equal(kc_big, kc_small));
        EXPECT_TRUE(bit_equal(vc_big, vc_small));
      }
}

TEST(FusedAppend, MlaRotaryKeyBesideTheLatent) {
  // DeepSeek-V2-like: 16 q heads of 128 nope + 64 rope features, latent 512, interleaved pairs.
  const int Hq = 16, nope = 128, dr = 64, rank = 512, N = 5;
  for (Dtype d : {bfloat16, float32})
    for (Dtype cd : {d, float8_e4m3}) {
      SCOPED_TRACE(to_string(d) + "->" + to_string(cd));
      RopeOptions o;
      o.layout = PairLayout::interleaved;
      const Array q = random_array({N, Hq, nope + dr}, d, 30);
      const Array k_pe = random_array({N, dr}, d, 31), kv_c = random_array({N, rank}, d, 32);
      Array kv_cache = testing::random_cache({6, 4, rank + dr}, cd, 33);
      const Array kv0 = kv_cache.copy();
      const Array cu = int_array({0, 1, 5}, {3}), starts = int_array({9, 0}, {2});
      const Positions pos = Positions::ragged(cu.view(), starts.view());
      const Array slots = int_array({3, 22, 8, 13, 4}, {5});
      Array q_run = q.copy();
      const Array q_pe = slice(q_run, 2, nope, nope + dr);
      rope_and_cache_mla(q_pe.view(), k_pe.view(), kv_c.view(), kv_cache.view(), CacheSlots::slot_mapping(slots.view()),
                         pos, o, 0.02f);
      EXPECT_TRUE(testing::matches_oracle(q_pe.contiguous(), reference::rope(slice(q, 2, nope, nope + dr), pos, o)));
      EXPECT_TRUE(bit_equal(slice(q_run, 2, 0, nope).contiguous(), slice(q, 2, 0, nope).contiguous()));
      // Expected rows: [kv_c | rope(k_pe)] at each slot, as one (pages, rows, 1, rank + dr) cache.
      const Array k_exact = reference::rope(reshape(k_pe, {N, 1, dr}), pos, o);
      const Array row = reshape(kv_c, {N, 1, rank}).astype(float64);
      std::vector<double> joined;
      for (int n = 0; n < N; ++n) {
        for (int i = 0; i < rank; ++i) joined.push_back(row.at(n * rank + i));
        for (int i = 0; i < dr; ++i) joined.push_back(k_exact.at(n * dr + i));
      }
      KVCache ref;
      ref.slots = CacheSlots::slot_mapping(slots.view());
      ref.k_scale = 0.02f;
      const Array rows_exact(joined.data(), {N, 1, rank + dr});
      const reference::CacheContents want = reference::cache_after(
          rows_exact, Array(0.0, float64), reshape(kv0, {6, 4, 1, rank + dr}), Array(0.0, float64), ref, pos, -2);
      EXPECT_TRUE(testing::cache_matches(reshape(kv_cache, {6, 4, 1, rank + dr}), want.k, 0.02));
    }
}

}  // namespace
}  // namespace rotary
