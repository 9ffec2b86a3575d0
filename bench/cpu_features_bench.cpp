// CPU speed of the beyond-MLX features: ragged decode (64 sequences x 1 token), a mixed-length
// ragged prefill, and fused Q+K (GQA, Hq=32, Hk=8) against two separate calls. Each case
// reports GB/s (bytes read + written) and its ratio to a memcpy of the same bytes measured
// beside it, so the figures stay comparable across machines and load.
//   cpu_features_bench [repeats=7]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rotary/rotary.h"

using namespace rotary;

namespace {

// Median seconds per call over `repeats` batches, each batch long enough (>= 20 ms) to time.
double seconds_per_call(const std::function<void()>& f, int repeats) {
  using clock = std::chrono::steady_clock;
  f();  // warm-up: pages, pool threads, caches
  int iters = 1;
  for (;;) {
    const auto t0 = clock::now();
    for (int i = 0; i < iters; ++i) f();
    if (std::chrono::duration<double>(clock::now() - t0).count() > 0.02 || iters > (1 << 20)) break;
    iters *= 2;
  }
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = clock::now();
    for (int i = 0; i < iters; ++i) f();
    t.push_back(std::chrono::duration<double>(clock::now() - t0).count() / iters);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

Array random_array(const Shape& shape, Dtype dtype, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return Array(v.data(), shape, dtype);
}

// One row of the table: the case's GB/s beside memcpy of the same bytes.
void report(const std::string& name, int64_t bytes_touched, double seconds, int repeats) {
  std::vector<char> src(bytes_touched / 2), dst(bytes_touched / 2);
  const double copy = seconds_per_call([&] { std::memcpy(dst.data(), src.data(), src.size()); }, repeats);
  const double gbs = bytes_touched / seconds / 1e9, copy_gbs = bytes_touched / copy / 1e9;
  std::printf("%-54s %10.2f us %9.2f GB/s   memcpy %8.2f GB/s   ratio %.2f\n", name.c_str(), seconds * 1e6,
              gbs, copy_gbs, gbs / copy_gbs);
}

void ragged_case(const std::string& name, const std::vector<int64_t>& lengths, Dtype dtype, int repeats) {
  std::vector<int64_t> cu{0}, starts;
  std::mt19937 gen(7);
  for (int64_t len : lengths) {
    cu.push_back(cu.back() + len);
    starts.push_back(int64_t(gen() % 4000));
  }
  const Array cu_arr(cu.data(), Shape{int(cu.size())}), st_arr(starts.data(), Shape{int(starts.size())});
  Array x = random_array({int(cu.back()), 32, 128}, dtype, 1);
  const Positions pos = Positions::ragged(cu_arr.view(), st_arr.view());
  const double s = seconds_per_call([&] { rope_inplace(x.view(), pos, RopeOptions{}); }, repeats);
  report(name + " " + to_string(dtype), 2 * x.nbytes(), s, repeats);
}

void qk_case(const std::string& name, int B, int T, Dtype dtype, int repeats) {
  Array q = random_array({B, T, 32, 128}, dtype, 2), k = random_array({B, T, 8, 128}, dtype, 3);
  std::vector<int64_t> offsets(B);
  for (int b = 0; b < B; ++b) offsets[b] = 100 + 37 * b;
  const Array off(offsets.data(), Shape{B});
  const Positions pos = Positions::offsets(off.view());
  RopeOptions o;
  o.seq_axis = -3;
  const int64_t bytes = 2 * (q.nbytes() + k.nbytes());
  const double fused = seconds_per_call([&] { rope_qk_inplace(q.view(), k.view(), pos, o); }, repeats);
  const double separate = seconds_per_call([&] {
    rope_inplace(q.view(), pos, o);
    rope_inplace(k.view(), pos, o);
  }, repeats);
  const std::string tag = name + " " + to_string(dtype);
  report(tag + " fused rope_qk", bytes, fused, repeats);
  report(tag + " two rope calls", bytes, separate, repeats);
  std::printf("%-54s speed-up of the fused call: %.2fx\n", "", separate / fused);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  std::printf("rotary cpu_features_bench: %d threads, median of %d\n", num_threads(), repeats);
  for (Dtype dtype : {float32, bfloat16}) {
    ragged_case("ragged decode 64 seqs x 1 tok, H32 D128", std::vector<int64_t>(64, 1), dtype, repeats);
    ragged_case("ragged prefill 1,0,17,3,512,1000,2048", {1, 0, 17, 3, 512, 1000, 2048}, dtype, repeats);
    qk_case("decode B64 T1 Hq32 Hk8 D128", 64, 1, dtype, repeats);
    qk_case("prefill B1 T2048 Hq32 Hk8 D128", 1, 2048, dtype, repeats);
  }
  return 0;
}
