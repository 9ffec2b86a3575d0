// MLX's fast::rope and its gradient: MLX's checks in MLX's order, then the extended API.
#include "rotary/fast.h"

#include "core/validate.h"
#include "rotary/cuda.h"
#include "rotary/rope.h"

namespace rotary::fast {
namespace {

// Spec 1.1 checks 1-4 and 8-11 (the offset checks 5-7 sit between 4 and 8 and are run by
// the caller through `check_offset`).
template <typename CheckOffset>
Frequencies validate(const Array& x, int dims, const std::optional<float>& base,
                     const std::optional<Array>& freqs, CheckOffset&& check_offset) {
  core::check_base_or_freqs(base.has_value(), freqs.has_value());
  core::check_input(x.view());
  check_offset();
  core::check_dims(dims, x.shape(-1));
  if (!freqs) return Frequencies::from_base(dims, static_cast<double>(*base));
  core::check_freqs_shape(freqs->shape(), dims);
  std::vector<double> periods(dims / 2);
  for (int i = 0; i < dims / 2; ++i) periods[i] = freqs->at(i);
  return Frequencies::from_periods(periods);
}

Array apply(const Array& x, int dims, bool traditional, float scale, const Positions& positions,
            Frequencies freqs, bool inverse) {
  RopeOptions options;
  options.dims = dims;
  options.traditional = traditional;
  options.freqs = std::move(freqs);
  options.scale = scale;
  options.inverse = inverse;
  return rotary::rope(x, positions, options);
}

Array rope_int(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
               int offset, const std::optional<Array>& freqs, bool inverse) {
  Frequencies f = validate(x, dims, base, freqs, [] {});
  return apply(x, dims, traditional, scale, Positions(offset), std::move(f), inverse);
}

Array rope_array(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
                 const Array& offset, const std::optional<Array>& freqs, bool inverse) {
  Frequencies f = validate(x, dims, base, freqs,
                           [&] { core::check_offset_array(offset.shape(), offset.dtype(), x.shape(0)); });
  // Offsets stay at their full width (MLX narrows int64 to int32; rotary does not). A host
  // offset array follows x to its device, as MLX's would.
  const Array offsets = offset.device() == x.device() ? offset : to_device(offset, x.device());
  return apply(x, dims, traditional, scale, Positions::offsets(offsets.view()), std::move(f), inverse);
}

}  // namespace

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<Array>& freqs) {
  return rope_int(x, dims, traditional, base, scale, offset, freqs, false);
}

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const Array& offset, const std::optional<Array>& freqs) {
  return rope_array(x, dims, traditional, base, scale, offset, freqs, false);
}

Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base, float scale,
               int offset, const std::optional<Array>& freqs) {
  return rope_int(cotangent, dims, traditional, base, scale, offset, freqs, true);
}

Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base, float scale,
               const Array& offset, const std::optional<Array>& freqs) {
  return rope_array(cotangent, dims, traditional, base, scale, offset, freqs, true);
}

}  // namespace rotary::fast
