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

class Pool {
 public:
  Pool() : threads_(default_threads()) {}
  ~Pool() { stop_workers(); }

  int threads() const { return threads_; }

  void set_threads(int n) {
    std::lock_guard<std::mutex> lock(busy_);
    n = std::max(1, n);
    if (n == threads_) return;
    stop_workers();
    threads_ = n;
  }

  // False when the pool is in use by another call (the caller then runs serially).
  bool run(int chunks, int64_t n, const std::function<void(int64_t, int64_t)>& f) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    chunks = std::min(chunks, threads_);
    if (int(workers_.size()) != threads_ - 1) start_workers();
    job_ = &f;
    n_ = n;
    chunks_ = chunks;
    error_ = nullptr;
    pending_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    run_chunk(0);
    for (int left = pending_.load(std::memory_order_acquire); left != 0;)
      left = wait_change(pending_, left);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void run_chunk(int c) {
    if (c >= chunks_) return;
    try {
      (*job_)(n_ * c / chunks_, n_ * (c + 1) / chunks_);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  // `seen` is the generation at creation: a job posted before the thread first runs is not missed.
  void worker(int index, uint64_t seen) {
    for (;;) {
      seen = wait_change(generation_, seen);
      if (stop_.load(std::memory_order_acquire)) return;
      run_chunk(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  void start_workers() {
    stop_.store(false);
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads_; ++i) workers_.emplace_back(&Pool::worker, this, i, gen);
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex busy_;  // held by the call using the pool, and while resizing
  int threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 0;
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
  const int chunks = int(std::min<int64_t>({int64_t(p.threads()), n, by_work}));
  if (chunks <= 1 || !p.run(chunks, n, f)) f(0, n);
}

}  // namespace rotary::cpu_backend

namespace rotary {
int num_threads() { return cpu_backend::pool().threads(); }
void set_num_threads(int n) { cpu_backend::pool().set_threads(n); }
}  // namespace rotary
