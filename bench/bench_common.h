// What every CPU benchmark shares: the copy it is measured against, interleaved timing rounds,
// the load warning, and the command-line conventions (--help, an unknown flag is an error,
// output flushed line by line even when piped).
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cpu/parallel.h"
#include "cpu/simd.h"
#include "rotary/rope.h"

namespace rotary::bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Line-buffered stdout (a pipe or file would otherwise hold the table until exit), and a
// warning when the machine is busy: timings under load measure the neighbours.
inline void start_output(const char* program) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  double load[1] = {0};
  if (getloadavg(load, 1) == 1 && load[0] > 0.5)
    std::printf("WARNING: 1-minute load average %.2f > 0.5 before the run: %s's timings are not evidence.\n",
                load[0], program);
  else
    std::printf("1-minute load average %.2f before the run.\n", load[0]);
}

// Parses argv with CLI11: --help prints the usage and exits 0, an unknown or malformed flag
// prints the error and exits 2. Returns -1 when the program should go on.
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return -1;
}

// --target: the SIMD target the kernels run on (default the best); a target this CPU does not
// run is refused with the list of those it does. Call use_target after parse.
inline void add_target_option(CLI::App& app, std::string& target) {
  app.add_option("--target", target, "SIMD target to run on (AVX2, AVX3, ...; default the best)")
      ->check([](const std::string& t) {
        const auto targets = cpu_backend::simd_targets();
        if (std::find(targets.begin(), targets.end(), t) != targets.end()) return std::string();
        std::string known;
        for (const auto& k : targets) known += " " + k;
        return t + " is not a SIMD target this CPU runs (" + known + " )";
      });
}
inline void use_target(const std::string& target) {
  if (!target.empty()) cpu_backend::use_simd_target(target);
}

// The last-level cache in bytes (sysfs; 32 MiB when the kernel does not say).
inline int64_t llc_bytes() {
  int64_t best = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string size;
    if (!(f >> size) || size.empty()) continue;
    const int64_t unit = size.back() == 'K' ? 1024 : size.back() == 'M' ? 1 << 20 : 1;
    best = std::max<int64_t>(best, std::atoll(size.c_str()) * unit);
  }
  return best > 0 ? best : int64_t(32) << 20;
}

// Backs the 2 MiB pages inside [p, p + n) with huge pages now (MADV_COLLAPSE, Linux 6.1+).
// With 4 KiB pages a streaming kernel pays a page walk every 4 KiB (in a virtual machine a
// two-dimensional one): measured, a tiled walk (traversal_bench) lost up to a third to it, the
// linear copy about a tenth, and the cost differs from buffer to buffer. --huge-pages takes
// that out of rope and its copy alike (issue 12).
// False when the kernel refused or the range holds no whole huge page.
#if defined(__linux__) && !defined(MADV_COLLAPSE)
#define MADV_COLLAPSE 25  // Linux 6.1's value; older C library headers lack the name
#endif
inline bool collapse_huge_pages(const void* p, size_t n) {
#if defined(MADV_COLLAPSE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  return end > begin && madvise(reinterpret_cast<void*>(begin), end - begin, MADV_COLLAPSE) == 0;
#else
  (void)p, (void)n;
  return false;
#endif
}

// Copies with non-temporal stores (dst 64-byte aligned, n a multiple of 256): the stored lines
// are not read for ownership first, so an out-of-cache copy moves 2 bytes per byte, not 3.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) inline void stream_copy_avx512(const char* src, char* dst, size_t n) {
  for (size_t i = 0; i < n; i += 256) {
    const __m512i a = _mm512_loadu_si512(src + i), b = _mm512_loadu_si512(src + i + 64);
    const __m512i c = _mm512_loadu_si512(src + i + 128), d = _mm512_loadu_si512(src + i + 192);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), a);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i + 64), b);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i + 128), c);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i + 192), d);
  }
  _mm_sfence();
}
__attribute__((target("avx2"))) inline void stream_copy_avx2(const char* src, char* dst, size_t n) {
  for (size_t i = 0; i < n; i += 128)
    for (size_t j = 0; j < 128; j += 32)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + j),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + j)));
  _mm_sfence();
}
inline void stream_copy_sse2(const char* src, char* dst, size_t n) {
  for (size_t i = 0; i < n; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  _mm_sfence();
}
#endif

// Interleaved rounds: each round times `reps` calls of the case, then `reps` of its baseline,
// so both see the same machine state. Reports medians: seconds per call of each, and the
// median of the per-round ratios (baseline time / case time: above 1, the case is faster).
struct Timing {
  double seconds = 0, baseline_seconds = 0, ratio = 0;
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline Timing time_against(const std::function<void()>& call, const std::function<void()>& baseline,
                           double min_time) {
  call();  // warm: pages, caches, the thread pool
  baseline();
  auto t0 = Clock::now();
  call();
  const double once = std::max(seconds(t0, Clock::now()), 1e-7);
  const int reps = std::clamp(int(2e-3 / once), 1, 1000);  // a round's half lasts >= ~2 ms
  const int rounds = std::clamp(int(min_time / (once * reps)), 7, 201) | 1;
  std::vector<double> t, b, ratio;
  for (int r = 0; r < rounds; ++r) {
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) call();
    const auto t1 = Clock::now();
    for (int i = 0; i < reps; ++i) baseline();
    const auto t2 = Clock::now();
    t.push_back(seconds(t0, t1) / reps);
    b.push_back(seconds(t1, t2) / reps);
    ratio.push_back(b.back() / t.back());
  }
  return {median(t), median(b), median(ratio)};
}

// The best copy of `bytes` (read `bytes`, write `bytes`) on the thread pool rope uses, so with
// the same thread count: the faster of a copy with non-temporal stores and a plain
// multi-threaded memcpy, timed against each other for each thread count the first time it is
// called with it (that call is the warm-up of time_against; see streams()). The last-level
// cache does not decide it: on a Xeon with a 260 MiB L3 (shared with the other guests of the host) a 128 MiB
// copy with plain stores ran at 0.6x the non-temporal one on 2 threads (issue 12). Choice
// `streaming` or `plain` fixes one of them (traversal_bench's reference, cpu_bench --copies).
class BestCopy {
 public:
  enum class Choice { faster, streaming, plain };
  explicit BestCopy(size_t bytes, bool huge_pages = false, Choice choice = Choice::faster)
      : bytes_(bytes), padded_((bytes + kChunk - 1) / kChunk * kChunk),
        src_(static_cast<char*>(std::aligned_alloc(kChunk, padded_))),
        dst_(static_cast<char*>(std::aligned_alloc(kChunk, padded_))), choice_(choice) {
    std::memset(src_.get(), 1, padded_);
    std::memset(dst_.get(), 2, padded_);
    if (huge_pages) collapse_huge_pages(src_.get(), padded_), collapse_huge_pages(dst_.get(), padded_);
  }

  // "nt-copy (AVX-512)" (non-temporal stores, and the instruction set) or "copy" (memcpy): the
  // copy chosen for the current thread count.
  std::string kind() const { return streams() ? std::string("nt-copy ") + stream_isa() : "copy"; }

  void operator()() const { copy(streams() ? stream_kernel() : nullptr); }

 private:
  static constexpr size_t kChunk = 4096;
  using Kernel = void (*)(const char*, char*, size_t);

  void copy(Kernel kernel) const {
    const int64_t chunks = int64_t(padded_ / kChunk);
    cpu_backend::parallel_for(chunks, 2 * int64_t(kChunk), [&](int64_t begin, int64_t end) {
      const size_t off = size_t(begin) * kChunk, n = size_t(end - begin) * kChunk;
      if (kernel) kernel(src_.get() + off, dst_.get() + off, n);
      else std::memcpy(dst_.get() + off, src_.get() + off, n);
    });
  }

  // Whether the non-temporal copy is the one for this thread count: decided on first use by
  // time_against's interleaved rounds of runs of calls (single calls alternated would each pay
  // for the other's cache state: a plain copy after a streamed one finds its destination
  // evicted, which chose the streamed copy for decode's 1 MiB where the plain one is twice as
  // fast), then kept.
  bool streams() const {
    if (!stream_kernel() || choice_ == Choice::plain) return false;  // (null: no portable non-temporal store)
    if (choice_ == Choice::streaming) return true;
    const int threads = num_threads();
    for (const auto& [t, nt] : decided_)
      if (t == threads) return nt;
    const Timing t = time_against([this] { copy(stream_kernel()); }, [this] { copy(nullptr); }, 0.03);
    decided_.emplace_back(threads, t.ratio > 1);  // ratio: plain time over streamed time
    return decided_.back().second;
  }

  static Kernel stream_kernel() {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) return stream_copy_avx512;
    if (__builtin_cpu_supports("avx2")) return stream_copy_avx2;
    return stream_copy_sse2;
#else
    return nullptr;
#endif
  }
  static const char* stream_isa() {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") ? "(AVX-512)" : __builtin_cpu_supports("avx2") ? "(AVX2)" : "(SSE2)";
#else
    return "";
#endif
  }
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  size_t bytes_, padded_;
  std::unique_ptr<char, Free> src_, dst_;
  Choice choice_;
  mutable std::vector<std::pair<int, bool>> decided_;  // (thread count, non-temporal)
};

// The baseline column of a row measured at several thread counts: one kind when they agree,
// else each count's ("1T copy, 2T nt-copy (AVX-512)").
inline std::string baseline_column(const std::vector<std::pair<int, std::string>>& kinds) {
  bool same = true;
  for (const auto& k : kinds) same = same && k.second == kinds.front().second;
  if (same) return kinds.empty() ? std::string() : kinds.front().second;
  std::string column;
  for (const auto& [threads, kind] : kinds) column += (column.empty() ? "" : ", ") + std::to_string(threads) + "T " + kind;
  return column;
}

}  // namespace rotary::bench
