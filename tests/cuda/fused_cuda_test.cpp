// The fused paths on the GPU against the float64 oracle: append into every cache layout,
// addressing and cache dtype, host-resident slots with device tensors, QK RMSNorm + RoPE, MLA,
// re-rotation (M-RoPE deltas, LongRoPE regime changes against the CPU path too),
// device-resident slots outside the cache (reported, never written), and the append captured in
// a CUDA graph. Each test skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "cuda/cuda_util.h"
#include "fused/fused_check.h"

namespace rotary::testing {
namespace {

// The cache of `tc` and its index arrays copied to the GPU; views into the copies.
struct DeviceCache {
  Array k = Array(0.0, float64), v = Array(0.0, float64);
  std::vector<Array> index;
  KVCache cache;
};

DeviceCache to_gpu(const TestCache& tc) {
  DeviceCache d;
  d.cache = tc.cache;
  d.k = gpu(tc.k);
  d.cache.k = d.k.view();
  if (tc.cache.v.data) {
    d.v = gpu(tc.v);
    d.cache.v = d.v.view();
  }
  for (const Array& a : tc.keep) d.index.push_back(gpu(a));
  const CacheSlots& s = tc.cache.slots;
  if (s.kind() == CacheSlots::Kind::write_positions) d.cache.slots = CacheSlots::write_positions(d.index[0].view());
  if (s.kind() == CacheSlots::Kind::slot_mapping) d.cache.slots = CacheSlots::slot_mapping(d.index[0].view());
  if (s.kind() == CacheSlots::Kind::block_table)
    d.cache.slots = CacheSlots::block_table(d.index[0].view(), d.index[1].view());
  return d;
}

// The device cache of `d` against the oracle's: the exact rotated k and v written at pos, each
// within its cache format's bound.
void expect_cache_is_oracles(const DeviceCache& d, const TestCache& tc, const Array& k_exact, const Array& v,
                             const Positions& pos, const RopeOptions& o) {
  const reference::CacheContents want = reference::cache_after(k_exact, v, tc.k, tc.v, tc.cache, pos, o.seq_axis);
  EXPECT_TRUE(cache_matches(host(d.k), want.k, *tc.cache.k_scale));
  EXPECT_TRUE(cache_matches(host(d.v), want.v, *tc.cache.v_scale));
}

TEST(CudaFused, AppendEveryDtypeLayoutAndAddressing) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, T = 3, Hq = 8, Hkv = 2, D = 128;
  for (Dtype d : {float32, float16, bfloat16, float64})
    for (Dtype cd : {d, float8_e4m3})
      for (CacheLayout l : {CacheLayout::rows_then_heads, CacheLayout::heads_then_rows})
        for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::slot_mapping, CacheSlots::Kind::block_table})
          for (bool trad : {false, true}) {
            const AppendCase c{d, cd, l, s, trad, trad};
            SCOPED_TRACE(c.name());
            RopeOptions o;
            o.seq_axis = -3;
            o.layout = pair_layout(trad);
            o.dims = trad ? D : 96;  // partial rotary in the half-split cases
            const Array q = random_array({B, T, Hq, D}, d, 1), k = random_array({B, T, Hkv, D}, d, 2);
            const Array v = random_array({B, T, Hkv, D}, d, 3);
            const Array offsets = int_array({5, 900}, {2});
            TestCache tc = make_cache(c, {T, T}, Hkv, D, D);
            DeviceCache dc = to_gpu(tc);
            const Array q_d = gpu(q), k_d = gpu(k), v_d = gpu(v), off_d = gpu(offsets);
            rope_and_cache(q_d.view(), k_d.view(), v_d.view(), q_d.view(), dc.cache, Positions::offsets(off_d.view()), o);
            const Positions pos = Positions::offsets(offsets.view());
            EXPECT_TRUE(matches_oracle(host(q_d), reference::rope(q, pos, o)));
            expect_cache_is_oracles(dc, tc, reference::rope(k, pos, o), v, pos, o);
          }
}

// Host-resident slot arrays with device tensors (checked by the planner, copied to the device,
// no stream wait): every addressing gives the device-slot result bit for bit and the oracle's.
TEST(CudaFused, HostSlotsWithDeviceTensorsWriteWhatDeviceSlotsWrite) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, T = 3, Hq = 8, Hkv = 2, D = 64;
  for (Dtype cd : {bfloat16, float8_e4m3})
    for (auto s : {CacheSlots::Kind::write_positions, CacheSlots::Kind::slot_mapping, CacheSlots::Kind::block_table}) {
      const AppendCase c{bfloat16, cd, CacheLayout::rows_then_heads, s, false, true};
      SCOPED_TRACE(c.name());
      RopeOptions o;
      o.seq_axis = -3;
      const Array q = random_array({B, T, Hq, D}, bfloat16, 1), k = random_array({B, T, Hkv, D}, bfloat16, 2);
      const Array v = random_array({B, T, Hkv, D}, bfloat16, 3), offsets = int_array({5, 900}, {2});
      const TestCache tc = make_cache(c, {T, T}, Hkv, D, D);
      const Array k_d = gpu(k), v_d = gpu(v), off_d = gpu(offsets);
      DeviceCache device_slots = to_gpu(tc), host_slots = to_gpu(tc);
      host_slots.cache.slots = tc.cache.slots;  // the host arrays of tc
      Array q1 = gpu(q), q2 = gpu(q);
      rope_and_cache(q1.view(), k_d.view(), v_d.view(), q1.view(), device_slots.cache, Positions::offsets(off_d.view()), o);
      rope_and_cache(q2.view(), k_d.view(), v_d.view(), q2.view(), host_slots.cache, Positions::offsets(off_d.view()), o);
      EXPECT_TRUE(bit_equal(host(q2), host(q1)));
      EXPECT_TRUE(bit_equal(host(host_slots.k), host(device_slots.k)));
      EXPECT_TRUE(bit_equal(host(host_slots.v), host(device_slots.v)));
      const Positions pos = Positions::offsets(offsets.view());
      expect_cache_is_oracles(host_slots, tc, reference::rope(k, pos, o), v, pos, o);
    }
}

TEST(CudaFused, NormRopeAndRaggedAppend) {
  ROTARY_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float16})
    for (int D : {64, 80, 256, 512}) {
      SCOPED_TRACE(to_string(d) + " D=" + std::to_string(D));
      RopeOptions o;
      const Array cu = int_array({0, 2, 2, 5}, {4}), starts = int_array({40, 3, 1000}, {3});
      const Positions pos = Positions::ragged(cu.view(), starts.view());
      const Array cu_d = gpu(cu), starts_d = gpu(starts);
      const Positions pos_d = Positions::ragged(cu_d.view(), starts_d.view());
      const Array q = random_array({5, 8, D}, d, 4), k = random_array({5, 2, D}, d, 5), v = random_array({5, 2, D}, d, 6);
      const Array wq = random_array({D}, bfloat16, 7), wk = random_array({D}, float32, 8);
      const Array wq_d = gpu(wq), wk_d = gpu(wk);
      const QKNorm norm{wq_d.view(), wk_d.view(), 1e-6f, D == 80};
      const Array q_exact = reference::rope(reference::rms_norm(q, wq, double(1e-6f), D == 80), pos, o);
      const Array k_exact = reference::rope(reference::rms_norm(k, wk, double(1e-6f), D == 80), pos, o);
      const Array q_d = gpu(q), k_d = gpu(k), v_d = gpu(v);
      Array qo = gpu(Array::zeros(q.shape(), d)), ko = gpu(Array::zeros(k.shape(), d));
      rms_norm_rope(q_d.view(), k_d.view(), qo.view(), ko.view(), norm, pos_d, o);
      EXPECT_TRUE(matches_oracle(host(qo), q_exact));
      EXPECT_TRUE(matches_oracle(host(ko), k_exact));
      const AppendCase c{d, float8_e4m3, CacheLayout::rows_then_heads, CacheSlots::Kind::block_table, false, true};
      TestCache tc = make_cache(c, {2, 0, 3}, 2, D, D);
      DeviceCache dc = to_gpu(tc);
      rope_and_cache(q_d.view(), k_d.view(), v_d.view(), q_d.view(), dc.cache, pos_d, o, norm);
      EXPECT_TRUE(matches_oracle(host(q_d), q_exact));
      expect_cache_is_oracles(dc, tc, k_exact, v, pos, o);
    }
}

TEST(CudaFused, DeviceSlotsOutsideTheCacheAreReportedNotWritten) {
  ROTARY_REQUIRE_GPU();
  const int D = 64;
  const Array q = random_array({1, 3, 4, D}, bfloat16, 1), k = random_array({1, 3, 2, D}, bfloat16, 2);
  const Array v = random_array({1, 3, 2, D}, bfloat16, 3);
  const Array kc = random_array({2, 4, 2, D}, bfloat16, 4), vc = random_array({2, 4, 2, D}, bfloat16, 5);
  Array kc_d = gpu(kc), vc_d = gpu(vc);
  const Array slots = gpu(int_array({1, 1000000, 6}, {3}));  // token 1 far outside 8 slots
  const KVCache cache{kc_d.view(), vc_d.view(), CacheLayout::rows_then_heads, CacheSlots::slot_mapping(slots.view()), {}, {}};
  RopeOptions o;
  o.seq_axis = -3;
  const Array q_d = gpu(q), k_d = gpu(k), v_d = gpu(v);
  EXPECT_TRUE(throws_with([&] { rope_and_cache(q_d.view(), k_d.view(), v_d.view(), q_d.view(), cache, Positions(0), o); },
                          "cache.slots addressed a row outside the cache"));
  // Slots 1 and 6 written, every other row untouched.
  const Array host_slots = int_array({1, -1, 6}, {3});
  KVCache ref = cache;
  ref.slots = CacheSlots::slot_mapping(host_slots.view());
  const reference::CacheContents want =
      reference::cache_after(reference::rope(k, Positions(0), o), v, kc, vc, ref, Positions(0), o.seq_axis);
  EXPECT_TRUE(cache_matches(host(kc_d), want.k, 1));
  EXPECT_TRUE(cache_matches(host(vc_d), want.v, 1));
}

// An engine's decode step in a CUDA graph: the append with device-resident slots and offsets
// is captured (no wait while capturing), and each replay writes what an eager call writes, with
// the slots and offsets read anew (changed in place between replays). A bad slot inside the
// graph is skipped, never written out of bounds.
TEST(CudaFused, GraphCaptureOfTheAppendWithDeviceSlots) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, T = 1, Hq = 8, Hkv = 2, D = 64;
  const AppendCase c{bfloat16, bfloat16, CacheLayout::rows_then_heads, CacheSlots::Kind::slot_mapping, false, true};
  RopeOptions o;
  o.seq_axis = -3;
  const Array q = random_array({B, T, Hq, D}, bfloat16, 21), k = random_array({B, T, Hkv, D}, bfloat16, 22);
  const Array v = random_array({B, T, Hkv, D}, bfloat16, 23);
  const TestCache tc = make_cache(c, {T, T}, Hkv, D, D);
  const Array k_d = gpu(k), v_d = gpu(v);
  Array off_d = gpu(int_array({5, 900}, {2}));
  DeviceCache eager = to_gpu(tc), graphed = to_gpu(tc);
  Array q_eager = gpu(q), q_graph = gpu(q);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  RopeOptions on_stream = o;
  on_stream.cuda_stream = stream;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  rope_and_cache(q_graph.view(), k_d.view(), v_d.view(), q_graph.view(), graphed.cache, Positions::offsets(off_d.view()),
                 on_stream);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  const auto replay = [&] {
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  };
  // Nothing ran during the capture; the first replay is the eager call.
  EXPECT_TRUE(bit_equal(host(q_graph), q));
  replay();
  rope_and_cache(q_eager.view(), k_d.view(), v_d.view(), q_eager.view(), eager.cache, Positions::offsets(off_d.view()), o);
  EXPECT_TRUE(bit_equal(host(q_graph), host(q_eager)));
  EXPECT_TRUE(bit_equal(host(graphed.k), host(eager.k)));
  EXPECT_TRUE(bit_equal(host(graphed.v), host(eager.v)));
  // The next step: new slots and offsets written into the same device arrays.
  const Array next_slots = int_array({3, 1000000}, {2});  // token 1 outside the cache: skipped
  ASSERT_EQ(cudaMemcpy(graphed.index[0].raw_data(), next_slots.raw_data(), size_t(next_slots.nbytes()),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  const Array next_off = int_array({6, 901}, {2});
  ASSERT_EQ(cudaMemcpy(off_d.raw_data(), next_off.raw_data(), size_t(next_off.nbytes()), cudaMemcpyHostToDevice),
            cudaSuccess);
  const Array k_before = host(graphed.k), v_before = host(graphed.v);
  Array q_step = gpu(q);
  ASSERT_EQ(cudaMemcpy(q_graph.raw_data(), q_step.raw_data(), size_t(q.nbytes()), cudaMemcpyDeviceToDevice), cudaSuccess);
  replay();
  const Array want_q = reference::rope(q, Positions::offsets(next_off.view()), o);
  EXPECT_TRUE(close_to_oracle(host(q_graph), want_q, max_abs(q)));
  const Array host_next = int_array({3, -1}, {2});  // what was written: token 0 at slot 3 only
  KVCache ref = tc.cache;
  ref.slots = CacheSlots::slot_mapping(host_next.view());
  const Positions next_pos = Positions::offsets(next_off.view());
  const reference::CacheContents want =
      reference::cache_after(reference::rope(k, next_pos, o), v, k_before, v_before, ref, next_pos, o.seq_axis);
  EXPECT_TRUE(cache_matches(host(graphed.k), want.k, 1));
  EXPECT_TRUE(cache_matches(host(graphed.v), want.v, 1));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(CudaFused, MlaAndShift) {
  ROTARY_REQUIRE_GPU();
  const int N = 5, Hq = 16, dr = 64, rank = 512;
  RopeOptions o;
  o.layout = PairLayout::interleaved;
  const Array cu = int_array({0, 5}, {2});
  const Array cu_d = gpu(cu);
  const Array q_pe = random_array({N, Hq, dr}, bfloat16, 1), k_pe = random_array({N, dr}, bfloat16, 2);
  const Array kv_c = random_array({N, rank}, bfloat16, 3), cache0 = random_array({3, 4, rank + dr}, bfloat16, 4);
  Array q_d = gpu(q_pe), cache_d = gpu(cache0);
  const Array kpe_d = gpu(k_pe), kvc_d = gpu(kv_c), slots_d = gpu(int_array({0, 5, 11, 2, 7}, {5}));
  rope_and_cache_mla(q_d.view(), kpe_d.view(), kvc_d.view(), cache_d.view(), CacheSlots::slot_mapping(slots_d.view()),
                     Positions::ragged(cu_d.view()), o);
  EXPECT_TRUE(matches_oracle(host(q_d), reference::rope(q_pe, Positions::ragged(cu.view()), o)));
  const Array got = host(cache_d);
  const Array k_exact = reference::rope(reshape(k_pe, {N, 1, dr}), Positions::ragged(cu.view()), o);
  const int64_t slot[N] = {0, 5, 11, 2, 7};
  for (int n = 0; n < N; ++n) {
    for (int i = 0; i < rank; ++i) EXPECT_EQ(got.at(slot[n] * (rank + dr) + i), kv_c.at(n * rank + i));
    for (int i = 0; i < dr; ++i)
      EXPECT_NEAR(got.at(slot[n] * (rank + dr) + rank + i), k_exact.at(n * dr + i), ulp(k_exact.at(n * dr + i), bfloat16));
  }
  // Re-rotation on the GPU: shift(rope(k, p), d) against rope(k, p + d).
  RopeOptions so;
  so.seq_axis = -3;
  const Array k = random_array({2, 6, 2, 64}, float32, 5);
  const Array p0 = int_array({3, 100}, {2}), d = int_array({10, -50}, {2}), p1 = int_array({13, 50}, {2});
  Array c_d = gpu(rope(k, Positions::offsets(p0.view()), so));
  const Array d_d = gpu(d);
  shift_cache(c_d.view(), CacheLayout::rows_then_heads, d_d.view(), std::nullopt, so);
  EXPECT_TRUE(matches_oracle(host(c_d), reference::rope(k, Positions::offsets(p1.view()), so)));
}

TEST(CudaFused, ShiftMropeDeltasPerStream) {
  ROTARY_REQUIRE_GPU();
  // M-RoPE keys rotated at (3, B, T) positions, shifted by one delta per stream (3, B).
  RopeOptions o;
  o.seq_axis = -3;
  o.freqs = scaling::mrope(Frequencies::from_base(64, 1000000.0), {8, 12, 12}, false);
  const int B = 2, T = 4;
  const Array k = random_array({B, T, 2, 64}, float32, 6);
  std::vector<int64_t> ids0, ids1;
  const int64_t delta[3][2] = {{40, -25}, {3, 0}, {-1, 11}};
  for (int s = 0; s < 3; ++s)
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        ids0.push_back(30 * b + (s == 0 ? t : 5 + s));
        ids1.push_back(ids0.back() + delta[s][b]);
      }
  const Array p0 = int_array(ids0, {3, B, T}), p1 = int_array(ids1, {3, B, T});
  const Array d = int_array({40, -25, 3, 0, -1, 11}, {3, B});
  Array c_d = gpu(rope(k, Positions::ids(p0.view()), o));
  const Array d_d = gpu(d);
  shift_cache(c_d.view(), CacheLayout::rows_then_heads, d_d.view(), std::nullopt, o);
  EXPECT_TRUE(matches_oracle(host(c_d), reference::rope(k, Positions::ids(p1.view()), o)));
}

// A LongRoPE regime change (short -> long factors, attention factor rescaled) on the GPU: a
// contiguous (B, max_T, H, D) cache with sequence starts, and a paged (blocks, H, block_size, D)
// one with each row's position and row counts; the old positions on the device or the host
// (the same bits).
// The result is the oracle's within the documented bound (2 ulps of the pair's magnitude; FP8
// one e4m3 ulp of the correctly rounded value), and the CPU path's within the same bound (FP8:
// the two roundings of nearly equal values are at most one e4m3 step apart).
TEST(CudaFused, RegimeChangeEqualsTheCpuPathAndTheOracle) {
  ROTARY_REQUIRE_GPU();
  const int pages = 3, rows = 6, H = 2, D = 40, dims = 32;
  const LongRopeRegimes lr = longrope_regimes(dims);
  ASSERT_NE(lr.long_freqs.attention_factor, lr.short_freqs.attention_factor);
  std::vector<int64_t> per_row;
  for (int i = 0; i < pages * rows; ++i) per_row.push_back(4096 - 5 * i);
  const Array starts = int_array({0, 4000, 4090}, {pages}), row_positions = int_array(per_row, {pages, rows});
  const Array delta = int_array({0, 17, -90}, {pages}), counts = int_array({6, 2, 0}, {pages}, int32);
  const Array delta_d = gpu(delta), counts_d = gpu(counts);
  for (Dtype cd : {float32, bfloat16, float8_e4m3})
    for (bool paged : {false, true})
      for (Precision precision : {Precision::accurate, Precision::compat})
        for (bool trad : {false, true}) {
          SCOPED_TRACE(to_string(cd) + (paged ? " paged" : " contiguous") +
                       (precision == Precision::accurate ? " accurate" : " compat") + (trad ? " interleaved" : " half"));
          RopeOptions o;
          o.precision = precision;
          o.layout = pair_layout(trad);
          o.dims = dims;
          o.freqs = lr.long_freqs;
          const CacheLayout layout = paged ? CacheLayout::heads_then_rows : CacheLayout::rows_then_heads;
          const Shape shape = paged ? Shape{pages, H, rows, D} : Shape{pages, rows, H, D};
          const std::optional<float> scale = cd == float8_e4m3 ? std::optional<float>(0.02f) : std::nullopt;
          const Array cache0 = random_cache(shape, cd, 9);
          const Array& positions = paged ? row_positions : starts;
          const Array positions_d = gpu(positions);
          const FrequencyChange change{lr.short_freqs, positions.view()};
          const std::optional<TensorView> host_counts = paged ? std::optional(counts.view()) : std::nullopt;
          const std::optional<TensorView> device_counts = paged ? std::optional(counts_d.view()) : std::nullopt;

          Array cpu_cache = cache0.copy(), gpu_cache = gpu(cache0), gpu_cache2 = gpu(cache0);
          shift_cache(cpu_cache.view(), layout, delta.view(), host_counts, o, scale, change);
          const FrequencyChange device_change{lr.short_freqs, positions_d.view()};
          shift_cache(gpu_cache.view(), layout, delta_d.view(), device_counts, o, scale, device_change);
          const Array got = host(gpu_cache);
          // The old positions in host memory (staged for the call): the same bits.
          shift_cache(gpu_cache2.view(), layout, delta_d.view(), device_counts, o, scale, change);
          EXPECT_TRUE(bit_equal(host(gpu_cache2), got));

          const double unit = scale ? double(*scale) : 1.0;  // FP8: the values are stored * scale
          const Array exact = reference::shift_cache(rescaled(cache0, unit), layout, delta.view(), host_counts, o, change);
          if (cd == float8_e4m3) {
            EXPECT_TRUE(cache_matches(got, rescaled(exact, unit, true), unit));
            EXPECT_TRUE(cache_matches(got, cpu_cache, unit));
          } else {
            EXPECT_TRUE(within_pair_ulps(got, exact, o, 2.0, 4100 + rows));
            EXPECT_TRUE(within_pair_ulps(got, cpu_cache, o, 2.0, 4100 + rows));
          }
        }
}

}  // namespace
}  // namespace rotary::testing
