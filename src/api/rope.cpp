// The extended API: arguments -> plan -> backend.
#include "rotary/rope.h"

#include "core/plan.h"
#include "core/validate.h"

namespace rotary {
namespace {

void run(const TensorView* in, const TensorView* out, int n, const Positions& positions,
         const RopeOptions& options) {
  core::check_call(in[0], positions, options);
  core::run(in, out, n, positions, options);
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
