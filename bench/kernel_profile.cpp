// One case, a few calls, on one thread, with callgrind's collection switched on around the
// calls only: bench/profile_kernels.sh runs it under `valgrind --tool=callgrind` for every
// dtype x layout and divides the instructions by the output's cache lines. Instruction counts
// are repeatable on a shared machine where timings are not. (Valgrind hides AVX-512 from the
// CPU-id, so the counts are the AVX2 target's.) Without valgrind it just runs the calls.
//
//   kernel_profile --case=prefill|long|decode --dtype=float32|float16|bfloat16 --layout=half|interleaved
//                  [--call=buffer|inplace|qk|two|append] [--reps=10] [--target=AVX2]
// qk: rope_qk of q and a k with 8 heads (GQA) into buffers; two: the same as two rope calls;
// append: rope_and_cache of q in place and k, v (8 heads) into a paged cache by slot mapping,
// the tensors stored (B, T, H, D) as fused_bench's append cases.
#include <valgrind/callgrind.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>

#include "bench_common.h"
#include "cpu/simd.h"
#include "rotary/rotary.h"

using namespace rotary;

namespace {

Array filled(const Shape& shape, Dtype dtype) {
  int64_t n = 1;
  for (int d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n));
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(int(i % 17) - 8) / 8.0f;
  return Array(values.data(), shape, dtype);
}

// The call to count and the bytes it writes. shape is (B, H, T, D).
struct Call {
  std::function<void()> run;
  int64_t out_bytes = 0;
};

Call rope_call(const std::string& call, const Shape& shape, Dtype dtype, const Positions& pos, const RopeOptions& o) {
  const Shape k_shape{shape[0], 8, shape[2], shape[3]};
  auto a = std::make_shared<std::vector<Array>>(
      std::vector<Array>{filled(shape, dtype), Array::zeros(shape, dtype), filled(k_shape, dtype), Array::zeros(k_shape, dtype)});
  Call c;
  c.out_bytes = (*a)[1].nbytes() + (call == "qk" || call == "two" ? (*a)[3].nbytes() : 0);
  c.run = [a, call, pos, o] {
    const auto& [x, out, k, k_out] = std::tie((*a)[0], (*a)[1], (*a)[2], (*a)[3]);
    if (call == "inplace") rope_inplace(out.view(), pos, o);
    else if (call == "qk") rope_qk(x.view(), k.view(), out.view(), k_out.view(), pos, o);
    else rope(x.view(), out.view(), pos, o);
    if (call == "two") rope(k.view(), k_out.view(), pos, o);
  };
  return c;
}

Call append_call(const Shape& shape, Dtype dtype, const Positions& pos, RopeOptions o) {
  const int B = shape[0], T = shape[2], D = shape[3];
  const int64_t tokens = int64_t(B) * T, blocks = (tokens + 15) / 16 + B;
  std::vector<int64_t> slot(static_cast<size_t>(tokens));
  for (int64_t i = 0; i < tokens; ++i) slot[size_t(i)] = (i * 7) % (blocks * 16);  // scattered, distinct
  auto a = std::make_shared<std::vector<Array>>(std::vector<Array>{
      filled({B, T, shape[1], D}, dtype), filled({B, T, 8, D}, dtype), filled({B, T, 8, D}, dtype),
      Array::zeros({int(blocks), 16, 8, D}, dtype), Array::zeros({int(blocks), 16, 8, D}, dtype),
      Array(slot.data(), {int(tokens)})});
  o.seq_axis = -3;
  Call c;
  c.out_bytes = (*a)[0].nbytes() + (*a)[1].nbytes() + (*a)[2].nbytes();
  c.run = [a, pos, o] {
    const auto& [q, k, v, kc, vc, slots] = std::tie((*a)[0], (*a)[1], (*a)[2], (*a)[3], (*a)[4], (*a)[5]);
    const KVCache cache{kc.view(), vc.view(), CacheLayout::rows_then_heads, CacheSlots::slot_mapping(slots.view()),
                        {}, {}};
    rope_and_cache(q.view(), k.view(), v.view(), q.view(), cache, pos, o, std::nullopt);
  };
  return c;
}

// The fastest and the median of `rounds` rounds of `reps` calls, in ns per call.
void time_rounds(const Call& c, int reps, int rounds) {
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) c.run();
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  std::sort(ns.begin(), ns.end());
  const double lines = double(c.out_bytes / 64);
  std::printf("time: fastest %.0f ns/call (%.2f ns/line), median %.0f ns/call (%.2f ns/line), %d rounds of %d\n",
              ns.front(), ns.front() / lines, ns[ns.size() / 2], ns[ns.size() / 2] / lines, rounds, reps);
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "prefill", dtype_name = "float32", layout = "half", call = "buffer", target;
  int reps = 10, rounds = 0, threads = 1;
  CLI::App app{"Runs one case under callgrind's collection (see bench/profile_kernels.sh)"};
  app.add_option("--case", which, "prefill (1,32,512,128), long (1,8,2048,128: long-context's 8 heads) or decode (64,32,1,128)")
      ->check(CLI::IsMember({"prefill", "long", "decode"}));
  app.add_option("--dtype", dtype_name)->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  app.add_option("--layout", layout)->check(CLI::IsMember({"half", "interleaved"}));
  app.add_option("--call", call)->check(CLI::IsMember({"buffer", "inplace", "qk", "two", "append"}));
  app.add_option("--reps", reps, "calls measured")->check(CLI::Range(1, 100000));
  app.add_option("--rounds", rounds, "then time this many rounds of --reps calls")->check(CLI::Range(0, 100000));
  app.add_option("--threads", threads, "pool threads")->check(CLI::Range(1, 1024));
  bench::add_target_option(app, target);
  if (const int rc = bench::parse(app, argc, argv); rc >= 0) return rc;
  bench::use_target(target);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  set_num_threads(threads);
  const Dtype dtype = dtype_name == "float32" ? float32 : dtype_name == "float16" ? float16 : bfloat16;
  const bool decode = which == "decode";
  const Shape shape = decode ? Shape{64, 32, 1, 128} : which == "long" ? Shape{1, 8, 2048, 128} : Shape{1, 32, 512, 128};
  std::vector<int32_t> off(static_cast<size_t>(shape[0]));
  for (size_t b = 0; b < off.size(); ++b) off[b] = int32_t(100 + 7 * b);
  const Array offsets(off.data(), {shape[0]});
  RopeOptions o;
  o.layout = layout == "interleaved" ? PairLayout::interleaved : PairLayout::half_split;
  o.freqs = Frequencies::from_base(128, 10000);
  const Positions pos = decode ? Positions::offsets(offsets.view()) : Positions(0);
  const Call c = call == "append" ? append_call(shape, dtype, pos, o) : rope_call(call, shape, dtype, pos, o);
  c.run();  // warm: the allocator, the dispatch tables
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < reps; ++i) c.run();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("target %s, %s %s %s %s: %d calls, %lld output cache lines per call\n",
              cpu_backend::simd_target_name(), which.c_str(), dtype_name.c_str(), layout.c_str(), call.c_str(), reps,
              (long long)(c.out_bytes / 64));
  if (rounds > 0) time_rounds(c, reps, rounds);
  return 0;
}
