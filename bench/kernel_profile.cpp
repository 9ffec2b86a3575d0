// One case, a few calls, on one thread, with callgrind's collection switched on around the
// calls only: bench/profile_kernels.sh runs it under `valgrind --tool=callgrind` for every
// dtype x layout and divides the instructions by the output's cache lines. Instruction counts
// are repeatable on a shared machine where timings are not. (Valgrind hides AVX-512 from the
// CPU-id, so the counts are the AVX2 target's.) Without valgrind it just runs the calls.
//
//   kernel_profile --case=prefill|long|decode --dtype=float32|float16|bfloat16 --layout=half|interleaved
//                  [--call=buffer|inplace] [--reps=10]
#include <valgrind/callgrind.h>

#include "bench_common.h"
#include "cpu/simd.h"
#include "rotary/rotary.h"

using namespace rotary;

int main(int argc, char** argv) {
  std::string which = "prefill", dtype_name = "float32", layout = "half", call = "buffer";
  int reps = 10;
  CLI::App app{"Runs one case under callgrind's collection (see bench/profile_kernels.sh)"};
  app.add_option("--case", which, "prefill (1,32,512,128), long (1,8,2048,128: long-context's 8 heads) or decode (64,32,1,128)")
      ->check(CLI::IsMember({"prefill", "long", "decode"}));
  app.add_option("--dtype", dtype_name)->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  app.add_option("--layout", layout)->check(CLI::IsMember({"half", "interleaved"}));
  app.add_option("--call", call)->check(CLI::IsMember({"buffer", "inplace"}));
  app.add_option("--reps", reps, "calls measured")->check(CLI::Range(1, 100000));
  if (const int rc = bench::parse(app, argc, argv); rc >= 0) return rc;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  set_num_threads(1);
  const Dtype dtype = dtype_name == "float32" ? float32 : dtype_name == "float16" ? float16 : bfloat16;
  const bool decode = which == "decode";
  const Shape shape = decode ? Shape{64, 32, 1, 128} : which == "long" ? Shape{1, 8, 2048, 128} : Shape{1, 32, 512, 128};
  int64_t n = 1;
  for (int d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n));
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(int(i % 17) - 8) / 8.0f;
  const Array x(values.data(), shape, dtype), out = Array::zeros(shape, dtype);
  std::vector<int32_t> off(static_cast<size_t>(shape[0]));
  for (size_t b = 0; b < off.size(); ++b) off[b] = int32_t(100 + 7 * b);
  const Array offsets(off.data(), {shape[0]});
  RopeOptions o;
  o.layout = layout == "interleaved" ? PairLayout::interleaved : PairLayout::half_split;
  o.freqs = Frequencies::from_base(128, 10000);
  const Positions pos = decode ? Positions::offsets(offsets.view()) : Positions(0);
  const auto run = [&] {
    if (call == "inplace") rope_inplace(out.view(), pos, o);
    else rope(x.view(), out.view(), pos, o);
  };
  run();  // warm: the allocator, the dispatch tables
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < reps; ++i) run();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("target %s, %s %s %s %s: %d calls, %lld output cache lines per call\n",
              cpu_backend::simd_target_name(), which.c_str(), dtype_name.c_str(), layout.c_str(), call.c_str(), reps,
              (long long)(out.nbytes() / 64));
  return 0;
}
