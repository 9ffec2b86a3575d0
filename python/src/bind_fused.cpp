// rotary._rotary: the fused paths of rotary/fused.h (RoPE + KV-cache append, QK RMSNorm + RoPE,
// MLA, re-rotation of a cache). Python (rotary.fused) passes the tensors inside small named
// tuples: positions as (offset, offsets, position_ids, cu_seqlens, starts), the cache as (k, v,
// layout, slots, k_scale, v_scale), the slots as (kind, index, lens), the norm as (q_weight,
// k_weight, eps, unit_offset). Each tensor is read by to_view, the reader of the rope calls
// (DLPack's C exchange API for torch tensors); what it cannot read raises NotReadable before
// anything is written, and Python passes views instead. All checks are the C++ library's.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/convert.h"
#include "glue.h"
#include "rotary/fused.h"

namespace rotary::py_glue {
namespace {

namespace py = pybind11;

// "NHD": (pages, rows, heads, D), vLLM's paged layout; "HND": (pages, heads, rows, D), FlashInfer's.
CacheLayout parse_layout(const std::string& s) {
  if (s == "NHD") return CacheLayout::rows_then_heads;
  if (s == "HND") return CacheLayout::heads_then_rows;
  fail("[rotary] kv_layout must be \"NHD\" or \"HND\" but got \"" + s + "\".");
}

// Views of a call's tensors; `held` keeps them for as long as the TensorViews are used.
struct Held {
  std::vector<PyView> views;
  // An element type rotary has no Dtype for (float8_e5m2, int8, ...) is refused here: its
  // view would otherwise carry a placeholder dtype.
  const TensorView& add(const py::handle& obj, bool writable, const char* name) {
    views.push_back(to_view(obj, writable, name));
    check_known(views.back(), name);
    return views.back().v;
  }
  const TensorView& add_index(const py::object& obj, const char* name) {
    views.push_back(index_view(obj, name));
    return views.back().v;
  }
  Held() { views.reserve(16); }  // add() returns references into views: no reallocation
};

// A FP8 cache's scale: None, a Python float, or a tensor holding one number (0-d or one
// element, as frameworks keep it: torch.compile passes it as data, no .item() graph break),
// read here on the host because the kernels take the scale as a number.
std::optional<float> scale_of(const py::handle& obj, const char* api, const char* name) {
  if (obj.is_none()) return std::nullopt;
  if (py::isinstance<py::float_>(obj)) return obj.cast<float>();
  const PyView s = to_view(obj, false, name);
  if (s.v.size() != 1)
    fail(std::string("[") + api + "] " + name + " must be one number but has shape " +
         std::string(py::str(py::tuple(py::cast(s.v.shape)))) + ".");
  check_known(s, name);
  if (s.v.device != cpu)
    fail(std::string("[") + api + "] " + name + " is on " + to_string(s.v.device) +
         "; the scale is read on the host (rotary.fused copies a device tensor there).");
  return float(core::load_double(s.v.data, s.v.dtype, 0));
}

CacheSlots make_slots(const py::object& slots, Held& held) {
  const auto kind = slots.attr("kind").cast<std::string>();
  if (kind == "write_positions")
    return CacheSlots::write_positions(held.add_index(slots.attr("index"), "write_positions"));
  if (kind == "slot_mapping") return CacheSlots::slot_mapping(held.add_index(slots.attr("index"), "slot_mapping"));
  if (kind == "block_table")
    return CacheSlots::block_table(held.add_index(slots.attr("index"), "block_table"),
                                   held.add_index(slots.attr("lens"), "cache_lens"));
  fail("[rope_and_cache] internal: unknown slot addressing \"" + kind + "\".");
}

std::optional<QKNorm> make_norm(const py::object& norm, Held& held) {
  if (norm.is_none()) return std::nullopt;
  QKNorm n;
  n.q_weight = held.add(norm.attr("q_weight"), false, "q_weight");
  n.k_weight = held.add(norm.attr("k_weight"), false, "k_weight");
  n.eps = norm.attr("eps").cast<float>();
  n.unit_offset = norm.attr("unit_offset").cast<bool>();
  return n;
}

// The tail of every positioned fused binding: the call's positions (offset, offsets,
// position_ids, cu_seqlens, starts) and its stream's options, then call(positions, options)
// without the GIL.
template <typename Call>
void call_released(const py::tuple& p, const RopeOptions& options, std::uintptr_t stream, Call call) {
  if (p.size() != 5) fail("[rope] internal: positions are (offset, offsets, position_ids, cu_seqlens, starts).");
  const CallPositions positions = make_positions(p[0].cast<int64_t>(), p[1], p[2], p[3], p[4]);
  const StreamOptions o(options, stream);
  py::gil_scoped_release release;
  call(positions.positions, o.get());
}

void rope_and_cache_py(const py::object& q, const py::object& k, const py::object& v, const py::object& cache,
                       const py::object& norm, const py::tuple& positions, const RopeOptions& options,
                       std::uintptr_t stream) {
  Held held;
  const TensorView& qv = held.add(q, true, "q");
  const TensorView& kv = held.add(k, false, "k");
  KVCache c;
  c.k = held.add(cache.attr("k"), true, "k_cache");
  if (const py::object v_cache = cache.attr("v"); !v_cache.is_none()) c.v = held.add(v_cache, true, "v_cache");
  const TensorView vv = v.is_none() ? TensorView{} : held.add(v, false, "v");
  c.layout = parse_layout(cache.attr("layout").cast<std::string>());
  c.slots = make_slots(cache.attr("slots"), held);
  c.k_scale = scale_of(cache.attr("k_scale"), "rope_and_cache", "k_scale");
  c.v_scale = scale_of(cache.attr("v_scale"), "rope_and_cache", "v_scale");
  const std::optional<QKNorm> n = make_norm(norm, held);
  call_released(positions, options, stream,
                [&](const Positions& p, const RopeOptions& o) { rope_and_cache(qv, kv, vv, qv, c, p, o, n); });
}

void rms_norm_rope_py(const py::object& q, const py::object& k, const py::object& q_out, const py::object& k_out,
                      const py::object& norm, const py::tuple& positions, const RopeOptions& options,
                      std::uintptr_t stream) {
  Held held;
  const TensorView& qv = held.add(q, false, "q");
  const TensorView& kv = held.add(k, false, "k");
  const TensorView& qo = q_out.is(q) ? qv : held.add(q_out, true, "q_out");
  const TensorView& ko = k_out.is(k) ? kv : held.add(k_out, true, "k_out");
  const std::optional<QKNorm> n = make_norm(norm, held);
  if (!n) fail("[rms_norm_rope] internal: norm is (q_weight, k_weight, eps, unit_offset), not None.");
  call_released(positions, options, stream,
                [&](const Positions& p, const RopeOptions& o) { rms_norm_rope(qv, kv, qo, ko, *n, p, o); });
}

void rope_and_cache_mla_py(const py::object& q_pe, const py::object& k_pe, const py::object& kv_c,
                           const py::object& kv_cache, const py::object& slots, const py::object& scale,
                           const py::tuple& positions, const RopeOptions& options, std::uintptr_t stream) {
  Held held;
  const TensorView& q = held.add(q_pe, true, "q_pe");
  const TensorView& k = held.add(k_pe, false, "k_pe");
  const TensorView& c = held.add(kv_c, false, "kv_c");
  const TensorView& cache = held.add(kv_cache, true, "kv_cache");
  const CacheSlots s = make_slots(slots, held);
  const std::optional<float> kv_scale = scale_of(scale, "rope_and_cache_mla", "kv_scale");
  call_released(positions, options, stream, [&](const Positions& p, const RopeOptions& o) {
    rope_and_cache_mla(q, k, c, cache, s, p, o, kv_scale);
  });
}

// change: None, or (from_options, positions): a FrequencyChange from the frequencies of
// from_options (an options key's RopeOptions) at the rows' old positions.
void shift_cache_py(const py::object& k_cache, const std::string& layout, const py::object& deltas,
                    const py::object& row_counts, const RopeOptions& options, const py::object& scale,
                    const py::object& change, std::uintptr_t stream) {
  Held held;
  const TensorView& cache = held.add(k_cache, true, "k_cache");
  const TensorView& d = held.add_index(deltas, "deltas");
  std::optional<TensorView> rows;
  if (!row_counts.is_none()) rows = held.add_index(row_counts, "row_counts");
  std::optional<FrequencyChange> c;
  if (!change.is_none())
    c = FrequencyChange{change.attr("options").cast<const RopeOptions&>().freqs,
                        held.add_index(change.attr("positions"), "from_positions")};
  const std::optional<float> k_scale = scale_of(scale, "shift_cache", "k_scale");
  const StreamOptions o(options, stream);
  py::gil_scoped_release release;
  shift_cache(cache, parse_layout(layout), d, rows, o.get(), k_scale, c);
}

}  // namespace

void bind_fused(py::module_& m) {
  m.def("rope_and_cache", &rope_and_cache_py, py::arg("q"), py::arg("k"), py::arg("v").none(true), py::arg("cache"),
        py::arg("norm").none(true), py::arg("positions"), py::arg("options"), py::arg("stream") = 0,
        "q rotated in place; rotated k and v written into cache (rotary/fused.h rope_and_cache).");
  m.def("rms_norm_rope", &rms_norm_rope_py, py::arg("q"), py::arg("k"), py::arg("q_out"), py::arg("k_out"),
        py::arg("norm"), py::arg("positions"), py::arg("options"), py::arg("stream") = 0,
        "Per-head RMSNorm of q and k, then RoPE, into q_out and k_out (may be q and k).");
  m.def("rope_and_cache_mla", &rope_and_cache_mla_py, py::arg("q_pe"), py::arg("k_pe"), py::arg("kv_c"),
        py::arg("kv_cache"), py::arg("slots"), py::arg("scale").none(true), py::arg("positions"), py::arg("options"),
        py::arg("stream") = 0, "DeepSeek MLA: q_pe rotated in place, [kv_c, rope(k_pe)] written into kv_cache.");
  m.def("shift_cache", &shift_cache_py, py::arg("k_cache"), py::arg("layout"), py::arg("deltas"),
        py::arg("row_counts").none(true), py::arg("options"), py::arg("scale").none(true),
        py::arg("change").none(true), py::arg("stream") = 0,
        "Re-rotates cached keys in place by per-page or per-row position deltas (per stream for M-RoPE), "
        "optionally onto new frequencies (change).");
}

}  // namespace rotary::py_glue
