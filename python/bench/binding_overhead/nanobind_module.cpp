// rotary._rotary.apply's argument shape bound with nanobind (see call_shape.h).
#include <nanobind/nanobind.h>

#include "call_shape.h"

namespace nb = nanobind;

NB_MODULE(shape_nanobind, m) {
  nb::class_<Options>(m, "Options").def(nb::init<>());
  m.def(
      "apply",
      [](const nb::list& xs, const nb::list& outs, int64_t offset, const nb::object&, const nb::object&,
         const nb::object&, const nb::object&, const Options& options, std::uintptr_t) {
        return call_body(xs.ptr(), outs.ptr(), offset, options);
      },
      nb::arg("xs"), nb::arg("outs"), nb::arg("offset"), nb::arg("offsets").none(), nb::arg("position_ids").none(),
      nb::arg("cu_seqlens").none(), nb::arg("starts").none(), nb::arg("options"), nb::arg("stream") = 0);
}
