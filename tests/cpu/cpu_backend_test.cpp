// The CPU backend end to end against the float64 oracle (every dtype, layout, direction,
// partial rotary, views, strided features, in place, decode offsets), in SIMD and scalar
// mode, and results bit-identical whatever the thread count.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "cpu/backend.h"
#include "test_util.h"

namespace rotary {
namespace {

using testing::close_to_oracle;
using testing::max_abs;
using testing::oracle_options;
using testing::random_array;

RopeOptions options_for(int dims, bool traditional, bool inverse) {
  RopeOptions o = oracle_options(dims, traditional, reference::inv_freq_from_base(dims, 10000));
  o.inverse = inverse;
  return o;
}

// Restores the kernel mode and the thread count when a test ends.
struct BackendState {
  cpu_backend::KernelMode mode = cpu_backend::kernel_mode();
  int threads = num_threads();
  ~BackendState() {
    cpu_backend::set_kernel_mode(mode);
    set_num_threads(threads);
  }
};

void expect_matches_oracle(const Array& x, const Positions& pos, const RopeOptions& o) {
  const Array y = rope(x, pos, o);
  const Array exact = reference::rope(x, pos, o);
  EXPECT_TRUE(close_to_oracle(y, exact, max_abs(x)))
      << to_string(x.dtype()) << " shape " << to_string(x.shape()) << " dims " << o.dims
      << " traditional " << (o.layout == PairLayout::interleaved) << " inverse " << o.inverse;
}

TEST(CpuBackend, EveryDtypeLayoutAndDimsMatchesOracle) {
  BackendState keep;
  const Array offsets = Array({int64_t(5), int64_t(1 << 20), int64_t(-7)});
  for (auto mode : {cpu_backend::KernelMode::simd, cpu_backend::KernelMode::scalar}) {
    cpu_backend::set_kernel_mode(mode);
    for (Dtype dt : {float32, float16, bfloat16, float64})
      for (int D : {6, 64, 80, 128, 130})
        for (int dims : {D, 2 * (D / 4)}) {
          if (dims < 2) continue;
          const Array x = random_array({3, 2, 9, D}, dt, unsigned(D + dims));
          for (int trad = 0; trad < 2; ++trad)
            for (int inv = 0; inv < 2; ++inv) {
              expect_matches_oracle(x, Positions(3), options_for(dims, trad, inv));
              expect_matches_oracle(x, Positions::offsets(offsets.view()), options_for(dims, trad, inv));
            }
        }
  }
}

// Positions 2^52..2^62 (issue 11, item 3): the reduction mod 2pi stays exact in both kernel
// modes (the SIMD one used to land in the wrong quadrant from 2^52 on).
TEST(CpuBackend, HugePositionsMatchOracle) {
  BackendState keep;
  std::vector<int64_t> off;
  for (int e = 52; e <= 62; ++e) off.push_back((int64_t(1) << e) - 5 * (e % 3));
  off.push_back(INT64_MAX - 16);
  off.push_back(INT64_MIN);
  const Array offsets(off.data(), {int(off.size())});
  for (auto mode : {cpu_backend::KernelMode::simd, cpu_backend::KernelMode::scalar}) {
    cpu_backend::set_kernel_mode(mode);
    for (Dtype dt : {float32, float16, bfloat16, float64}) {
      const Array x = random_array({int(off.size()), 2, 9, 128}, dt, 3);
      for (int trad = 0; trad < 2; ++trad) {
        // inv_freq 1: theta = position, every bit of it matters.
        expect_matches_oracle(x, Positions::offsets(offsets.view()), oracle_options(128, trad, std::vector<double>(64, 1.0)));
        expect_matches_oracle(x, Positions::offsets(offsets.view()), options_for(128, trad, true));
      }
    }
  }
}

TEST(CpuBackend, ViewsAndStridedFeaturesMatchOracle) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16}) {
    const Array bthd = random_array({2, 40, 4, 64}, dt, 3);
    const Array as_bhtd = swapaxes(bthd, 1, 2);  // non-contiguous head axis
    const Array strided = slice(random_array({2, 4, 40, 128}, dt, 4), 3, 0, 128, 2);  // feature stride 2
    for (int trad = 0; trad < 2; ++trad) {
      expect_matches_oracle(as_bhtd, Positions(11), options_for(64, trad, false));
      RopeOptions o = options_for(32, trad, false);
      o.seq_axis = -3;
      expect_matches_oracle(bthd, Positions(11), o);
      expect_matches_oracle(strided, Positions(2), options_for(64, trad, true));
      expect_matches_oracle(strided, Positions(2), options_for(32, trad, false));
    }
  }
}

TEST(CpuBackend, DecodeWithOffsetArrayMatchesOracle) {
  BackendState keep;
  std::vector<int64_t> off(64);
  for (int b = 0; b < 64; ++b) off[b] = 1000 + 37 * b;
  const Array offsets(off.data(), {64});
  for (Dtype dt : {float32, float16, bfloat16})
    for (int trad = 0; trad < 2; ++trad)
      expect_matches_oracle(random_array({64, 32, 1, 128}, dt, 8), Positions::offsets(offsets.view()),
                            options_for(128, trad, false));
}

TEST(CpuBackend, InPlaceEqualsOutOfPlace) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      const Array x = random_array({2, 3, 50, 96}, dt, 9);
      const RopeOptions o = options_for(64, trad, false);
      const Array y = rope(x, Positions(4), o);
      Array z = x.copy();
      rope_inplace(z.view(), Positions(4), o);
      EXPECT_TRUE(bit_equal(y, z)) << to_string(dt) << " traditional " << trad;
    }
}

// Q and K in one call (grouped-query head counts) equal two separate calls, bit for bit.
TEST(CpuBackend, FusedQKEqualsSeparateCalls) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      const Array q = random_array({2, 8, 33, 64}, dt, 13), k = random_array({2, 2, 33, 64}, dt, 14);
      Array q_out = Array::zeros(q.shape(), dt), k_out = Array::zeros(k.shape(), dt);
      const RopeOptions o = options_for(64, trad, false);
      rope_qk(q.view(), k.view(), q_out.view(), k_out.view(), Positions(21), o);
      EXPECT_TRUE(bit_equal(q_out, rope(q, Positions(21), o)));
      EXPECT_TRUE(bit_equal(k_out, rope(k, Positions(21), o)));
    }
}

// Outputs of 16 MiB and more take streaming stores (rotated part and copied tail); the
// result must equal the same rows rotated in small calls, which store normally.
TEST(CpuBackend, StreamedLargeOutputEqualsSmallCalls) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16})
    for (int D : {128, 80}) {
      const int T = int((int64_t(16) << 20) / (32 * D * dt.size)) + 1;
      const Array x = random_array({1, 32, T, D}, dt, 12);
      for (int trad = 0; trad < 2; ++trad)
        for (int dims : {D, 64}) {
          const RopeOptions o = options_for(dims, trad, false);
          const Array big = rope(x, Positions(5), o);
          for (int h = 0; h < 32; h += 8) {
            const Array part = rope(slice(x, 1, h, h + 8), Positions(5), o);
            ASSERT_TRUE(bit_equal(slice(big, 1, h, h + 8).contiguous(), part))
                << to_string(dt) << " D " << D << " dims " << dims << " traditional " << trad << " heads " << h;
          }
        }
    }
}

// In place, a large output is stored plainly (the lines were just read) while the same call
// into a buffer streams: both give the same bits. (float16 shares float32's kernels.)
TEST(CpuBackend, LargeInPlaceEqualsStreamedBuffer) {
  BackendState keep;
  for (Dtype dt : {float32, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      const int T = int((int64_t(16) << 20) / (32 * 128 * dt.size)) + 1;
      const Array x = random_array({1, 32, T, 128}, dt, 23);
      const RopeOptions o = options_for(trad ? 128 : 96, trad, false);
      Array z = x.copy();
      rope_inplace(z.view(), Positions(11), o);
      ASSERT_TRUE(bit_equal(z, rope(x, Positions(11), o))) << to_string(dt) << " traditional " << trad;
    }
}

// Decode past the streaming size (16 MiB of output), streamed with the table reloaded per row
// (and a streamed tail when partial), bit for bit the calls on a few batch rows each, which
// stay cached and take the shared-table kernels (a token's heads share one table row).
TEST(CpuBackend, StreamedDecodeEqualsSmallCalls) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16}) {
    const int B = int((int64_t(16) << 20) / (32 * 128 * dt.size)) + 3;
    const Array x = random_array({B, 32, 1, 128}, dt, 21);
    std::vector<int32_t> off(size_t(B), 0);
    for (int b = 0; b < B; ++b) off[size_t(b)] = 3 + 11 * b;
    const Array offsets(off.data(), {B});
    for (int trad = 0; trad < 2; ++trad)
      for (int dims : {128, 64}) {
        const RopeOptions o = options_for(dims, trad, false);
        const Array big = rope(x, Positions::offsets(offsets.view()), o);
        for (int b = 0; b < B; b += B / 3) {
          const int e = std::min(B, b + 5);
          const Array part = rope(slice(x, 0, b, e), Positions::offsets(slice(offsets, 0, b, e).view()), o);
          ASSERT_TRUE(bit_equal(slice(big, 0, b, e).contiguous(), part))
              << to_string(dt) << " dims " << dims << " traditional " << trad << " rows " << b;
        }
      }
  }
}

// Streamed outputs rotate heads in groups of four per table row (backend.cpp); a head count
// that is not a multiple of four ends with a short group, and must equal small calls too.
TEST(CpuBackend, StreamedHeadGroupsWithShortLastGroup) {
  BackendState keep;
  for (Dtype dt : {float32, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      const int T = int((int64_t(16) << 20) / (30 * 128 * dt.size)) + 1;
      const Array x = random_array({1, 30, T, 128}, dt, 17);
      const RopeOptions o = options_for(128, trad, false);
      const Array big = rope(x, Positions(9), o);
      for (int h = 0; h < 30; h += 5)
        ASSERT_TRUE(bit_equal(slice(big, 1, h, h + 5).contiguous(), rope(slice(x, 1, h, h + 5), Positions(9), o)))
            << to_string(dt) << " traditional " << trad << " heads " << h;
    }
}

// Q and K in one call decide streaming stores per tensor, as two calls do: a Q of 16 MiB
// streams while its K of a quarter the size stores normally; both equal the two calls.
TEST(CpuBackend, FusedQKStreamsPerTensor) {
  BackendState keep;
  for (Dtype dt : {float32, float16, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      const int T = int((int64_t(16) << 20) / (32 * 128 * dt.size)) + 1;
      const Array q = random_array({1, 32, T, 128}, dt, 15), k = random_array({1, 8, T, 128}, dt, 16);
      Array q_out = Array::zeros(q.shape(), dt), k_out = Array::zeros(k.shape(), dt);
      const RopeOptions o = options_for(128, trad, false);
      rope_qk(q.view(), k.view(), q_out.view(), k_out.view(), Positions(3), o);
      EXPECT_TRUE(bit_equal(q_out, rope(q, Positions(3), o))) << to_string(dt) << " traditional " << trad;
      EXPECT_TRUE(bit_equal(k_out, rope(k, Positions(3), o))) << to_string(dt) << " traditional " << trad;
    }
}

// Large enough that parallel_for splits it (well over 64 KiB per thread).
TEST(CpuBackend, ThreadCountDoesNotChangeResults) {
  BackendState keep;
  std::vector<int64_t> off(64);
  for (int b = 0; b < 64; ++b) off[b] = 17 * b;
  const Array offsets(off.data(), {64});
  struct Case {
    Array x;
    Positions pos;
    RopeOptions o;
  };
  std::vector<Case> cases;
  for (Dtype dt : {float32, float16, bfloat16})
    for (int trad = 0; trad < 2; ++trad) {
      cases.push_back({random_array({1, 8, 515, 128}, dt, 1), Positions(7), options_for(128, trad, false)});
      cases.push_back({random_array({64, 32, 1, 128}, dt, 2), Positions::offsets(offsets.view()),
                       options_for(128, trad, false)});
      cases.push_back({random_array({5, 4, 130, 64}, dt, 3), Positions(0), options_for(32, trad, true)});
      cases.push_back({swapaxes(random_array({2, 300, 8, 64}, dt, 4), 1, 2), Positions(1), options_for(64, trad, false)});
    }
  set_num_threads(1);
  std::vector<Array> serial;
  for (const Case& c : cases) serial.push_back(rope(c.x, c.pos, c.o));
  for (int n : {2, 3, 4, 7}) {
    set_num_threads(n);
    EXPECT_EQ(num_threads(), n);
    for (size_t i = 0; i < cases.size(); ++i)
      EXPECT_TRUE(bit_equal(rope(cases[i].x, cases[i].pos, cases[i].o), serial[i])) << "threads " << n << " case " << i;
  }
}

// Calls from several threads at once: one gets the pool, the others run on their own thread.
TEST(CpuBackend, ConcurrentCallsGiveTheSameResults) {
  BackendState keep;
  set_num_threads(2);
  const Array x = random_array({1, 16, 600, 128}, bfloat16, 5);
  const RopeOptions o = options_for(128, false, false);
  const Array want = rope(x, Positions(9), o);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      bool all = true;
      for (int rep = 0; rep < 5; ++rep) all = all && bit_equal(rope(x, Positions(9), o), want);
      ok[k] = all;
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(ok[k]) << "thread " << k;
}

// ROTARY_NUM_THREADS is read when the pool starts: checked in a fresh process of this binary.
TEST(CpuBackend, EnvironmentSetsThreadCount) {
  if (const char* want = std::getenv("ROTARY_TEST_EXPECT_THREADS")) {
    EXPECT_EQ(num_threads(), std::atoi(want));
    return;
  }
  char self[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  const std::string cmd = std::string("ROTARY_NUM_THREADS=3 ROTARY_TEST_EXPECT_THREADS=3 '") + self +
                          "' --gtest_filter=CpuBackend.EnvironmentSetsThreadCount > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(CpuBackend, SetNumThreadsClampsToOne) {
  BackendState keep;
  set_num_threads(0);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
}

}  // namespace
}  // namespace rotary
