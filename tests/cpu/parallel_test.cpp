// The thread pool: chunks cover the range exactly once, and resizing the pool while other
// threads call into it is safe (the ThreadSanitizer build runs these: CpuParallel.*).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cpu/parallel.h"
#include "rotary/rope.h"
#include "test_util.h"

namespace rotary {
namespace {

struct KeepThreads {
  int threads = num_threads();
  ~KeepThreads() { set_num_threads(threads); }
};

// Every item of [0, n) is visited exactly once, whatever the thread count.
TEST(CpuParallel, ChunksCoverTheRangeOnce) {
  KeepThreads keep;
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    for (int64_t n : {1, 7, 64, 1000, 4099}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      cpu_backend::parallel_for(n, cpu_backend::kMinBytesPerThread, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "n " << n << " item " << i;
    }
  }
}

// set_num_threads on one thread while others run calls and read num_threads(): every call
// still gives the serial result (before the fix, ThreadSanitizer reported the unlocked read
// of the pool's thread count here).
TEST(CpuParallel, ResizingWhileCallsRunIsSafe) {
  KeepThreads keep;
  const Array x = testing::random_array({1, 8, 300, 128}, float32, 11);
  RopeOptions o = testing::oracle_options(128, false, reference::inv_freq_from_base(128, 10000));
  set_num_threads(1);
  const Array want = rope(x, Positions(5), o);
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0}, bad_counts{0}, started{0};
  std::vector<std::thread> callers;
  for (int k = 0; k < 2; ++k)
    callers.emplace_back([&, k] {
      started.fetch_add(1);
      while (!stop.load()) {
        if (k == 0 && !bit_equal(rope(x, Positions(5), o), want)) mismatches.fetch_add(1);
        const int n = num_threads();  // caller 1 only reads the count, as parallel_for does
        if (n < 1 || n > 3) bad_counts.fetch_add(1);
      }
    });
  while (started.load() < 2) std::this_thread::yield();
  for (int rep = 0; rep < 60; ++rep) set_num_threads(1 + rep % 3);
  stop.store(true);
  for (auto& t : callers) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(bad_counts.load(), 0);
}

double process_cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Between calls the workers spin ~50 us, then sleep: 300 ms after a parallel call, the process
// has used (nearly) no CPU. A pool that kept spinning would use ~300 ms per worker.
TEST(CpuParallel, IdlePoolDoesNotSpin) {
  KeepThreads keep;
  set_num_threads(2);
  std::atomic<int64_t> sum{0};
  cpu_backend::parallel_for(64, cpu_backend::kMinBytesPerThread, [&](int64_t begin, int64_t end) { sum += end - begin; });
  ASSERT_EQ(sum.load(), 64);
  const double cpu0 = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(process_cpu_seconds() - cpu0, 0.05);
}

}  // namespace
}  // namespace rotary
