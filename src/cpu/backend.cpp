// The CPU backend. Work is cut into items (a tile of position rows, one batch row): the angle
// table of a tile is computed once and reused for every head, tensor (Q and K) and, when
// positions do not depend on the batch row, every batch row; tiles are sized so the table
// stays in L1/L2 while each head streams through a long contiguous run of rows. The next
// item's table is computed a few rows at a time while the current item rotates (NextTable).
#include "cpu/backend.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "hwy/cache_control.h"

#include "cpu/angle_table.h"
#include "cpu/parallel.h"
#include "cpu/rotate_row.h"
#include "cpu/simd.h"
#include "core/dispatch.h"

namespace rotary::cpu_backend {

using core::RopePlan;

AngleSetup::AngleSetup(const RopePlan& plan) : scale_f32(static_cast<float>(plan.scale)) {
  if (plan.precision == Precision::compat)
    inv_freq_f32.assign(plan.inv_freq, plan.inv_freq + plan.pairs);
  for (int i = 0; i < plan.pairs; ++i) {
    const double f = inv_freq_f32.empty() ? plan.inv_freq[i] : double(inv_freq_f32[i]);
    inv_freq_max = std::isnan(f) ? HUGE_VAL : std::max(inv_freq_max, std::fabs(f));
  }
}

// The SIMD bfloat16 store relies on finite cos/sin tables (see simd_rotate-inl.h); a
// non-finite frequency, scale or attention factor (never in practice) takes the scalar path.
bool finite_tables(const RopePlan& plan) {
  if (!std::isfinite(plan.scale) || !std::isfinite(plan.attention_factor)) return false;
  for (int i = 0; i < plan.pairs; ++i)
    if (!std::isfinite(plan.inv_freq[i])) return false;
  return true;
}

void sincos_position_row(const RopePlan& plan, const AngleSetup& setup, int64_t pb, int64_t t,
                         PairPositions& scratch, float* c, float* s) {
  const int pairs = plan.pairs;
  AngleArgs a;
  a.pairs = pairs;
  a.compat = plan.precision == Precision::compat;
  a.inv_freq = plan.inv_freq;
  a.inv_freq_f32 = setup.inv_freq_f32.data();
  a.inv_freq_max = setup.inv_freq_max;
  a.factor = float(plan.attention_factor);
  a.sign = plan.inverse ? -1.0f : 1.0f;
  int64_t pos[core::kMaxPositionStreams];
  plan.positions.at_streams(pb, t, pos);
  if (plan.pair_position_stream) {
    scratch.pos.resize(pairs);
    scratch.posf.resize(pairs);
    for (int i = 0; i < pairs; ++i) {
      const int64_t p = pos[plan.pair_position_stream[i]];
      scratch.pos[i] = double(p) * plan.scale;
      scratch.posf[i] = setup.scale_f32 * float(p);
    }
    if (a.compat) a.posf_per_pair = scratch.posf.data();
    else a.pos_per_pair = scratch.pos.data();
  } else {
    a.pos = double(pos[0]) * plan.scale;
    a.posf = setup.scale_f32 * float(pos[0]);
  }
  sincos_row(a, c, s);
}

namespace {

constexpr int64_t kNontemporalBytes = int64_t(16) << 20;
constexpr int64_t kTableFloats = 16384;  // 64 KiB of cos/sin per tile (larger measured no faster)
constexpr int64_t kHeadGroup = 4;  // heads per table row in simd_over_head_groups (2, 8, 16, 32 measured slower)

std::atomic<KernelMode>& mode_flag() {
  static std::atomic<KernelMode> mode{[] {
    const char* env = std::getenv("ROTARY_CPU_KERNEL");
    return env && std::strcmp(env, "scalar") == 0 ? KernelMode::scalar : KernelMode::simd;
  }()};
  return mode;
}

// Angle tables of one tile: compact cos/sin (pairs per row), and for the interleaved SIMD
// kernel the per-feature form (2*pairs per row).
struct TilePlan;

// Columns of a tile table row: the caller's table width, else one per pair.
int table_width(const RopePlan& plan) { return plan.table.cos.data ? plan.table.width : plan.pairs; }

// Table calls the SIMD row kernels cannot take: per-feature tables (width dims) and hf rounding
// rotate with the scalar rotate_row; bfloat16 too, as the SIMD store needs finite tables (unchecked here).
bool scalar_table(const RopePlan& plan) {
  return plan.table.cos.data &&
         (plan.table.width != plan.pairs || plan.table.hf_rounding || plan.dtype == bfloat16);
}

// A buffer left uninitialised, as every element is written before it is read (a tile's table
// is 64 KiB, which a std::vector would zero for every chunk of every call).
template <typename T>
struct Scratch {
  std::unique_ptr<T[]> values;
  void resize(int64_t n) { values = std::make_unique_for_overwrite<T[]>(size_t(n)); }
  T* data() const { return values.get(); }
};

template <typename Acc>
struct TileTable {
  Scratch<Acc> cos, sin;
  Scratch<float> cos2, sin2;
  PairPositions positions;  // several position streams
  TileTable(int width, const TilePlan& tp);
};

template <typename Acc>
void expand_interleaved_table(const Acc* c, const Acc* s, int pairs, TileTable<Acc>& tab, int64_t r) {
  if constexpr (std::is_same_v<Acc, float>)
    expand_interleaved(c, s, pairs, tab.cos2.data() + r * 2 * pairs, tab.sin2.data() + r * 2 * pairs);
}

// How a call is cut into work items (a tile of position rows of one batch row) and which
// kernels run: chosen once per call.
struct TilePlan {
  bool simd = false;         // Highway kernels and vectorised angles
  bool expand = false;       // interleaved SIMD kernel: per-feature tables too
  bool split = false;        // half-split bfloat16 SIMD kernel: rows split even/odd once (not per head)
  int64_t row_bytes_per_head = 0;  // bytes of one position row of one head (a tensor's NT test)
  int64_t tile_rows = 1, tiles = 1;
  int64_t item_bytes = 0;  // bytes one item reads and writes (the pool's grain)
};

// Every tensor's features contiguous: no call to the scalar rows, which read tables in natural order.
bool contiguous_features(const RopePlan& plan) {
  for (int k = 0; k < plan.n_tensors; ++k)
    if (plan.tensors[k].in.stride_d != 1 || plan.tensors[k].out.stride_d != 1) return false;
  return true;
}

template <typename T>
TilePlan plan_tiles(const RopePlan& plan) {
  TilePlan tp;
  tp.simd = !std::is_same_v<T, double> && kernel_mode() == KernelMode::simd && simd_usable() &&
            !scalar_table(plan) && (plan.table.cos.data || finite_tables(plan));
  tp.expand = tp.simd && plan.layout == PairLayout::interleaved;
  tp.split = tp.simd && std::is_same_v<T, bfloat16_t> && plan.layout == PairLayout::half_split &&
             !plan.table.cos.data && contiguous_features(plan);
  // Tile: about 64 KiB of table; the rows of one head in a tile form one long run.
  const int64_t table_floats = (tp.expand ? 6 : 2) * int64_t(table_width(plan));
  tp.tile_rows = std::clamp<int64_t>(kTableFloats / std::max<int64_t>(table_floats, 1), 1, plan.T);
  tp.tiles = (plan.T + tp.tile_rows - 1) / tp.tile_rows;
  tp.row_bytes_per_head = plan.D * int64_t(sizeof(T));
  tp.item_bytes = tp.tile_rows * plan.heads_total() * tp.row_bytes_per_head * 2;
  return tp;
}

template <typename Acc>
TileTable<Acc>::TileTable(int width, const TilePlan& tp) {
  cos.resize(tp.tile_rows * width);
  sin.resize(tp.tile_rows * width);
  if (!tp.expand) return;
  cos2.resize(tp.tile_rows * 2 * width);
  sin2.resize(tp.tile_rows * 2 * width);
}

// Rows [r0, r1) of the table of the tile from position row t0.
template <typename Acc>
void fill_tile(const RopePlan& plan, const AngleSetup& setup, const TilePlan& tp, int64_t pb, int64_t t0,
               int64_t r0, int64_t r1, TileTable<Acc>& tab) {
  const int pairs = plan.pairs;
  const int width = table_width(plan);
  for (int64_t r = r0; r < r1; ++r) {
    Acc* c = tab.cos.data() + r * width;
    Acc* s = tab.sin.data() + r * width;
    if (plan.table.cos.data) {
      fill_from_table(plan, pb, t0 + r, c, s);
      if (tp.expand)
        expand_interleaved_table(c, s, pairs, tab, r);
      continue;
    }
    if constexpr (std::is_same_v<Acc, float>) {
      if (tp.simd) {
        sincos_position_row(plan, setup, pb, t0 + r, tab.positions, c, s);
        if (tp.expand)
          expand_interleaved(c, s, pairs, tab.cos2.data() + r * 2 * pairs, tab.sin2.data() + r * 2 * pairs);
        if (tp.split) split_table_bf16(c, s, pairs);
        continue;
      }
    }
    fill_angles(plan, setup, pb, t0 + r, c, s);
  }
}

// One work item: tile rows [t0, t0 + nt) of batch row b, with the angles of position row pb;
// key names its table (the same key: the same table).
struct TileItem {
  int64_t b = 0, pb = 0, t0 = 0, nt = 0, key = -1;
};

// Item `it` of the call. Shared positions: tile-major so one table serves the batch rows that follow.
TileItem item_at(const RopePlan& plan, const TilePlan& tp, int64_t it) {
  const bool shared = plan.positions.batch_invariant;
  TileItem item;
  item.b = shared ? it % plan.B : it / tp.tiles;
  const int64_t tile = shared ? it / plan.B : it % tp.tiles;
  item.pb = shared ? 0 : item.b;
  item.t0 = tile * tp.tile_rows;
  item.nt = std::min(tp.tile_rows, plan.T - item.t0);
  item.key = item.pb * tp.tiles + tile;
  return item;
}

// The next item's table, filled a few rows at a time between the current item's row blocks:
// the angles (compute) then overlap the rotation's memory traffic instead of stalling it for a
// whole tile. advance(rows) after each block of the current item's `total` rows.
template <typename Acc>
struct NextTable {
  const RopePlan& plan;
  const AngleSetup& setup;
  const TilePlan& tp;
  TileTable<Acc>* tab = nullptr;  // null: the next item reuses the current table (or there is none)
  TileItem item;
  int64_t filled = 0, done = 0, total = 1;
  NextTable(const RopePlan& p, const AngleSetup& a, const TilePlan& t) : plan(p), setup(a), tp(t) {}
  void start(TileTable<Acc>* t, const TileItem& next, int64_t current_rows) {
    tab = t, item = next, filled = 0, done = 0, total = std::max<int64_t>(current_rows, 1);
  }
  void fill_to(int64_t rows) {
    if (!tab || rows <= filled) return;
    fill_tile(plan, setup, tp, item.pb, item.t0, filled, rows, *tab);
    filled = rows;
  }
  void advance(int64_t rows) {
    done += rows;
    fill_to(item.nt * std::min(done, total) / total);
  }
};

// The SIMD row block of one tensor's tile, before the rows are chosen.
// Non-temporal stores for a tensor whose output is 16 MiB or more: it would be evicted
// before use anyway. Decided per tensor, so Q and K in one call store as two calls do (a GQA
// K of 8 MiB stays cached while its Q of 32 MiB streams). Not in place: there the line was
// just read, so a plain store skips no read-for-ownership, and streaming it out of the cache
// cost the in-place prefill 0.1-0.2 of the copy on a Xeon (level on Zen 4, issue 12).
bool nontemporal(const RopePlan& plan, const TilePlan& tp, const core::TensorPair& tensor) {
  return !tensor.in_place && plan.B * plan.T * tensor.heads * tp.row_bytes_per_head >= kNontemporalBytes;
}

template <typename Acc>
RowBlock table_block(const RopePlan& plan, const TilePlan& tp, const TileTable<Acc>& tab,
                     const core::TensorPair& tensor) {
  RowBlock blk;
  blk.cos = tp.expand ? tab.cos2.data() : reinterpret_cast<const float*>(tab.cos.data());
  blk.sin = tp.expand ? tab.sin2.data() : reinterpret_cast<const float*>(tab.sin.data());
  blk.pair_cos = tp.expand ? reinterpret_cast<const float*>(tab.cos.data()) : nullptr;
  blk.pair_sin = tp.expand ? reinterpret_cast<const float*>(tab.sin.data()) : nullptr;
  blk.pair_table_stride = plan.pairs;
  blk.pairs = plan.pairs;
  blk.D = plan.D;
  blk.copy_tail = !tensor.in_place;
  blk.nontemporal = nontemporal(plan, tp, tensor);
  blk.table_split = tp.split;
  return blk;
}

// SIMD over heads: per token, the heads are the rows, all with that token's table (one
// token, or a (B, T, H, D) layout where heads are closer in memory than tokens).
template <typename T, typename Acc>
void simd_over_heads(const RopePlan& plan, const TilePlan& tp, const core::TensorPair& tensor, RowBlock blk,
                     const T* in, T* out, int64_t nt, NextTable<Acc>& next) {
  const int pairs = plan.pairs;
  const int64_t row_floats = tp.expand ? 2 * pairs : pairs;
  const float *c0 = blk.cos, *s0 = blk.sin, *pc0 = blk.pair_cos, *ps0 = blk.pair_sin;
  blk.rows = tensor.heads;
  blk.in_stride = tensor.in.n_head_axes ? tensor.in.head_stride[0] : 0;
  blk.out_stride = tensor.out.n_head_axes ? tensor.out.head_stride[0] : 0;
  blk.table_stride = blk.pair_table_stride = 0;
  for (int64_t r = 0; r < nt; ++r) {
    blk.in = in + r * tensor.in.stride_t;
    blk.out = out + r * tensor.out.stride_t;
    blk.cos = c0 + r * row_floats;
    blk.sin = s0 + r * row_floats;
    if (pc0) {
      blk.pair_cos = pc0 + r * pairs;
      blk.pair_sin = ps0 + r * pairs;
    }
    rotate_rows_simd(plan.dtype, plan.layout, blk);
    next.advance(blk.rows);
  }
}

// SIMD over tokens: per head, the tile's tokens are the rows, each with its own table row.
template <typename T, typename Acc>
void simd_over_tokens(const RopePlan& plan, const TilePlan& tp, const core::TensorPair& tensor, RowBlock blk,
                      const T* in, T* out, int64_t nt, NextTable<Acc>& next) {
  blk.rows = nt;
  blk.in_stride = tensor.in.stride_t;
  blk.out_stride = tensor.out.stride_t;
  blk.table_stride = tp.expand ? 2 * plan.pairs : plan.pairs;
  for (int64_t h = 0; h < tensor.heads; ++h) {
    blk.in = in + tensor.in.head_offset(h);
    blk.out = out + tensor.out.head_offset(h);
    rotate_rows_simd(plan.dtype, plan.layout, blk);
    next.advance(blk.rows);
  }
}

// SIMD over groups of kHeadGroup heads, token by token: each table row serves the group's
// heads from registers and L1. A head's whole run against its own table (simd_over_tokens)
// reads as many table bytes from L2 as tensor bytes from memory: grouped, the streamed prefill
// ran 1.1-1.5x faster (issue 12), and four streams per direction still prefetch well. The
// streamed stores are fenced once per group (a fence per 2 KiB call undid the gain).
template <typename T, typename Acc>
void simd_over_head_groups(const RopePlan& plan, const TilePlan& tp, const core::TensorPair& tensor, RowBlock blk,
                           const T* in, T* out, int64_t nt, NextTable<Acc>& next) {
  const int64_t pairs = plan.pairs, row_floats = tp.expand ? 2 * pairs : pairs;
  const float *c0 = blk.cos, *s0 = blk.sin, *pc0 = blk.pair_cos, *ps0 = blk.pair_sin;
  blk.in_stride = tensor.in.head_stride[0];
  blk.out_stride = tensor.out.head_stride[0];
  blk.table_stride = blk.pair_table_stride = 0;
  blk.caller_fences = true;
  for (int64_t h0 = 0; h0 < tensor.heads; h0 += kHeadGroup) {
    blk.rows = std::min(kHeadGroup, tensor.heads - h0);
    for (int64_t r = 0; r < nt; ++r) {
      blk.in = in + tensor.in.head_offset(h0) + r * tensor.in.stride_t;
      blk.out = out + tensor.out.head_offset(h0) + r * tensor.out.stride_t;
      blk.cos = c0 + r * row_floats;
      blk.sin = s0 + r * row_floats;
      if (pc0) blk.pair_cos = pc0 + r * pairs, blk.pair_sin = ps0 + r * pairs;
      rotate_rows_simd(plan.dtype, plan.layout, blk);
    }
    hwy::FlushStream();
    next.advance(blk.rows * nt);
  }
}

// Scalar: any feature stride, float64, SIMD off, or a table call the SIMD kernels do not take.
template <typename T, typename Acc>
void scalar_rows(const RopePlan& plan, const core::TensorPair& tensor, const TileTable<Acc>& tab, const T* in,
                 T* out, int64_t nt) {
  const int width = table_width(plan);
  for (int64_t h = 0; h < tensor.heads; ++h) {
    const T* ih = in + tensor.in.head_offset(h);
    T* oh = out + tensor.out.head_offset(h);
    for (int64_t r = 0; r < nt; ++r)
      rotate_row<T>(ih + r * tensor.in.stride_t, oh + r * tensor.out.stride_t, tensor.in.stride_d,
                    tensor.out.stride_d, plan.pairs, plan.D, plan.layout, tensor.in_place,
                    tab.cos.data() + r * width, tab.sin.data() + r * width, width != plan.pairs,
                    plan.table.hf_rounding);
  }
}

// Rotates one tensor's rows of a work item with the tile's tables.
template <typename T, typename Acc>
void rotate_item(const RopePlan& plan, const TilePlan& tp, const core::TensorPair& tensor,
                 const TileTable<Acc>& tab, const TileItem& item, NextTable<Acc>& next) {
  const T* in = reinterpret_cast<const T*>(tensor.in.data) + item.b * tensor.in.stride_b +
                item.t0 * tensor.in.stride_t;
  T* out = reinterpret_cast<T*>(tensor.out.data) + item.b * tensor.out.stride_b + item.t0 * tensor.out.stride_t;
  if (!tp.simd || tensor.in.stride_d != 1 || tensor.out.stride_d != 1)
    return scalar_rows<T>(plan, tensor, tab, in, out, item.nt);
  const RowBlock blk = table_block(plan, tp, tab, tensor);
  const int64_t in_hs = tensor.in.n_head_axes ? tensor.in.head_stride[0] : 0;
  const bool heads_closer = tensor.heads > 1 && std::abs(in_hs) < std::abs(tensor.in.stride_t);
  if (tensor.in.n_head_axes <= 1 && tensor.out.n_head_axes <= 1 && (item.nt == 1 || heads_closer))
    return simd_over_heads<T>(plan, tp, tensor, blk, in, out, item.nt, next);
  if (blk.nontemporal && tensor.heads >= kHeadGroup && tensor.in.n_head_axes == 1 && tensor.out.n_head_axes == 1)
    return simd_over_head_groups<T>(plan, tp, tensor, blk, in, out, item.nt, next);
  simd_over_tokens<T>(plan, tp, tensor, blk, in, out, item.nt, next);
}

// Items [begin, end) on one thread: two tables, the current item's and the next one's, which
// fills while the current item rotates (NextTable).
template <typename T, typename Acc>
void run_items(const RopePlan& plan, const AngleSetup& setup, const TilePlan& tp, int64_t begin, int64_t end) {
  if (begin >= end) return;
  TileTable<Acc> table_a(table_width(plan), tp), table_b(table_width(plan), tp);
  TileTable<Acc>*current = &table_a, *spare = &table_b;
  NextTable<Acc> next(plan, setup, tp);
  TileItem item = item_at(plan, tp, begin);
  fill_tile(plan, setup, tp, item.pb, item.t0, 0, item.nt, *current);
  for (int64_t it = begin; it < end; ++it) {
    const TileItem following = it + 1 < end ? item_at(plan, tp, it + 1) : TileItem{};
    const bool new_table = it + 1 < end && following.key != item.key;
    next.start(new_table ? spare : nullptr, following, plan.heads_total() * item.nt);
    for (int k = 0; k < plan.n_tensors; ++k) rotate_item<T>(plan, tp, plan.tensors[k], *current, item, next);
    next.fill_to(following.nt);  // the rest (the scalar rows do not advance it)
    if (new_table) std::swap(current, spare);
    item = following;
  }
}

template <typename T>
void run_typed(const RopePlan& plan) {
  using Acc = typename Element<T>::Acc;
  const AngleSetup setup(plan);
  const TilePlan tp = plan_tiles<T>(plan);
  parallel_for(tp.tiles * plan.B, tp.item_bytes,
               [&](int64_t begin, int64_t end) { run_items<T, Acc>(plan, setup, tp, begin, end); });
}

}  // namespace

KernelMode kernel_mode() { return mode_flag().load(std::memory_order_relaxed); }
void set_kernel_mode(KernelMode mode) { mode_flag().store(mode, std::memory_order_relaxed); }

void run(const RopePlan& plan) {
  core::dispatch_float(plan.dtype, [&](auto type) { run_typed<typename decltype(type)::type>(plan); });
}

}  // namespace rotary::cpu_backend
