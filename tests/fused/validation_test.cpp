// Every refused fused call: a clear error naming the argument, raised before any byte is
// written (q, q_out and both caches compared bit for bit with their copies afterwards).
#include <gtest/gtest.h>

#include <functional>

#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::random_array;
using testing::throws_with;

constexpr int B = 2, T = 3, Hq = 4, Hkv = 2, D = 16;

struct Call {
  Array q = random_array({B, T, Hq, D}, bfloat16, 1);
  Array k = random_array({B, T, Hkv, D}, bfloat16, 2);
  Array v = random_array({B, T, Hkv, D}, bfloat16, 3);
  Array q_out = Array::zeros({B, T, Hq, D}, bfloat16);
  Array kc = random_array({5, 4, Hkv, D}, bfloat16, 4);  // 5 blocks of 4 rows
  Array vc = random_array({5, 4, Hkv, D}, bfloat16, 5);
  Array slots = int_array({0, 1, 2, 8, 9, 10}, {B * T});
  RopeOptions o;
  Call() { o.seq_axis = -3; }
  KVCache cache() const {
    return {kc.view(), vc.view(), CacheLayout::rows_then_heads, CacheSlots::slot_mapping(slots.view()), {}, {}};
  }
};

// Runs the call, expects the message, and checks nothing was written.
void expect_refused(Call& s, const KVCache& cache, const std::string& needle,
                    const std::optional<QKNorm>& norm = std::nullopt) {
  const Array q0 = s.q.copy(), qo0 = s.q_out.copy(), k0 = s.kc.copy(), v0 = s.vc.copy();
  EXPECT_TRUE(throws_with([&] { rope_and_cache(s.q.view(), s.k.view(), s.v.view(), s.q_out.view(), cache,
                                               Positions(0), s.o, norm); }, needle));
  EXPECT_TRUE(bit_equal(s.q, q0));
  EXPECT_TRUE(bit_equal(s.q_out, qo0));
  EXPECT_TRUE(bit_equal(s.kc, k0));
  EXPECT_TRUE(bit_equal(s.vc, v0));
}

TEST(FusedValidation, SlotOrBlockOutsideTheCache) {
  Call s;
  s.slots = int_array({0, 1, 2, 8, 9, 20}, {B * T});  // 20 slots exist
  expect_refused(s, s.cache(), "cache.slots (slot_mapping) element 5 is 20 but the cache holds 20 slots");
  s.slots = int_array({0, 1}, {2});
  expect_refused(s, s.cache(), "cache.slots (slot_mapping) must have one slot per token");
  const Array starts = int_array({0, 2}, {2});  // sequence 1 would write rows 2..4 of 4
  KVCache c = s.cache();
  c.slots = CacheSlots::write_positions(starts.view());
  expect_refused(s, c, "cache.slots (write_positions) element 1 is 2");
  const Array table = int_array({0, -1, 3, 5}, {2, 2}), lens = int_array({1, 2}, {2});
  c.slots = CacheSlots::block_table(table.view(), lens.view());  // sequence 1 reaches block 5
  expect_refused(s, c, "cache.slots block_table[1, 1] is 5 but the cache has blocks [0, 5)");
  const Array short_table = int_array({0, 1}, {2, 1}), long_lens = int_array({0, 2}, {2});
  c.slots = CacheSlots::block_table(short_table.view(), long_lens.view());  // needs positions 2..4: 2 blocks
  expect_refused(s, c, "cache.slots block_table row 1 holds 1 blocks of 4 rows but sequence 1 needs positions up to 4");
  const Array float_slots = Array::zeros({B * T}, float32);
  c.slots = CacheSlots::slot_mapping(float_slots.view());
  expect_refused(s, c, "cache.slots must be an integer array");
}

TEST(FusedValidation, CacheDisagreesWithK) {
  Call s;
  KVCache c = s.cache();
  const Array f16 = Array::zeros({5, 4, Hkv, D}, float16);
  c.k = f16.view();
  expect_refused(s, c, "cache.k must have the dtype of the rows written to it (bfloat16), float32 or float8_e4m3 but has float16");
  const Array heads = Array::zeros({5, 4, 3, D}, bfloat16);
  c.k = heads.view();
  expect_refused(s, c, "cache.k has 3 heads but the rows written to it have 2");
  const Array size = Array::zeros({5, 4, Hkv, 8}, bfloat16);
  c = s.cache();
  c.v = size.view();
  expect_refused(s, c, "cache.v has head size 8 but the rows written to it have 16");
  const Array three = Array::zeros({5, 4, D}, bfloat16);
  c = s.cache();
  c.k = three.view();
  expect_refused(s, c, "cache.k must have 4 dimensions (pages, rows, heads, D)");
  const Array other_pages = Array::zeros({4, 4, Hkv, D}, bfloat16);
  c = s.cache();
  c.v = other_pages.view();
  expect_refused(s, c, "cache.v must have the pages and rows of cache.k");
}

TEST(FusedValidation, Fp8WithoutScale) {
  Call s;
  const Array f8 = Array::zeros({5, 4, Hkv, D}, float8_e4m3);
  KVCache c = s.cache();
  c.v = f8.view();
  expect_refused(s, c, "cache.v is float8_e4m3 but cache.v_scale is not given");
  c.v_scale = 0.0f;
  expect_refused(s, c, "cache.v_scale must be finite and positive");
}

TEST(FusedValidation, OverlappingCacheAndInputs) {
  Call s;
  KVCache c = s.cache();
  c.k = TensorView(s.k.raw_data(), bfloat16, {1, B * T, Hkv, D});  // the cache is k's own memory
  expect_refused(s, c, "cache.k overlaps k");
  c = s.cache();
  c.v = TensorView(s.q_out.raw_data(), bfloat16, {5, 1, Hkv, D});
  expect_refused(s, c, "cache.v overlaps q_out");
  c = s.cache();
  c.v = c.k;
  expect_refused(s, c, "cache.k and cache.v share memory");
  Array kv = random_array({5, 2, 4, Hkv, D}, bfloat16, 9);
  auto [kk, vv] = split_kv(kv.view(), 1);  // interleaved halves of one array: accepted
  c.k = kk;
  c.v = vv;
  EXPECT_NO_THROW(rope_and_cache(s.q.view(), s.k.view(), s.v.view(), s.q_out.view(), c, Positions(0), s.o));
  c = s.cache();
  const Array zero_stride = Array::zeros({1}, bfloat16);
  c.k = TensorView(zero_stride.raw_data(), bfloat16, {5, 4, Hkv, D}, {0, 0, 0, 0});
  expect_refused(s, c, "cache.k has elements that share memory");
}

TEST(FusedValidation, NormAndV) {
  Call s;
  const Array w = Array::zeros({D + 2}, float32), ok = Array::zeros({D}, float32);
  expect_refused(s, s.cache(), "norm.q_weight must have shape (16,)", QKNorm{w.view(), ok.view(), 1e-6f, false});
  expect_refused(s, s.cache(), "norm.eps must be finite", QKNorm{ok.view(), ok.view(), -1.0f, false});
  s.v = random_array({B, T, 3, D}, bfloat16, 7);
  expect_refused(s, s.cache(), "v must have k's dtype, device and shape");
}

TEST(FusedValidation, ShiftCache) {
  Array cache = random_array({3, 4, 2, 8}, float32, 1);
  const Array c0 = cache.copy();
  RopeOptions o;
  const Array bad = int_array({1, 2}, {2}), counts = int_array({1, 5, 0}, {3}), deltas = int_array({1, 2, 3}, {3});
  EXPECT_TRUE(throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, bad.view(), std::nullopt, o); },
                          "deltas must have shape (3,) or (3,4)"));
  EXPECT_TRUE(throws_with([&] { shift_cache(cache.view(), CacheLayout::rows_then_heads, deltas.view(), counts.view(), o); },
                          "row_counts element 1 is 5 but pages have 4 rows"));
  EXPECT_TRUE(bit_equal(cache, c0));
}

// Device tensors with host-resident cache slots: the planner checks the host slots as for a CPU
// call (the CUDA backend then copies them over and does not wait for a report). The tensors
// are views marked cuda:0 over host memory: each case is refused by the planner, before any
// backend runs, so no GPU is needed.
TensorView on_gpu(const Array& a) {
  TensorView v = a.view();
  v.device = cuda(0);
  return v;
}

void expect_refused_on_device(Call& s, const CacheSlots& slots, const std::string& needle) {
  const Array q0 = s.q.copy(), k0 = s.kc.copy(), v0 = s.vc.copy();
  const KVCache cache{on_gpu(s.kc), on_gpu(s.vc), CacheLayout::rows_then_heads, slots, {}, {}};
  EXPECT_TRUE(throws_with(
      [&] { rope_and_cache(on_gpu(s.q), on_gpu(s.k), on_gpu(s.v), on_gpu(s.q), cache, Positions(0), s.o); }, needle));
  EXPECT_TRUE(bit_equal(s.q, q0));
  EXPECT_TRUE(bit_equal(s.kc, k0));
  EXPECT_TRUE(bit_equal(s.vc, v0));
}

TEST(FusedValidation, HostSlotsOfDeviceTensorsAreCheckedOnTheHost) {
  Call s;
  const Array slots = int_array({0, 1, 2, 8, 9, 20}, {B * T});  // 20 slots exist
  expect_refused_on_device(s, CacheSlots::slot_mapping(slots.view()),
                           "cache.slots (slot_mapping) element 5 is 20 but the cache holds 20 slots");
  const Array starts = int_array({0, 2}, {2});  // sequence 1 would write rows 2..4 of 4
  expect_refused_on_device(s, CacheSlots::write_positions(starts.view()), "cache.slots (write_positions) element 1 is 2");
  const Array table = int_array({0, -1, 3, 5}, {2, 2}), lens = int_array({1, 2}, {2});
  expect_refused_on_device(s, CacheSlots::block_table(table.view(), lens.view()),
                           "cache.slots block_table[1, 1] is 5 but the cache has blocks [0, 5)");
}

TEST(FusedValidation, SlotsOnAnotherDeviceOrSplitAcrossHostAndDevice) {
  Call s;
  TensorView elsewhere = s.slots.view();
  elsewhere.device = cuda(1);
  expect_refused_on_device(s, CacheSlots::slot_mapping(elsewhere),
                           "cache.slots is on cuda:1 but the tensors are on cuda:0 (it may also be on the host).");
  const Array table = int_array({0, 1, 3, 4}, {2, 2}), lens = int_array({1, 2}, {2});
  expect_refused_on_device(s, CacheSlots::block_table(table.view(), on_gpu(lens)),
                           "cache.slots block_table and cache_lens must both be on the host or both on the tensors' device.");
}

}  // namespace
}  // namespace rotary
