#include "reference/fused_oracle.h"

#include "reference/oracle.h"

#include "core/frequencies.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace rotary::reference {
namespace {

// Token (b, t) of the input, its sequence s and index j in it, and its flat index n.
struct Token {
  int64_t b, t, s, j, n;
};

Token token_of(const Positions& positions, int64_t b, int64_t t, int64_t T) {
  if (positions.kind() != Positions::Kind::ragged) return {b, t, b, t, b * T + t};
  const TensorView& cu = positions.array();
  for (int64_t s = 0; s + 1 < cu.shape[0]; ++s)
    if (t >= read_int(cu, {s}) && t < read_int(cu, {s + 1})) return {0, t, s, t - read_int(cu, {s}), t};
  throw std::invalid_argument("[reference] token outside every sequence");
}

// (page, row) of a token, or page -1 when the token writes nothing.
std::pair<int64_t, int64_t> slot_of(const CacheSlots& slots, const Token& tk, int64_t rows, int64_t T) {
  const TensorView& idx = slots.index();
  switch (slots.kind()) {
    case CacheSlots::Kind::write_positions: return {tk.s, read_int(idx, {tk.s}) + tk.j};
    case CacheSlots::Kind::slot_mapping: {
      const int64_t slot = idx.ndim() == 2 ? read_int(idx, {tk.b, tk.t}) : read_int(idx, {tk.n});
      (void)T;
      if (slot < 0) return {-1, 0};
      return {slot / rows, slot % rows};
    }
    case CacheSlots::Kind::block_table: {
      const int64_t c = read_int(slots.lens(), {tk.s}) + tk.j;
      return {read_int(idx, {tk.s, c / rows}), c % rows};
    }
  }
  return {-1, 0};
}

// Writes every row of `rows` (float64, contiguous) into `out` (float64 copy of a cache).
void scatter(const Array& rows, Array& out, const KVCache& cache, const Positions& positions, int seq_axis,
             double scale) {
  const bool ragged = positions.kind() == Positions::Kind::ragged;
  const int nd = rows.ndim();
  const int token_axis = ragged ? 0 : nd + seq_axis;
  const int64_t D = rows.shape(-1), T = rows.shape(token_axis);
  const bool rows_first = cache.layout == CacheLayout::rows_then_heads;
  const int64_t cache_rows = out.shape(rows_first ? 1 : 2), cache_heads = out.shape(rows_first ? 2 : 1);
  const double* src = rows.data<double>();
  double* dst = out.data<double>();
  const Strides& cs = out.strides();
  for (int64_t r = 0; r < rows.size() / D; ++r) {
    int64_t rest = r, t = 0, b = 0, h = 0, hmul = 1;
    for (int a = nd - 2; a >= 0; --a) {
      const int64_t i = rest % rows.shape(a);
      rest /= rows.shape(a);
      if (a == token_axis) t = i;
      else if (a == 0 && !ragged) b = i;
      else {
        h += i * hmul;
        hmul *= rows.shape(a);
      }
    }
    if (hmul != cache_heads) throw std::invalid_argument("[reference] cache head count differs");
    const auto [page, row] = slot_of(cache.slots, token_of(positions, b, t, T), cache_rows, T);
    if (page < 0) continue;
    const int64_t base = page * cs[0] + row * cs[rows_first ? 1 : 2] + h * cs[rows_first ? 2 : 1];
    for (int64_t d = 0; d < D; ++d) dst[base + d * cs[3]] = src[r * D + d] / scale;
  }
}

// The angle of position p at inverse frequency f: exact, or compat's float32 product.
long double angle(int64_t p, double scale, double f, bool compat) {
  if (compat) return double(float(float(scale) * float(p)) * float(f));
  return static_cast<long double>(p) * scale * f;
}

// The angle pair i of row r of page g turns by under shift_cache.
long double shift_angle(const TensorView& deltas, const Frequencies& to, const std::optional<FrequencyChange>& change,
                        double scale, bool compat, int64_t g, int64_t r, int i) {
  const bool mrope = to.position_streams > 1;
  const int stream = to.pair_position_stream.empty() ? 0 : to.pair_position_stream[i];
  const int lead = mrope ? 1 : 0;
  std::vector<int64_t> idx;
  if (mrope) idx.push_back(stream);
  idx.push_back(g);
  if (deltas.ndim() == lead + 2) idx.push_back(r);
  const int64_t d = read_int(deltas, idx);
  if (!change) return angle(d, scale, to.inv_freq[i], compat);
  const TensorView& pos = change->positions;
  const int64_t p = pos.ndim() == 2 ? read_int(pos, {g, r}) : read_int(pos, {g}) + r;
  return angle(p + d, scale, to.inv_freq[i], compat) - angle(p, scale, change->from.inv_freq[i], compat);
}

}  // namespace

Array shift_cache(const Array& cache, CacheLayout layout, const TensorView& deltas,
                  const std::optional<TensorView>& row_counts, const RopeOptions& options,
                  const std::optional<FrequencyChange>& change) {
  Array out = cache.astype(float64).copy();
  const int64_t D = out.shape(3), dims = options.dims ? options.dims : D, half = dims / 2;
  const Frequencies& to = core::call_frequencies(options.freqs, int(dims));
  const long double ratio = change ? to.attention_factor / change->from.attention_factor : 1.0L;
  const long double sign = options.inverse ? -1.0L : 1.0L;
  const bool compat = options.precision.value_or(default_precision()) == Precision::compat;
  const bool rows_first = layout == CacheLayout::rows_then_heads;
  const int64_t pages = out.shape(0), rows = out.shape(rows_first ? 1 : 2), heads = out.shape(rows_first ? 2 : 1);
  double* v = out.data<double>();
  for (int64_t g = 0; g < pages; ++g)
    for (int64_t r = 0; r < (row_counts ? read_int(*row_counts, {g}) : rows); ++r)
      for (int64_t h = 0; h < heads; ++h) {
        double* x = v + ((g * out.shape(1) + (rows_first ? r : h)) * out.shape(2) + (rows_first ? h : r)) * D;
        for (int i = 0; i < half; ++i) {
          const int64_t i1 = options.layout == PairLayout::interleaved ? 2 * i : i;
          const int64_t i2 = options.layout == PairLayout::interleaved ? i1 + 1 : i1 + half;
          const long double theta = shift_angle(deltas, to, change, options.scale, compat, g, r, i);
          const long double c = std::cos(theta) * ratio, s = std::sin(theta) * ratio * sign;
          const long double x1 = x[i1], x2 = x[i2];
          x[i1] = double(x1 * c - x2 * s);
          x[i2] = double(x2 * c + x1 * s);
        }
      }
  return out;
}

Array rms_norm(const Array& x_in, const Array& weight, double eps, bool unit_offset) {
  const Array x = x_in.astype(float64), w = weight.astype(float64);
  Array out = x.copy();
  const int64_t D = x.shape(-1);
  const double* src = x.data<double>();
  const double* wd = w.data<double>();
  double* dst = out.data<double>();
  for (int64_t r = 0; r < x.size() / D; ++r) {
    double sum = 0;
    for (int64_t d = 0; d < D; ++d) sum += src[r * D + d] * src[r * D + d];
    const double inv = 1.0 / std::sqrt(sum / double(D) + eps);
    for (int64_t d = 0; d < D; ++d) dst[r * D + d] = src[r * D + d] * inv * (unit_offset ? 1.0 + wd[d] : wd[d]);
  }
  return out;
}

CacheContents cache_after(const Array& k_rows, const Array& v_rows, const Array& k_cache, const Array& v_cache,
                          const KVCache& cache, const Positions& positions, int seq_axis) {
  CacheContents c{k_cache.astype(float64), v_cache.ndim() ? v_cache.astype(float64) : Array(0.0, float64)};
  const auto scale = [](Dtype d, const std::optional<float>& s) { return d == float8_e4m3 ? double(*s) : 1.0; };
  scatter(k_rows.astype(float64), c.k, cache, positions, seq_axis, scale(k_cache.dtype(), cache.k_scale));
  if (v_cache.ndim())
    scatter(v_rows.astype(float64), c.v, cache, positions, seq_axis, scale(v_cache.dtype(), cache.v_scale));
  return c;
}

}  // namespace rotary::reference
