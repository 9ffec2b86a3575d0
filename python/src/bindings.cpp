// rotary._rotary: the C++ side of the Python package.
//
// Tensors arrive either as NumPy arrays (read through the buffer protocol, strides in bytes
// turned into elements) or as DLPack capsules (PyTorch tensors, through
// torch.utils.dlpack.to_dlpack). Neither is copied: the library reads and writes the caller's
// memory through rotary::TensorView. Outputs are allocated by the caller's framework (in
// Python) and written through the into-buffer API.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/numpy.h>

#include <dlpack/dlpack.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rotary/rotary.h"

#include <nlohmann/json.hpp>

#include "core/plan.h"
#include "core/validate.h"
#include "reference/oracle.h"

namespace py = pybind11;
using namespace rotary;

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

// A caller's tensor seen through a TensorView. `supported` is false for element types rotary
// has no Dtype for (int8, complex64, ...); `dtype_name` then names them for error messages.
struct PyView {
  TensorView v;
  bool supported = true;
  std::string dtype_name;
};

// rotary's Dtype for an element kind in NumPy's letters ('f' float, 'i' signed, 'u' unsigned,
// 'b' bool; 'B' stands for bfloat) and size in bytes; none for types rotary has no Dtype for.
std::optional<Dtype> dtype_of_kind(char kind, int64_t bytes) {
  switch (kind) {
    case 'f': return bytes == 2 ? std::optional(float16) : bytes == 4 ? std::optional(float32)
                     : bytes == 8 ? std::optional(float64) : std::nullopt;
    case 'B': return bytes == 2 ? std::optional(bfloat16) : std::nullopt;
    case 'i': return bytes == 4 ? std::optional(int32) : bytes == 8 ? std::optional(int64) : std::nullopt;
    case 'u': return bytes == 4 ? std::optional(uint32) : std::nullopt;
    case 'b': return bool_;
  }
  return std::nullopt;
}

PyView from_numpy(const py::array& a, bool writable, const char* name) {
  if (writable && !a.writeable()) fail(std::string("[rope] ") + name + " is read-only; it cannot be written.");
  PyView r;
  const auto dt = dtype_of_kind(a.dtype().kind(), a.itemsize());
  const int64_t itemsize = a.itemsize();
  r.dtype_name = py::str(a.dtype());
  r.supported = dt.has_value();
  r.v.data = const_cast<void*>(a.data());
  r.v.dtype = dt.value_or(float32);
  r.v.device = cpu;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    r.v.shape.push_back(static_cast<int>(a.shape(i)));
    const int64_t s = a.strides(i);
    if (s % itemsize != 0)
      fail(std::string("[rope] ") + name + " has a stride of " + std::to_string(s) +
           " bytes, not a multiple of its element size; make it contiguous first.");
    r.v.strides.push_back(s / itemsize);
  }
  return r;
}

PyView from_dlpack(const py::capsule& cap, const char* name) {
  if (std::string(cap.name() ? cap.name() : "") != "dltensor")
    fail(std::string("[rope] ") + name + ": the DLPack capsule was already consumed.");
  auto* m = static_cast<DLManagedTensor*>(cap.get_pointer());
  const DLTensor& t = m->dl_tensor;
  PyView r;
  const int bits = t.dtype.bits;
  if (t.dtype.lanes != 1) fail(std::string("[rope] ") + name + " has vector lanes; not supported.");
  // DLPack type codes in NumPy's kind letters, so both sources share dtype_of_kind.
  char kind = '?';
  const char* prefix = nullptr;
  switch (t.dtype.code) {
    case kDLFloat: kind = 'f', prefix = "float"; break;
    case kDLBfloat: kind = 'B', prefix = "bfloat"; break;
    case kDLInt: kind = 'i', prefix = "int"; break;
    case kDLUInt: kind = 'u', prefix = "uint"; break;
    case kDLComplex: prefix = "complex"; break;
  }
  r.dtype_name = prefix ? prefix + std::to_string(bits) : "unknown";
  const std::optional<Dtype> dt = dtype_of_kind(kind, bits / 8);
  r.supported = dt.has_value();
  r.v.dtype = dt.value_or(float32);
  switch (t.device.device_type) {
    case kDLCPU:
    case kDLCUDAHost:
      r.v.device = cpu;
      break;
    case kDLCUDA:
    case kDLCUDAManaged:
      r.v.device = cuda(t.device.device_id);
      break;
    default:
      fail(std::string("[rope] ") + name + " lives on a device rotary does not support (DLPack device type " +
           std::to_string(int(t.device.device_type)) + ").");
  }
  r.v.data = static_cast<char*>(t.data) + t.byte_offset;
  for (int i = 0; i < t.ndim; ++i) r.v.shape.push_back(static_cast<int>(t.shape[i]));
  if (t.strides) {
    for (int i = 0; i < t.ndim; ++i) r.v.strides.push_back(t.strides[i]);
  } else {
    r.v.strides = row_major_strides(r.v.shape);
  }
  return r;
}

// obj: a NumPy array or a DLPack capsule.
PyView to_view(const py::handle& obj, bool writable, const char* name) {
  if (py::isinstance<py::capsule>(obj)) return from_dlpack(py::reinterpret_borrow<py::capsule>(obj), name);
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj), writable, name);
  throw py::type_error(std::string("[rope] ") + name + " must be a NumPy array or a PyTorch tensor but got " +
                       std::string(py::str(py::type::of(obj).attr("__name__"))) + ".");
}

// Spec checks 3 and 4 on a view that may have an element type rotary does not know.
void check_input(const PyView& x, int min_ndim = 3) {
  core::check_input(x.v.ndim(), x.dtype_name, x.supported && is_floating(x.v.dtype), min_ndim);
}

void check_known(const PyView& v, const char* name) {
  if (!v.supported) fail(std::string("[rope] ") + name + " has an unsupported element type " + v.dtype_name + ".");
}

Precision parse_precision(const std::string& s) {
  if (s == "accurate") return Precision::accurate;
  if (s == "compat") return Precision::compat;
  fail("[rope] precision must be \"accurate\" or \"compat\" but got \"" + s + "\".");
}

std::string precision_name(Precision p) { return p == Precision::accurate ? "accurate" : "compat"; }

// MLX's fast.rope / rope_vjp into a caller-allocated `out`, with MLX's checks in MLX's order.
void fast_rope(const py::object& x_obj, const py::object& out_obj, int dims, bool traditional,
               std::optional<float> base, float scale, const py::object& offset, const py::object& freqs,
               bool inverse, std::uintptr_t stream) {
  const PyView x = to_view(x_obj, false, "x");
  core::MlxCall call;
  call.x_ndim = x.v.ndim();
  if (call.x_ndim > 0) {
    call.x_batch = x.v.shape[0];
    call.x_last = x.v.shape.back();
  }
  call.x_dtype = x.dtype_name;
  call.x_floating = x.supported && is_floating(x.v.dtype);
  call.base = base;
  Positions positions;
  std::optional<PyView> off;
  if (py::isinstance<py::int_>(offset)) {
    positions = Positions(offset.cast<int64_t>());
  } else {
    off = to_view(offset, false, "offset");
    call.offset_shape = &off->v.shape;
    call.offset_dtype = off->dtype_name;
    call.offset_integer = off->supported && is_integer(off->v.dtype);
    positions = Positions::offsets(off->v);
  }
  call.dims = dims;
  // freqs arrives as a float64 NumPy array (converted in Python; dims/2 values).
  py::array_t<double, py::array::c_style | py::array::forcecast> f;
  Shape freqs_shape;
  if (!freqs.is_none()) {
    f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(freqs);
    if (!f) fail("[rope] freqs must be an array of floats.");
    for (py::ssize_t i = 0; i < f.ndim(); ++i) freqs_shape.push_back(int(f.shape(i)));
    call.freqs_shape = &freqs_shape;
  }
  core::check_mlx_call(call);
  RopeOptions options;
  options.freqs = core::mlx_frequencies(dims, base, call.freqs_shape ? f.data() : nullptr);
  const PyView out = to_view(out_obj, true, "out");
  options.dims = dims;
  options.layout = pair_layout(traditional);
  options.scale = scale;
  options.inverse = inverse;
  options.cuda_stream = reinterpret_cast<void*>(stream);
  py::gil_scoped_release release;
  core::run(&x.v, &out.v, 1, positions, options);
}

// Positions from the Python arguments; `arr` and `st` hold the views they point into.
Positions make_positions(const py::object& offset, const py::object& position_ids, const py::object& cu_seqlens,
                         const py::object& starts, std::optional<PyView>& arr, std::optional<PyView>& st) {
  const bool ragged = !cu_seqlens.is_none();
  Positions positions;
  if (ragged) {
    arr = to_view(cu_seqlens, false, "cu_seqlens");
    check_known(*arr, "cu_seqlens");
    if (!starts.is_none()) {
      st = to_view(starts, false, "starts");
      check_known(*st, "starts");
    }
    positions = Positions::ragged(arr->v, st ? std::optional<TensorView>(st->v) : std::nullopt);
  } else if (!position_ids.is_none()) {
    arr = to_view(position_ids, false, "position_ids");
    check_known(*arr, "position_ids");
    positions = Positions::ids(arr->v);
  } else if (py::isinstance<py::int_>(offset)) {
    positions = Positions(offset.cast<int64_t>());
  } else {
    arr = to_view(offset, false, "offset");
    if (!arr->supported) fail("[rope] offset must be an integer but got type " + arr->dtype_name + ".");
    positions = Positions::offsets(arr->v);
  }
  return positions;
}

RopeOptions make_options(int dims, bool traditional, const Frequencies& freqs, float scale, bool inverse,
                         int seq_axis, const std::optional<std::string>& precision, std::uintptr_t stream) {
  RopeOptions options;
  options.dims = dims;
  options.layout = pair_layout(traditional);
  options.freqs = freqs;
  options.scale = scale;
  options.inverse = inverse;
  options.seq_axis = seq_axis;
  if (precision) options.precision = parse_precision(*precision);
  options.cuda_stream = reinterpret_cast<void*>(stream);
  return options;
}

// The views of one or two tensors (q and k) and their outputs; an output that is its input
// object is the same view (in place).
void tensor_views(const py::list& xs, const py::list& outs, bool ragged, std::vector<PyView>& in,
                  std::vector<PyView>& out) {
  const size_t n = xs.size();
  if (n < 1 || n > 2 || outs.size() != n) fail("[rope] internal: expected one or two tensors.");
  const char* in_names[2] = {"q", "k"};
  const char* out_names[2] = {"q_out", "k_out"};
  for (size_t i = 0; i < n; ++i) {
    in.push_back(to_view(xs[i], false, n == 1 ? "x" : in_names[i]));
    check_input(in.back(), ragged ? 2 : 3);
  }
  for (size_t i = 0; i < n; ++i) {
    if (outs[i].is(xs[i])) {
      out.push_back(to_view(xs[i], true, n == 1 ? "x" : in_names[i]));
    } else {
      out.push_back(to_view(outs[i], true, n == 1 ? "out" : out_names[i]));
      check_known(out.back(), n == 1 ? "out" : out_names[i]);
    }
  }
}

void run_views(const std::vector<PyView>& in, const std::vector<PyView>& out, const Positions& positions,
               const RopeOptions& options) {
  py::gil_scoped_release release;
  if (in.size() == 1)
    rope(in[0].v, out[0].v, positions, options);
  else
    rope_qk(in[0].v, in[1].v, out[0].v, out[1].v, positions, options);
}

// The extended API: one or two tensors (q and k) into outputs (which may be the inputs).
void apply(const py::list& xs, const py::list& outs, const py::object& offset, const py::object& position_ids,
           const py::object& cu_seqlens, const py::object& starts, int dims, bool traditional,
           const Frequencies& freqs, float scale, bool inverse, int seq_axis,
           const std::optional<std::string>& precision, std::uintptr_t stream) {
  std::vector<PyView> in, out;
  tensor_views(xs, outs, !cu_seqlens.is_none(), in, out);
  std::optional<PyView> arr, st;
  const Positions positions = make_positions(offset, position_ids, cu_seqlens, starts, arr, st);
  const RopeOptions options = make_options(dims, traditional, freqs, scale, inverse, seq_axis, precision, stream);
  run_views(in, out, positions, options);
}

// Caller-given cos/sin (CosSinTable): rows indexed by (b, t), or by position when position_ids
// is given; hf_rounding selects transformers' eager rounding (TableRounding::hf).
void apply_table(const py::list& xs, const py::list& outs, const py::object& cos, const py::object& sin,
                 const py::object& position_ids, bool traditional, bool inverse, int seq_axis, bool hf_rounding) {
  std::vector<PyView> in, out;
  tensor_views(xs, outs, false, in, out);
  const PyView c = to_view(cos, false, "cos"), s = to_view(sin, false, "sin");
  check_known(c, "cos");
  check_known(s, "sin");
  std::optional<PyView> arr, st;
  const py::object none = py::none();
  const Positions positions = make_positions(py::int_(0), position_ids, none, none, arr, st);
  const CosSinTable table{c.v, s.v, position_ids.is_none() ? CosSinTable::Rows::token : CosSinTable::Rows::position};
  RopeOptions options = make_options(0, traditional, Frequencies{}, 1.0f, inverse, seq_axis, std::nullopt, 0);
  options.table = &table;
  options.rounding = hf_rounding ? TableRounding::hf : TableRounding::fused;
  run_views(in, out, positions, options);
}

// The float64 oracle of the C++ library (tests): the exact result as a new float64 array.
py::array_t<double> oracle(const py::object& x_obj, const py::object& offset, const py::object& position_ids,
                           const py::object& cu_seqlens, const py::object& starts, int dims, bool traditional,
                           const Frequencies& freqs, float scale, bool inverse, int seq_axis,
                           const std::optional<std::string>& precision) {
  const PyView x = to_view(x_obj, false, "x");
  check_input(x, cu_seqlens.is_none() ? 3 : 2);
  std::optional<PyView> arr, st;
  const Positions positions = make_positions(offset, position_ids, cu_seqlens, starts, arr, st);
  const RopeOptions options = make_options(dims, traditional, freqs, scale, inverse, seq_axis, precision, 0);
  const Array xa = Array::from_external(x.v, nullptr);
  const Array r = reference::rope(xa, positions, options).astype(float64);
  std::vector<py::ssize_t> shape(r.shape().begin(), r.shape().end());
  py::array_t<double> result(shape);
  std::memcpy(result.mutable_data(), r.data<double>(), sizeof(double) * size_t(r.size()));
  return result;
}

std::string freqs_repr(const Frequencies& f) {
  std::string s = "Frequencies(pairs=" + std::to_string(f.pairs());
  if (f.attention_factor != 1.0) s += ", attention_factor=" + std::string(py::str(py::float_(f.attention_factor)));
  if (f.position_streams != 1) s += ", num_streams=" + std::to_string(f.position_streams);
  return s + ")";
}

// Caller-given cos/sin tables (rotary.hf.apply_rotary_pos_emb).
void bind_table(py::module_& m) {
  m.def("apply_table", &apply_table, py::arg("xs"), py::arg("outs"), py::arg("cos"), py::arg("sin"),
        py::arg("position_ids").none(true), py::arg("traditional"), py::arg("inverse"), py::arg("seq_axis"),
        py::arg("hf_rounding"), "q (and k) rotated with caller-given cos/sin tables (CosSinTable).");
}

}  // namespace

PYBIND11_MODULE(_rotary, m) {
  m.doc() = "rotary: rotary position embedding (RoPE) kernels. Use the `rotary` package, not this module.";
#ifdef ROTARY_WITH_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  m.def("cuda_available", &cuda_available, "True when built with CUDA and a CUDA device is usable.");
  m.attr("__version__") = ROTARY_PY_VERSION;

  py::class_<Frequencies>(m, "Frequencies", R"doc(
What a RoPE rotates by: one inverse frequency per rotated pair (radians per position),
the attention factor that multiplies cos and sin, and for multi-axis RoPE (M-RoPE, vision)
which position stream each pair reads.)doc")
      .def(py::init([](std::vector<double> inv_freq, double attention_factor, std::vector<int> pair_stream,
                       int num_streams) {
             Frequencies f;
             f.inv_freq = std::move(inv_freq);
             f.attention_factor = attention_factor;
             for (int s : pair_stream) {
               if (s < 0 || s > 255) fail("[rope] pair_stream entries must be in [0, 255] but got " + std::to_string(s) + ".");
               f.pair_position_stream.push_back(uint8_t(s));
             }
             f.position_streams = num_streams;
             return f;
           }),
           py::arg("inv_freq"), py::arg("attention_factor") = 1.0, py::arg("pair_stream") = std::vector<int>{},
           py::arg("num_streams") = 1)
      .def_readwrite("inv_freq", &Frequencies::inv_freq, "Inverse frequency per pair (list of float).")
      .def_readwrite("attention_factor", &Frequencies::attention_factor, "Multiplies cos and sin.")
      .def_property(
          "pair_stream",
          [](const Frequencies& f) { return std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()); },
          [](Frequencies& f, const std::vector<int>& v) { f.pair_position_stream.assign(v.begin(), v.end()); },
          "Position stream per pair (empty: all pairs read stream 0).")
      .def_readwrite("num_streams", &Frequencies::position_streams, "Number of position streams.")
      .def_property_readonly("pairs", &Frequencies::pairs, "Number of rotated pairs (dims / 2).")
      .def_property_readonly("dims", [](const Frequencies& f) { return 2 * f.pairs(); }, "Rotated features.")
      .def_static("from_base", &Frequencies::from_base, py::arg("dims"), py::arg("base") = 10000.0,
                  "inv_freq[i] = base ** (-2i/dims), in double.")
      .def_static("from_periods", &Frequencies::from_periods, py::arg("periods"),
                  "inv_freq[i] = 1 / periods[i] (MLX's `freqs` are periods).")
      .def("__repr__", &freqs_repr)
      .def(py::pickle(
          [](const Frequencies& f) {
            return py::make_tuple(f.inv_freq, f.attention_factor,
                                  std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()), f.position_streams);
          },
          [](const py::tuple& t) {
            Frequencies f;
            f.inv_freq = t[0].cast<std::vector<double>>();
            f.attention_factor = t[1].cast<double>();
            for (int s : t[2].cast<std::vector<int>>()) f.pair_position_stream.push_back(uint8_t(s));
            f.position_streams = t[3].cast<int>();
            return f;
          }));

  m.def("fast_rope", &fast_rope, py::arg("x"), py::arg("out"), py::arg("dims"), py::arg("traditional"),
        py::arg("base").none(true), py::arg("scale"), py::arg("offset"), py::arg("freqs").none(true),
        py::arg("inverse"), py::arg("stream") = 0);
  m.def("apply", &apply, py::arg("xs"), py::arg("outs"), py::arg("offset"), py::arg("position_ids").none(true),
        py::arg("cu_seqlens").none(true), py::arg("starts").none(true), py::arg("dims"), py::arg("traditional"),
        py::arg("freqs"), py::arg("scale"), py::arg("inverse"), py::arg("seq_axis"),
        py::arg("precision").none(true), py::arg("stream") = 0);

  bind_table(m);

  m.def("_oracle", &oracle, py::arg("x"), py::arg("offset"), py::arg("position_ids").none(true),
        py::arg("cu_seqlens").none(true), py::arg("starts").none(true), py::arg("dims"), py::arg("traditional"),
        py::arg("freqs"), py::arg("scale"), py::arg("inverse"), py::arg("seq_axis"),
        py::arg("precision").none(true), "The C++ float64 oracle (for tests).");

  m.def("set_default_precision",
        [](const std::string& p) { set_default_precision(parse_precision(p)); }, py::arg("precision"));
  m.def("default_precision", [] { return precision_name(default_precision()); });
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("num_threads", &num_threads);

  namespace sc = rotary::scaling;
  py::module_ s = m.def_submodule("scaling", "Frequency builders for the RoPE scaling methods (Hugging Face definitions).");
  s.def("default_frequencies", &sc::default_frequencies, py::arg("dims"), py::arg("base") = 10000.0);
  s.def("linear", &sc::linear, py::arg("dims"), py::arg("base"), py::arg("factor"));
  s.def("dynamic_ntk", &sc::dynamic_ntk, py::arg("dims"), py::arg("base"), py::arg("factor"),
        py::arg("max_position_embeddings"), py::arg("seq_len"));
  s.def(
      "llama3",
      [](int dims, double base, double factor, double lf, double hf, double o) {
        return sc::llama3(dims, base, sc::Llama3Params{factor, lf, hf, o});
      },
      py::arg("dims"), py::arg("base"), py::kw_only(), py::arg("factor") = 8.0, py::arg("low_freq_factor") = 1.0,
      py::arg("high_freq_factor") = 4.0, py::arg("original_max_position_embeddings") = 8192.0);
  auto yarn_params = [](double factor, double o, std::optional<double> af, std::optional<double> ms,
                        std::optional<double> msad, double bf, double bs, bool truncate) {
    sc::YarnParams p;
    p.factor = factor;
    p.original_max_position_embeddings = o;
    p.attention_factor = af;
    p.mscale = ms;
    p.mscale_all_dim = msad;
    p.beta_fast = bf;
    p.beta_slow = bs;
    p.truncate = truncate;
    return p;
  };
  s.def(
      "yarn",
      [yarn_params](int dims, double base, double factor, double o, std::optional<double> af,
                    std::optional<double> ms, std::optional<double> msad, double bf, double bs, bool truncate) {
        return sc::yarn(dims, base, yarn_params(factor, o, af, ms, msad, bf, bs, truncate));
      },
      py::arg("dims"), py::arg("base"), py::kw_only(), py::arg("factor") = 1.0,
      py::arg("original_max_position_embeddings") = 4096.0, py::arg("attention_factor") = py::none(),
      py::arg("mscale") = py::none(), py::arg("mscale_all_dim") = py::none(), py::arg("beta_fast") = 32.0,
      py::arg("beta_slow") = 1.0, py::arg("truncate") = true);
  s.def(
      "yarn_attention_factor",
      [yarn_params](double factor, double o, std::optional<double> af, std::optional<double> ms,
                    std::optional<double> msad) {
        return sc::yarn_attention_factor(yarn_params(factor, o, af, ms, msad, 32.0, 1.0, true));
      },
      py::kw_only(), py::arg("factor") = 1.0, py::arg("original_max_position_embeddings") = 4096.0,
      py::arg("attention_factor") = py::none(), py::arg("mscale") = py::none(),
      py::arg("mscale_all_dim") = py::none());
  s.def("yarn_get_mscale", &sc::yarn_get_mscale, py::arg("scale"), py::arg("mscale") = 1.0);
  s.def(
      "longrope",
      [](int dims, double base, std::vector<double> short_factor, std::vector<double> long_factor, double o,
         double factor, std::optional<double> af, int64_t length, const std::string& policy) {
        sc::LongRopeParams p;
        p.short_factor = std::move(short_factor);
        p.long_factor = std::move(long_factor);
        p.original_max_position_embeddings = o;
        p.factor = factor;
        p.attention_factor = af;
        (void)policy;  // the caller picks `length` by policy (largest position + 1, or serving length)
        return sc::longrope(dims, base, p, length);
      },
      py::arg("dims"), py::arg("base"), py::kw_only(), py::arg("short_factor"), py::arg("long_factor"),
      py::arg("original_max_position_embeddings") = 4096.0, py::arg("factor") = 1.0,
      py::arg("attention_factor") = py::none(), py::arg("length"), py::arg("policy") = "per_call");
  s.def("rotated_dims", &sc::rotated_dims, py::arg("head_dim"), py::arg("partial_rotary_factor") = 1.0);
  s.def("mrope", &sc::mrope, py::arg("freqs"), py::arg("mrope_section"), py::arg("interleaved") = false);
  s.def("vision_2d", &sc::vision_2d, py::arg("head_dim"), py::arg("theta") = 10000.0);

  // The C++ config.json loader: the Python package wraps it (rotary.from_hf_config).
  py::class_<RopeConfig>(m, "_CppRopeConfig")
      .def_readonly("method", &RopeConfig::method)
      .def_readonly("model_type", &RopeConfig::model_type)
      .def_readonly("head_dim", &RopeConfig::head_dim)
      .def_readonly("rotated_dims", &RopeConfig::rotated_dims)
      .def_readonly("traditional", &RopeConfig::traditional)
      .def_readonly("base", &RopeConfig::base)
      .def_readonly("max_position_embeddings", &RopeConfig::max_position_embeddings)
      .def_readonly("original_max_position_embeddings", &RopeConfig::original_max_position_embeddings)
      .def_readonly("factor", &RopeConfig::factor)
      .def_readonly("attention_factor", &RopeConfig::attention_factor)
      .def_readonly("softmax_scale_factor", &RopeConfig::softmax_scale_factor)
      .def_readonly("mrope_section", &RopeConfig::mrope_section)
      .def_readonly("mrope_interleaved", &RopeConfig::mrope_interleaved)
      .def_property_readonly("depends_on_length", &RopeConfig::depends_on_length)
      .def("frequencies", &RopeConfig::frequencies, py::arg("seq_len") = py::none())
      .def("unscaled_frequencies", &RopeConfig::unscaled_frequencies);
  m.def(
      "_from_hf_config_json",
      [](const std::string& text, const std::string& policy) {
        RopeConfig c = from_hf_config(nlohmann::json::parse(text));
        if (policy == "serving_length") c.longrope_policy = scaling::LongRopePolicy::serving_length;
        else if (policy != "per_call")
          fail("from_hf_config: longrope_policy must be \"per_call\" or \"serving_length\" but got \"" + policy + "\".");
        return c;
      },
      py::arg("json"), py::arg("longrope_policy") = "per_call");
}
