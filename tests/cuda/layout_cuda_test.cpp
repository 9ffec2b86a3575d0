// Layouts and call forms on the GPU: fused Q+K (Hq=32, Hk=8), q/k as strided slices of a
// fused qkv tensor, in place, into a given output, inverse, unaligned and strided features,
// streams, device memory, and the limits of the CUDA backend.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

#include "cuda/cuda_util.h"

namespace rotary::testing {
namespace {

const Dtype kFloatTypes[] = {float32, float16, bfloat16, float64};

RopeOptions options(int D, int seq_axis = -2, bool traditional = false) {
  RopeOptions o;
  o.seq_axis = seq_axis;
  o.layout = pair_layout(traditional);
  o.freqs = Frequencies::from_base(D, 10000.0);
  return o;
}

TEST(CudaMemory, RoundTripAndEmpty) {
  ROTARY_REQUIRE_GPU();
  const Array x = random_array({3, 5, 7}, bfloat16, 2);
  const Array d = gpu(x);
  EXPECT_EQ(d.device(), cuda(0));
  EXPECT_TRUE(bit_equal(host(d), x));
  const Array e = Array::empty({4, 4}, float32, cuda(0));
  EXPECT_EQ(e.device(), cuda(0));
  EXPECT_EQ(host(d.copy()).shape(), x.shape());
  EXPECT_GE(cuda_device_count(), 1);
  EXPECT_THROW(Array::empty({4}, float32, cuda(cuda_device_count())), std::invalid_argument);
}

TEST(CudaLayout, FusedQK) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, T = 7, Hq = 32, Hk = 8, D = 128;
  for (Dtype dtype : kFloatTypes) {
    for (int seq_axis : {-2, -3}) {
      const auto shape = [&](int H) { return seq_axis == -2 ? Shape{B, H, T, D} : Shape{B, T, H, D}; };
      const Array q = random_array(shape(Hq), dtype, 1), k = random_array(shape(Hk), dtype, 2);
      const RopeOptions o = options(D, seq_axis);
      const Positions pos(42);
      const Array qe = reference::rope(q, pos, o), ke = reference::rope(k, pos, o);
      // Into separate outputs.
      const Array qd = gpu(q), kd = gpu(k);
      const Array qo = Array::empty(q.shape(), dtype, cuda(0)), ko = Array::empty(k.shape(), dtype, cuda(0));
      rope_qk(qd.view(), kd.view(), qo.view(), ko.view(), pos, o);
      EXPECT_TRUE(close_to_oracle(host(qo), qe, max_abs(q))) << to_string(dtype);
      EXPECT_TRUE(close_to_oracle(host(ko), ke, max_abs(k))) << to_string(dtype);
      EXPECT_TRUE(bit_equal(host(qd), q));  // inputs untouched
      // In place.
      rope_qk_inplace(qd.view(), kd.view(), pos, o);
      EXPECT_TRUE(close_to_oracle(host(qd), qe, max_abs(q))) << to_string(dtype) << " in place";
      EXPECT_TRUE(close_to_oracle(host(kd), ke, max_abs(k))) << to_string(dtype) << " in place";
    }
  }
}

// q and k as head slices of one (B, T, Hq + 2 Hk, D) qkv projection: no copy, v untouched.
TEST(CudaLayout, StridedQkvSlices) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, T = 9, Hq = 32, Hk = 8, D = 128;
  for (Dtype dtype : kFloatTypes) {
    const Array qkv = random_array({B, T, Hq + 2 * Hk, D}, dtype, 6);
    const Array qkv_d = gpu(qkv);
    const Array q = slice(qkv, 2, 0, Hq), k = slice(qkv, 2, Hq, Hq + Hk);
    const Array qd = slice(qkv_d, 2, 0, Hq), kd = slice(qkv_d, 2, Hq, Hq + Hk);
    const RopeOptions o = options(D, -3);
    std::vector<int64_t> ids(T);
    for (int t = 0; t < T; ++t) ids[t] = 5 * t + 1;
    const Array ids_h(ids.data(), {T});
    const Array ids_d = gpu(ids_h);
    const Array qe = reference::rope(q, Positions::ids(ids_h.view()), o);
    const Array ke = reference::rope(k, Positions::ids(ids_h.view()), o);
    rope_qk_inplace(qd.view(), kd.view(), Positions::ids(ids_d.view()), o);
    const Array back = host(qkv_d);
    EXPECT_TRUE(close_to_oracle(slice(back, 2, 0, Hq).contiguous(), qe, max_abs(q))) << to_string(dtype);
    EXPECT_TRUE(close_to_oracle(slice(back, 2, Hq, Hq + Hk).contiguous(), ke, max_abs(k))) << to_string(dtype);
    EXPECT_TRUE(bit_equal(slice(back, 2, Hq + Hk, Hq + 2 * Hk).contiguous(),
                          slice(qkv, 2, Hq + Hk, Hq + 2 * Hk).contiguous()))
        << "v changed";
  }
}

// In place, partial rotary (the tail must stay), into a strided output, and inverse.
TEST(CudaLayout, InPlaceOutputsInverse) {
  ROTARY_REQUIRE_GPU();
  for (Dtype dtype : kFloatTypes) {
    for (bool traditional : {false, true}) {
      const Array x = random_array({2, 4, 6, 128}, dtype, 7);
      RopeOptions o = options(64, -2, traditional);
      o.dims = 64;
      const Positions pos(1000);
      const Array exact = reference::rope(x, pos, o);
      const Array xd = gpu(x);
      rope_inplace(xd.view(), pos, o);
      EXPECT_TRUE(close_to_oracle(host(xd), exact, max_abs(x))) << to_string(dtype) << " in place";
      // Output as a transposed view of a (2, 6, 4, 128) buffer.
      const Array buf = Array::empty({2, 6, 4, 128}, dtype, cuda(0));
      const Array out = swapaxes(buf, 1, 2);
      rope(gpu(x).view(), out.view(), pos, o);
      EXPECT_TRUE(close_to_oracle(swapaxes(host(buf), 1, 2).contiguous(), exact, max_abs(x)))
          << to_string(dtype) << " strided out";
      // Inverse against the oracle's inverse, and forward then inverse gives x back.
      RopeOptions inv = o;
      inv.inverse = true;
      EXPECT_TRUE(gpu_matches_oracle(x, pos, pos, inv)) << to_string(dtype) << " inverse";
      if (dtype == float32 || dtype == float64) {
        const Array round = host(rope(rope(gpu(x), pos, o), pos, inv));
        EXPECT_LT(max_abs_diff(round, x), dtype == float64 ? 1e-12 : 1e-5) << to_string(dtype);
      }
    }
  }
}

// Misaligned base pointers and strided feature axes take the generic kernel.
TEST(CudaLayout, UnalignedAndStridedFeatures) {
  ROTARY_REQUIRE_GPU();
  for (Dtype dtype : kFloatTypes) {
    const Array big = random_array({2, 3, 5, 129}, dtype, 12);
    const Array bigd = gpu(big);
    // Features 1..128 of each row: base pointer off by one element.
    const Array xs = slice(big, 3, 1, 129), xsd = slice(bigd, 3, 1, 129);
    const RopeOptions o = options(128);
    EXPECT_TRUE(close_to_oracle(host(rope(xsd, Positions(3), o)), reference::rope(xs, Positions(3), o), max_abs(xs)))
        << to_string(dtype) << " misaligned";
    // Every second feature (stride 2 on the feature axis).
    const Array xe = slice(big, 3, 0, 128, 2), xed = slice(bigd, 3, 0, 128, 2);
    const RopeOptions o2 = options(64);
    EXPECT_TRUE(close_to_oracle(host(rope(xed, Positions(3), o2)), reference::rope(xe, Positions(3), o2), max_abs(xe)))
        << to_string(dtype) << " feature stride 2";
  }
}

TEST(CudaLayout, StreamAndEmpty) {
  ROTARY_REQUIRE_GPU();
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  const Array x = random_array({2, 8, 33, 64}, bfloat16, 13);
  RopeOptions o = options(64);
  o.cuda_stream = stream;
  const Array xd = gpu(x);
  rope_inplace(xd.view(), Positions(5), o);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_TRUE(close_to_oracle(host(xd), reference::rope(x, Positions(5), o), max_abs(x)));
  cudaStreamDestroy(stream);
  // Zero tokens: no launch, no error.
  const Array empty = Array::empty({2, 8, 0, 64}, float32, cuda(0));
  EXPECT_NO_THROW(rope_inplace(empty.view(), Positions(0), options(64)));
}

TEST(CudaLayout, Limits) {
  ROTARY_REQUIRE_GPU();
  const Array x = Array::empty({1, 1, 2, 1024}, float32, cuda(0));
  EXPECT_THROW(rope_inplace(x.view(), Positions(0), options(1024)), std::invalid_argument);
}

}  // namespace
}  // namespace rotary::testing
