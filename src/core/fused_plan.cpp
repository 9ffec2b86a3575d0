// make_fused_plan / make_shift_plan: every check of the fused calls, before anything is written.
#include "core/fused_plan.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/frequencies.h"
#include "core/validate.h"

namespace rotary::core {
namespace {

using std::to_string;

struct Checker {
  const char* api;
  [[noreturn]] void fail(const std::string& what) const { core::fail(std::string("[") + api + "] " + what); }
};

std::string shape_str(const TensorView& v) { return rotary::to_string(v.shape); }

// Host integer array element i in row-major order (any strides).
int64_t element(const TensorView& v, int64_t i) {
  int64_t off = 0;
  for (int d = v.ndim() - 1; d >= 0; --d) {
    off += (i % v.shape[d]) * v.strides[d];
    i /= v.shape[d];
  }
  return read_index(v.data, v.dtype, off);
}

bool on_host(const TensorView& v) { return v.device.type == Device::Type::cpu; }

// host_ok: the array may also be in host memory when the tensors are on a device (cache slots,
// a change's positions: checked here, copied to the device by the backend, so the call need not
// wait for a report).
void check_index_array(const Checker& c, const TensorView& v, const char* name, const TensorView& x,
                       bool host_ok = false) {
  if (!is_integer(v.dtype))
    c.fail(std::string(name) + " must be an integer array (int32, int64 or uint32) but has dtype " +
           rotary::to_string(v.dtype) + ".");
  if (v.device != x.device && !(host_ok && on_host(v)))
    c.fail(std::string(name) + " is on " + rotary::to_string(v.device) + " but the tensors are on " +
           rotary::to_string(x.device) + (host_ok ? " (it may also be on the host)." : "."));
}

// A cache array of `layout` whose dtype, heads and head size must fit the rows written to it.
CacheGeometry plan_cache(const Checker& c, const TensorView& a, const char* name, CacheLayout layout, Dtype act,
                         int64_t heads, int64_t D, std::optional<float> scale, const char* scale_name) {
  if (a.ndim() != 4)
    c.fail(std::string(name) + " must have 4 dimensions " +
           (layout == CacheLayout::rows_then_heads ? "(pages, rows, heads, D)" : "(pages, heads, rows, D)") +
           " but has shape " + shape_str(a) + ".");
  if (a.dtype != act && a.dtype != float32 && a.dtype != float8_e4m3)
    c.fail(std::string(name) + " must have the dtype of the rows written to it (" + rotary::to_string(act) +
           "), float32 or float8_e4m3 but has " + rotary::to_string(a.dtype) + ".");
  CacheGeometry g;
  const bool rows_first = layout == CacheLayout::rows_then_heads;
  g.data = static_cast<char*>(a.data);
  g.dtype = a.dtype;
  g.pages = a.shape[0];
  g.rows = a.shape[rows_first ? 1 : 2];
  g.heads = a.shape[rows_first ? 2 : 1];
  g.D = a.shape[3];
  g.stride_page = a.strides[0];
  g.stride_row = a.strides[rows_first ? 1 : 2];
  g.stride_head = a.strides[rows_first ? 2 : 1];
  g.stride_d = a.strides[3];
  if (g.heads != heads)
    c.fail(std::string(name) + " has " + to_string(g.heads) + " heads but the rows written to it have " +
           to_string(heads) + " (shape " + shape_str(a) + ").");
  if (g.D != D)
    c.fail(std::string(name) + " has head size " + to_string(g.D) + " but the rows written to it have " +
           to_string(D) + ".");
  if (a.dtype == float8_e4m3) {
    if (!scale) c.fail(std::string(name) + " is float8_e4m3 but " + scale_name + " is not given.");
    if (!(std::isfinite(*scale) && *scale > 0))
      c.fail(std::string(scale_name) + " must be finite and positive but is " + std::to_string(*scale) + ".");
    g.scale = *scale;
  }
  if (overlaps_itself(a)) c.fail(std::string(name) + " has elements that share memory; it cannot be written.");
  return g;
}

// Tokens of each sequence (host arrays only; device cu_seqlens are not read on the host).
std::vector<int64_t> sequence_lengths(const FusedPlan& p, const Positions& positions) {
  if (positions.kind() != Positions::Kind::ragged) return std::vector<int64_t>(p.rope.B, p.rope.T);
  const TensorView& cu = positions.array();
  std::vector<int64_t> lens(p.num_seqs);
  for (int64_t s = 0; s < p.num_seqs; ++s) lens[s] = element(cu, s + 1) - element(cu, s);
  return lens;
}

void check_write_positions(const Checker& c, const FusedPlan& p, const TensorView& starts,
                           const std::vector<int64_t>& lens) {
  if (starts.ndim() != 1 || starts.shape[0] != p.num_seqs)
    c.fail("cache.slots (write_positions) must have one start per sequence (" + to_string(p.num_seqs) +
           ") but has shape " + shape_str(starts) + ".");
  if (p.num_seqs > p.k_cache.pages)
    c.fail("cache.k holds " + to_string(p.k_cache.pages) + " sequences but the batch has " + to_string(p.num_seqs) +
           ".");
  if (!on_host(starts)) return;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int64_t st = element(starts, s);
    if (st < 0 || st + lens[s] > p.k_cache.rows)
      c.fail("cache.slots (write_positions) element " + to_string(s) + " is " + to_string(st) + ": sequence " +
             to_string(s) + " writes rows [" + to_string(st) + ", " + to_string(st + lens[s]) +
             ") but the cache has rows [0, " + to_string(p.k_cache.rows) + ").");
  }
}

void check_slot_mapping(const Checker& c, const FusedPlan& p, const TensorView& slots) {
  const bool ragged = p.rope.positions.kind == Positions::Kind::ragged;
  const int64_t n = p.rope.B * p.rope.T;
  const bool flat = slots.ndim() == 1 && slots.shape[0] == n;
  const bool grid = !ragged && slots.ndim() == 2 && slots.shape[0] == p.rope.B && slots.shape[1] == p.rope.T;
  if (!flat && !grid)
    c.fail("cache.slots (slot_mapping) must have one slot per token, shape (" + to_string(n) + ",)" +
           (ragged ? "" : " or (" + to_string(p.rope.B) + "," + to_string(p.rope.T) + ")") + ", but has shape " +
           shape_str(slots) + ".");
  if (!on_host(slots)) return;
  const int64_t capacity = p.k_cache.pages * p.k_cache.rows;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = element(slots, i);
    if (v >= capacity)
      c.fail("cache.slots (slot_mapping) element " + to_string(i) + " is " + to_string(v) + " but the cache holds " +
             to_string(capacity) + " slots (" + to_string(p.k_cache.pages) + " blocks of " +
             to_string(p.k_cache.rows) + ").");
  }
}

void check_block_table(const Checker& c, const FusedPlan& p, const TensorView& table, const TensorView& cache_lens,
                       const std::vector<int64_t>& lens) {
  if (table.ndim() != 2 || table.shape[0] != p.num_seqs)
    c.fail("cache.slots block_table must have shape (" + to_string(p.num_seqs) +
           ", max_blocks_per_seq) but has shape " + shape_str(table) + ".");
  if (cache_lens.ndim() != 1 || cache_lens.shape[0] != p.num_seqs)
    c.fail("cache.slots cache_lens must have one length per sequence (" + to_string(p.num_seqs) +
           ") but has shape " + shape_str(cache_lens) + ".");
  if (!on_host(table) || !on_host(cache_lens)) return;
  const int64_t cols = table.shape[1], rows = p.k_cache.rows;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int64_t first = element(cache_lens, s);
    if (first < 0)
      c.fail("cache.slots cache_lens element " + to_string(s) + " is negative (" + to_string(first) + ").");
    if (lens[s] == 0) continue;
    const int64_t last = first + lens[s] - 1;
    if (last / rows >= cols)
      c.fail("cache.slots block_table row " + to_string(s) + " holds " + to_string(cols) + " blocks of " +
             to_string(rows) + " rows but sequence " + to_string(s) + " needs positions up to " + to_string(last) +
             " (" + to_string(last / rows + 1) + " blocks).");
    for (int64_t col = first / rows; col <= last / rows; ++col) {
      const int64_t block = element(table, s * cols + col);
      if (block < 0 || block >= p.k_cache.pages)
        c.fail("cache.slots block_table[" + to_string(s) + ", " + to_string(col) + "] is " + to_string(block) +
               " but the cache has blocks [0, " + to_string(p.k_cache.pages) + ").");
    }
  }
}

void plan_slots(const Checker& c, FusedPlan& p, const CacheSlots& slots, const Positions& positions,
                const TensorView& x) {
  SlotPlan& sp = p.slots;
  sp.kind = slots.kind();
  sp.pages = p.k_cache.pages;
  sp.rows = p.k_cache.rows;
  const TensorView& idx = slots.index();
  check_index_array(c, idx, "cache.slots", x, true);
  sp.index = idx.data;
  sp.index_dtype = idx.dtype;
  sp.host_resident = !on_host(x) && on_host(idx);
  const bool host_lens = positions.kind() != Positions::Kind::ragged || on_host(positions.array());
  const std::vector<int64_t> lens = host_lens ? sequence_lengths(p, positions) : std::vector<int64_t>{};
  if (lens.empty() && on_host(idx) && slots.kind() != CacheSlots::Kind::slot_mapping)
    c.fail("cache.slots needs cu_seqlens on the host to check the rows.");
  switch (slots.kind()) {
    case CacheSlots::Kind::write_positions:
      check_write_positions(c, p, idx, lens);
      sp.stride_s = idx.strides[0];
      break;
    case CacheSlots::Kind::slot_mapping:
      check_slot_mapping(c, p, idx);
      sp.stride_t = idx.strides[idx.ndim() - 1];
      sp.stride_b = idx.ndim() == 2 ? idx.strides[0] : p.rope.T * sp.stride_t;
      break;
    case CacheSlots::Kind::block_table: {
      const TensorView& cl = slots.lens();
      check_index_array(c, cl, "cache.slots cache_lens", x, true);
      if (on_host(cl) != on_host(idx))
        c.fail("cache.slots block_table and cache_lens must both be on the host or both on the tensors' device.");
      check_block_table(c, p, idx, cl, lens);
      sp.stride_s = idx.strides[0];
      sp.stride_c = idx.strides[1];
      sp.table_cols = idx.shape[1];
      sp.lens = cl.data;
      sp.lens_dtype = cl.dtype;
      sp.lens_stride = cl.strides[0];
      break;
    }
  }
}

NormPlan plan_norm(const Checker& c, const QKNorm& n, const TensorView& q, int64_t D) {
  NormPlan np;
  np.enabled = true;
  const TensorView* w[2] = {&n.q_weight, &n.k_weight};
  const char* names[2] = {"norm.q_weight", "norm.k_weight"};
  for (int i = 0; i < 2; ++i) {
    if (w[i]->ndim() != 1 || w[i]->shape[0] != D)
      c.fail(std::string(names[i]) + " must have shape (" + to_string(D) + ",) but has shape " + shape_str(*w[i]) +
             ".");
    if (!is_floating(w[i]->dtype))
      c.fail(std::string(names[i]) + " must be floating but has dtype " + rotary::to_string(w[i]->dtype) + ".");
    if (w[i]->device != q.device)
      c.fail(std::string(names[i]) + " is on " + rotary::to_string(w[i]->device) + " but q is on " +
             rotary::to_string(q.device) + ".");
    np.weight[i] = w[i]->data;
    np.weight_dtype[i] = w[i]->dtype;
    np.weight_stride[i] = w[i]->strides[0];
  }
  if (!(std::isfinite(n.eps) && n.eps >= 0))
    c.fail("norm.eps must be finite and non-negative but is " + std::to_string(n.eps) + ".");
  np.eps = n.eps;
  np.unit_offset = n.unit_offset;
  return np;
}

// v's rows: the geometry the RoPE planner gives a tensor (its head-axis merging), planned with
// a placeholder rotation of one pair that is never run.
TensorGeometry plan_v_rows(const Checker& c, const TensorView& v, const TensorView& k, const Positions& positions,
                           const RopeOptions& options, int64_t& heads) {
  const int nd = k.ndim();
  bool same = v.ndim() == nd && v.dtype == k.dtype && v.device == k.device;
  for (int a = 0; same && a < nd - 1; ++a) same = v.shape[a] == k.shape[a];
  if (!same || v.shape[nd - 1] < 2)
    c.fail("v must have k's dtype, device and shape but its own head size (>= 2): k is " + shape_str(k) + " (" +
           rotary::to_string(k.dtype) + "), v is " + shape_str(v) + " (" + rotary::to_string(v.dtype) + ").");
  RopeOptions o = options;
  o.dims = 2;
  o.freqs = Frequencies::from_periods({1.0});
  const bool ragged = positions.kind() == Positions::Kind::ragged;
  const RopePlan vp = make_plan(&v, &v, 1, ragged ? positions : Positions(0), o);
  heads = vp.tensors[0].heads;
  return vp.tensors[0].in;
}

void check_disjoint(const Checker& c, const TensorView& written, const char* wname, const TensorView& other,
                    const char* oname) {
  if (other.data && may_share_memory(written, other))
    c.fail(std::string(wname) + " overlaps " + oname + "; the cache and the inputs must be separate memory.");
}

void check_cache_overlaps(const Checker& c, const KVCache& cache, const TensorView& q, const TensorView& k,
                          const TensorView* v, const TensorView& q_out) {
  const TensorView none;
  const TensorView& vv = v ? *v : none;
  for (int i = 0; i < 2; ++i) {
    const TensorView& a = i ? cache.v : cache.k;
    if (!a.data) continue;
    const char* name = i ? "cache.v" : "cache.k";
    check_disjoint(c, a, name, q, "q");
    check_disjoint(c, a, name, k, "k");
    check_disjoint(c, a, name, vv, "v");
    check_disjoint(c, a, name, q_out, "q_out");
  }
  if (cache.v.data && may_share_memory(cache.k, cache.v)) c.fail("cache.k and cache.v share memory.");
  if (q_out.data != q.data || !same_view(q, q_out)) {
    check_disjoint(c, q_out, "q_out", k, "k");
    check_disjoint(c, q_out, "q_out", vv, "v");
  }
  if (may_share_memory(q, k)) c.fail("q and k share memory; they must be separate tensors.");
}

}  // namespace

FusedPlan make_fused_plan(const TensorView& q, const TensorView& k, const TensorView* v, const TensorView& q_out,
                          const TensorView* k_out, const KVCache* cache, const QKNorm* norm, const Positions& positions,
                          const RopeOptions& options, const char* api) {
  const Checker c{api};
  check_call(q, positions, options);
  if (cache) check_cache_overlaps(c, *cache, q, k, v, q_out);
  FusedPlan p;
  const TensorView in[2] = {q, k}, out[2] = {q_out, k_out ? *k_out : k};
  p.rope = make_plan(in, out, 2, positions, options);
  p.num_seqs = positions.kind() == Positions::Kind::ragged ? p.rope.positions.num_seqs : p.rope.B;
  if (norm) p.norm = plan_norm(c, *norm, q, p.rope.D);
  if (v && v->data) {
    p.has_v = true;
    p.v = plan_v_rows(c, *v, k, positions, options, p.v_heads);
    p.v_D = v->shape.back();
  }
  if (!cache) return p;
  p.to_cache = true;
  p.k_cache = plan_cache(c, cache->k, "cache.k", cache->layout, k.dtype, p.rope.tensors[1].heads, p.rope.D,
                         cache->k_scale, "cache.k_scale");
  if (p.has_v != (cache->v.data != nullptr))
    c.fail(p.has_v ? "v is given but cache.v is empty." : "cache.v is given but v is empty.");
  if (p.has_v) {
    p.v_cache = plan_cache(c, cache->v, "cache.v", cache->layout, v->dtype, p.v_heads, p.v_D, cache->v_scale,
                           "cache.v_scale");
    if (p.v_cache.pages != p.k_cache.pages || p.v_cache.rows != p.k_cache.rows)
      c.fail("cache.v must have the pages and rows of cache.k: " + shape_str(cache->v) + " vs " +
             shape_str(cache->k) + ".");
    if (cache->v.device != q.device) c.fail("cache.v must be on q's device.");
  }
  if (cache->k.device != q.device) c.fail("cache.k must be on q's device.");
  plan_slots(c, p, cache->slots, positions, q);
  return p;
}

namespace {

// The deltas as the plan's positions: ids over (stream, page, row), streams axis first.
void plan_deltas(const Checker& c, ShiftPlan& p, const TensorView& deltas, int streams, const TensorView& k_cache) {
  check_index_array(c, deltas, "deltas", k_cache);
  const int lead = streams > 1 ? 1 : 0;  // M-RoPE: the streams axis
  const int nd = deltas.ndim() - lead;
  const bool per_row = nd == 2 && deltas.shape[lead + 1] == p.cache.rows;
  const bool fits = (!lead || (deltas.ndim() >= 1 && deltas.shape[0] == streams)) && nd >= 1 && nd <= 2 &&
                    deltas.shape[lead] == p.cache.pages && (nd == 1 || per_row);
  if (!fits) {
    const std::string s = lead ? to_string(streams) + ", " : "";
    c.fail("deltas must have shape (" + s + to_string(p.cache.pages) + ",) or (" + s + to_string(p.cache.pages) +
           "," + to_string(p.cache.rows) + ")" + (lead ? " (one delta per position stream of the M-RoPE freqs)" : "") +
           " but has shape " + shape_str(deltas) + ".");
  }
  p.deltas = deltas.data;
  p.deltas_dtype = deltas.dtype;
  p.deltas_stride_stream = lead ? deltas.strides[0] : 0;
  p.deltas_stride_page = deltas.strides[lead];
  p.deltas_stride_row = per_row ? deltas.strides[lead + 1] : 0;
  PositionPlan& pos = p.rope.positions;
  pos.kind = Positions::Kind::ids;
  pos.array = p.deltas;
  pos.dtype = p.deltas_dtype;
  pos.stride_s = p.deltas_stride_stream;
  pos.stride_b = p.deltas_stride_page;
  pos.stride_t = p.deltas_stride_row;
  pos.streams = streams;
  pos.batch_invariant = false;
  if (deltas.data && may_share_memory(k_cache, deltas)) c.fail("deltas overlaps k_cache.");
}

void plan_row_counts(const Checker& c, ShiftPlan& p, const TensorView& row_counts, const TensorView& k_cache) {
  check_index_array(c, row_counts, "row_counts", k_cache);
  if (row_counts.ndim() != 1 || row_counts.shape[0] != p.cache.pages)
    c.fail("row_counts must have shape (" + to_string(p.cache.pages) + ",) but has shape " + shape_str(row_counts) +
           ".");
  if (on_host(row_counts))
    for (int64_t i = 0; i < p.cache.pages; ++i)
      if (const int64_t n = element(row_counts, i); n < 0 || n > p.cache.rows)
        c.fail("row_counts element " + to_string(i) + " is " + to_string(n) + " but pages have " +
               to_string(p.cache.rows) + " rows.");
  p.row_counts = row_counts.data;
  p.row_counts_dtype = row_counts.dtype;
  p.row_counts_stride = row_counts.strides[0];
}

// A FrequencyChange: old frequencies of the same pairs, the rows' old positions, the factor ratio.
void plan_change(const Checker& c, ShiftPlan& p, const FrequencyChange& change, const Frequencies& to,
                 const TensorView& k_cache) {
  const Frequencies& from = change.from;
  if (from.pairs() != p.rope.pairs)
    c.fail("change.from must have dims/2 = " + to_string(p.rope.pairs) + " inverse frequencies but has " +
           to_string(from.pairs()) + ".");
  if (from.position_streams != 1 || to.position_streams != 1)
    c.fail("a frequency change needs single-stream frequencies (change.from and freqs); M-RoPE is shifted by deltas.");
  for (double f : from.inv_freq)
    if (!std::isfinite(f)) c.fail("change.from.inv_freq must be finite.");
  if (!(from.attention_factor > 0) || !std::isfinite(from.attention_factor) || !(to.attention_factor > 0))
    c.fail("the attention factors of change.from and freqs must be finite and positive but are " +
           std::to_string(from.attention_factor) + " and " + std::to_string(to.attention_factor) + ".");
  const TensorView& pos = change.positions;
  check_index_array(c, pos, "change.positions", k_cache, true);  // any int64 is a position: no values to check
  const bool per_row = pos.ndim() == 2 && pos.shape[1] == p.cache.rows;
  if (pos.ndim() < 1 || pos.ndim() > 2 || pos.shape[0] != p.cache.pages || (pos.ndim() == 2 && !per_row))
    c.fail("change.positions must have shape (" + to_string(p.cache.pages) + ",) or (" + to_string(p.cache.pages) +
           ", " + to_string(p.cache.rows) + ") but has shape " + shape_str(pos) + ".");
  if (may_share_memory(k_cache, pos)) c.fail("change.positions overlaps k_cache.");
  p.from_inv_freq = from.inv_freq.data();
  p.from_positions = pos.data;
  p.from_positions_dtype = pos.dtype;
  p.from_stride_page = pos.strides[0];
  p.from_stride_row = per_row ? pos.strides[1] : 0;
  p.from_host_resident = !on_host(k_cache) && on_host(pos);
  p.rope.attention_factor = to.attention_factor / from.attention_factor;
}

}  // namespace

ShiftPlan make_shift_plan(const TensorView& k_cache, CacheLayout layout, const TensorView& deltas,
                          const std::optional<TensorView>& row_counts, const RopeOptions& options,
                          std::optional<float> scale, const FrequencyChange* change) {
  const Checker c{"shift_cache"};
  ShiftPlan p;
  const Dtype act = k_cache.dtype == float8_e4m3 ? float32 : k_cache.dtype;
  if (!is_floating(act)) c.fail("k_cache must be floating or float8_e4m3 but has " + rotary::to_string(act) + ".");
  const int64_t heads = k_cache.ndim() == 4 ? k_cache.shape[layout == CacheLayout::rows_then_heads ? 2 : 1] : 0;
  const int64_t D = k_cache.ndim() == 4 ? k_cache.shape[3] : 0;
  p.cache = plan_cache(c, k_cache, "k_cache", layout, act, heads, D, scale, "scale");
  RopePlan& r = p.rope;  // the rotation of the RoPE planner; no tensors; the deltas as positions
  r.dtype = act;
  r.device = k_cache.device;
  r.D = D;
  r.dims = options.dims == 0 ? int(D) : options.dims;
  if (r.dims <= 0 || r.dims % 2 || r.dims > D)
    c.fail("dims must be positive, even and at most the head size " + to_string(D) + " but is " + to_string(r.dims) +
           ".");
  r.pairs = r.dims / 2;
  const Frequencies& freqs = call_frequencies(options.freqs, r.dims);
  plan_rotation(options, freqs, r);
  r.attention_factor = 1.0;  // the cached keys carry it already
  plan_deltas(c, p, deltas, freqs.position_streams, k_cache);
  if (row_counts) plan_row_counts(c, p, *row_counts, k_cache);
  if (change) plan_change(c, p, *change, freqs, k_cache);
  return p;
}

}  // namespace rotary::core
