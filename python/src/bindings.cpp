// rotary._rotary: the C++ side of the Python package.
//
// Tensors arrive as NumPy arrays (read through the buffer protocol, strides in bytes turned into
// elements), as PyTorch tensors (read through DLPack's C exchange API, no capsule), or as DLPack
// capsules (MLX arrays and what the exchange API cannot export, through rotary._call.view). None
// is copied: the library reads and writes the caller's memory through rotary::TensorView.
// Outputs are allocated by the caller's framework (in Python) and written through the
// into-buffer API.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/numpy.h>

#include <dlpack/dlpack.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rotary/rotary.h"

#include <nlohmann/json.hpp>

#include "core/plan.h"
#include "core/validate.h"
#include "reference/oracle.h"

#include "glue.h"

#ifdef ROTARY_WITH_CUDA
#define ROTARY_HAS_CUDA_BACKEND true
#else
#define ROTARY_HAS_CUDA_BACKEND false
#endif

namespace py = pybind11;
using namespace rotary;

namespace rotary::py_glue {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

// Raised (as rotary._rotary.NotReadable) for an object the extension does not read itself:
// Python then passes it through rotary._call.view (MLX arrays, tensors DLPack cannot export),
// which also names what is wrong with the ones that cannot be read at all.
struct NotReadable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// DLPack's C exchange API (DLPackExchangeAPI of dlpack.h 1.3; Debian's dlpack.h is 0.6 and lacks
// it): a framework publishes it as type(tensor).__dlpack_c_exchange_api__ (PyTorch 2.15 does), a
// capsule named "dlpack_exchange_api". dltensor_from_py_object_no_sync fills a DLTensor that
// borrows the tensor's shape and strides: no capsule, no allocation, no Python call. The members
// rotary does not call are left untyped; the layout is that of major version 1.
struct DLPackExchangeApi {
  struct {
    uint32_t major, minor;
  } version;
  void* prev_api;
  void* managed_tensor_allocator;
  void* managed_tensor_from_py_object_no_sync;
  void* managed_tensor_to_py_object_no_sync;
  int (*dltensor_from_py_object_no_sync)(void* py_object, DLTensor* out);
  void* current_work_stream;
};

// rotary's Dtype for an element kind in NumPy's letters ('f' float, 'i' signed, 'u' unsigned,
// 'b' bool; 'B' stands for bfloat, 'E' for float8 e4m3fn) and size in bytes; none for types rotary has no Dtype for.
std::optional<Dtype> dtype_of_kind(char kind, int64_t bytes) {
  switch (kind) {
    case 'f': return bytes == 2 ? std::optional(float16) : bytes == 4 ? std::optional(float32)
                     : bytes == 8 ? std::optional(float64) : std::nullopt;
    case 'B': return bytes == 2 ? std::optional(bfloat16) : std::nullopt;
    case 'i': return bytes == 4 ? std::optional(int32) : bytes == 8 ? std::optional(int64) : std::nullopt;
    case 'u': return bytes == 4 ? std::optional(uint32) : std::nullopt;
    case 'b': return bool_;
    case 'E': return bytes == 1 ? std::optional(float8_e4m3) : std::nullopt;
  }
  return std::nullopt;
}

// A size the library can index (Shape holds int): larger ones are refused, never truncated.
int checked_size(int64_t size, int64_t axis, const char* name) {
  if (size > std::numeric_limits<int>::max())
    fail(std::string("[rope] ") + name + " has size " + std::to_string(size) + " along axis " +
         std::to_string(axis) + "; rotary supports sizes up to " +
         std::to_string(std::numeric_limits<int>::max()) + " per axis.");
  return static_cast<int>(size);
}

void check_writable(const py::array& a, const char* name) {
  if (!a.writeable()) fail(std::string("[rope] ") + name + " is read-only; it cannot be written.");
}

PyView from_numpy(const py::array& a, bool writable, const char* name) {
  if (writable) check_writable(a, name);
  PyView r;
  const py::dtype dtype = a.dtype();
  const auto dt = dtype_of_kind(dtype.kind(), a.itemsize());
  const int64_t itemsize = a.itemsize();
  r.supported = dt.has_value();
  if (!r.supported) r.unsupported_name = py::str(dtype);
  r.v.data = const_cast<void*>(a.data());
  r.v.dtype = dt.value_or(float32);
  r.v.device = cpu;
  if (dtype.byteorder() == (std::endian::native == std::endian::little ? '>' : '<'))
    fail(std::string("[rope] ") + name + " has non-native byte order (" + std::string(py::str(dtype)) +
         "); convert it first, e.g. " + name + ".astype(" + name + ".dtype.newbyteorder('='))");
  r.v.shape.reserve(size_t(a.ndim()));
  r.v.strides.reserve(size_t(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    r.v.shape.push_back(checked_size(a.shape(i), i, name));
    const int64_t s = a.strides(i);
    if (s % itemsize != 0)
      fail(std::string("[rope] ") + name + " has a stride of " + std::to_string(s) +
           " bytes, not a multiple of its element size; make it contiguous first.");
    r.v.strides.push_back(s / itemsize);
  }
  return r;
}

PyView from_dltensor(const DLTensor& t, const char* name) {
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
    case 6: kind = 'b', prefix = "bool"; break;  // kDLBool (DLPack >= 0.8)
    case 10: kind = 'E', prefix = "float8_e4m3fn"; break;  // kDLFloat8_e4m3fn (DLPack >= 1.1)
  }
  const std::optional<Dtype> dt = dtype_of_kind(kind, bits / 8);
  r.supported = dt.has_value();
  if (!r.supported)
    r.unsupported_name = kind == 'b' ? prefix
                         : prefix    ? prefix + std::to_string(bits)
                                     : "of DLPack type code " + std::to_string(int(t.dtype.code)) + " (" +
                                        std::to_string(bits) + " bits)";
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
  r.v.shape.reserve(size_t(t.ndim));
  for (int i = 0; i < t.ndim; ++i) r.v.shape.push_back(checked_size(t.shape[i], i, name));
  if (t.strides) {
    r.v.strides.assign(t.strides, t.strides + t.ndim);
  } else {
    r.v.strides = row_major_strides(r.v.shape);
  }
  return r;
}

PyView from_dlpack(const py::capsule& cap, const char* name) {
  if (std::string(cap.name() ? cap.name() : "") != "dltensor")
    fail(std::string("[rope] ") + name + ": the DLPack capsule was already consumed.");
  return from_dltensor(static_cast<DLManagedTensor*>(cap.get_pointer())->dl_tensor, name);
}

// The exchange API obj's type publishes, if any (of a major version rotary reads).
const DLPackExchangeApi* exchange_api(const py::handle& obj) {
  static PyObject* const attribute = PyUnicode_InternFromString("__dlpack_c_exchange_api__");
  PyObject* capsule = _PyType_Lookup(Py_TYPE(obj.ptr()), attribute);  // borrowed; sets no error
  if (!capsule || !PyCapsule_IsValid(capsule, "dlpack_exchange_api")) return nullptr;
  const auto* api = static_cast<const DLPackExchangeApi*>(PyCapsule_GetPointer(capsule, "dlpack_exchange_api"));
  return api->version.major == 1 && api->dltensor_from_py_object_no_sync ? api : nullptr;
}

// Whether obj is a PyTorch view with its negative bit set (torch._neg_view, x.conj().imag):
// DLPack exports it without the negation, so it is left to view(), which refuses it by name.
bool negated_view(const py::handle& obj) {
  static PyObject* const is_neg = PyUnicode_InternFromString("is_neg");
  PyObject* answer = PyObject_CallMethodNoArgs(obj.ptr(), is_neg);
  if (!answer) {
    PyErr_Clear();
    return false;
  }
  const bool negated = answer == Py_True;
  Py_DECREF(answer);
  return negated;
}

// obj: a NumPy array, a tensor whose type publishes DLPack's exchange API (PyTorch), or a DLPack
// capsule; anything else is NotReadable (Python reads it through rotary._call.view).
PyView to_view(const py::handle& obj, bool writable, const char* name) {
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj), writable, name);
  if (const DLPackExchangeApi* api = exchange_api(obj); api && !negated_view(obj)) {
    DLTensor t;
    if (api->dltensor_from_py_object_no_sync(obj.ptr(), &t) == 0) return from_dltensor(t, name);
    PyErr_Clear();  // sparse, meta, ...: view() says what is wrong with it
  } else if (py::isinstance<py::capsule>(obj)) {
    return from_dlpack(py::reinterpret_borrow<py::capsule>(obj), name);
  }
  throw NotReadable(std::string(name) + " is not read by the extension itself");
}

// Spec checks 3 and 4 on a view that may have an element type rotary does not know.
void check_input(const PyView& x, int min_ndim = 3) {
  core::check_input(x.v.ndim(), x.dtype_name(), x.supported && is_floating(x.v.dtype), min_ndim);
}

void check_known(const PyView& v, const char* name) {
  if (!v.supported) fail(std::string("[rope] ") + name + " has an unsupported element type " + v.dtype_name() + ".");
}

Precision parse_precision(const std::string& s) {
  if (s == "accurate") return Precision::accurate;
  if (s == "compat") return Precision::compat;
  fail("[rope] precision must be \"accurate\" or \"compat\" but got \"" + s + "\".");
}

std::string precision_name(Precision p) { return p == Precision::accurate ? "accurate" : "compat"; }

// MLX's fast.rope / rope_vjp into a caller-allocated `out`: core::check_mlx_call runs MLX's
// checks in MLX's order (the one validation sequence of C++ and Python), then core::run.
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
  call.x_dtype = x.dtype_name();
  call.x_floating = x.supported && is_floating(x.v.dtype);
  call.base = base;
  Positions positions;
  std::optional<PyView> off;
  if (py::isinstance<py::int_>(offset)) {
    positions = Positions(offset.cast<int64_t>());
  } else {
    off = to_view(offset, false, "offset");
    call.offset_shape = &off->v.shape;
    call.offset_dtype = off->dtype_name();
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

// An integer index array (offsets, position_ids, cu_seqlens, starts).
PyView index_view(const py::object& obj, const char* name) {
  PyView v = to_view(obj, false, name);
  if (!v.supported || !is_integer(v.v.dtype)) {
    if (std::string(name) == "offset") fail("[rope] offset must be an integer but got type " + v.dtype_name() + ".");
    fail(std::string("[rope] ") + name + " must be an integer array but got " + v.dtype_name() + ".");
  }
  return v;
}

CallPositions make_positions(int64_t offset, const py::object& offsets, const py::object& position_ids,
                             const py::object& cu_seqlens, const py::object& starts) {
  CallPositions r;
  if (!cu_seqlens.is_none()) {
    r.held.push_back(index_view(cu_seqlens, "cu_seqlens"));
    std::optional<TensorView> st;
    if (!starts.is_none()) {
      r.held.push_back(index_view(starts, "starts"));
      st = r.held.back().v;
    }
    r.positions = Positions::ragged(r.held[0].v, st);
  } else if (!position_ids.is_none()) {
    r.held.push_back(index_view(position_ids, "position_ids"));
    r.positions = Positions::ids(r.held[0].v);
  } else if (!offsets.is_none()) {
    r.held.push_back(index_view(offsets, "offset"));
    r.positions = Positions::offsets(r.held[0].v);
  } else {
    r.positions = Positions(offset);
  }
  return r;
}

void check_finite(double v, const std::string& what) {
  if (!std::isfinite(v)) fail("[rope] " + what + " must be finite but got " + std::string(py::str(py::float_(v))) + ".");
}

// Every RopeOptions field Python sets, listed once: the keyword constructor, the canonical key
// (the torch operators' form of the options) and the repr all walk this list, so a new option
// is one line here (and one keyword in the Python docstring).
template <class Options, class Visit>
void for_each_option(Options& o, Visit&& visit) {
  visit("dims", o.dims);
  visit("traditional", o.layout);  // MLX's word for the pair layout
  visit("freqs", o.freqs);
  visit("scale", o.scale);
  visit("inverse", o.inverse);
  visit("seq_axis", o.seq_axis);
  visit("precision", o.precision);
  visit("cuda_stream", o.cuda_stream);
}

// Reading one option from a Python value: no silent coercion (4.7 is not an int, 1 not a bool).
void from_python(const py::handle& v, const char* name, int& out) {
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
    throw py::type_error(std::string("[rope] ") + name + " must be an integer but got " +
                         std::string(py::str(py::type::of(v).attr("__name__"))) + ".");
  const auto n = v.cast<long long>();
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
    fail(std::string("[rope] ") + name + " must fit in int32 but got " + std::to_string(n) + ".");
  out = int(n);
}
void from_python(const py::handle& v, const char*, bool& out) { out = py::bool_(py::reinterpret_borrow<py::object>(v)); }
void from_python(const py::handle& v, const char* name, PairLayout& out) {
  bool traditional = false;
  from_python(v, name, traditional);
  out = pair_layout(traditional);
}
void from_python(const py::handle& v, const char* name, float& out) {
  const double d = py::float_(py::reinterpret_borrow<py::object>(v));
  check_finite(d, name);
  out = float(d);
}
void from_python(const py::handle& v, const char*, Frequencies& out) {
  out = v.cast<Frequencies>();
  for (double f : out.inv_freq) check_finite(f, "every frequency");
  check_finite(out.attention_factor, "attention_factor");
}
void from_python(const py::handle& v, const char*, void*& out) { out = reinterpret_cast<void*>(v.cast<std::uintptr_t>()); }
void from_python(const py::handle& v, const char*, std::optional<Precision>& out) {
  if (v.is_none()) out.reset();
  else out = parse_precision(v.cast<std::string>());
}

RopeOptions options_from_kwargs(const py::kwargs& kwargs) {
  RopeOptions o;
  size_t used = 0;
  for_each_option(o, [&](const char* name, auto& field) {
    if (!kwargs.contains(name)) return;
    from_python(kwargs[name], name, field);
    ++used;
  });
  if (used != kwargs.size())
    for (const auto& item : kwargs) {
      bool known = false;
      for_each_option(o, [&](const char* name, auto&) { known = known || py::str(item.first).cast<std::string>() == name; });
      if (!known) throw py::type_error("[rope] unknown option '" + py::str(item.first).cast<std::string>() + "'.");
    }
  return o;
}

// The key: the options in for_each_option's order, ';'-separated; floats in hexadecimal (exact).
std::string hex(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}
std::string to_key(int v) { return std::to_string(v); }
std::string to_key(bool v) { return v ? "1" : "0"; }
std::string to_key(PairLayout l) { return l == PairLayout::interleaved ? "interleaved" : "half_split"; }
std::string to_key(float v) { return hex(v); }
std::string to_key(const std::optional<Precision>& p) { return p ? precision_name(*p) : ""; }
std::string to_key(void* p) { return std::to_string(reinterpret_cast<std::uintptr_t>(p)); }
std::string to_key(const Frequencies& f) {
  std::string s = hex(f.attention_factor) + "/" + std::to_string(f.position_streams) + "/";
  for (uint8_t p : f.pair_position_stream) s += std::to_string(int(p)) + ",";
  s += "/";
  for (double v : f.inv_freq) s += hex(v) + ",";
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

void from_key(const std::string& s, int& out) { out = std::stoi(s); }
void from_key(const std::string& s, bool& out) { out = s == "1"; }
void from_key(const std::string& s, PairLayout& out) { out = pair_layout(s == "interleaved"); }
void from_key(const std::string& s, float& out) { out = float(std::strtod(s.c_str(), nullptr)); }
void from_key(const std::string& s, void*& out) { out = reinterpret_cast<void*>(std::stoull(s)); }
void from_key(const std::string& s, std::optional<Precision>& out) {
  if (s.empty()) out.reset();
  else out = parse_precision(s);
}
void from_key(const std::string& s, Frequencies& out) {
  const std::vector<std::string> f = split(s, '/');
  if (f.size() != 4) fail("[rope] not a rotary options key (frequencies \"" + s + "\").");
  out = Frequencies{};
  out.attention_factor = std::strtod(f[0].c_str(), nullptr);
  out.position_streams = std::stoi(f[1]);
  for (const std::string& p : split(f[2], ',')) if (!p.empty()) out.pair_position_stream.push_back(uint8_t(std::stoi(p)));
  for (const std::string& v : split(f[3], ',')) if (!v.empty()) out.inv_freq.push_back(std::strtod(v.c_str(), nullptr));
}

std::string options_key(const RopeOptions& o) {
  std::string s;
  for_each_option(o, [&](const char*, const auto& field) { s += to_key(field) + ";"; });
  return s;
}

RopeOptions options_from_key(const std::string& key) {
  const std::vector<std::string> parts = split(key, ';');
  RopeOptions o;
  size_t i = 0;
  for_each_option(o, [&](const char*, auto& field) {
    if (i + 1 >= parts.size()) fail("[rope] not a rotary options key: \"" + key + "\".");
    from_key(parts[i++], field);
  });
  return o;
}

std::string options_repr(const RopeOptions& o) {
  std::string s = "RopeOptions(";
  for_each_option(o, [&](const char* name, const auto& field) { s += std::string(name) + "=" + to_key(field) + ", "; });
  return s.substr(0, s.size() - 2) + ")";
}

// The views of one or two tensors (q and k) and of their outputs. An output that is its input
// object reads that input's view (in place): `outputs` points into `in` or `out`.
struct TensorViews {
  size_t n = 0;
  std::array<PyView, 2> in, out;
  std::array<const TensorView*, 2> outputs{};
};

TensorViews tensor_views(const py::list& xs, const py::list& outs, bool ragged) {
  const size_t n = xs.size();
  if (n < 1 || n > 2 || outs.size() != n) fail("[rope] internal: expected one or two tensors.");
  const char* in_names[2] = {n == 1 ? "x" : "q", "k"};
  const char* out_names[2] = {n == 1 ? "out" : "q_out", "k_out"};
  TensorViews r;
  r.n = n;
  for (size_t i = 0; i < n; ++i) {
    r.in[i] = to_view(xs[i], false, in_names[i]);
    check_input(r.in[i], ragged ? 2 : 3);
  }
  for (size_t i = 0; i < n; ++i) {
    if (outs[i].is(xs[i])) {
      if (py::isinstance<py::array>(xs[i])) check_writable(py::reinterpret_borrow<py::array>(xs[i]), in_names[i]);
      r.outputs[i] = &r.in[i].v;
    } else {
      r.out[i] = to_view(outs[i], true, out_names[i]);
      check_known(r.out[i], out_names[i]);
      r.outputs[i] = &r.out[i].v;
    }
  }
  return r;
}

void run_views(const TensorViews& t, const Positions& positions, const RopeOptions& options) {
  py::gil_scoped_release release;
  if (t.n == 1)
    rope(t.in[0].v, *t.outputs[0], positions, options);
  else
    rope_qk(t.in[0].v, t.in[1].v, *t.outputs[0], *t.outputs[1], positions, options);
}

// The extended API: one or two tensors (q and k) into outputs (which may be the inputs).
void apply(const py::list& xs, const py::list& outs, int64_t offset, const py::object& offsets,
           const py::object& position_ids, const py::object& cu_seqlens, const py::object& starts,
           const RopeOptions& options, std::uintptr_t stream) {
  const TensorViews t = tensor_views(xs, outs, !cu_seqlens.is_none());
  const CallPositions p = make_positions(offset, offsets, position_ids, cu_seqlens, starts);
  run_views(t, p.positions, StreamOptions(options, stream).get());
}

// The largest position + 1 of a call on x of shape x_shape (host index arrays): what picks the
// frequencies of length-dependent scalings (rotary.config.RopeConfig).
int64_t call_length(const Shape& x_shape, int64_t offset, const py::object& offsets, const py::object& position_ids,
                    const py::object& cu_seqlens, const py::object& starts, int seq_axis) {
  const CallPositions p = make_positions(offset, offsets, position_ids, cu_seqlens, starts);
  return positions_length(p.positions, x_shape, seq_axis);
}

// Caller-given cos/sin (CosSinTable): rows indexed by (b, t), or by position when position_ids
// is given; hf_rounding selects transformers' eager rounding (TableRounding::hf). dims: the
// rotated leading features (0: all), the rest copied.
void apply_table(const py::list& xs, const py::list& outs, const py::object& cos, const py::object& sin,
                 const py::object& position_ids, bool traditional, bool inverse, int seq_axis, bool hf_rounding,
                 int dims) {
  const TensorViews t = tensor_views(xs, outs, false);
  const PyView c = to_view(cos, false, "cos"), s = to_view(sin, false, "sin");
  check_known(c, "cos");
  check_known(s, "sin");
  const py::object none = py::none();
  const CallPositions p = make_positions(0, none, position_ids, none, none);
  const CosSinTable table{c.v, s.v, position_ids.is_none() ? CosSinTable::Rows::token : CosSinTable::Rows::position};
  RopeOptions options;
  options.dims = dims;
  options.layout = pair_layout(traditional);
  options.inverse = inverse;
  options.seq_axis = seq_axis;
  options.table = &table;
  options.rounding = hf_rounding ? TableRounding::hf : TableRounding::fused;
  run_views(t, p.positions, options);
}

// The float64 oracle of the C++ library (tests): the exact result as a new float64 array.
py::array_t<double> oracle(const py::object& x_obj, int64_t offset, const py::object& offsets,
                           const py::object& position_ids, const py::object& cu_seqlens, const py::object& starts,
                           const RopeOptions& options) {
  const PyView x = to_view(x_obj, false, "x");
  check_input(x, cu_seqlens.is_none() ? 3 : 2);
  const CallPositions p = make_positions(offset, offsets, position_ids, cu_seqlens, starts);
  const Array xa = Array::from_external(x.v, nullptr);
  const Array r = reference::rope(xa, p.positions, options).astype(float64);
  std::vector<py::ssize_t> shape(r.shape().begin(), r.shape().end());
  py::array_t<double> result(shape);
  std::memcpy(result.mutable_data(), r.data<double>(), sizeof(double) * size_t(r.size()));
  return result;
}

std::string py_repr(double v) { return py::str(py::float_(v)); }

std::vector<int> stream_list(const Frequencies& f) {
  return std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end());
}

std::string freqs_repr(const Frequencies& f) {
  std::string s = "Frequencies(inv_freq=[";
  for (size_t i = 0; i < f.inv_freq.size(); ++i) s += (i ? ", " : "") + py_repr(f.inv_freq[i]);
  s += "], attention_factor=" + py_repr(f.attention_factor) + ", pair_position_stream=[";
  for (size_t i = 0; i < f.pair_position_stream.size(); ++i) s += (i ? ", " : "") + std::to_string(int(f.pair_position_stream[i]));
  return s + "], position_streams=" + std::to_string(f.position_streams) + ")";
}

std::vector<uint8_t> pair_position_streams(const std::vector<int64_t>& v) {
  std::vector<uint8_t> r;
  for (int64_t s : v) {
    if (s < 0 || s > 255) fail("[rope] pair_position_stream entries must be in [0, 255] but got " + std::to_string(s) + ".");
    r.push_back(uint8_t(s));
  }
  return r;
}

Frequencies make_frequencies(std::vector<double> inv_freq, double attention_factor,
                             const std::vector<int64_t>& pair_position_stream, int position_streams) {
  Frequencies f;
  f.inv_freq = std::move(inv_freq);
  f.attention_factor = attention_factor;
  f.pair_position_stream = pair_position_streams(pair_position_stream);
  f.position_streams = position_streams;
  return f;
}

void bind_runtime(py::module_& m) {
  m.attr("has_cuda") = ROTARY_HAS_CUDA_BACKEND;
  m.def("cuda_available", &cuda_available, "True when built with CUDA and a CUDA device is usable.");
  m.attr("__version__") = ROTARY_PY_VERSION;
  m.def("set_default_precision",
        [](const std::string& p) { set_default_precision(parse_precision(p)); }, py::arg("precision"));
  m.def("default_precision", [] { return precision_name(default_precision()); });
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) fail("set_num_threads: n must be at least 1 but got " + std::to_string(n) + ".");
        set_num_threads(n);
      },
      py::arg("n"));
  m.def("num_threads", &num_threads);
}

void bind_frequencies(py::module_& m) {
  py::class_<Frequencies>(m, "Frequencies", R"doc(
What a RoPE rotates by: one inverse frequency per rotated pair (radians per position),
the attention factor that multiplies cos and sin, and for multi-axis RoPE (M-RoPE, vision)
which position stream each pair reads.)doc")
      .def(py::init(&make_frequencies), py::arg("inv_freq"), py::arg("attention_factor") = 1.0,
           py::arg("pair_position_stream") = std::vector<int64_t>{}, py::arg("position_streams") = 1)
      // Read-only, as a hashable value must be: torch.compile keeps a Frequencies as a constant
      // guarded by equality, so one changed in place after a compiled call was not seen (the
      // compiled code returned the old rotation) and a dict lost it. replace() makes a new one.
      .def_readonly("inv_freq", &Frequencies::inv_freq, "Inverse frequency per pair (list of float).")
      .def_readonly("attention_factor", &Frequencies::attention_factor, "Multiplies cos and sin.")
      .def_property_readonly("pair_position_stream", &stream_list,
                             "Position stream per pair (empty: all pairs read stream 0).")
      .def_readonly("position_streams", &Frequencies::position_streams, "Number of position streams.")
      .def(
          "replace",
          [](const Frequencies& f, std::optional<std::vector<double>> inv_freq, std::optional<double> attention_factor,
             std::optional<std::vector<int64_t>> pair_position_stream, std::optional<int> position_streams) {
            const std::vector<int> streams = stream_list(f);
            return make_frequencies(inv_freq.value_or(f.inv_freq), attention_factor.value_or(f.attention_factor),
                                    pair_position_stream.value_or(std::vector<int64_t>(streams.begin(), streams.end())),
                                    position_streams.value_or(f.position_streams));
          },
          py::kw_only(), py::arg("inv_freq") = py::none(), py::arg("attention_factor") = py::none(),
          py::arg("pair_position_stream") = py::none(), py::arg("position_streams") = py::none(),
          "A copy with the given fields replaced (a Frequencies is immutable).")
      .def_property_readonly("pairs", &Frequencies::pairs, "Number of rotated pairs (dims / 2).")
      .def_property_readonly("dims", [](const Frequencies& f) { return 2 * f.pairs(); }, "Rotated features.")
      .def_static("from_base", &Frequencies::from_base, py::arg("dims"), py::arg("base") = 10000.0,
                  "inv_freq[i] = base ** (-2i/dims), in double.")
      .def_static("from_periods", &Frequencies::from_periods, py::arg("periods"),
                  "inv_freq[i] = 1 / periods[i] (MLX's `freqs` are periods).")
      .def("__repr__", &freqs_repr)
      .def("__eq__", [](const Frequencies& a, const Frequencies& b) {
        return a.inv_freq == b.inv_freq && a.attention_factor == b.attention_factor &&
               a.pair_position_stream == b.pair_position_stream && a.position_streams == b.position_streams;
      })
      // Hashable and rebuilt from its repr: what torch.compile needs of a constant (rotary._call
      // registers Frequencies as one, so a call given freqs= compiles without a graph break).
      .def("__hash__",
           [](const Frequencies& f) {
             return py::hash(py::make_tuple(py::tuple(py::cast(f.inv_freq)), f.attention_factor,
                                            py::tuple(py::cast(stream_list(f))), f.position_streams));
           })
      .def("__fx_repr__",
           [](const py::object& self) {
             py::dict names;
             names["Frequencies"] = py::type::of(self);
             return py::make_tuple(py::repr(self), names);
           })
      .def(py::pickle(
          [](const Frequencies& f) {
            return py::make_tuple(f.inv_freq, f.attention_factor, stream_list(f), f.position_streams);
          },
          [](const py::tuple& t) {
            return make_frequencies(t[0].cast<std::vector<double>>(), t[1].cast<double>(),
                                    t[2].cast<std::vector<int64_t>>(), t[3].cast<int>());
          }));
}

void bind_options(py::module_& m) {
  py::class_<RopeOptions>(m, "RopeOptions", "The options of one call (rotary/rope.h); built by rotary's glue.")
      .def(py::init(&options_from_kwargs), "RopeOptions(**options): the fields of for_each_option, by name.")
      .def_readonly("dims", &RopeOptions::dims)
      .def_readonly("freqs", &RopeOptions::freqs)
      .def_readonly("inverse", &RopeOptions::inverse)
      .def_property_readonly("key", &options_key, "Canonical text of the options (the torch operators' form).")
      .def_static("from_key", &options_from_key, py::arg("key"))
      .def("inverted", [](RopeOptions o) { o.inverse = !o.inverse; return o; }, "The inverse rotation's options.")
      .def("__repr__", &options_repr)
      .def(py::pickle([](const RopeOptions& o) { return options_key(o); }, &options_from_key));
}

void bind_calls(py::module_& m) {
  py::register_exception<NotReadable>(m, "NotReadable", PyExc_TypeError);
  m.def("fast_rope", &fast_rope, py::arg("x"), py::arg("out"), py::arg("dims"), py::arg("traditional"),
        py::arg("base").none(true), py::arg("scale"), py::arg("offset"), py::arg("freqs").none(true),
        py::arg("inverse"), py::arg("stream") = 0);
  m.def("apply", &apply, py::arg("xs"), py::arg("outs"), py::arg("offset"), py::arg("offsets").none(true),
        py::arg("position_ids").none(true), py::arg("cu_seqlens").none(true), py::arg("starts").none(true),
        py::arg("options"), py::arg("stream") = 0);
  m.def("positions_length", &call_length, py::arg("x_shape"), py::arg("offset"), py::arg("offsets").none(true),
        py::arg("position_ids").none(true), py::arg("cu_seqlens").none(true), py::arg("starts").none(true),
        py::arg("seq_axis"), "The largest position + 1 of a call on x of shape x_shape (host index arrays).");
  m.def("oracle", &oracle, py::arg("x"), py::arg("offset"), py::arg("offsets").none(true),
        py::arg("position_ids").none(true), py::arg("cu_seqlens").none(true), py::arg("starts").none(true),
        py::arg("options"), "The C++ float64 oracle (for tests).");
  m.def("apply_table", &apply_table, py::arg("xs"), py::arg("outs"), py::arg("cos"), py::arg("sin"),
        py::arg("position_ids").none(true), py::arg("traditional"), py::arg("inverse"), py::arg("seq_axis"),
        py::arg("hf_rounding"), py::arg("dims") = 0, "q (and k) rotated with caller-given cos/sin tables (CosSinTable).");
}

void bind_scaling(py::module_& m) {
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

}

std::string layer_rope_repr(const LayerRope& l) {
  return "LayerRope(layer_type=" + std::string(py::repr(py::str(l.layer_type))) + ", rope=" + std::to_string(l.rope) +
         ", nope_key=" + std::string(py::repr(py::str(l.nope_key))) + ")";
}

LayerRope make_layer_rope(std::string layer_type, int rope, std::string nope_key) {
  if (rope < -1) fail("LayerRope: rope must be -1 (NoPE) or an index into layer_ropes but got " + std::to_string(rope) + ".");
  if ((rope < 0) == nope_key.empty())
    fail("LayerRope: a NoPE layer (rope -1) needs the nope_key that says so, and a rotating layer has none.");
  return LayerRope{std::move(layer_type), rope, std::move(nope_key)};
}

// The per-layer part of the loader's result: which layers rotate, with which of layer_ropes.
void bind_layers(py::module_& m) {
  py::enum_<RotatedPart>(m, "RotatedPart", "Which features of a head the RoPE rotates (rotary/config.h).")
      .value("whole_head", RotatedPart::whole_head, "all head_dim features")
      .value("leading", RotatedPart::leading,
             "the first rotated_dims features, the rest pass through (partial_rotary_factor, rotary_pct)")
      .value("rope_head", RotatedPart::rope_head,
             "DeepSeek MLA: each head's qk_rope_head_dim part, after its qk_nope_head_dim part");
  py::class_<LayerRope>(m, "LayerRope", "One decoder layer's RoPE (rotary/config.h): its layer type, the index "
                                        "of its RoPE in layer_ropes (-1: NoPE) and the key that makes it NoPE.")
      .def(py::init(&make_layer_rope), py::arg("layer_type"), py::arg("rope"), py::arg("nope_key") = "")
      .def_readonly("layer_type", &LayerRope::layer_type)
      .def_readonly("rope", &LayerRope::rope)
      .def_readonly("nope_key", &LayerRope::nope_key)
      .def("__repr__", &layer_rope_repr)
      .def("__eq__", [](const LayerRope& a, const LayerRope& b) {
        return a.layer_type == b.layer_type && a.rope == b.rope && a.nope_key == b.nope_key;
      })
      .def(py::pickle([](const LayerRope& l) { return py::make_tuple(l.layer_type, l.rope, l.nope_key); },
                      [](const py::tuple& t) {
                        return make_layer_rope(t[0].cast<std::string>(), t[1].cast<int>(), t[2].cast<std::string>());
                      }));
}

void bind_config(py::module_& m) {
  bind_layers(m);
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
      .def_readonly("softmax_scale_factor", &RopeConfig::softmax_scale_factor)
      .def_readonly("mrope_section", &RopeConfig::mrope_section)
      .def_readonly("mrope_interleaved", &RopeConfig::mrope_interleaved)
      .def_readonly("rotated_part", &RopeConfig::rotated_part)
      .def_readonly("layer_ropes", &RopeConfig::layer_ropes)
      .def_readonly("layers", &RopeConfig::layers)
      .def_property_readonly("depends_on_length", &RopeConfig::depends_on_length)
      .def("method_parameters_json", [](const RopeConfig& c) { return c.method_parameters().dump(); })
      .def("frequencies", &RopeConfig::frequencies, py::arg("seq_len") = py::none())
      .def("unscaled_frequencies", &RopeConfig::unscaled_frequencies);
  m.def(
      "_from_hf_config_json",
      [](const std::string& text, const std::string& policy, int64_t serving_length) {
        if (policy != "per_call" && policy != "serving_length")
          fail("from_hf_config: longrope_policy must be \"per_call\" or \"serving_length\" but got \"" + policy + "\".");
        RopeConfig c = from_hf_config(parse_hf_config(text));
        // The policy holds for every layer's RoPE (Phi-3's layers share one LongRoPE).
        auto set_policy = [&](RopeConfig& r) {
          r.serving_length = serving_length;
          if (policy == "serving_length") r.longrope_policy = scaling::LongRopePolicy::serving_length;
        };
        set_policy(c);
        for (RopeConfig& r : c.layer_ropes) set_policy(r);
        return c;
      },
      py::arg("json"), py::arg("longrope_policy") = "per_call", py::arg("serving_length") = 0);
}

// An int64 rotary::Array (a few positions) as a new NumPy array.
py::array_t<int64_t> int64_numpy(const Array& a) {
  py::array_t<int64_t> r(std::vector<py::ssize_t>(a.shape().begin(), a.shape().end()));
  std::memcpy(r.mutable_data(), a.data<int64_t>(), sizeof(int64_t) * size_t(a.size()));
  return r;
}

void bind_context_parallel(py::module_& m) {
  namespace cp = rotary::context_parallel;
  py::module_ c = m.def_submodule("context_parallel", "The load-balanced two-chunk context-parallel split.");
  c.def(
      "local_chunks",
      [](int64_t seq_len, int rank, int world_size) {
        const auto chunks = cp::local_chunks(seq_len, rank, world_size);
        return py::make_tuple(py::make_tuple(chunks[0].begin, chunks[0].end),
                              py::make_tuple(chunks[1].begin, chunks[1].end));
      },
      py::arg("seq_len"), py::arg("rank"), py::arg("world_size"),
      "The two [begin, end) token ranges rank holds, in local order.");
  c.def(
      "local_position_ids",
      [](int64_t seq_len, int rank, int world_size, int64_t offset) {
        return int64_numpy(cp::local_position_ids(seq_len, rank, world_size, offset));
      },
      py::arg("seq_len"), py::arg("rank"), py::arg("world_size"), py::arg("offset") = 0,
      "Global positions of the rank's local tokens (int64, for position_ids=).");
  c.def(
      "local_ragged",
      [](const std::vector<int64_t>& cu_seqlens, int rank, int world_size, const std::vector<int64_t>& starts) {
        const cp::RaggedShard shard = cp::local_ragged(cu_seqlens, rank, world_size, starts);
        return py::make_tuple(int64_numpy(shard.cu_seqlens), int64_numpy(shard.starts));
      },
      py::arg("cu_seqlens"), py::arg("rank"), py::arg("world_size"), py::arg("starts") = std::vector<int64_t>{},
      "(cu_seqlens, starts) of the rank's share of a packed batch, for cu_seqlens= and starts=.");
}

}  // namespace rotary::py_glue

using namespace rotary::py_glue;

PYBIND11_MODULE(_rotary, m) {
  m.doc() = "rotary: rotary position embedding (RoPE) kernels. Use the `rotary` package, not this module.";
  bind_runtime(m);
  bind_frequencies(m);
  bind_options(m);
  bind_calls(m);
  bind_scaling(m);
  bind_config(m);
  bind_context_parallel(m);
  bind_fused(m);
}
