// The extended API: arguments -> plan -> backend.
#include "rotary/rope.h"

#include "core/plan.h"

namespace rotary {
namespace {

void run(const TensorView* in, const TensorView* out, int n, const Positions& positions,
         const RopeOptions& options) {
  // Without frequencies of its own, a call rotates with base 10000 over its rotated dims.
  Frequencies fallback;
  if (options.freqs.inv_freq.empty()) {
    const int dims = options.dims == 0 && in[0].ndim() ? in[0].shape.back() : options.dims;
    if (dims > 0 && dims % 2 == 0) fallback = Frequencies::from_base(dims, 10000.0);
  }
  const Frequencies& freqs = options.freqs.inv_freq.empty() ? fallback : options.freqs;
  core::execute(core::make_plan(in, out, n, positions, options, freqs));
}

}  // namespace

Array rope(const Array& x, const Positions& positions, const RopeOptions& options) {
  Array out = Array::empty(x.shape(), x.dtype(), x.device());
  const TensorView in = x.view(), o = out.view();
  run(&in, &o, 1, positions, options);
  return out;
}

void rope(const TensorView& x, const TensorView& out, const Positions& positions, const RopeOptions& options) {
  run(&x, &out, 1, positions, options);
}

void rope_inplace(const TensorView& x, const Positions& positions, const RopeOptions& options) {
  run(&x, &x, 1, positions, options);
}

void rope_qk(const TensorView& q, const TensorView& k, const TensorView& q_out, const TensorView& k_out,
             const Positions& positions, const RopeOptions& options) {
  const TensorView in[2] = {q, k}, out[2] = {q_out, k_out};
  run(in, out, 2, positions, options);
}

void rope_qk_inplace(const TensorView& q, const TensorView& k, const Positions& positions,
                     const RopeOptions& options) {
  rope_qk(q, k, q, k, positions, options);
}

}  // namespace rotary
