// The fused paths (rotary/fused.h) against the unfused sequence a user would otherwise run and
// against a memcpy of the bytes the fused call must move (each element of its inputs read once,
// each output element written once), timed in alternation so all see the same machine state.
//
//   fused_bench [--filter=SUBSTR] [--threads=N] [--min-time=0.25] [--clock=wall|cpu]
//
// Unfused: rope (rope_qk_inplace / rope_inplace) then the cache copy (a threaded row copy, or a
// threaded FP8 quantising copy); a threaded RMSNorm pass then rope; for re-rotation, the
// inverse rope at the old positions then rope at the new ones.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include <valgrind/callgrind.h>

#include "bench_common.h"
#include "core/fp8.h"
#include "cpu/parallel.h"
#include "cpu/simd.h"
#include "rotary/rotary.h"

using namespace rotary;
using Clock = std::chrono::steady_clock;

namespace {

// Wall time, or with --clock=cpu the process's CPU time: on a shared machine a one-thread run
// then counts only its own cycles (stalls on memory included), not the time others hold the core.
bool g_cpu_clock = false;

double now_seconds() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// Best-of-samples seconds per call of each function, the functions run in alternation.
std::vector<double> time_all(const std::vector<std::function<void()>>& fs, double min_time) {
  for (const auto& f : fs) f();
  double t0 = now_seconds();
  fs[0]();
  const double once = std::max(now_seconds() - t0, 1e-7);
  const int reps = std::clamp(int(2e-3 / once), 1, 1000);
  const int samples = std::clamp(int(min_time / (once * reps)), 5, 100);
  std::vector<double> best(fs.size(), 1e30);
  for (int s = 0; s < samples; ++s)
    for (size_t i = 0; i < fs.size(); ++i) {
      t0 = now_seconds();
      for (int r = 0; r < reps; ++r) fs[i]();
      best[i] = std::min(best[i], (now_seconds() - t0) / reps);
    }
  return best;
}

Array random_input(const Shape& shape, Dtype dtype, uint32_t seed) {
  int64_t n = 1;
  for (int s : shape) n *= s;
  std::vector<float> v(n);
  for (auto& e : v) {
    seed = seed * 1664525u + 1013904223u;
    e = float(int32_t(seed >> 8) - (1 << 23)) / float(1 << 23);
  }
  return Array(v.data(), shape, dtype);
}

// Copies row r of `rows` (n_rows x row_elems, contiguous) to dst + offset(r) * size, threaded;
// FP8 destinations quantise (value / scale).
void copy_rows(const Array& rows, int64_t row_elems, char* dst, Dtype dst_dtype, float scale,
               const std::function<int64_t(int64_t)>& offset) {
  const int64_t n = rows.size() / row_elems;
  const char* src = static_cast<const char*>(rows.raw_data());
  const int64_t es = rows.dtype().size;
  cpu_backend::parallel_for(n, row_elems * es * 2, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (dst_dtype != float8_e4m3) {
        std::memcpy(dst + offset(r) * es, src + r * row_elems * es, size_t(row_elems * es));
        continue;
      }
      const bfloat16_t* x = reinterpret_cast<const bfloat16_t*>(src) + r * row_elems;
      auto* y = reinterpret_cast<core::float8_e4m3_t*>(dst) + offset(r);
      for (int64_t i = 0; i < row_elems; ++i) y[i] = core::to_float8_e4m3(to_float(x[i]) / scale);
    }
  });
}

// RMSNorm of every D-row of a bfloat16 tensor in place (float accumulation), threaded.
void rms_norm_inplace(Array& x, const std::vector<float>& w, float eps) {
  const int64_t D = int64_t(w.size()), n = x.size() / D;
  bfloat16_t* p = x.data<bfloat16_t>();
  cpu_backend::parallel_for(n, D * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      bfloat16_t* row = p + r * D;
      float sum = 0;
      for (int64_t i = 0; i < D; ++i) sum += to_float(row[i]) * to_float(row[i]);
      const float rstd = 1.0f / std::sqrt(sum / float(D) + eps);
      for (int64_t i = 0; i < D; ++i) row[i] = to_bfloat16(to_float(row[i]) * rstd * w[i]);
    }
  });
}

struct Result {
  double bytes;  // the fused call's reads + writes
  std::function<void()> fused, unfused;
};

// --count: run one side `reps` times with callgrind's collection on around the calls only
// (valgrind --tool=callgrind --collect-atstart=no fused_bench --count=fused --filter=...).
void count(const std::string& name, const Result& r, const std::string& which, int reps) {
  const std::function<void()>& f = which == "fused" ? r.fused : r.unfused;
  f();  // warm: first-touch page faults and lazy setup are not counted
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < reps; ++i) f();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("%s: %s, %d calls, %.0f cache lines moved\n", name.c_str(), which.c_str(), reps, r.bytes / 64);
}

void report(const std::string& name, const Result& r, double min_time) {
  std::vector<char> src(size_t(r.bytes / 2)), dst(size_t(r.bytes / 2));
  std::memset(src.data(), 1, src.size());
  const auto copy = [&] { std::memcpy(dst.data(), src.data(), src.size()); };
  // Each side runs right after a copy, so both start from the same cache state (the copy's
  // bytes evict what the other side left in the last-level cache; fused after the copy and
  // unfused after fused measured the unfused sequence with the cache rows still warm).
  std::vector<double> t = time_all({copy, r.fused, copy, r.unfused}, min_time);
  t = {t[1], t[3], std::min(t[0], t[2])};
  std::printf("| %-26s | %8.2f | %9.1f | %9.1f | %6.2fx | %6.1f | %5.2f |\n", name.c_str(), r.bytes / 1048576.0,
              t[0] * 1e6, t[1] * 1e6, t[1] / t[0], r.bytes / t[0] / 1e9, t[2] / t[0]);
  std::fflush(stdout);
}

constexpr int kHq = 32, kHkv = 8, kD = 128, kBlock = 16;

// Llama-3-8B-like heads into a paged (blocks, 16, 8, 128) cache by slot mapping.
Result append_case(int B, int T, Dtype cache_dtype, bool norm) {
  struct State {
    Array q, k, v, kc, vc, slots, offsets, wq, wk;
    std::vector<float> w;
  };
  auto s = std::make_shared<State>(State{random_input({B, T, kHq, kD}, bfloat16, 1),
                                         random_input({B, T, kHkv, kD}, bfloat16, 2),
                                         random_input({B, T, kHkv, kD}, bfloat16, 3), Array(0), Array(0), Array(0),
                                         Array(0), random_input({kD}, bfloat16, 4), random_input({kD}, bfloat16, 5), {}});
  const int64_t n = int64_t(B) * T, blocks = (n + kBlock - 1) / kBlock + B;
  s->kc = Array::zeros({int(blocks), kBlock, kHkv, kD}, cache_dtype);
  s->vc = Array::zeros({int(blocks), kBlock, kHkv, kD}, cache_dtype);
  std::vector<int64_t> slot(n), off(B);
  for (int64_t i = 0; i < n; ++i) slot[i] = (i * 7) % (blocks * kBlock);  // scattered, distinct
  for (int b = 0; b < B; ++b) off[b] = 100 + 37 * b;
  s->slots = Array(slot.data(), {int(n)});
  s->offsets = Array(off.data(), {B});
  s->w.assign(kD, 1.01f);
  RopeOptions o;
  o.seq_axis = -3;
  const Positions pos = B > 1 ? Positions::offsets(s->offsets.view()) : Positions(7);
  const KVCache cache{s->kc.view(), s->vc.view(), CacheLayout::rows_then_heads, CacheSlots::slot_mapping(s->slots.view()),
                      0.05f, 0.05f};
  std::optional<QKNorm> qk;
  if (norm) qk = QKNorm{s->wq.view(), s->wk.view(), 1e-6f, false};
  Result r;
  r.bytes = 2.0 * (s->q.nbytes() + s->k.nbytes() + s->v.nbytes());
  if (cache_dtype == float8_e4m3) r.bytes -= double(s->k.nbytes() + s->v.nbytes()) / 2;  // 1-byte cache writes
  r.fused = [s, pos, o, cache, qk] { rope_and_cache(s->q.view(), s->k.view(), s->v.view(), s->q.view(), cache, pos, o, qk); };
  r.unfused = [s, pos, o, cache_dtype, norm] {
    if (norm) {
      rms_norm_inplace(s->q, s->w, 1e-6f);
      rms_norm_inplace(s->k, s->w, 1e-6f);
    }
    rope_qk_inplace(s->q.view(), s->k.view(), pos, o);
    const auto at = [&](int64_t row) {  // row = token * heads + h
      const int64_t slot = s->slots.data<int64_t>()[row / kHkv];
      return (slot * kHkv + row % kHkv) * kD;
    };
    copy_rows(s->k, kD, static_cast<char*>(s->kc.raw_data()), cache_dtype, 0.05f, at);
    copy_rows(s->v, kD, static_cast<char*>(s->vc.raw_data()), cache_dtype, 0.05f, at);
  };
  return r;
}

// QK RMSNorm + RoPE in place (Qwen3-8B-like heads), no cache.
Result norm_case(int B, int T) {
  auto q = std::make_shared<Array>(random_input({B, T, kHq, kD}, bfloat16, 1));
  auto k = std::make_shared<Array>(random_input({B, T, kHkv, kD}, bfloat16, 2));
  auto w = std::make_shared<Array>(random_input({kD}, bfloat16, 3));
  RopeOptions o;
  o.seq_axis = -3;
  Result r;
  r.bytes = 2.0 * (q->nbytes() + k->nbytes());
  const std::vector<float> wf(kD, 1.01f);
  r.fused = [=] {
    rms_norm_rope(q->view(), k->view(), q->view(), k->view(), QKNorm{w->view(), w->view(), 1e-6f, false}, Positions(9), o);
  };
  r.unfused = [=] {
    rms_norm_inplace(*q, wf, 1e-6f);
    rms_norm_inplace(*k, wf, 1e-6f);
    rope_qk_inplace(q->view(), k->view(), Positions(9), o);
  };
  return r;
}

// DeepSeek-V3-like MLA: 128 q heads of 128 + 64, latent 512, rope_dim 64, (blocks, 64, 576) cache.
Result mla_case(int N) {
  const int Hq = 128, nope = 128, dr = 64, rank = 512, block = 64;
  auto q = std::make_shared<Array>(random_input({N, Hq, nope + dr}, bfloat16, 1));
  auto k_pe = std::make_shared<Array>(random_input({N, dr}, bfloat16, 2));
  auto kv_c = std::make_shared<Array>(random_input({N, rank}, bfloat16, 3));
  const int blocks = (N + block - 1) / block + 1;
  auto cache = std::make_shared<Array>(Array::zeros({blocks, block, rank + dr}, bfloat16));
  std::vector<int64_t> slot(N), cu{0, N};
  for (int i = 0; i < N; ++i) slot[i] = (int64_t(i) * 7) % (int64_t(blocks) * block);
  auto slots = std::make_shared<Array>(Array(slot.data(), {N}));
  auto cus = std::make_shared<Array>(Array(cu.data(), {2}));
  RopeOptions o;
  o.layout = PairLayout::interleaved;
  const Array q_pe = slice(*q, 2, nope, nope + dr);
  Result r;
  r.bytes = 2.0 * (double(N) * Hq * dr * 2 + k_pe->nbytes() + kv_c->nbytes());
  r.fused = [=] {
    rope_and_cache_mla(q_pe.view(), k_pe->view(), kv_c->view(), cache->view(), CacheSlots::slot_mapping(slots->view()),
                       Positions::ragged(cus->view()), o);
  };
  r.unfused = [=] {
    const Positions pos = Positions::ragged(cus->view());
    rope_inplace(q_pe.view(), pos, o);
    rope_inplace(reshape(*k_pe, {N, 1, dr}).view(), pos, o);
    const auto at = [&](int64_t row) { return slots->data<int64_t>()[row] * (rank + dr); };
    copy_rows(*kv_c, rank, static_cast<char*>(cache->raw_data()), bfloat16, 1, at);
    const auto at_pe = [&](int64_t row) { return slots->data<int64_t>()[row] * (rank + dr) + rank; };
    copy_rows(*k_pe, dr, static_cast<char*>(cache->raw_data()), bfloat16, 1, at_pe);
  };
  return r;
}

// Re-rotation of a contiguous (B, max_T, 8, 128) bfloat16 key cache by a per-sequence delta.
Result shift_case(int B, int T) {
  auto cache = std::make_shared<Array>(random_input({B, T, kHkv, kD}, bfloat16, 1));
  std::vector<int64_t> d(B, -500), p_old(B, 1000), p_new(B, 500);
  auto deltas = std::make_shared<Array>(Array(d.data(), {B}));
  auto old_pos = std::make_shared<Array>(Array(p_old.data(), {B}));
  auto new_pos = std::make_shared<Array>(Array(p_new.data(), {B}));
  RopeOptions o;
  o.seq_axis = -3;
  Result r;
  r.bytes = 2.0 * cache->nbytes();
  r.fused = [=] { shift_cache(cache->view(), CacheLayout::rows_then_heads, deltas->view(), std::nullopt, o); };
  r.unfused = [=] {
    RopeOptions inv = o;
    inv.inverse = true;
    rope_inplace(cache->view(), Positions::offsets(old_pos->view()), inv);
    rope_inplace(cache->view(), Positions::offsets(new_pos->view()), o);
  };
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string filter;
  double min_time = 0.25;
  int threads = 0;
  CLI::App app{"CPU speed of the fused paths (RoPE + KV-cache append, QK-norm + RoPE, MLA, re-rotation) "
               "against the unfused sequence and a memcpy of the bytes they must move"};
  app.add_option("--filter", filter, "only cases whose name contains this");
  app.add_option("--threads", threads, "CPU threads (default: all cores)")->check(CLI::PositiveNumber);
  std::string clock = "wall";
  app.add_option("--clock", clock, "wall, or cpu: process CPU time (use with --threads=1 on a busy machine)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  std::string count_side;
  int reps = 3;
  app.add_option("--count", count_side, "instead of timing, run this side --reps times for callgrind")
      ->check(CLI::IsMember({"fused", "unfused"}));
  app.add_option("--reps", reps, "calls per case with --count")->check(CLI::PositiveNumber);
  app.add_option("--min-time", min_time, "seconds of timing per measurement")->check(CLI::PositiveNumber);
  if (const int rc = bench::parse(app, argc, argv); rc >= 0) return rc;
  if (threads > 0) set_num_threads(threads);
  g_cpu_clock = clock == "cpu";
  bench::start_output("fused_bench");
  std::printf("SIMD target %s, %d threads\n\n", cpu_backend::simd_target_name(), num_threads());
  std::printf("| case                       | MiB moved | fused us | unfused us | speedup | GB/s | vs memcpy |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::pair<std::string, std::function<Result()>>> cases = {
      {"append prefill T=4096", [] { return append_case(1, 4096, bfloat16, false); }},
      {"append decode B=64", [] { return append_case(64, 1, bfloat16, false); }},
      {"append fp8 prefill T=4096", [] { return append_case(1, 4096, float8_e4m3, false); }},
      {"append fp8 decode B=64", [] { return append_case(64, 1, float8_e4m3, false); }},
      {"norm+rope prefill T=4096", [] { return norm_case(1, 4096); }},
      {"norm+rope decode B=64", [] { return norm_case(64, 1); }},
      {"norm+append prefill T=4096", [] { return append_case(1, 4096, bfloat16, true); }},
      {"norm+append decode B=64", [] { return append_case(64, 1, bfloat16, true); }},
      {"mla prefill N=1024", [] { return mla_case(1024); }},
      {"mla decode N=64", [] { return mla_case(64); }},
      {"shift B=1 T=4096", [] { return shift_case(1, 4096); }},
  };
  for (const auto& [name, make] : cases)
    if (filter.empty() || name.find(filter) != std::string::npos) {
      if (count_side.empty()) report(name, make(), min_time);
      else count(name, make(), count_side, reps);
    }
  return 0;
}
