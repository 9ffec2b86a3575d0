// A persistent thread pool: workers are created once (and again only when the thread count
// changes), then spin briefly and sleep on an atomic between calls, so a call costs a wake-up,
// not a thread creation. One parallel_for runs on the pool at a time; a concurrent or nested
// call runs on its own thread instead of waiting.
#include "cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <sched.h>

#include "rotary/rope.h"

namespace rotary::cpu_backend {
namespace {

int default_threads() {
  if (const char* env = std::getenv("ROTARY_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;  // the cores this process may run on, not all of the machine's
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Waits until `value` differs from `seen`: spins ~50 us first (calls come in bursts, and a
// futex wake-up costs more than a short decode call), then sleeps.
template <typename T>
T wait_change(const std::atomic<T>& value, T seen) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  for (int spin = 0;; ++spin) {
    const T now = value.load(std::memory_order_acquire);
    if (now != seen) return now;
    if ((spin & 63) == 63 && std::chrono::steady_clock::now() > until) break;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  value.wait(seen, std::memory_order_acquire);
  return value.load(std::memory_order_acquire);
}

// Work is cut into more chunks than threads and handed out through one atomic word, so a
// thread that wakes late (a busy machine) just takes fewer chunks. The word packs the job's
// generation, chunk count and next chunk: a worker can only claim a chunk of the job that is
// current, and that job's parameters stay valid until all its chunks are done.
class Pool {
 public:
  Pool() : threads_(default_threads()) {}
  ~Pool() { stop_workers(); }

  // Read without the lock (parallel_for sizes its split before taking the pool): atomic, so a
  // concurrent set_threads is seen either before or after, never torn.
  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> lock(busy_);
    n = std::max(1, n);
    if (n == threads_.load(std::memory_order_relaxed)) return;
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
  }

  // False when the pool is in use by another call (the caller then runs serially).
  bool run(int chunks, int64_t n, const std::function<void(int64_t, int64_t)>& f) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    if (int(workers_.size()) != threads() - 1) start_workers();
    job_ = &f;
    n_ = n;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> kGenShift) + 1;
    state_.store((gen << kGenShift) | (uint64_t(chunks) << kChunkShift), std::memory_order_release);
    state_.notify_all();
    work();
    for (int d = done_.load(std::memory_order_acquire); d != chunks;) d = wait_change(done_, d);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  static constexpr int kChunkShift = 20, kGenShift = 40;
  static constexpr uint64_t kMask = (uint64_t(1) << 20) - 1;
  static uint64_t next_of(uint64_t s) { return s & kMask; }
  static uint64_t chunks_of(uint64_t s) { return (s >> kChunkShift) & kMask; }

  // Claims and runs chunks of the current job until none is left.
  void work() {
    uint64_t s = state_.load(std::memory_order_acquire);
    while (next_of(s) < chunks_of(s)) {
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
      const int64_t c = int64_t(next_of(s)), k = int64_t(chunks_of(s));
      try {
        (*job_)(n_ * c / k, n_ * (c + 1) / k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == int(k)) done_.notify_one();
      s = state_.load(std::memory_order_acquire);
    }
  }

  void worker() {
    uint64_t seen = state_.load(std::memory_order_acquire);
    for (;;) {
      if (stop_.load(std::memory_order_acquire)) return;
      work();
      seen = wait_change(state_, seen);
    }
  }

  void start_workers() {
    stop_.store(false);
    for (int i = 1; i < threads(); ++i) workers_.emplace_back(&Pool::worker, this);
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_release);
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> kGenShift) + 1;
    state_.store(gen << kGenShift, std::memory_order_release);  // a new word with no chunks
    state_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex busy_;  // held by the call using the pool, and while resizing
  std::atomic<int> threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> state_{0};  // generation | chunks | next chunk
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;  // joined at exit; no call can be running then
  return p;
}

}  // namespace

void parallel_for(int64_t n, int64_t bytes_per_item, const std::function<void(int64_t, int64_t)>& f) {
  if (n <= 0) return;
  Pool& p = pool();
  const int64_t by_work = n * std::max<int64_t>(bytes_per_item, 1) / kMinBytesPerThread;
  const int threads = int(std::min<int64_t>({int64_t(p.threads()), n, by_work}));
  if (threads <= 1) return f(0, n);
  // A few chunks per thread, none under kMinBytesPerThread, so late threads do not hold others up.
  const int chunks = int(std::min<int64_t>({int64_t(threads) * 4, n, by_work, int64_t(1) << 16}));
  if (!p.run(chunks, n, f)) f(0, n);
}

}  // namespace rotary::cpu_backend

namespace rotary {
int num_threads() { return cpu_backend::pool().threads(); }
void set_num_threads(int n) { cpu_backend::pool().set_threads(n); }
}  // namespace rotary
