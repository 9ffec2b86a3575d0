// libFuzzer harness for the extended API (rotary/rope.h). Each input decodes into one call:
// shapes with zero-size axes, nested or raw strides (transposes, gaps, negative and zero
// strides), dims, layouts, dtypes, frequencies with attention factor and multi-axis streams,
// scale, precision, direction, positions (scalar offset, offset array, ids, ragged, valid and
// invalid), malformed views, and one of the output modes (new array, into a buffer, in place,
// Q and K together into buffers or in place). All tensors of a call live in one arena whose
// remaining bytes are guard bytes with a known pattern.
//
// The harness knows, by construction, which calls the library must refuse and which it must
// accept (a few value ranges the library may refuse under a documented bound are left open):
// - a refused call must throw std::invalid_argument (rotary's error) and write nothing;
// - an accepted call must match the float64 oracle within the tests' tolerances
//   (tests/test_util.h) and write no byte outside its outputs' elements.
// Any violation prints what happened and aborts, which libFuzzer reports as a crash.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/convert.h"
#include "cpu/backend.h"
#include "positions/oracle_check.h"
#include "reference/oracle.h"
#include "rotary/rotary.h"

namespace {

using namespace rotary;
using Provider = FuzzedDataProvider;

constexpr int64_t kMaxElements = 768;   // per tensor: keeps one input well under a millisecond
constexpr int kGuard = 3;               // guard elements before, between and after the views
constexpr double kExactLimit = 0x1p52;  // positions beyond this may be refused (documented bound)

[[noreturn]] void report(const std::string& what) {
  std::fprintf(stderr, "\nrope_fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// What the harness knows about the call before making it.
struct Verdict {
  std::string must_reject;  // non-empty: why the library has to refuse the call
  bool may_reject = false;  // some value lies where the library may refuse it (see kExactLimit)
  void invalid(const std::string& why) { must_reject += (must_reject.empty() ? "" : "; ") + why; }
};

int64_t element_count(const Shape& shape) {
  int64_t n = 1;
  for (int s : shape) n *= std::max(s, 0);
  return n;
}

// Element offsets (relative to element 0) of every index of shape/strides, row-major order.
std::vector<int64_t> element_offsets(const Shape& shape, const Strides& strides) {
  std::vector<int64_t> offs;
  const int64_t n = element_count(shape);
  offs.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0, rest = i;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      off += (rest % shape[d]) * strides[d];
      rest /= shape[d];
    }
    offs.push_back(off);
  }
  return offs;
}

// ---------------------------------------------------------------------------------------------
// Placement: views of one dtype placed in one arena, in elements.

struct Placed {
  Shape shape;
  Strides strides;
  int64_t anchor = 0;  // arena element holding index (0, ..., 0)
  std::vector<int64_t> cells() const {
    auto offs = element_offsets(shape, strides);
    for (auto& o : offs) o += anchor;
    return offs;
  }
};

// Nested strides (no two indices share memory): the axes in a shuffled memory order, the
// feature axis usually innermost, gaps between rows, some axes reversed.
Strides nested_strides(Provider& in, const Shape& shape) {
  const int nd = int(shape.size());
  std::vector<int> order(nd);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());  // innermost first: the feature axis
  const bool shuffle_all = in.ConsumeIntegralInRange(0, 3) == 0;
  for (int i = nd - 1; i > (shuffle_all ? 0 : 1); --i)
    std::swap(order[i], order[in.ConsumeIntegralInRange(shuffle_all ? 0 : 1, i)]);
  Strides st(nd);
  int64_t span = 1;  // elements the inner axes cover
  for (int k = 0; k < nd; ++k) {
    const int a = order[k];
    const int64_t step = k == 0 ? in.ConsumeIntegralInRange(1, 2) : span + in.ConsumeIntegralInRange(0, 2);
    st[a] = in.ConsumeIntegralInRange(0, 5) == 0 ? -step : step;
    span = step * std::max(shape[a] - 1, 0) + span;
  }
  return st;
}

Strides raw_strides(Provider& in, int nd) {
  Strides st(nd);
  for (auto& s : st) s = in.ConsumeIntegralInRange(-3, 6);
  return st;
}

// Places a view: in a fresh region after `end`, or near an earlier view (same strides or not),
// which makes interleaved, overlapping and identical views.
Placed place(Provider& in, const Shape& shape, const std::vector<Placed>& earlier, int64_t& end) {
  Placed p;
  p.shape = shape;
  const int how = in.ConsumeIntegralInRange(0, 7);
  const Placed* near = earlier.empty() || how < 5 ? nullptr : &earlier[in.ConsumeIntegralInRange<size_t>(0, earlier.size() - 1)];
  const bool same_shape = near && near->shape == shape;
  p.strides = how == 7 && same_shape ? near->strides
              : in.ConsumeIntegralInRange(0, 5) == 0 ? raw_strides(in, int(shape.size()))
                                                     : nested_strides(in, shape);
  int64_t lo = 0, hi = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t reach = p.strides[d] * std::max(shape[d] - 1, 0);
    (reach < 0 ? lo : hi) += reach;
  }
  if (near) {
    p.anchor = near->anchor + in.ConsumeIntegralInRange(-4, 8);
  } else {
    p.anchor = end + kGuard - lo;
  }
  end = std::max(end, p.anchor + hi + 1);
  return p;
}

// Arena of a call: guard pattern everywhere, then x (and k) values written into their cells.
struct Arena {
  std::vector<uint64_t> storage;  // 8-byte aligned
  int64_t base = 0;               // arena element of index 0 (views may reach below their anchors)
  int elem = 4;

  void init(const std::vector<Placed*>& views, int elem_size, uint8_t seed) {
    elem = elem_size;
    int64_t lo = 0, hi = 0;
    for (const Placed* v : views)
      for (int64_t c : v->cells()) lo = std::min(lo, c), hi = std::max(hi, c);
    base = kGuard - lo;
    const int64_t bytes = (hi + base + 1 + kGuard) * elem;
    storage.assign(size_t(bytes + 7) / 8, 0);
    uint8_t* b = bytes_ptr();
    for (int64_t i = 0; i < bytes; ++i) b[i] = uint8_t(seed + 37 * i + (i >> 7));
  }
  uint8_t* bytes_ptr() { return reinterpret_cast<uint8_t*>(storage.data()); }
  size_t size() const { return storage.size() * 8; }
  void* at(int64_t anchor) { return bytes_ptr() + (anchor + base) * elem; }
  std::vector<uint8_t> snapshot() { return {bytes_ptr(), bytes_ptr() + size()}; }
};

TensorView view_of(Arena& arena, const Placed& p, Dtype dtype) {
  return TensorView(arena.at(p.anchor), dtype, p.shape, p.strides);
}

// ---------------------------------------------------------------------------------------------
// Values.

// A position-sized integer: small ones mostly, and every boundary the library must handle.
int64_t integer_value(Provider& in) {
  static constexpr int64_t kEdges[] = {
      int64_t(1) << 31, (int64_t(1) << 31) - 1, int64_t(1) << 32, (int64_t(1) << 32) + 5,
      int64_t(1) << 40, int64_t(1) << 52, (int64_t(1) << 53) + 1, int64_t(1) << 54, int64_t(1) << 62,
      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max() - 3,
      std::numeric_limits<int64_t>::min(), -(int64_t(1) << 40), -1, -7};
  const int kind = in.ConsumeIntegralInRange(0, 9);
  if (kind < 7) return in.ConsumeIntegralInRange<int64_t>(0, 64);
  if (kind < 9) return kEdges[in.ConsumeIntegralInRange<size_t>(0, std::size(kEdges) - 1)];
  return in.ConsumeIntegral<int64_t>();
}

// Frequencies a model could use, plus rare degenerate ones the library must get right or refuse.
double inv_freq_value(Provider& in, int i, int pairs, Verdict& verdict) {
  switch (in.ConsumeIntegralInRange(0, 11)) {
    case 0: return 1.0;
    case 1: return 0.0;
    case 2: return -in.ConsumeProbability<double>();
    case 3: verdict.may_reject = true; return std::numeric_limits<double>::quiet_NaN();
    case 4: verdict.may_reject = true; return std::numeric_limits<double>::infinity();
    case 5: return 1e3 * in.ConsumeProbability<double>();
    case 6: case 7: return in.ConsumeProbability<double>();
    default: return std::pow(in.ConsumeBool() ? 10000.0 : 500000.0, -2.0 * i / (2 * pairs));
  }
}

float scale_value(Provider& in, Verdict& verdict) {
  switch (in.ConsumeIntegralInRange(0, 15)) {
    case 0: return 0.5f;
    case 1: return 2.0f;
    case 2: return -1.0f;
    case 3: return 0.0f;
    case 4: return 0.1f;
    case 5: return in.ConsumeFloatingPointInRange(-4.0f, 4.0f);
    case 6: verdict.may_reject = true; return std::numeric_limits<float>::quiet_NaN();
    default: return 1.0f;
  }
}

// x values: multiples of 1/8 in [-16, 16) (exact in every dtype), sometimes finer ones.
double x_value(Provider& in) {
  const int8_t v = in.ConsumeIntegral<int8_t>();
  return in.ConsumeIntegralInRange(0, 7) == 0 ? v * 0.01171875 + 1e-3 * v : v / 8.0;
}

void store_int(void* p, Dtype dt, int64_t i, int64_t v) {
  if (dt == int32) static_cast<int32_t*>(p)[i] = int32_t(uint32_t(uint64_t(v)));
  else if (dt == uint32) static_cast<uint32_t*>(p)[i] = uint32_t(uint64_t(v));
  else if (dt == int64) static_cast<int64_t*>(p)[i] = v;
  else core::store_double(p, dt, i, double(v));
}

// The value an integer array holds (0 for the non-integer dtypes the library must refuse).
int64_t load_int(const void* p, Dtype dt, int64_t i) {
  if (dt == int32) return static_cast<const int32_t*>(p)[i];
  if (dt == uint32) return static_cast<const uint32_t*>(p)[i];
  if (dt == int64) return static_cast<const int64_t*>(p)[i];
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Position arrays: one arena of 8-byte cells (any integer dtype fits), each array with its own
// strides; the harness reads back the values the library will see.

struct IntArrays {
  std::vector<int64_t> cells;  // storage, 8 bytes per cell
  std::vector<std::pair<Shape, Strides>> layouts;
  std::vector<int64_t> anchors;
  std::vector<Dtype> dtypes;
  std::vector<std::vector<int64_t>> values;  // chosen values, row-major

  int add(Provider& in, Shape shape, Dtype dt, std::vector<int64_t> vals) {
    const int nd = int(shape.size());
    Strides st(nd);
    int64_t span = 1;
    for (int d = nd - 1; d >= 0; --d) {
      const int k = in.ConsumeIntegralInRange(0, 7);
      st[d] = k == 0 ? 0 : k == 1 ? -span : k == 2 ? 2 * span : span;
      span = std::max<int64_t>(std::abs(st[d]), 1) * std::max(shape[d], 1) + span;
    }
    layouts.emplace_back(std::move(shape), std::move(st));
    dtypes.push_back(dt);
    values.push_back(std::move(vals));
    return int(layouts.size()) - 1;
  }

  // Writes every array into the cells (guard cells hold a pattern), after which `values` holds
  // what each array reads back (zero strides repeat an element; int32/uint32 truncate).
  void materialise() {
    int64_t end = kGuard;
    for (auto& [shape, st] : layouts) {
      int64_t lo = 0, hi = 0;
      for (size_t d = 0; d < shape.size(); ++d) {
        const int64_t reach = st[d] * std::max(shape[d] - 1, 0);
        (reach < 0 ? lo : hi) += reach;
      }
      anchors.push_back(end - lo);
      end += hi - lo + 1 + kGuard;
    }
    cells.assign(size_t(end + kGuard), 0x5a5a5a5a5a5a5a5aLL);
    for (size_t k = 0; k < layouts.size(); ++k) {
      const auto offs = element_offsets(layouts[k].first, layouts[k].second);
      values[k].resize(offs.size(), 0);
      for (size_t i = 0; i < offs.size(); ++i)
        store_int(&cells[anchors[k] + offs[i]], dtypes[k], 0, values[k][i]);
      for (size_t i = 0; i < offs.size(); ++i) values[k][i] = load_int(&cells[anchors[k] + offs[i]], dtypes[k], 0);
    }
  }

  // The view of array k: element strides in units of the dtype, over 8-byte cells.
  TensorView view(int k) {
    const int per_cell = 8 / dtypes[k].size;
    Strides st = layouts[k].second;
    for (auto& s : st) s *= per_cell;
    return TensorView(&cells[anchors[k]], dtypes[k], layouts[k].first, st);
  }
};

Dtype index_dtype(Provider& in, Verdict& verdict, const char* name) {
  switch (in.ConsumeIntegralInRange(0, 15)) {
    case 0: verdict.invalid(std::string(name) + " of type float32"); return float32;
    case 1: verdict.invalid(std::string(name) + " of type bool"); return bool_;
    case 2: case 3: case 4: return int32;
    case 5: case 6: return uint32;
    default: return int64;
  }
}

std::vector<int64_t> integer_values(Provider& in, int64_t n, bool non_negative) {
  std::vector<int64_t> v(n);
  for (auto& e : v) {
    e = integer_value(in);
    if (non_negative && e < 0 && in.ConsumeIntegralInRange(0, 7) != 0) e = -(e + 1);
  }
  return v;
}


// ---------------------------------------------------------------------------------------------
// The call.

enum class Mode { new_array, into, in_place, qk_into, qk_in_place };
enum class Source { offset, offset_array, ids, ragged };

struct Call {
  Mode mode = Mode::new_array;
  Source source = Source::offset;
  Dtype dtype = float32;
  RopeOptions options;
  Shape q_shape, k_shape;
  int token_axis = 0;
  int64_t B = 1, T = 0, D = 0;
  int streams = 1;
  Verdict verdict;
  IntArrays ints;
  int64_t scalar_offset = 0;
  int positions_array = -1, starts_array = -1;  // indices into ints
  int corrupt_target = -1, corrupt_how = 0;     // a malformed view (see corrupt())
  std::string text;                             // the decoded call, for reports

  bool qk() const { return mode == Mode::qk_into || mode == Mode::qk_in_place; }
  bool ragged() const { return source == Source::ragged; }
};

int pick(Provider& in, std::initializer_list<int> menu) {
  return *(menu.begin() + in.ConsumeIntegralInRange<size_t>(0, menu.size() - 1));
}

// x's shape and layout axis: (B, *heads, T, D), (B, T, *heads, D) or ragged (N, *heads, D).
void choose_shape(Provider& in, Call& c) {
  const bool ragged = c.ragged();
  int nd = ragged ? in.ConsumeIntegralInRange(2, 4) : in.ConsumeIntegralInRange(3, 5);
  if (in.ConsumeIntegralInRange(0, 31) == 0) {
    nd = ragged ? 1 : 2;
    c.verdict.invalid("x has too few dimensions");
  }
  const int axis_choice = in.ConsumeIntegralInRange(0, 15);
  c.options.seq_axis = axis_choice < 8 ? -2 : axis_choice < 15 ? -3 : pick(in, {-1, 0, 1, -4});
  const bool axis_ok = c.options.seq_axis == -2 || (c.options.seq_axis == -3 && nd >= 4);
  if (!ragged && !axis_ok) c.verdict.invalid("seq_axis " + std::to_string(c.options.seq_axis));
  c.token_axis = ragged ? 0 : nd + (axis_ok ? c.options.seq_axis : -2);
  c.q_shape.assign(nd, 1);
  for (int a = 0; a < nd; ++a) c.q_shape[a] = in.ConsumeIntegralInRange(0, 3);
  c.q_shape[c.token_axis] = in.ConsumeIntegralInRange(0, ragged ? 9 : 6);
  c.q_shape[nd - 1] = pick(in, {0, 1, 2, 3, 4, 6, 8, 8, 10, 12, 16, 16, 18, 32});
  c.B = ragged || nd < 2 ? 1 : c.q_shape[0];
  c.T = c.q_shape[std::max(c.token_axis, 0)];
  c.D = c.q_shape[nd - 1];
  c.k_shape = c.q_shape;
  if (!c.qk()) return;
  // k: its own head counts; rarely a different token count, head size or rank (refused).
  for (int a = 1; a < nd - 1; ++a)
    if (a != c.token_axis) c.k_shape[a] = in.ConsumeIntegralInRange(0, 3);
  switch (in.ConsumeIntegralInRange(0, 23)) {
    case 0: c.k_shape[c.token_axis] += 1; c.verdict.invalid("k has other tokens"); break;
    case 1: c.k_shape[nd - 1] += 2; c.verdict.invalid("k has another head size"); break;
    case 2: c.k_shape.insert(c.k_shape.begin() + 1, 1); c.verdict.invalid("k has another rank"); break;
    case 3:
      if (!ragged) c.k_shape[0] += 1, c.verdict.invalid("k has another batch");
      break;
    default: break;
  }
}

// dims and the frequencies (with attention factor and position streams).
void choose_frequencies(Provider& in, Call& c) {
  RopeOptions& o = c.options;
  const int choice = in.ConsumeIntegralInRange(0, 9);
  o.dims = choice < 3 ? 0 : choice < 9 ? 2 * in.ConsumeIntegralInRange<int>(1, std::max<int>(1, c.D / 2))
                                       : pick(in, {-2, 1, 3, int(c.D) + 1, int(c.D) + 2});
  const int dims = o.dims == 0 ? int(c.D) : o.dims;
  const bool dims_ok = dims > 0 && dims % 2 == 0 && dims <= c.D;
  if (!dims_ok) c.verdict.invalid("dims " + std::to_string(o.dims) + " for D " + std::to_string(c.D));
  const int pairs = std::max(dims_ok ? dims / 2 : 1, 0);
  o.layout = in.ConsumeBool() ? PairLayout::interleaved : PairLayout::half_split;
  o.inverse = in.ConsumeBool();
  o.precision = pick(in, {0, 1, 2}) == 0 ? std::nullopt
                : std::optional<Precision>(in.ConsumeBool() ? Precision::accurate : Precision::compat);
  o.scale = scale_value(in, c.verdict);
  if (in.ConsumeIntegralInRange(0, 2) == 0) return;  // default frequencies: base 10000 over dims

  int n = pairs;
  if (in.ConsumeIntegralInRange(0, 23) == 0) n = pairs + pick(in, {-1, 1});
  if (n == 0) return;  // no inverse frequencies means the default ones
  if (n != pairs)
    c.verdict.invalid("freqs with " + std::to_string(n) + " inverse frequencies for " + std::to_string(pairs) + " pairs");
  for (int i = 0; i < n; ++i) o.freqs.inv_freq.push_back(inv_freq_value(in, i, pairs, c.verdict));
  if (in.ConsumeIntegralInRange(0, 3) == 0) o.freqs.attention_factor = in.ConsumeFloatingPointInRange(0.25, 4.0);

  auto& map = o.freqs.pair_position_stream;
  switch (in.ConsumeIntegralInRange(0, 11)) {
    case 0: case 1: {  // M-RoPE sections (Qwen2-VL; interleaved: Qwen3-VL)
      const int s0 = in.ConsumeIntegralInRange(0, pairs), s1 = in.ConsumeIntegralInRange(0, pairs - s0);
      map = rotary::testing::mrope_pair_stream({s0, s1, pairs - s0 - s1}, in.ConsumeBool());
      o.freqs.position_streams = 3;
      break;
    }
    case 2: {  // any map over 1..4 streams
      o.freqs.position_streams = in.ConsumeIntegralInRange(1, 4);
      for (int i = 0; i < pairs; ++i) map.push_back(uint8_t(in.ConsumeIntegralInRange(0, o.freqs.position_streams - 1)));
      break;
    }
    case 3: {  // refused: a stream count out of range, a map naming a missing stream, a short map
      o.freqs.position_streams = pick(in, {0, 9, -1, 2});
      for (int i = 0; i < pairs; ++i) map.push_back(uint8_t(in.ConsumeIntegralInRange(0, 1)));
      if (o.freqs.position_streams == 2) {
        const int how = in.ConsumeIntegralInRange(0, 2);
        if (how == 0) map.push_back(0);
        else if (how == 1) map[in.ConsumeIntegralInRange<size_t>(0, map.size() - 1)] = 2;
        else map.clear();  // two streams, no map
      }
      c.verdict.invalid("freqs.position_streams " + std::to_string(o.freqs.position_streams) + " with a map of " +
                        std::to_string(map.size()));
      break;
    }
    default: break;
  }
  c.streams = o.freqs.position_streams;
}

// Offsets, ids or cu_seqlens/starts: shapes (valid or not) and values; the value checks come
// after the arrays are written (check_position_values).
void choose_positions(Provider& in, Call& c) {
  Verdict& v = c.verdict;
  const int S = c.streams;
  if (S != 1 && c.source != Source::ids) v.invalid("several position streams without Positions::ids");
  switch (c.source) {
    case Source::offset: c.scalar_offset = integer_value(in); break;
    case Source::offset_array: {
      const int how = in.ConsumeIntegralInRange(0, 6);
      const Shape shape = how == 0 ? Shape{} : how == 1 ? Shape{1} : how < 5 ? Shape{int(c.B)}
                          : how == 5 ? Shape{int(c.B) + 2} : Shape{1, int(c.B)};
      const int64_t n = element_count(shape);
      if (shape.size() > 1 || (n != 1 && n != c.B)) v.invalid("offset of shape " + to_string(shape));
      c.positions_array = c.ints.add(in, shape, index_dtype(in, v, "offset"), integer_values(in, n, false));
      break;
    }
    case Source::ids: {
      Shape shape = {int(c.T)};
      const int how = in.ConsumeIntegralInRange(0, 9);
      if (how >= 2 && how < 5) shape.insert(shape.begin(), int(c.B));
      if (how == 5) shape.insert(shape.begin(), 1);
      if (how == 6) shape.back() += 1;
      if (S > 1 || how == 7) shape.insert(shape.begin(), how == 8 ? S + 1 : S > 1 ? S : 3);
      if (how == 9 && S > 1) shape.erase(shape.begin());
      const int lead = S > 1 ? 1 : 0, nd = int(shape.size());
      const bool ok = (nd == lead + 1 || nd == lead + 2) && (!lead || shape[0] == S) && shape.back() == c.T &&
                      (nd == lead + 1 || shape[lead] == c.B || shape[lead] == 1);
      if (!ok) v.invalid("position_ids of shape " + to_string(shape) + " for " + std::to_string(S) + " streams");
      c.positions_array = c.ints.add(in, shape, index_dtype(in, v, "position_ids"),
                                     integer_values(in, element_count(shape), true));
      break;
    }
    case Source::ragged: {
      const int n = in.ConsumeIntegralInRange(0, 4);
      std::vector<int64_t> cu(n + 1, 0);
      for (int s = 1; s < n; ++s) cu[s] = in.ConsumeIntegralInRange<int64_t>(0, c.T);
      std::sort(cu.begin(), cu.end());
      cu[n] = c.T;
      switch (in.ConsumeIntegralInRange(0, 15)) {  // refused forms, judged from the values later
        case 0: cu[0] = 1; break;
        case 1: if (n >= 2) std::swap(cu[1], cu[n]); break;
        case 2: cu[n] += 1; break;
        case 3: cu[0] = -1; break;
        default: break;
      }
      const int how = in.ConsumeIntegralInRange(0, 23);
      const Shape shape = how == 0 ? Shape{0} : how == 1 ? Shape{1, n + 1} : Shape{n + 1};
      if (how < 2) v.invalid("cu_seqlens of shape " + to_string(shape));
      c.positions_array = c.ints.add(in, shape, index_dtype(in, v, "cu_seqlens"), cu);
      if (in.ConsumeBool()) {
        const Shape starts_shape = {in.ConsumeIntegralInRange(0, 15) == 0 ? n + 1 : n};
        if (starts_shape[0] != n) v.invalid("starts of shape " + to_string(starts_shape));
        c.starts_array = c.ints.add(in, starts_shape, index_dtype(in, v, "starts"), integer_values(in, n + 1, true));
      }
      break;
    }
  }
}

using Wide = __int128;

// Judges the values the library will read: negative ids or starts, malformed cu_seqlens and
// positions that overflow int64 are refused; positions beyond kExactLimit may be.
void check_position_values(Call& c, bool empty_call) {
  Verdict& v = c.verdict;
  auto position = [&](Wide p) {
    if (p > std::numeric_limits<int64_t>::max() || p < std::numeric_limits<int64_t>::min()) {
      if (empty_call) v.may_reject = true;
      else v.invalid("a position overflows int64");
    } else if (p >= Wide(kExactLimit) || p <= -Wide(kExactLimit)) {
      v.may_reject = true;
    }
  };
  if (c.source == Source::offset) {
    for (int64_t t = 0; t < c.T; ++t) position(Wide(c.scalar_offset) + t);
    return;
  }
  const std::vector<int64_t>& a = c.ints.values[c.positions_array];
  const Dtype dt = c.ints.dtypes[c.positions_array];
  if (!is_integer(dt)) return;  // already refused
  if (c.source == Source::offset_array) {
    for (int64_t off : a)
      for (int64_t t = 0; t < c.T; ++t) position(Wide(off) + t);
  } else if (c.source == Source::ids) {
    for (int64_t id : a) {
      if (id < 0) v.invalid("a negative position id");
      position(id);
    }
  } else {
    const auto& shape = c.ints.layouts[c.positions_array].first;
    if (shape.size() != 1 || a.empty()) return;  // already refused
    bool ok = a[0] == 0 && a.back() == c.T;
    for (size_t s = 1; s < a.size(); ++s) ok = ok && a[s] >= a[s - 1];
    if (!ok) return v.invalid("cu_seqlens that do not run from 0 up to the token count");
    if (c.starts_array < 0) return;
    const std::vector<int64_t>& st = c.ints.values[c.starts_array];
    if (!is_integer(c.ints.dtypes[c.starts_array]) || st.size() + 1 != a.size()) return;  // already refused
    for (size_t s = 0; s < st.size(); ++s) {
      if (st[s] < 0) v.invalid("a negative start");
      if (a[s + 1] > a[s]) position(Wide(st[s]) + (a[s + 1] - a[s] - 1));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tensors of the call: placed views, overlap rules, a malformed view now and then.

struct Tensors {
  Arena arena;
  Placed q, k, q_out, k_out;  // q is x
  std::vector<Placed*> written;  // views whose elements the call may write
};

bool overlaps_itself(const Placed& p) {
  auto cells = p.cells();
  std::sort(cells.begin(), cells.end());
  return std::adjacent_find(cells.begin(), cells.end()) != cells.end();
}
bool share(const Placed& a, const Placed& b) {
  const auto ca = a.cells(), cb = b.cells();
  const std::set<int64_t> sa(ca.begin(), ca.end());
  return std::any_of(cb.begin(), cb.end(), [&](int64_t x) { return sa.count(x) > 0; });
}
bool same(const Placed& a, const Placed& b) {
  return a.anchor == b.anchor && a.shape == b.shape && a.strides == b.strides;
}

// Places the call's tensors and records which overlaps the library must refuse.
void place_tensors(Provider& in, Call& c, Tensors& t) {
  std::vector<Placed> placed;
  int64_t end = 0;
  auto next = [&](const Shape& shape) {
    placed.push_back(place(in, shape, placed, end));
    return placed.back();
  };
  Shape out_shape = c.q_shape;
  if (in.ConsumeIntegralInRange(0, 31) == 0 && !out_shape.empty()) {
    out_shape.back() += 2;
    if (c.mode == Mode::into || c.mode == Mode::qk_into) c.verdict.invalid("out of another shape");
  }
  t.q = next(c.q_shape);
  if (c.qk()) t.k = next(c.k_shape);
  Verdict& v = c.verdict;
  switch (c.mode) {
    case Mode::new_array: break;
    case Mode::in_place:
      t.q_out = t.q;
      if (overlaps_itself(t.q)) v.invalid("x (in place) overlaps itself");
      break;
    case Mode::into:
      t.q_out = next(out_shape);
      if (overlaps_itself(t.q_out)) v.invalid("out overlaps itself");
      if (!same(t.q, t.q_out) && share(t.q, t.q_out)) v.invalid("out overlaps x");
      break;
    case Mode::qk_in_place:
      t.q_out = t.q, t.k_out = t.k;
      if (overlaps_itself(t.q) || overlaps_itself(t.k)) v.invalid("q or k (in place) overlaps itself");
      if (share(t.q, t.k)) v.invalid("q and k share memory (in place)");
      break;
    case Mode::qk_into:
      t.q_out = next(out_shape);
      t.k_out = next(c.k_shape);
      if (overlaps_itself(t.q_out) || overlaps_itself(t.k_out)) v.invalid("q_out or k_out overlaps itself");
      if (!same(t.q, t.q_out) && share(t.q, t.q_out)) v.invalid("q_out overlaps q");
      if (!same(t.k, t.k_out) && share(t.k, t.k_out)) v.invalid("k_out overlaps k");
      if (share(t.q_out, t.k_out)) v.invalid("q_out and k_out share memory");
      if (share(t.q_out, t.k)) v.invalid("q_out overlaps k");
      if (share(t.k_out, t.q)) v.invalid("k_out overlaps q");
      break;
  }
  if (c.mode != Mode::new_array) t.written.push_back(&t.q_out);
  if (c.qk()) t.written.push_back(&t.k_out);
  std::vector<Placed*> all = {&t.q};
  if (c.qk()) all.push_back(&t.k);
  for (Placed* w : t.written) all.push_back(w);
  t.arena.init(all, c.dtype.size, in.ConsumeIntegral<uint8_t>());
}

// Writes x's (and k's) values into their cells.
void fill_inputs(Provider& in, Call& c, Tensors& t) {
  for (Placed* p : {&t.q, &t.k}) {
    if (p == &t.k && !c.qk()) continue;
    for (int64_t cell : p->cells()) core::store_double(t.arena.at(0), c.dtype, cell, x_value(in));
  }
}

// Malformed views (the library must validate every view it is given): a strides vector
// shorter or longer than the shape, a negative size, null data with elements to read.
void choose_corruption(Provider& in, Call& c) {
  if (in.ConsumeIntegralInRange(0, 31) != 0) return;
  c.corrupt_target = in.ConsumeIntegralInRange(0, 2);  // 0: x (or q), 1: an output, 2: positions
  c.corrupt_how = in.ConsumeIntegralInRange(0, 3);
}

// Applies the chosen corruption to `view` when it is the target; returns whether it did.
bool corrupt(Call& c, int target, TensorView& view) {
  if (c.corrupt_target != target) return false;
  switch (c.corrupt_how) {
    case 0:
      if (view.ndim() < 2) return false;
      view.strides.pop_back();
      c.verdict.invalid("a strides vector shorter than the shape");
      return true;
    case 1:
      view.strides.push_back(1);
      c.verdict.invalid("a strides vector longer than the shape");
      return true;
    case 2:
      if (view.ndim() < 1) return false;
      view.shape[0] = -view.shape[0] - 1;
      c.verdict.invalid("a negative size");
      return true;
    default:
      if (view.size() <= 0) return false;
      view.data = nullptr;
      c.verdict.invalid("null data with elements");
      return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Running and judging the call.

std::string describe_view(const TensorView& v) {
  std::string s = to_string(v.dtype) + to_string(v.shape) + " strides (";
  for (size_t i = 0; i < v.strides.size(); ++i) s += (i ? "," : "") + std::to_string(v.strides[i]);
  return s + ")" + (v.data ? "" : " null");
}

std::string describe(const Call& c, const Positions& pos, const std::vector<TensorView>& views) {
  static const char* kModes[] = {"rope (new array)", "rope (into out)", "rope_inplace", "rope_qk", "rope_qk_inplace"};
  static const char* kSources[] = {"offset", "offset array", "position_ids", "cu_seqlens"};
  const RopeOptions& o = c.options;
  std::string s = std::string(kModes[int(c.mode)]) +
                  (cpu_backend::kernel_mode() == cpu_backend::KernelMode::simd ? " (SIMD kernels)" : " (scalar kernels)") +
                  ", positions: " + kSources[int(c.source)];
  if (c.source == Source::offset) s += " " + std::to_string(c.scalar_offset);
  for (int k : {c.positions_array, c.starts_array}) {
    if (k < 0) continue;
    s += " [";
    for (int64_t x : c.ints.values[k]) s += std::to_string(x) + " ";
    s += "] as " + describe_view(k == c.positions_array ? pos.array() : *pos.starts());
  }
  s += "\n  views:";
  for (const TensorView& v : views) s += " " + describe_view(v) + ";";
  s += "\n  dims " + std::to_string(o.dims) + (o.layout == PairLayout::interleaved ? " interleaved" : " half_split") + std::string(" inverse ") +
       std::to_string(o.inverse) + " seq_axis " + std::to_string(o.seq_axis) + " scale " + std::to_string(o.scale) +
       " precision " + (o.precision ? (*o.precision == Precision::accurate ? "accurate" : "compat") : "default") +
       "\n  inv_freq [";
  for (double f : o.freqs.inv_freq) s += std::to_string(f) + " ";
  s += "] attention_factor " + std::to_string(o.freqs.attention_factor) + " position_streams " +
       std::to_string(o.freqs.position_streams) + " pair_position_stream [";
  for (int p : o.freqs.pair_position_stream) s += std::to_string(p) + " ";
  return s + "]";
}

// got against the oracle: NaN and infinity where the oracle has them, else the tests' tolerance.
void expect_matches(const Array& got, const Array& exact, const std::string& name, const std::string& call) {
  for (int64_t i = 0; i < exact.size(); ++i) {
    const double g = got.at(i), e = exact.at(i);
    if (std::isnan(g) != std::isnan(e) || (std::isinf(e) && g != e))
      report(name + " element " + std::to_string(i) + " is " + std::to_string(g) + " but the oracle gives " +
             std::to_string(e) + "\n  call: " + call);
  }
  const auto close = rotary::testing::matches_oracle(got, exact);
  if (!close) report(name + " differs from the oracle: " + close.message() + "\n  call: " + call);
}

// The bytes the call may change: those of the elements of its outputs.
std::vector<bool> writable_bytes(const Tensors& t, int elem, size_t size) {
  std::vector<bool> mask(size, false);
  for (const Placed* w : t.written)
    for (int64_t cell : w->cells())
      for (int b = 0; b < elem; ++b) mask[size_t((cell + t.arena.base) * elem + b)] = true;
  return mask;
}

void run_call(Provider& in, Call& c) {
  Tensors t;
  place_tensors(in, c, t);
  fill_inputs(in, c, t);
  c.ints.materialise();
  const bool empty_call = element_count(c.q_shape) == 0 || (c.qk() && element_count(c.k_shape) == 0);
  check_position_values(c, empty_call);

  TensorView ids_view = c.positions_array >= 0 ? c.ints.view(c.positions_array) : TensorView();
  if (c.positions_array >= 0) corrupt(c, 2, ids_view);
  std::optional<TensorView> starts;
  if (c.starts_array >= 0) starts = c.ints.view(c.starts_array);
  const Positions pos = c.source == Source::offset         ? Positions(c.scalar_offset)
                        : c.source == Source::offset_array ? Positions::offsets(ids_view)
                        : c.source == Source::ids          ? Positions::ids(ids_view)
                                                           : Positions::ragged(ids_view, starts);
  TensorView q = view_of(t.arena, t.q, c.dtype), k = view_of(t.arena, t.k, c.dtype);
  TensorView q_out = view_of(t.arena, t.q_out, c.dtype), k_out = view_of(t.arena, t.k_out, c.dtype);
  if (c.mode != Mode::new_array) {
    const bool in_place = c.mode == Mode::in_place || c.mode == Mode::qk_in_place;
    if (corrupt(c, 0, q) && in_place) q_out = q;
    if (!in_place) corrupt(c, 1, q_out);
  }
  const Array q_before = c.verdict.must_reject.empty() ? Array::from_external(q, nullptr).copy() : Array(0);
  const Array k_before = c.verdict.must_reject.empty() && c.qk() ? Array::from_external(k, nullptr).copy() : Array(0);
  std::vector<TensorView> views = {q};
  if (c.qk()) views.push_back(k);
  if (c.mode == Mode::into || c.mode == Mode::qk_into) views.push_back(q_out);
  if (c.mode == Mode::qk_into) views.push_back(k_out);
  c.text = describe(c, pos, views);
  // ROPE_FUZZER_VERBOSE=1 prints each call before it is made (for crashes inside the library).
  static const bool verbose = std::getenv("ROPE_FUZZER_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "call: %s\n  must refuse: %s\n", c.text.c_str(), c.verdict.must_reject.c_str());

  const std::vector<uint8_t> before = t.arena.snapshot();
  const std::vector<int64_t> ints_before = c.ints.cells;
  std::optional<Array> fresh;
  std::string error;
  try {
    switch (c.mode) {
      case Mode::new_array: fresh = rope(Array::from_external(q, nullptr), pos, c.options); break;
      case Mode::into: rope(q, q_out, pos, c.options); break;
      case Mode::in_place: rope_inplace(q, pos, c.options); break;
      case Mode::qk_into: rope_qk(q, k, q_out, k_out, pos, c.options); break;
      case Mode::qk_in_place: rope_qk_inplace(q, k, pos, c.options); break;
    }
  } catch (const std::invalid_argument& e) {
    error = e.what();
    if (error.empty()) report("refused with an empty message\n  call: " + c.text);
  } catch (const std::exception& e) {
    report(std::string("threw something other than std::invalid_argument: ") + e.what() + "\n  call: " + c.text);
  }
  if (c.ints.cells != ints_before) report("wrote into a positions array\n  call: " + c.text);
  const std::vector<uint8_t> after = t.arena.snapshot();
  if (!error.empty()) {
    if (c.verdict.must_reject.empty() && !c.verdict.may_reject)
      report("refused a valid call: " + error + "\n  call: " + c.text);
    if (after != before) report("refused (" + error + ") after writing\n  call: " + c.text);
    return;
  }
  if (!c.verdict.must_reject.empty())
    report("accepted a call it must refuse (" + c.verdict.must_reject + ")\n  call: " + c.text);
  const std::vector<bool> mask = writable_bytes(t, c.dtype.size, before.size());
  for (size_t i = 0; i < before.size(); ++i)
    if (!mask[i] && after[i] != before[i])
      report("changed byte " + std::to_string(i) + " outside its outputs\n  call: " + c.text);
  const Array exact_q = reference::rope(q_before, pos, c.options);
  expect_matches(fresh ? *fresh : Array::from_external(q_out, nullptr), exact_q, "out (q)", c.text);
  if (c.qk()) expect_matches(Array::from_external(k_out, nullptr), reference::rope(k_before, pos, c.options), "k_out", c.text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Provider in(data, size);
  Call c;
  c.mode = Mode(in.ConsumeIntegralInRange(0, 4));
  c.source = Source(in.ConsumeIntegralInRange(0, 3));
  const int dt = in.ConsumeIntegralInRange(0, 24);
  c.dtype = dt < 8 ? float32 : dt < 13 ? float16 : dt < 18 ? bfloat16 : dt < 24 ? float64 : int32;
  if (c.dtype == int32) c.verdict.invalid("x of type int32");
  rotary::cpu_backend::set_kernel_mode(in.ConsumeIntegralInRange(0, 3) == 0 ? rotary::cpu_backend::KernelMode::scalar
                                                                             : rotary::cpu_backend::KernelMode::simd);
  choose_shape(in, c);
  if (element_count(c.q_shape) > kMaxElements || element_count(c.k_shape) > kMaxElements) return -1;
  choose_frequencies(in, c);
  choose_positions(in, c);
  choose_corruption(in, c);
  run_call(in, c);
  return 0;
}
