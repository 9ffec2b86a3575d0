// Device tensors with host-resident cache slots: the planner checks the host slots as for a CPU
// call (the CUDA backend then copies them over and does not wait for a report). The tensors
// here are views marked cuda:0 over host memory: every case is refused by the planner, before
// any backend runs, so no GPU is needed; each error names the argument and nothing is written.
#include <gtest/gtest.h>

#include "fused/fused_check.h"

namespace rotary {
namespace {

using testing::int_array;
using testing::random_array;
using testing::throws_with;

constexpr int B = 2, T = 3, Hq = 4, Hkv = 2, D = 16;

TensorView on_gpu(const Array& a) {
  TensorView v = a.view();
  v.device = cuda(0);
  return v;
}

struct DeviceCall {
  Array q = random_array({B, T, Hq, D}, bfloat16, 1);
  Array k = random_array({B, T, Hkv, D}, bfloat16, 2);
  Array v = random_array({B, T, Hkv, D}, bfloat16, 3);
  Array kc = random_array({5, 4, Hkv, D}, bfloat16, 4);  // 5 blocks of 4 rows
  Array vc = random_array({5, 4, Hkv, D}, bfloat16, 5);

  // Runs rope_and_cache with device tensors and `slots`, expects the message, checks nothing changed.
  void expect_refused(const CacheSlots& slots, const std::string& needle) {
    const Array q0 = q.copy(), k0 = kc.copy(), v0 = vc.copy();
    const KVCache cache{on_gpu(kc), on_gpu(vc), CacheLayout::rows_then_heads, slots, {}, {}};
    RopeOptions o;
    o.seq_axis = -3;
    EXPECT_TRUE(throws_with(
        [&] { rope_and_cache(on_gpu(q), on_gpu(k), on_gpu(v), on_gpu(q), cache, Positions(0), o); }, needle));
    EXPECT_TRUE(bit_equal(q, q0));
    EXPECT_TRUE(bit_equal(kc, k0));
    EXPECT_TRUE(bit_equal(vc, v0));
  }
};

TEST(FusedHostSlots, HostSlotsOfDeviceTensorsAreCheckedOnTheHost) {
  DeviceCall s;
  const Array slots = int_array({0, 1, 2, 8, 9, 20}, {B * T});  // 20 slots exist
  s.expect_refused(CacheSlots::slot_mapping(slots.view()),
                   "cache.slots (slot_mapping) element 5 is 20 but the cache holds 20 slots");
  const Array starts = int_array({0, 2}, {2});  // sequence 1 would write rows 2..4 of 4
  s.expect_refused(CacheSlots::write_positions(starts.view()), "cache.slots (write_positions) element 1 is 2");
  const Array table = int_array({0, -1, 3, 5}, {2, 2}), lens = int_array({1, 2}, {2});
  s.expect_refused(CacheSlots::block_table(table.view(), lens.view()),
                   "cache.slots block_table[1, 1] is 5 but the cache has blocks [0, 5)");
}

TEST(FusedHostSlots, SlotsOnAnotherDeviceOrSplitAcrossHostAndDevice) {
  DeviceCall s;
  const Array slots = int_array({0, 1, 2, 8, 9, 10}, {B * T});
  TensorView elsewhere = slots.view();
  elsewhere.device = cuda(1);
  s.expect_refused(CacheSlots::slot_mapping(elsewhere),
                   "cache.slots is on cuda:1 but the tensors are on cuda:0 (it may also be on the host).");
  const Array table = int_array({0, 1, 3, 4}, {2, 2}), lens = int_array({1, 2}, {2});
  s.expect_refused(CacheSlots::block_table(table.view(), on_gpu(lens)),
                   "cache.slots block_table and cache_lens must both be on the host or both on the tensors' device.");
}

}  // namespace
}  // namespace rotary
