// The CPU backend. Work is cut into items (a tile of position rows, one batch row): the angle
// table of a tile is computed once and reused for every head, tensor (Q and K) and, when
// positions do not depend on the batch row, every batch row; tiles are sized so the table
// stays in L1/L2 while each head streams through a long contiguous run of rows.
#include "cpu/backend.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/angles.h"
#include "cpu/parallel.h"
#include "cpu/rotate_row.h"
#include "cpu/simd.h"
#include "core/validate.h"

namespace rotary::cpu_backend {

using core::RopePlan;
using core::read_index;

int64_t token_position(const core::PositionPlan& pp, int64_t b, int64_t t, int s) {
  if (pp.kind != Positions::Kind::ragged) return core::position_at(pp, b, t, s);
  // The sequence holding token t: the last s with cu_seqlens[s] <= t (skipping empty ones).
  int64_t lo = 0, hi = pp.num_seqs;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (read_index(pp.array, pp.dtype, mid * pp.stride_t) <= t) lo = mid;
    else hi = mid;
  }
  const int64_t start = pp.starts ? read_index(pp.starts, pp.starts_dtype, lo * pp.starts_stride) : 0;
  return start + t - read_index(pp.array, pp.dtype, lo * pp.stride_t);
}

AngleSetup::AngleSetup(const RopePlan& plan) : scale_f32(static_cast<float>(plan.scale)) {
  if (plan.precision == Precision::compat)
    inv_freq_f32.assign(plan.inv_freq, plan.inv_freq + plan.pairs);
}

namespace {

constexpr int64_t kStreamBytes = int64_t(16) << 20;
constexpr int64_t kTableFloats = 16384;  // 64 KiB of cos/sin per tile (larger measured no faster)

std::atomic<KernelMode>& mode_flag() {
  static std::atomic<KernelMode> mode{[] {
    const char* env = std::getenv("ROTARY_CPU_KERNEL");
    return env && std::strcmp(env, "scalar") == 0 ? KernelMode::scalar : KernelMode::simd;
  }()};
  return mode;
}

// Angle tables of one tile: compact cos/sin (pairs per row), and for the interleaved SIMD
// kernel the per-feature form (2*pairs per row).
// The SIMD bfloat16 store relies on finite cos/sin tables (see simd_rotate-inl.h); a
// non-finite frequency, scale or attention factor (never in practice) takes the scalar path.
bool finite_tables(const RopePlan& plan) {
  if (!std::isfinite(plan.scale) || !std::isfinite(plan.attention_factor)) return false;
  for (int i = 0; i < plan.pairs; ++i)
    if (!std::isfinite(plan.inv_freq[i])) return false;
  return true;
}

template <typename Acc>
struct TileTable {
  std::vector<Acc> cos, sin;
  std::vector<float> cos2, sin2;
  std::vector<double> pos;   // per-pair positions (several position streams)
  std::vector<float> posf;
};

template <typename Acc>
void fill_tile(const RopePlan& plan, const AngleSetup& setup, bool simd, bool expand, int64_t pb, int64_t t0,
               int64_t nt, TileTable<Acc>& tab) {
  const int pairs = plan.pairs;
  for (int64_t r = 0; r < nt; ++r) {
    Acc* c = tab.cos.data() + r * pairs;
    Acc* s = tab.sin.data() + r * pairs;
    if constexpr (std::is_same_v<Acc, float>) {
      if (simd) {
        AngleArgs a;
        a.pairs = pairs;
        a.compat = plan.precision == Precision::compat;
        a.inv_freq = plan.inv_freq;
        a.inv_freq_f32 = setup.inv_freq_f32.data();
        a.factor = float(plan.attention_factor);
        a.sign = plan.inverse ? -1.0f : 1.0f;
        int64_t pos[core::kMaxPositionStreams];
        stream_positions(plan, pb, t0 + r, pos);
        if (plan.pair_stream) {
          tab.pos.resize(pairs);
          tab.posf.resize(pairs);
          for (int i = 0; i < pairs; ++i) {
            const int64_t p = pos[plan.pair_stream[i]];
            tab.pos[i] = double(p) * plan.scale;
            tab.posf[i] = setup.scale_f32 * float(p);
          }
          if (a.compat) a.posf_per_pair = tab.posf.data();
          else a.pos_per_pair = tab.pos.data();
        } else {
          a.pos = double(pos[0]) * plan.scale;
          a.posf = setup.scale_f32 * float(pos[0]);
        }
        sincos_row(a, c, s);
        if (expand)
          expand_interleaved(c, s, pairs, tab.cos2.data() + r * 2 * pairs, tab.sin2.data() + r * 2 * pairs);
        continue;
      }
    }
    fill_angles(plan, setup, pb, t0 + r, c, s);
  }
}

template <typename T>
void run_typed(const RopePlan& plan) {
  using Acc = typename Element<T>::Acc;
  const AngleSetup setup(plan);
  const bool simd = !std::is_same_v<T, double> && kernel_mode() == KernelMode::simd && simd_usable() &&
                    finite_tables(plan);
  const bool expand = simd && plan.traditional;
  const int pairs = plan.pairs;
  const bool shared = plan.positions.batch_invariant;

  // Tile: about 64 KiB of table; the rows of one head in a tile form one long run.
  const int64_t table_floats = expand ? 6 * int64_t(pairs) : 2 * int64_t(pairs);
  const int64_t tile_rows = std::clamp<int64_t>(kTableFloats / std::max<int64_t>(table_floats, 1), 1, plan.T);
  const int64_t tiles = (plan.T + tile_rows - 1) / tile_rows;
  int64_t heads_total = 0;
  for (int k = 0; k < plan.n_tensors; ++k) heads_total += plan.tensors[k].heads;
  const int64_t item_bytes = tile_rows * heads_total * plan.D * int64_t(sizeof(T)) * 2;
  // An output past half the last-level cache (32 MiB here) would be evicted before use anyway.
  const bool stream = plan.B * plan.T * heads_total * plan.D * int64_t(sizeof(T)) >= kStreamBytes;

  parallel_for(tiles * plan.B, item_bytes, [&](int64_t begin, int64_t end) {
    TileTable<Acc> tab;
    tab.cos.resize(tile_rows * pairs);
    tab.sin.resize(tile_rows * pairs);
    if (expand) {
      tab.cos2.resize(tile_rows * 2 * pairs);
      tab.sin2.resize(tile_rows * 2 * pairs);
    }
    int64_t filled = -1;
    for (int64_t it = begin; it < end; ++it) {
      // Shared positions: tile-major so one table serves the batch rows that follow.
      const int64_t b = shared ? it % plan.B : it / tiles;
      const int64_t tb = shared ? it / plan.B : it % tiles;
      const int64_t pb = shared ? 0 : b;
      const int64_t t0 = tb * tile_rows, nt = std::min(tile_rows, plan.T - t0);
      if (pb * tiles + tb != filled) {
        fill_tile(plan, setup, simd, expand, pb, t0, nt, tab);
        filled = pb * tiles + tb;
      }
      for (int k = 0; k < plan.n_tensors; ++k) {
        const core::TensorPair& tp = plan.tensors[k];
        const T* in = reinterpret_cast<const T*>(tp.in.data) + b * tp.in.stride_b + t0 * tp.in.stride_t;
        T* out = reinterpret_cast<T*>(tp.out.data) + b * tp.out.stride_b + t0 * tp.out.stride_t;
        if (simd && tp.in.stride_d == 1 && tp.out.stride_d == 1) {
          RowBlock blk;
          blk.cos = expand ? tab.cos2.data() : reinterpret_cast<const float*>(tab.cos.data());
          blk.sin = expand ? tab.sin2.data() : reinterpret_cast<const float*>(tab.sin.data());
          blk.pair_cos = expand ? reinterpret_cast<const float*>(tab.cos.data()) : nullptr;
          blk.pair_sin = expand ? reinterpret_cast<const float*>(tab.sin.data()) : nullptr;
          blk.pair_table_stride = pairs;
          blk.pairs = pairs;
          blk.D = plan.D;
          blk.copy_tail = !tp.in_place;
          blk.stream = stream;
          const int64_t in_hs = tp.in.n_head_axes ? tp.in.head_stride[0] : 0;
          const int64_t out_hs = tp.out.n_head_axes ? tp.out.head_stride[0] : 0;
          if (tp.in.n_head_axes <= 1 && tp.out.n_head_axes <= 1 &&
              (nt == 1 || (tp.heads > 1 && std::abs(in_hs) < std::abs(tp.in.stride_t)))) {
            // Heads closer in memory than tokens (one token, or a (B, T, H, D) layout): per
            // token, the heads are the rows, all with that token's table; reads stay in order.
            const int64_t row_floats = expand ? 2 * pairs : pairs;
            const float *c0 = blk.cos, *s0 = blk.sin, *pc0 = blk.pair_cos, *ps0 = blk.pair_sin;
            blk.rows = tp.heads;
            blk.in_stride = in_hs;
            blk.out_stride = out_hs;
            blk.table_stride = blk.pair_table_stride = 0;
            for (int64_t r = 0; r < nt; ++r) {
              blk.in = in + r * tp.in.stride_t;
              blk.out = out + r * tp.out.stride_t;
              blk.cos = c0 + r * row_floats;
              blk.sin = s0 + r * row_floats;
              if (pc0) {
                blk.pair_cos = pc0 + r * pairs;
                blk.pair_sin = ps0 + r * pairs;
              }
              rotate_rows_simd(plan.dtype, plan.traditional, blk);
            }
            continue;
          }
          blk.rows = nt;
          blk.in_stride = tp.in.stride_t;
          blk.out_stride = tp.out.stride_t;
          blk.table_stride = expand ? 2 * pairs : pairs;
          for (int64_t h = 0; h < tp.heads; ++h) {
            blk.in = in + tp.in.head_offset(h);
            blk.out = out + tp.out.head_offset(h);
            rotate_rows_simd(plan.dtype, plan.traditional, blk);
          }
          continue;
        }
        for (int64_t h = 0; h < tp.heads; ++h) {
          const T* ih = in + tp.in.head_offset(h);
          T* oh = out + tp.out.head_offset(h);
          for (int64_t r = 0; r < nt; ++r)
            rotate_row<T>(ih + r * tp.in.stride_t, oh + r * tp.out.stride_t, tp.in.stride_d, tp.out.stride_d, pairs,
                          plan.D, plan.traditional, tp.in_place, tab.cos.data() + r * pairs,
                          tab.sin.data() + r * pairs);
        }
      }
    }
  });
}

}  // namespace

KernelMode kernel_mode() { return mode_flag().load(std::memory_order_relaxed); }
void set_kernel_mode(KernelMode mode) { mode_flag().store(mode, std::memory_order_relaxed); }

void run(const RopePlan& plan) {
  switch (plan.dtype.val) {
    case Dtype::Val::float32: return run_typed<float>(plan);
    case Dtype::Val::float64: return run_typed<double>(plan);
    case Dtype::Val::float16: return run_typed<float16_t>(plan);
    case Dtype::Val::bfloat16: return run_typed<bfloat16_t>(plan);
    default: core::fail("[rope] unsupported dtype " + to_string(plan.dtype) + ".");
  }
}

}  // namespace rotary::cpu_backend
