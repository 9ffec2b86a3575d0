// MLX's fast::rope, with MLX's signature, defaults, validation order and error texts.
// Angles follow default_precision() (rope.h): accurate unless set to compat.
#pragma once

#include <optional>

#include "rotary/array.h"

namespace rotary::fast {

// Rotates the first `dims` features of x, shape (B, *, T, D), at positions arange(T) + offset,
// inv_freq[i] = base ** (-2i/dims) or 1 / freqs[i]; exactly one of base and freqs is given.
Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int offset, const std::optional<Array>& freqs = std::nullopt);
// As above with an integer offset array of shape (), (1,) or (B,) (one offset per batch row).
Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const Array& offset, const std::optional<Array>& freqs = std::nullopt);

// The vector-Jacobian product of rope with respect to x: the inverse rotation of `cotangent`.
Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base,
               float scale, int offset, const std::optional<Array>& freqs = std::nullopt);
Array rope_vjp(const Array& cotangent, int dims, bool traditional, std::optional<float> base,
               float scale, const Array& offset, const std::optional<Array>& freqs = std::nullopt);

}  // namespace rotary::fast
