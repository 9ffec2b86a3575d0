// CPU RoPE throughput against the best copy of the same bytes with the same thread count,
// measured in the same process in interleaved rounds (bench_common.h): the faster, on this
// machine and thread count, of a non-temporal-store copy and a plain multi-threaded one. For
// each case: bytes moved (x read + result written), rope's GB/s and its ratio to that copy for
// each thread count, the 1 -> N thread scaling, and optionally the scalar loop. Then the pool's
// idle check: CPU time against wall time of a decode loop.
//
//   cpu_bench [--filter=SUBSTR] [--threads=1,2] [--calls=buffer,inplace,Array] [--target=AVX2]
//             [--dtypes=float32,float16,bfloat16] [--scalar] [--huge-pages] [--min-time=0.25]
//   cpu_bench --copies    (the two copies the baseline is chosen from, per size)
#include <sys/resource.h>

#include <thread>

#include "bench_common.h"
#include "cpu/backend.h"
#include "cpu/simd.h"
#include "rotary/rotary.h"

using namespace rotary;
using namespace rotary::bench;

namespace {

struct Case {
  std::string name;
  Shape shape;  // logical (B, H, T, D)
  int dims;
  bool offsets_array = false;  // decode: one offset per batch row
  bool inverse = false;
  bool bthd_view = false;  // stored (B, T, H, D), rotated through a (B, H, T, D) view
};

struct Options {
  std::string filter;
  std::vector<int> threads;
  std::vector<std::string> calls = {"buffer", "inplace", "Array"};
  std::vector<std::string> dtypes = {"float32", "float16", "bfloat16"};
  bool scalar = false;
  double min_time = 0.25;  // seconds of rope timing per measurement
  bool huge_pages = false;  // rope's tensors and the copy's buffers on 2 MiB pages
};

Array random_input(const Shape& shape, Dtype dtype) {
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<float> v(n);
  uint32_t state = 12345;
  for (auto& e : v) {
    state = state * 1664525u + 1013904223u;
    e = float(int32_t(state >> 8) - (1 << 23)) / float(1 << 23);
  }
  return Array(v.data(), shape, dtype);
}

// The tensors and calls of one case in one dtype and layout.
struct Setup {
  Array storage, x, out_storage, out, offsets;
  RopeOptions o;
  Positions pos{0};

  Setup(const Case& c, Dtype dtype, bool traditional)
      : storage(random_input(c.bthd_view ? Shape{c.shape[0], c.shape[2], c.shape[1], c.shape[3]} : c.shape, dtype)),
        x(c.bthd_view ? swapaxes(storage, 1, 2) : storage),
        out_storage(Array::zeros(storage.shape(), dtype)),
        out(c.bthd_view ? swapaxes(out_storage, 1, 2) : out_storage),
        offsets(decode_offsets(c.shape[0])) {
    o.dims = c.dims;
    o.layout = pair_layout(traditional);
    o.freqs = Frequencies::from_base(c.dims, 10000);
    o.inverse = c.inverse;
    if (c.offsets_array) pos = Positions::offsets(offsets.view());
  }

  static Array decode_offsets(int B) {
    std::vector<int32_t> off(B);
    for (int b = 0; b < B; ++b) off[b] = 100 + 7 * b;
    return Array(off.data(), {B});
  }

  std::function<void()> call(const Case& c, const std::string& kind) {
    if (kind == "buffer") return [this] { rope(x.view(), out.view(), pos, o); };
    if (kind == "inplace") return [this] { rope_inplace(out.view(), pos, o); };
    const bool trad = o.layout == PairLayout::interleaved;
    return [this, c, trad] {  // "Array": MLX's signature, a new Array per call
      const Array y = c.inverse ? (c.offsets_array ? fast::rope_vjp(x, c.dims, trad, 10000.f, 1.f, offsets)
                                                   : fast::rope_vjp(x, c.dims, trad, 10000.f, 1.f, 0))
                                : (c.offsets_array ? fast::rope(x, c.dims, trad, 10000.f, 1.f, offsets)
                                                   : fast::rope(x, c.dims, trad, 10000.f, 1.f, 0));
      (void)y;
    };
  }
};

// The scalar loop of the core (std::sin/cos, one element at a time) on one thread, GB/s.
double scalar_gbs(const std::function<void()>& call, size_t bytes, const Options& opt) {
  const int threads = num_threads();
  cpu_backend::set_kernel_mode(cpu_backend::KernelMode::scalar);
  set_num_threads(1);
  const Timing t = time_against(call, [] {}, opt.min_time / 4);
  cpu_backend::set_kernel_mode(cpu_backend::KernelMode::simd);
  set_num_threads(threads);
  return 2.0 * double(bytes) / t.seconds / 1e9;
}

void run_case(const Case& c, Dtype dtype, bool traditional, const Options& opt) {
  Setup s(c, dtype, traditional);
  const size_t bytes = size_t(s.x.nbytes());
  const BestCopy copy(bytes, opt.huge_pages);
  if (opt.huge_pages)
    collapse_huge_pages(s.storage.raw_data(), bytes), collapse_huge_pages(s.out_storage.raw_data(), bytes);
  for (const std::string& kind : opt.calls) {
    const std::function<void()> call = s.call(c, kind);
    std::vector<double> gbs;
    std::vector<std::pair<int, std::string>> baselines;
    std::string cells;
    for (int threads : opt.threads) {
      set_num_threads(threads);
      const Timing t = time_against(call, std::cref(copy), opt.min_time);
      gbs.push_back(2.0 * double(bytes) / t.seconds / 1e9);
      baselines.emplace_back(threads, copy.kind());
      char cell[64];
      std::snprintf(cell, sizeof cell, " %6.1f | %6.1f | %5.2f |", gbs.back(), 2.0 * double(bytes) / t.baseline_seconds / 1e9,
                    t.ratio);
      cells += cell;
    }
    std::printf("| %-11s | %-8s | %-11s | %-7s | %7.1f | %-18s |%s", c.name.c_str(), to_string(dtype).c_str(),
                traditional ? "interleaved" : "half", kind.c_str(), 2.0 * double(bytes) / 1048576.0,
                baseline_column(baselines).c_str(), cells.c_str());
    if (gbs.size() > 1) std::printf(" %5.2fx |", gbs.back() / gbs.front());
    if (opt.scalar) std::printf(" %6.2f |", scalar_gbs(call, bytes, opt));
    std::printf("\n");
  }
}

double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The pool must not spin a core when idle: a decode loop's process CPU time against its wall
// time, back to back, with 2 ms pauses between calls (a serving loop waiting for the model),
// and over 200 ms of sleep after the last call.
void idle_check(int threads) {
  const Case c{"decode", {64, 32, 1, 128}, 128, true};
  Setup s(c, float32, false);
  const std::function<void()> call = s.call(c, "buffer");
  set_num_threads(threads);
  call();
  const auto measure = [&](int calls, int pause_us) {
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) {
      call();
      if (pause_us) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
    }
    return std::pair<double, double>{cpu_seconds() - cpu0, seconds(t0, Clock::now())};
  };
  const auto [busy_cpu, busy_wall] = measure(4000, 0);
  const auto [gap_cpu, gap_wall] = measure(200, 2000);
  const auto [idle_cpu, idle_wall] = measure(1, 200000);
  std::printf("\nPool idle check (decode float32 half-split, buffer call, %d threads):\n", threads);
  std::printf("  back to back:       %.3f s CPU over %.3f s wall (%.2f cores busy; %.1f us per call)\n", busy_cpu,
              busy_wall, busy_cpu / busy_wall, 1e6 * busy_wall / 4000);
  std::printf("  2 ms between calls: %.3f s CPU over %.3f s wall (%.3f cores busy; %.1f us CPU per call)\n", gap_cpu,
              gap_wall, gap_cpu / gap_wall, 1e6 * gap_cpu / 200);
  std::printf("  one call, 200 ms asleep: %.2f ms CPU over %.0f ms wall\n", 1e3 * idle_cpu, 1e3 * idle_wall);
}

// --copies: the two copies BestCopy chooses between, per size and thread count (which is the
// faster on this machine, and by how much).
void compare_copies(const Options& opt) {
  std::printf("| MiB moved | threads | nt-copy GB/s | copy GB/s | copy time / nt-copy time |\n|---:|---:|---:|---:|---:|\n");
  for (const int mib : {1, 2, 4, 16, 64, 128, 256}) {
    const size_t bytes = size_t(mib) << 19;  // each way: half the bytes moved
    const BestCopy streamed(bytes, opt.huge_pages, BestCopy::Choice::streaming);
    const BestCopy plain(bytes, opt.huge_pages, BestCopy::Choice::plain);
    for (int threads : opt.threads) {
      set_num_threads(threads);
      const Timing t = time_against(std::cref(streamed), std::cref(plain), opt.min_time);
      std::printf("| %d | %d | %.1f | %.1f | %.2f |\n", mib, threads, 2.0 * double(bytes) / t.seconds / 1e9,
                  2.0 * double(bytes) / t.baseline_seconds / 1e9, t.ratio);
    }
  }
}

std::vector<Case> all_cases() {
  return {
      {"prefill", {1, 32, 4096, 128}, 128},
      {"decode", {64, 32, 1, 128}, 128, true},
      {"long-ctx", {1, 8, 32768, 128}, 128},
      {"train-fwd", {8, 16, 2048, 64}, 64},
      {"train-inv", {8, 16, 2048, 64}, 64, false, true},
      {"partial", {1, 32, 4096, 128}, 64},
      {"view-bthd", {1, 32, 4096, 128}, 128, false, false, true},
  };
}

void print_header(const Options& opt) {
  std::printf("SIMD target %s; threads", cpu_backend::simd_target_name());
  for (int t : opt.threads) std::printf(" %d", t);
  std::printf("; last-level cache %lld MiB; median of interleaved rounds%s\n\n", (long long)(llc_bytes() >> 20),
              opt.scalar ? "; scalar = the core's scalar loop, 1 thread" : "");
  std::printf("| case        | dtype    | layout      | call    | MiB moved | baseline           |");
  for (int t : opt.threads) std::printf(" %dT GB/s | %dT copy GB/s | %dT ratio |", t, t, t);
  if (opt.threads.size() > 1) std::printf(" %d->%d scaling |", opt.threads.front(), opt.threads.back());
  std::printf("%s\n|---|---|---|---|---:|---|", opt.scalar ? " scalar GB/s |" : "");
  for (size_t i = 0; i < opt.threads.size() + (opt.threads.size() > 1 ? 1 : 0); ++i)
    std::printf(i < opt.threads.size() ? "---:|---:|---:|" : "---:|");
  std::printf("%s\n", opt.scalar ? "---:|" : "");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::string target;
  CLI::App app{"CPU RoPE throughput against the best copy of the same bytes (see the header of cpu_bench.cpp)"};
  app.add_option("--filter", opt.filter, "only cases whose name contains this");
  app.add_option("--threads", opt.threads, "thread counts to measure, e.g. 1,2 (default: 1 and all)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option("--calls", opt.calls, "buffer, inplace, Array")->delimiter(',')->check(CLI::IsMember({"buffer", "inplace", "Array"}));
  app.add_option("--dtypes", opt.dtypes, "float32, float16, bfloat16")
      ->delimiter(',')
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  add_target_option(app, target);
  app.add_flag("--scalar", opt.scalar, "add the core's scalar loop (1 thread)");
  app.add_flag("--huge-pages", opt.huge_pages, "rope's tensors and the copy's buffers on 2 MiB pages (MADV_COLLAPSE)");
  app.add_option("--min-time", opt.min_time, "seconds of rope timing per measurement")->check(CLI::PositiveNumber);
  bool copies = false;
  app.add_flag("--copies", copies, "only time the non-temporal copy against the plain one, per size");
  if (const int rc = parse(app, argc, argv); rc >= 0) return rc;
  start_output("cpu_bench");
  use_target(target);
  if (opt.threads.empty()) {
    opt.threads = {1};
    if (num_threads() > 1) opt.threads.push_back(num_threads());
  }
  if (copies) return compare_copies(opt), 0;
  print_header(opt);
  for (const Case& c : all_cases()) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    for (Dtype dt : {float32, float16, bfloat16}) {
      if (std::find(opt.dtypes.begin(), opt.dtypes.end(), to_string(dt)) == opt.dtypes.end()) continue;
      for (bool trad : {false, true}) run_case(c, dt, trad, opt);
    }
  }
  idle_check(opt.threads.back());
  return 0;
}
