// rotary._rotary.apply's argument shape bound with pybind11 (see call_shape.h).
#include <pybind11/pybind11.h>

#include "call_shape.h"

namespace py = pybind11;

PYBIND11_MODULE(shape_pybind11, m) {
  py::class_<Options>(m, "Options").def(py::init<>());
  m.def(
      "apply",
      [](const py::list& xs, const py::list& outs, int64_t offset, const py::object&, const py::object&,
         const py::object&, const py::object&, const Options& options, std::uintptr_t) {
        return call_body(xs.ptr(), outs.ptr(), offset, options);
      },
      py::arg("xs"), py::arg("outs"), py::arg("offset"), py::arg("offsets").none(true),
      py::arg("position_ids").none(true), py::arg("cu_seqlens").none(true), py::arg("starts").none(true),
      py::arg("options"), py::arg("stream") = 0);
}
