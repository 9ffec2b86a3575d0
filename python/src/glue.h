// What the binding files of rotary._rotary share: a caller's tensor seen through a TensorView
// (NumPy array, tensor read through DLPack's C exchange API, or DLPack capsule; no copy) and
// the positions of one call. Defined in
// bindings.cpp; bind_fused.cpp binds rotary/fused.h with them.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rotary/rope.h"
#include "rotary/tensor_view.h"

namespace rotary::py_glue {

[[noreturn]] void fail(const std::string& message);

// A caller's tensor seen through a TensorView. `supported` is false for element types rotary
// has no Dtype for (int8, complex64, ...); `unsupported_name` then names them for error
// messages (named only then: NumPy's dtype names are Python code, a microsecond per call).
struct PyView {
  TensorView v;
  bool supported = true;
  std::string unsupported_name;
  std::string dtype_name() const { return supported ? to_string(v.dtype) : unsupported_name; }
};

// obj: a NumPy array, a tensor whose type publishes DLPack's C exchange API (PyTorch) or a
// DLPack capsule; anything else raises NotReadable (rotary._call.read_with_fallback).
PyView to_view(const pybind11::handle& obj, bool writable, const char* name);
// An integer index array (offsets, position_ids, cu_seqlens, starts, slots, ...).
PyView index_view(const pybind11::object& obj, const char* name);
void check_known(const PyView& v, const char* name);

// The positions of one call; `held` keeps the views the Positions point into.
struct CallPositions {
  std::vector<PyView> held;
  Positions positions;
};
CallPositions make_positions(int64_t offset, const pybind11::object& offsets, const pybind11::object& position_ids,
                             const pybind11::object& cu_seqlens, const pybind11::object& starts);

// A call's options on PyTorch's current stream (stream: a cudaStream_t as an int, 0 for CPU
// tensors) unless the caller named one; copied only then: the options hold the frequencies,
// and a CPU call needs no per-call copy of them.
class StreamOptions {
 public:
  StreamOptions(const RopeOptions& options, std::uintptr_t stream) : given_(options) {
    if (stream && !options.cuda_stream) {
      copy_ = options;
      copy_->cuda_stream = reinterpret_cast<void*>(stream);
    }
  }
  const RopeOptions& get() const { return copy_ ? *copy_ : given_; }

 private:
  const RopeOptions& given_;
  std::optional<RopeOptions> copy_;
};

void bind_fused(pybind11::module_& m);  // bind_fused.cpp

}  // namespace rotary::py_glue
