// CPU speed of the beyond-MLX features: ragged decode (64 sequences x 1 token), a mixed-length
// ragged prefill, and fused Q+K (GQA, Hq=32, Hk=8) against two separate calls. Each case
// reports GB/s (bytes read + written) and its ratio to the best copy of the same bytes with
// the same thread count (bench_common.h), timed in interleaved rounds; fused Q+K is also timed
// against the two calls directly.
//
//   cpu_features_bench [--min-time=0.25] [--filter=SUBSTR]
#include <random>

#include "bench_common.h"
#include "rotary/rotary.h"

using namespace rotary;
using namespace rotary::bench;

namespace {

struct Options {
  double min_time = 0.25;
  std::string filter;
};

Array random_array(const Shape& shape, Dtype dtype, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return Array(v.data(), shape, dtype);
}

// One row of the table: the case's GB/s beside the best copy of the same bytes.
void report(const std::string& name, int64_t tensor_bytes, const std::function<void()>& call, const Options& opt) {
  const BestCopy copy{size_t(tensor_bytes)};
  const Timing t = time_against(call, std::cref(copy), opt.min_time);
  std::printf("| %-52s | %9.2f | %7.2f | %7.2f | %-18s | %5.2f |\n", name.c_str(), t.seconds * 1e6,
              2.0 * double(tensor_bytes) / t.seconds / 1e9, 2.0 * double(tensor_bytes) / t.baseline_seconds / 1e9,
              copy.kind().c_str(), t.ratio);
}

void ragged_case(const std::string& name, const std::vector<int64_t>& lengths, Dtype dtype, const Options& opt) {
  std::vector<int64_t> cu{0}, starts;
  std::mt19937 gen(7);
  for (int64_t len : lengths) {
    cu.push_back(cu.back() + len);
    starts.push_back(int64_t(gen() % 4000));
  }
  const Array cu_arr(cu.data(), Shape{int(cu.size())}), st_arr(starts.data(), Shape{int(starts.size())});
  Array x = random_array({int(cu.back()), 32, 128}, dtype, 1);
  const Positions pos = Positions::ragged(cu_arr.view(), st_arr.view());
  report(name + " " + to_string(dtype), x.nbytes(), [&] { rope_inplace(x.view(), pos, RopeOptions{}); }, opt);
}

void qk_case(const std::string& name, int B, int T, Dtype dtype, const Options& opt) {
  Array q = random_array({B, T, 32, 128}, dtype, 2), k = random_array({B, T, 8, 128}, dtype, 3);
  std::vector<int64_t> offsets(B);
  for (int b = 0; b < B; ++b) offsets[b] = 100 + 37 * b;
  const Array off(offsets.data(), Shape{B});
  const Positions pos = Positions::offsets(off.view());
  RopeOptions o;
  o.seq_axis = -3;
  const std::function<void()> fused = [&] { rope_qk_inplace(q.view(), k.view(), pos, o); };
  const std::function<void()> separate = [&] {
    rope_inplace(q.view(), pos, o);
    rope_inplace(k.view(), pos, o);
  };
  const std::string tag = name + " " + to_string(dtype);
  report(tag + " fused rope_qk", q.nbytes() + k.nbytes(), fused, opt);
  report(tag + " two rope calls", q.nbytes() + k.nbytes(), separate, opt);
  const Timing t = time_against(fused, separate, opt.min_time);
  std::printf("| %-52s | | | | two calls / fused | %5.2f |\n", (tag + " fused speed-up").c_str(), t.ratio);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"CPU speed of ragged batches and fused Q+K against the best copy (see cpu_features_bench.cpp)"};
  app.add_option("--min-time", opt.min_time, "seconds of timing per measurement")->check(CLI::PositiveNumber);
  app.add_option("--filter", opt.filter, "only cases whose key contains this: ragged-decode, ragged-prefill, qk-decode, qk-prefill");
  if (const int rc = parse(app, argc, argv); rc >= 0) return rc;
  start_output("cpu_features_bench");
  std::printf("rotary cpu_features_bench: %d threads, median of interleaved rounds\n\n", num_threads());
  std::printf("| case | us/call | GB/s | copy GB/s | baseline | ratio |\n|---|---:|---:|---:|---|---:|\n");
  const auto want = [&](const std::string& name) { return opt.filter.empty() || name.find(opt.filter) != std::string::npos; };
  for (Dtype dtype : {float32, float16, bfloat16}) {
    if (want("ragged-decode")) ragged_case("ragged decode 64 seqs x 1 tok, H32 D128", std::vector<int64_t>(64, 1), dtype, opt);
    if (want("ragged-prefill")) ragged_case("ragged prefill 1,0,17,3,512,1000,2048", {1, 0, 17, 3, 512, 1000, 2048}, dtype, opt);
    if (want("qk-decode")) qk_case("decode B64 T1 Hq32 Hk8 D128", 64, 1, dtype, opt);
    if (want("qk-prefill")) qk_case("prefill B1 T2048 Hq32 Hk8 D128", 1, 2048, dtype, opt);
  }
  return 0;
}
