// CPU RoPE throughput against memcpy. For each case: bytes moved (x read + result written),
// GB/s of rope, GB/s of a memcpy of the same bytes timed in alternation with it (in cache for
// decode, as rope's data is), their ratio, and optionally the plain scalar loop's GB/s.
//
//   cpu_bench [--filter=SUBSTR] [--threads=N] [--target=AVX2] [--scalar] [--min-time=0.25]
//
// --scalar adds the scalar loop of the core (std::sin/cos, one element at a time, 1 thread).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cpu/backend.h"
#include "cpu/simd.h"
#include "rotary/rotary.h"

using namespace rotary;
using Clock = std::chrono::steady_clock;

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
  bool scalar = false;
  double min_time = 0.25;  // seconds of rope timing per measurement
};

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Best of `samples` timings of `reps` calls each, alternating rope and memcpy so both see the
// same machine state; returns {rope seconds per call, memcpy seconds per call}.
std::pair<double, double> time_pair(const std::function<void()>& rope_call, const std::function<void()>& copy,
                                    double min_time) {
  rope_call();  // warm: pages, caches, thread pool
  copy();
  auto t0 = Clock::now();
  rope_call();
  const double once = std::max(seconds(t0, Clock::now()), 1e-7);
  const int reps = std::clamp(int(2e-3 / once), 1, 1000);  // a sample lasts >= ~2 ms
  const int samples = std::clamp(int(min_time / (once * reps)), 5, 200);
  std::vector<double> r, m;
  for (int s = 0; s < samples; ++s) {
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) rope_call();
    const auto t1 = Clock::now();
    for (int i = 0; i < reps; ++i) copy();
    const auto t2 = Clock::now();
    r.push_back(seconds(t0, t1) / reps);
    m.push_back(seconds(t1, t2) / reps);
  }
  // The best sample of each: on a shared machine, slower samples measure the neighbours' load.
  return {*std::min_element(r.begin(), r.end()), *std::min_element(m.begin(), m.end())};
}

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

void run_case(const Case& c, Dtype dtype, bool traditional, const Options& opt) {
  const int B = c.shape[0], H = c.shape[1], T = c.shape[2], D = c.shape[3];
  // x: the logical (B, H, T, D) input, possibly a view of (B, T, H, D) storage.
  const Array storage = random_input(c.bthd_view ? Shape{B, T, H, D} : c.shape, dtype);
  const Array x = c.bthd_view ? swapaxes(storage, 1, 2) : storage;
  Array out_storage = Array::zeros(storage.shape(), dtype);
  const Array out = c.bthd_view ? swapaxes(out_storage, 1, 2) : out_storage;
  std::vector<int32_t> off(B);
  for (int b = 0; b < B; ++b) off[b] = 100 + 7 * b;
  const Array offsets(off.data(), {B});

  RopeOptions o;
  o.dims = c.dims;
  o.layout = pair_layout(traditional);
  o.freqs = Frequencies::from_base(c.dims, 10000);
  o.inverse = c.inverse;
  const Positions pos = c.offsets_array ? Positions::offsets(offsets.view()) : Positions(0);

  const size_t bytes = size_t(x.nbytes());
  std::vector<char> src(bytes), dst(bytes);
  std::memcpy(src.data(), storage.raw_data(), bytes);
  std::memset(dst.data(), 1, bytes);
  const auto copy = [&] { std::memcpy(dst.data(), src.data(), bytes); };

  const std::function<void()> into_buffer = [&] { rope(x.view(), out.view(), pos, o); };
  const std::function<void()> as_array = [&] {
    const Array y = c.inverse ? (c.offsets_array ? fast::rope_vjp(x, c.dims, traditional, 10000.f, 1.f, offsets)
                                                 : fast::rope_vjp(x, c.dims, traditional, 10000.f, 1.f, 0))
                              : (c.offsets_array ? fast::rope(x, c.dims, traditional, 10000.f, 1.f, offsets)
                                                 : fast::rope(x, c.dims, traditional, 10000.f, 1.f, 0));
    (void)y;
  };

  double scalar_gbs = 0;
  if (opt.scalar) {
    const int threads = num_threads();
    cpu_backend::set_kernel_mode(cpu_backend::KernelMode::scalar);
    set_num_threads(1);
    const auto [t, m] = time_pair(into_buffer, copy, opt.min_time / 4);
    (void)m;
    scalar_gbs = 2.0 * bytes / t / 1e9;
    cpu_backend::set_kernel_mode(cpu_backend::KernelMode::simd);
    set_num_threads(threads);
  }
  for (int api = 0; api < 2; ++api) {
    const auto [t, m] = time_pair(api ? as_array : into_buffer, copy, opt.min_time);
    const double gbs = 2.0 * bytes / t / 1e9, mgbs = 2.0 * bytes / m / 1e9;
    std::printf("| %-13s | %-8s | %-11s | %-6s | %8.1f | %7.1f | %10.1f | %5.2f |", c.name.c_str(), to_string(dtype).c_str(),
                traditional ? "interleaved" : "half", api ? "Array" : "buffer", 2.0 * bytes / 1048576.0, gbs, mgbs,
                gbs / mgbs);
    if (opt.scalar) std::printf(" %6.2f | %6.0fx |", scalar_gbs, gbs / scalar_gbs);
    std::printf("\n");
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--filter=", 0) == 0) opt.filter = a.substr(9);
    else if (a == "--scalar") opt.scalar = true;
    else if (a.rfind("--threads=", 0) == 0) set_num_threads(std::atoi(a.c_str() + 10));
    else if (a.rfind("--target=", 0) == 0) cpu_backend::use_simd_target(a.substr(9));
    else if (a.rfind("--min-time=", 0) == 0) opt.min_time = std::atof(a.c_str() + 11);
    else {
      std::fprintf(stderr, "usage: %s [--filter=S] [--threads=N] [--target=AVX2] [--scalar] [--min-time=s]\n", argv[0]);
      return 2;
    }
  }
  const std::vector<Case> cases = {
      {"prefill", {1, 32, 4096, 128}, 128},
      {"decode", {64, 32, 1, 128}, 128, true},
      {"train-fwd", {8, 16, 2048, 64}, 64},
      {"train-inv", {8, 16, 2048, 64}, 64, false, true},
      {"partial", {1, 32, 4096, 128}, 64},
      {"view-bthd", {1, 32, 4096, 128}, 128, false, false, true},
  };
  std::printf("SIMD target %s, %d threads%s\n\n", cpu_backend::simd_target_name(), num_threads(),
              opt.scalar ? "; scalar = the core's scalar loop, 1 thread" : "");
  std::printf("| case          | dtype    | layout      | call   | MiB moved | GB/s | memcpy GB/s | ratio |%s\n",
              opt.scalar ? " scalar GB/s | speedup |" : "");
  std::printf("|---|---|---|---|---:|---:|---:|---:|%s\n", opt.scalar ? "---:|---:|" : "");
  for (const Case& c : cases) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    for (Dtype dt : {float32, float16, bfloat16})
      for (bool trad : {false, true}) run_case(c, dt, trad, opt);
  }
  return 0;
}
