// Position sources on the GPU: ids (T,) and (B,T), ragged batches with empty and one-token
// sequences (device cu_seqlens and starts), M-RoPE streams, and decode with per-row offsets.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/cuda_util.h"

namespace rotary::testing {
namespace {

const Dtype kFloatTypes[] = {float32, float16, bfloat16, float64};

TEST(CudaPositions, Ids) {
  ROTARY_REQUIRE_GPU();
  const int B = 3, H = 4, T = 6, D = 64;
  std::vector<int64_t> ids(B * T);
  for (int i = 0; i < B * T; ++i) ids[i] = (i * 7919) % 100003 + (i % 3) * (1 << 19);
  for (Dtype dtype : kFloatTypes) {
    for (int seq_axis : {-2, -3}) {
      const Array x = random_array(seq_axis == -2 ? Shape{B, H, T, D} : Shape{B, T, H, D}, dtype, 11);
      RopeOptions o;
      o.seq_axis = seq_axis;
      o.freqs = Frequencies::from_base(D, 10000.0);
      for (Dtype id_type : {int64, int32}) {
        const Array bt(ids.data(), {B, T}, id_type), t1(ids.data(), {T}, id_type);
        const Array bt_d = gpu(bt), t1_d = gpu(t1);
        EXPECT_TRUE(gpu_matches_oracle(x, Positions::ids(bt.view()), Positions::ids(bt_d.view()), o))
            << to_string(dtype) << " (B,T) " << to_string(id_type) << " seq_axis " << seq_axis;
        EXPECT_TRUE(gpu_matches_oracle(x, Positions::ids(t1.view()), Positions::ids(t1_d.view()), o))
            << to_string(dtype) << " (T,) " << to_string(id_type) << " seq_axis " << seq_axis;
      }
    }
  }
}

// Packed sequences: lengths include 0 and 1; starts optional; many sequences exercise the
// per-token binary search.
TEST(CudaPositions, Ragged) {
  ROTARY_REQUIRE_GPU();
  std::vector<std::vector<int>> length_sets = {{0, 1, 5, 0, 17, 1, 0}, {1}, {3, 0}};
  std::mt19937 gen(9);
  std::vector<int> many(300);
  for (int& l : many) l = int(gen() % 41);  // 0..40
  length_sets.push_back(many);
  for (const auto& lengths : length_sets) {
    std::vector<int32_t> cu{0};
    std::vector<int64_t> starts;
    for (size_t s = 0; s < lengths.size(); ++s) {
      cu.push_back(cu.back() + lengths[s]);
      starts.push_back(int64_t(s) * 1000 + 3);
    }
    const int total = cu.back(), n = int(lengths.size());
    const Array cu_h(cu.data(), {n + 1}), st_h(starts.data(), {n});
    const Array cu_d = gpu(cu_h), st_d = gpu(st_h);
    for (Dtype dtype : kFloatTypes) {
      for (bool traditional : {false, true}) {
        const Array x = random_array({total, 4, 64}, dtype, 21);
        RopeOptions o;
        o.layout = pair_layout(traditional);
        o.freqs = Frequencies::from_base(64, 10000.0);
        EXPECT_TRUE(gpu_matches_oracle(x, Positions::ragged(cu_h.view()), Positions::ragged(cu_d.view()), o))
            << to_string(dtype) << " sequences " << n;
        EXPECT_TRUE(gpu_matches_oracle(x, Positions::ragged(cu_h.view(), st_h.view()),
                                       Positions::ragged(cu_d.view(), st_d.view()), o))
            << to_string(dtype) << " with starts, sequences " << n;
      }
    }
  }
}

// Qwen2-VL M-RoPE: sections of pairs read the t, h and w position streams; (S,T) and (S,B,T).
TEST(CudaPositions, MultiStream) {
  ROTARY_REQUIRE_GPU();
  const int B = 2, H = 4, T = 7, D = 128, S = 3;
  RopeOptions o;
  o.freqs = Frequencies::from_base(D, 1000000.0);
  o.freqs.position_streams = S;
  const int sections[S] = {16, 24, 24};
  for (int s = 0, i = 0; s < S; ++s)
    for (int k = 0; k < sections[s]; ++k, ++i) o.freqs.pair_position_stream.push_back(uint8_t(s));
  std::vector<int64_t> ids(S * B * T);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t((i * 31) % 97);
  for (Dtype dtype : kFloatTypes) {
    const Array x = random_array({B, H, T, D}, dtype, 4);
    const Array st(ids.data(), {S, T}), sbt(ids.data(), {S, B, T});
    const Array st_d = gpu(st), sbt_d = gpu(sbt);
    EXPECT_TRUE(gpu_matches_oracle(x, Positions::ids(st.view()), Positions::ids(st_d.view()), o)) << to_string(dtype);
    EXPECT_TRUE(gpu_matches_oracle(x, Positions::ids(sbt.view()), Positions::ids(sbt_d.view()), o)) << to_string(dtype);
    // Interleaved streams (Qwen3-VL): pair i reads stream i % 3.
    RopeOptions oi = o;
    for (int i = 0; i < D / 2; ++i) oi.freqs.pair_position_stream[i] = uint8_t(i % S);
    EXPECT_TRUE(gpu_matches_oracle(x, Positions::ids(sbt.view()), Positions::ids(sbt_d.view()), oi)) << to_string(dtype);
  }
}

// Single-token decode with batch > 1: every row rotated by its own offset (a bug peers hit);
// the few-token case takes the head-parallel split.
TEST(CudaPositions, DecodePerRowOffsets) {
  ROTARY_REQUIRE_GPU();
  const int B = 64, H = 32, D = 128;
  std::vector<int64_t> offs(B);
  for (int b = 0; b < B; ++b) offs[b] = 17 * b + (b % 5) * 100000;
  const Array off_h(offs.data(), {B});
  const Array off_d = gpu(off_h);
  for (Dtype dtype : kFloatTypes) {
    for (int seq_axis : {-2, -3}) {
      const Array x = random_array(seq_axis == -2 ? Shape{B, H, 1, D} : Shape{B, 1, H, D}, dtype, 8);
      RopeOptions o;
      o.seq_axis = seq_axis;
      o.freqs = Frequencies::from_base(D, 10000.0);
      EXPECT_TRUE(gpu_matches_oracle(x, Positions::offsets(off_h.view()), Positions::offsets(off_d.view()), o))
          << to_string(dtype) << " seq_axis " << seq_axis;
    }
  }
}

// Position arrays must be on x's device: a clear error, not a crash.
TEST(CudaPositions, MixedDevicesRefused) {
  ROTARY_REQUIRE_GPU();
  const Array x = gpu(random_array({2, 2, 3, 8}, float32, 1));
  const Array ids_host = Array({0, 1, 2});
  RopeOptions o;
  o.freqs = Frequencies::from_base(8, 10000.0);
  EXPECT_THROW(rope(x, Positions::ids(ids_host.view()), o), std::invalid_argument);
  const Array xh = random_array({2, 2, 3, 8}, float32, 1);
  const Array ids_dev = gpu(ids_host);
  EXPECT_THROW(rope(xh, Positions::ids(ids_dev.view()), o), std::invalid_argument);
}

}  // namespace
}  // namespace rotary::testing
