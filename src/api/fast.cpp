// MLX's fast::rope and its gradient: MLX's checks in MLX's order (core::check_mlx_call),
// then the planner and a backend.
#include "rotary/fast.h"

#include <optional>
#include <vector>

#include "core/plan.h"
#include "core/validate.h"
#include "rotary/cuda.h"
#include "rotary/rope.h"

namespace rotary::fast {
namespace {

Array rope_with(const Array& x, int dims, bool traditional, const std::optional<float>& base, float scale,
                int64_t offset, const Array* offset_array, const std::optional<Array>& freqs, bool inverse) {
  core::MlxCall call;
  call.x_ndim = x.ndim();
  if (x.ndim() > 0) {
    call.x_batch = x.shape(0);
    call.x_last = x.shape(-1);
  }
  call.x_dtype = to_string(x.dtype());
  call.x_floating = is_floating(x.dtype());
  call.base = base;
  if (offset_array) {
    call.offset_shape = &offset_array->shape();
    call.offset_dtype = to_string(offset_array->dtype());
    call.offset_integer = is_integer(offset_array->dtype());
  }
  call.dims = dims;
  if (freqs) call.freqs_shape = &freqs->shape();
  core::check_mlx_call(call);

  std::vector<double> periods;
  if (freqs)
    for (int i = 0; i < dims / 2; ++i) periods.push_back(freqs->at(i));
  RopeOptions options;
  options.dims = dims;
  options.layout = pair_layout(traditional);
  options.freqs = core::mlx_frequencies(dims, base, freqs ? periods.data() : nullptr);
  options.scale = scale;
  options.inverse = inverse;
  // Offsets stay at their full width (MLX narrows int64 to int32; rotary does not). A host
  // offset array follows x to its device, as MLX's would.
  std::optional<Array> offsets;
  Positions positions(offset);
  if (offset_array) {
    offsets = offset_array->device() == x.device() ? *offset_array : to_device(*offset_array, x.device());
    positions = Positions::offsets(offsets->view());
  }
  Array out = Array::empty(x.shape(), x.dtype(), x.device());
  const TensorView in = x.view(), o = out.view();
  core::run(&in, &o, 1, positions, options);
  return out;
}

}  // namespace

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<Array>& freqs) {
  return rope_with(x, dims, traditional, base, scale, offset, nullptr, freqs, false);
}

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const Array& offset, const std::optional<Array>& freqs) {
  return rope_with(x, dims, traditional, base, scale, 0, &offset, freqs, false);
}

Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base, float scale,
               int offset, const std::optional<Array>& freqs) {
  return rope_with(cotangent, dims, traditional, base, scale, offset, nullptr, freqs, true);
}

Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base, float scale,
               const Array& offset, const std::optional<Array>& freqs) {
  return rope_with(cotangent, dims, traditional, base, scale, 0, &offset, freqs, true);
}

}  // namespace rotary::fast
