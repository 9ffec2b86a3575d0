// Which memory effect keeps the CPU prefill below the copy (issue 12): copies of the prefill's
// bytes (B, H, T, D) = (1, 32, 4096, 128) float32 that walk memory the way the backend does
// (per tile of rows: every head's run of the tile, heads 2 MiB apart, non-temporal stores),
// with and without a table read beside the stream and in place, each timed against the
// linear non-temporal copy of the same bytes in interleaved rounds (bench_common.h).
//
// Also the backend's exact walk (groups of heads, token by token) and the linear walk with the
// whole sequence's table beside it.
//
//   traversal_bench [--threads=1,2] [--run-kib=16,64,256] [--groups=4] [--min-time=0.25]
#include <sys/mman.h>

#include <thread>

#include "bench_common.h"
#include "cpu/simd.h"
#include "hwy/cache_control.h"
#include "rotary/rotary.h"

using namespace rotary;
using namespace rotary::bench;

namespace {

constexpr int64_t kHeads = 32, kHeadBytes = int64_t(4096) * 128 * 4;  // one head: T rows of D floats
constexpr int64_t kTotal = kHeads * kHeadBytes;
constexpr int64_t kRowBytes = 128 * 4;

struct Free {
  void operator()(char* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, Free>;

Buffer make_buffer(int64_t bytes, int fill, bool huge) {
  Buffer b(static_cast<char*>(std::aligned_alloc(size_t(2) << 20, size_t(bytes))));
  if (huge) madvise(b.get(), size_t(bytes), MADV_HUGEPAGE);
  std::memset(b.get(), fill, size_t(bytes));
  return b;
}

// One head's run of `rows` rows: out = in + table row (the table: L1/L2 resident, as rope's).
__attribute__((target("avx512f"))) void add_table_run(const char* in, char* out, const float* table, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < kRowBytes; j += 64) {
      const __m512 x = _mm512_loadu_ps(reinterpret_cast<const float*>(in + r * kRowBytes + j));
      const __m512 t = _mm512_loadu_ps(table + (r * kRowBytes + j) / 4);
      _mm512_stream_ps(reinterpret_cast<float*>(out + r * kRowBytes + j), _mm512_add_ps(x, t));
    }
  _mm_sfence();
}

struct Traversal {
  const char* in;
  char* out;
  int64_t run_bytes;  // bytes of one head per tile
  bool table;         // read a table row beside each row (rope's cos/sin)
  bool prefetch;      // software prefetch of the next head's run start
};

// The backend's traversal: items are tiles; per tile, every head's run; the pool splits tiles.
void shaped_copy(const Traversal& t) {
  const int64_t tiles = kHeadBytes / t.run_bytes;
  cpu_backend::parallel_for(tiles, kHeads * t.run_bytes * 2, [&](int64_t begin, int64_t end) {
    std::vector<float> table(size_t(t.run_bytes / 4), 0.5f);
    for (int64_t tile = begin; tile < end; ++tile)
      for (int64_t h = 0; h < kHeads; ++h) {
        const int64_t off = h * kHeadBytes + tile * t.run_bytes;
        if (t.prefetch && h + 1 < kHeads)
          for (int64_t k = 0; k < 1024; k += 64) _mm_prefetch(t.in + off + kHeadBytes + k, _MM_HINT_T0);
        if (t.table) add_table_run(t.in + off, t.out + off, table.data(), t.run_bytes / kRowBytes);
        else stream_copy_avx512(t.in + off, t.out + off, size_t(t.run_bytes));
      }
  });
}

// The streamed prefill's own walk (simd_over_head_groups in src/cpu/backend.cpp): per tile,
// per group of heads, token by token, each head's row, with (table) one table row per token
// for the whole group; fenced once per group.
__attribute__((target("avx512f"))) void group_rows(const char* in, char* out, int64_t group, int64_t rows,
                                                   const float* table) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < group; ++h)
      for (int64_t j = 0; j < kRowBytes; j += 64) {
        const int64_t at = h * kHeadBytes + r * kRowBytes + j;
        __m512 x = _mm512_loadu_ps(reinterpret_cast<const float*>(in + at));
        if (table) x = _mm512_add_ps(x, _mm512_loadu_ps(table + (r * kRowBytes + j) / 4));
        _mm512_stream_ps(reinterpret_cast<float*>(out + at), x);
      }
  _mm_sfence();
}

// The same walk doing rope's half-split float32 rotation: per row, x1 = features [0, 64) and x2
// = [64, 128) against the token's cos and sin rows (two arrays of the table, as the backend's).
template <int kStep>  // vectors per step: 1, or 2 as RotateHalf's loop (two x1 lines, two x2 lines)
__attribute__((target("avx512f,fma"))) void group_rotate(const char* in, char* out, int64_t group, int64_t rows,
                                                        const float* table) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < group; ++h) {
      const float* x = reinterpret_cast<const float*>(in + h * kHeadBytes + r * kRowBytes);
      float* y = reinterpret_cast<float*>(out + h * kHeadBytes + r * kRowBytes);
      const float *c = table + r * 64, *s = table + rows * 64 + r * 64;  // as group_kernel's
      for (int j = 0; j < 64; j += 16 * kStep) {
        __m512 x1[kStep], x2[kStep], vc[kStep], vs[kStep];
        for (int k = 0; k < kStep; ++k) {
          x1[k] = _mm512_loadu_ps(x + j + 16 * k), x2[k] = _mm512_loadu_ps(x + j + 16 * k + 64);
          vc[k] = _mm512_loadu_ps(c + j + 16 * k), vs[k] = _mm512_loadu_ps(s + j + 16 * k);
        }
        for (int k = 0; k < kStep; ++k)
          _mm512_stream_ps(y + j + 16 * k, _mm512_fmsub_ps(x1[k], vc[k], _mm512_mul_ps(x2[k], vs[k])));
        for (int k = 0; k < kStep; ++k)
          _mm512_stream_ps(y + j + 16 * k + 64, _mm512_fmadd_ps(x2[k], vc[k], _mm512_mul_ps(x1[k], vs[k])));
      }
    }
  _mm_sfence();
}

// The same walk through the backend's own row kernel (rotate_rows_simd, a call per token and
// group as simd_over_head_groups makes), on a fixed table: the rope call without its angles.
void group_kernel(const char* in, char* out, int64_t group, int64_t rows, const float* table) {
  cpu_backend::RowBlock blk;
  blk.rows = group;
  blk.in_stride = blk.out_stride = kHeadBytes / 4;
  blk.pairs = 64;
  blk.D = 128;
  blk.nontemporal = blk.caller_fences = true;
  for (int64_t r = 0; r < rows; ++r) {
    blk.in = in + r * kRowBytes;
    blk.out = out + r * kRowBytes;
    blk.cos = table + r * 64;
    blk.sin = table + rows * 64 + r * 64;
    cpu_backend::rotate_rows_simd(float32, PairLayout::half_split, blk);
  }
  hwy::FlushStream();
}

enum class GroupOp { copy, add_table, rotate, rotate2, kernel };

void grouped_walk(const char* in, char* out, int64_t run_bytes, int64_t group, GroupOp op) {
  const int64_t tiles = kHeadBytes / run_bytes, rows = run_bytes / kRowBytes;
  cpu_backend::parallel_for(tiles, kHeads * run_bytes * 2, [&](int64_t begin, int64_t end) {
    std::vector<float> tab(size_t(run_bytes / 4), 0.5f);
    for (int64_t tile = begin; tile < end; ++tile)
      for (int64_t h0 = 0; h0 < kHeads; h0 += group) {
        const int64_t off = h0 * kHeadBytes + tile * run_bytes;
        const int64_t g = std::min(group, kHeads - h0);
        if (op == GroupOp::rotate) group_rotate<1>(in + off, out + off, g, rows, tab.data());
        else if (op == GroupOp::rotate2) group_rotate<2>(in + off, out + off, g, rows, tab.data());
        else if (op == GroupOp::kernel) group_kernel(in + off, out + off, g, rows, tab.data());
        else group_rows(in + off, out + off, g, rows, op == GroupOp::add_table ? tab.data() : nullptr);
      }
  });
}

// Head-major with the whole sequence's table (T rows, 2 MiB: beyond L2, inside L3) read beside
// each head's stream: the linear walk a tiled table avoids.
void head_major_table(const char* in, char* out, const float* table) {
  cpu_backend::parallel_for(kHeads, kHeadBytes * 2, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin; h < end; ++h)
      add_table_run(in + h * kHeadBytes, out + h * kHeadBytes, table, kHeadBytes / kRowBytes);
  });
}

// Heads split across threads: each thread streams whole heads (2 MiB runs).
void head_major_copy(const char* in, char* out) {
  cpu_backend::parallel_for(kHeads, kHeadBytes * 2, [&](int64_t begin, int64_t end) {
    stream_copy_avx512(in + begin * kHeadBytes, out + begin * kHeadBytes, size_t((end - begin) * kHeadBytes));
  });
}

void report(const char* name, int threads, const std::function<void()>& call, const BestCopy& copy, double min_time) {
  double load[1] = {0};
  getloadavg(load, 1);
  const Timing t = time_against(call, std::cref(copy), min_time);
  std::printf("| %-34s | %d | %6.1f | %6.1f | %5.2f | %.2f |\n", name, threads, 2.0 * kTotal / t.seconds / 1e9,
              2.0 * kTotal / t.baseline_seconds / 1e9, t.ratio, load[0]);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  std::vector<int> run_kib = {16, 64, 256}, groups = {4};
  double min_time = 0.25;
  bool huge = false;
  CLI::App app{"Copies of the prefill's bytes in the backend's traversal against the linear copy (issue 12)"};
  app.add_option("--threads", threads, "thread counts, e.g. 1,2")->delimiter(',')->check(CLI::Range(1, 1024));
  app.add_option("--run-kib", run_kib, "bytes of one head per tile, KiB")->delimiter(',')->check(CLI::Range(1, 2048));
  app.add_option("--groups", groups, "heads per group of the grouped walk, e.g. 2,4,8")
      ->delimiter(',')
      ->check(CLI::Range(1, int(kHeads)));
  app.add_option("--min-time", min_time, "seconds per measurement")->check(CLI::PositiveNumber);
  app.add_flag("--huge", huge, "ask for transparent huge pages for the traversals' buffers");
  if (const int rc = parse(app, argc, argv); rc >= 0) return rc;
  start_output("traversal_bench");
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("needs AVX-512\n");
    return 0;
  }
  // 0x3f3f3f3f = 0.747f: rope on it stays clear of denormals.
  const Buffer in = make_buffer(kTotal, 0x3f, huge), out = make_buffer(kTotal, 2, huge);
  const BestCopy copy{size_t(kTotal), false, BestCopy::Choice::streaming};
  const std::vector<float> full_table(size_t(kHeadBytes / 4), 0.5f);
  std::printf("| traversal | threads | GB/s | linear nt-copy GB/s | ratio | load |\n|---|---:|---:|---:|---:|---:|\n");
  for (int n : threads) {
    set_num_threads(n);
    const BestCopy second{size_t(kTotal), false, BestCopy::Choice::streaming};
    report("second BestCopy (own buffers)", n, std::cref(second), copy, min_time);
    report("head-major (2 MiB runs)", n, [&] { head_major_copy(in.get(), out.get()); }, copy, min_time);
    const TensorView x(in.get(), float32, {1, int(kHeads), 4096, 128}), y(out.get(), float32, {1, int(kHeads), 4096, 128});
    report("rope float32 half (the call itself)", n, [&] { rope(x, y, Positions(0), RopeOptions{}); }, copy, min_time);
    report("head-major + 2 MiB table", n, [&] { head_major_table(in.get(), out.get(), full_table.data()); }, copy,
           min_time);
    for (int g : groups) {
      char name[64];
      const std::pair<GroupOp, const char*> ops[] = {
          {GroupOp::copy, ""}, {GroupOp::add_table, ", +table"}, {GroupOp::rotate, ", rope's rotation"},
          {GroupOp::rotate2, ", rotation, 2 vectors a step"},
          {GroupOp::kernel, ", rope's row kernel"}};
      for (const auto& [op, what] : ops) {
        std::snprintf(name, sizeof name, "groups of %d heads, 64 KiB runs%s", g, what);
        report(name, n, [&, g, op = op] { grouped_walk(in.get(), out.get(), 64 << 10, g, op); }, copy, min_time);
      }
    }
    for (int kib : run_kib) {
      const int64_t run = int64_t(kib) << 10;
      char name[64];
      const auto shaped = [&](const char* what, Traversal t) {
        std::snprintf(name, sizeof name, "tiles, %d KiB runs, %s", kib, what);
        report(name, n, [t] { shaped_copy(t); }, copy, min_time);
      };
      shaped("copy", {in.get(), out.get(), run, false, false});
      shaped("copy+prefetch", {in.get(), out.get(), run, false, true});
      shaped("+table", {in.get(), out.get(), run, true, false});
      shaped("+table in place", {out.get(), out.get(), run, true, false});
    }
  }
  return 0;
}
