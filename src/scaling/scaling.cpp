// Frequency builders: Hugging Face transformers' modeling_rope_utils formulas, in double.
#include "rotary/scaling.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace rotary::scaling {
namespace {

void check_dims(int dims, const char* who) {
  if (dims <= 0 || dims % 2 != 0)
    throw std::invalid_argument(std::string("[") + who +
                                "] dims must be positive and even but got " +
                                std::to_string(dims) + ".");
}

void check_positive(double value, const char* who, const char* name) {
  if (!(value > 0) || !std::isfinite(value))
    throw std::invalid_argument(std::string("[") + who + "] " + name +
                                " must be a positive number but got " + std::to_string(value) +
                                ".");
}

}  // namespace

Frequencies default_frequencies(int dims, double base) {
  check_dims(dims, "default");
  check_positive(base, "default", "base");
  return Frequencies::from_base(dims, base);
}

Frequencies linear(int dims, double base, double factor) {
  check_positive(factor, "linear", "factor");
  Frequencies f = default_frequencies(dims, base);
  for (double& v : f.inv_freq) v /= factor;
  return f;
}

Frequencies proportional(int head_dim, double base, double partial_rotary_factor, double factor) {
  check_dims(head_dim, "proportional");
  check_positive(factor, "proportional", "factor");
  if (!(partial_rotary_factor >= 0 && partial_rotary_factor <= 1))
    throw std::invalid_argument("[proportional] partial_rotary_factor must be in [0, 1] but got " +
                                std::to_string(partial_rotary_factor) + ".");
  Frequencies f = linear(head_dim, base, factor);
  // HF: int(partial_rotary_factor * head_dim // 2) pairs rotate.
  const size_t rotating = size_t(std::floor(partial_rotary_factor * head_dim / 2));
  const auto still = f.inv_freq.begin() + std::ptrdiff_t(std::min(rotating, f.inv_freq.size()));
  std::fill(still, f.inv_freq.end(), 0.0);
  return f;
}

Frequencies dynamic_ntk(int dims, double base, double factor, double max_position_embeddings,
                        int64_t seq_len) {
  check_dims(dims, "dynamic");
  check_positive(factor, "dynamic", "factor");
  check_positive(max_position_embeddings, "dynamic", "max_position_embeddings");
  if (dims == 2)  // the exponent dims/(dims-2) is undefined
    throw std::invalid_argument("[dynamic] dims must be at least 4 but got 2.");
  // Lengths up to M keep the trained base (HF: seq_len = max(seq_len, M)).
  double length = std::max(double(seq_len), max_position_embeddings);
  double scaled_base =
      base * std::pow(factor * length / max_position_embeddings - (factor - 1),
                      double(dims) / (dims - 2));
  return default_frequencies(dims, scaled_base);
}

Frequencies llama3(int dims, double base, const Llama3Params& p) {
  check_positive(p.factor, "llama3", "factor");
  check_positive(p.original_max_position_embeddings, "llama3", "original_max_position_embeddings");
  check_positive(p.low_freq_factor, "llama3", "low_freq_factor");
  // Equal factors (Llama 4 Scout's config) leave no band between: HF accepts them.
  if (!(p.high_freq_factor >= p.low_freq_factor))
    throw std::invalid_argument("[llama3] high_freq_factor must be at least low_freq_factor but got " +
                                std::to_string(p.high_freq_factor) + " < " +
                                std::to_string(p.low_freq_factor) + ".");
  Frequencies f = default_frequencies(dims, base);
  const double O = p.original_max_position_embeddings;
  const double low_freq_wavelen = O / p.low_freq_factor;
  const double high_freq_wavelen = O / p.high_freq_factor;
  for (double& inv : f.inv_freq) {
    const double wavelen = 2 * std::numbers::pi / inv;
    if (wavelen < high_freq_wavelen) continue;  // high frequencies: unchanged
    if (wavelen > low_freq_wavelen) {           // low frequencies: interpolated fully
      inv = inv / p.factor;
      continue;
    }
    // The band between, boundaries included (HF; mlx-lm makes them strict). With equal
    // factors only a wavelength exactly on the edge lands here, where HF's 0/0 gives NaN: it
    // is kept unchanged instead.
    if (p.high_freq_factor == p.low_freq_factor) continue;
    const double smooth = (O / wavelen - p.low_freq_factor) /
                          (p.high_freq_factor - p.low_freq_factor);
    inv = (1 - smooth) * inv / p.factor + smooth * inv;
  }
  return f;
}

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_attention_factor(const YarnParams& p) {
  if (p.attention_factor) return *p.attention_factor;
  // HF: `if mscale and mscale_all_dim` (a zero counts as absent).
  if (p.mscale.value_or(0) != 0 && p.mscale_all_dim.value_or(0) != 0)
    return yarn_get_mscale(p.factor, *p.mscale) / yarn_get_mscale(p.factor, *p.mscale_all_dim);
  return yarn_get_mscale(p.factor);
}

Frequencies yarn(int dims, double base, const YarnParams& p) {
  check_dims(dims, "yarn");
  check_positive(base, "yarn", "base");
  check_positive(p.factor, "yarn", "factor");
  check_positive(p.original_max_position_embeddings, "yarn", "original_max_position_embeddings");
  check_positive(p.beta_fast, "yarn", "beta_fast");
  check_positive(p.beta_slow, "yarn", "beta_slow");
  // The pair index at which a wavelength completes `rotations` turns over the original context.
  auto correction_dim = [&](double rotations) {
    return dims * std::log(p.original_max_position_embeddings / (rotations * 2 * std::numbers::pi)) /
           (2 * std::log(base));
  };
  double low = correction_dim(p.beta_fast);
  double high = correction_dim(p.beta_slow);
  if (p.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dims - 1));
  if (low == high) high += 0.001;  // avoid a division by zero in the ramp

  Frequencies f;
  f.attention_factor = yarn_attention_factor(p);
  for (int j = 0; j < dims / 2; ++j) {
    const double period = std::pow(base, double(2 * j) / dims);
    const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1 - ramp;  // weight of the unscaled frequency
    const double inv_extrapolated = 1.0 / period;
    const double inv_interpolated = 1.0 / (p.factor * period);
    f.inv_freq.push_back(inv_interpolated * (1 - extrapolation) +
                         inv_extrapolated * extrapolation);
  }
  return f;
}

double longrope_attention_factor(const LongRopeParams& p) {
  if (p.attention_factor) return *p.attention_factor;
  if (p.factor <= 1.0) return 1.0;
  return std::sqrt(1 + std::log(p.factor) / std::log(p.original_max_position_embeddings));
}

Frequencies longrope(int dims, double base, const LongRopeParams& p, int64_t length) {
  check_dims(dims, "longrope");
  check_positive(p.original_max_position_embeddings, "longrope",
                 "original_max_position_embeddings");
  const size_t pairs = size_t(dims / 2);
  for (const auto* list : {&p.short_factor, &p.long_factor})
    if (list->size() != pairs)
      throw std::invalid_argument(
          std::string("[longrope] ") + (list == &p.short_factor ? "short_factor" : "long_factor") +
          " must have dims/2 = " + std::to_string(pairs) + " entries but has " +
          std::to_string(list->size()) + ".");
  const bool use_long = double(length) > p.original_max_position_embeddings;
  const std::vector<double>& ext = use_long ? p.long_factor : p.short_factor;
  Frequencies f = default_frequencies(dims, base);
  for (size_t j = 0; j < pairs; ++j) {
    check_positive(ext[j], "longrope", use_long ? "long_factor[j]" : "short_factor[j]");
    f.inv_freq[j] = 1.0 / (ext[j] * std::pow(base, double(2 * j) / dims));
  }
  f.attention_factor = longrope_attention_factor(p);
  return f;
}

int rotated_dims(int head_dim, double partial_rotary_factor) {
  if (!(partial_rotary_factor > 0 && partial_rotary_factor <= 1))
    throw std::invalid_argument("[rotated_dims] partial_rotary_factor must be in (0, 1] but got " +
                                std::to_string(partial_rotary_factor) + ".");
  const int dims = int(head_dim * partial_rotary_factor);  // Python's int(): truncation
  if (dims <= 0 || dims % 2 != 0)
    throw std::invalid_argument("[rotated_dims] head_dim * partial_rotary_factor = " +
                                std::to_string(dims) + " must be positive and even (head_dim " +
                                std::to_string(head_dim) + ").");
  return dims;
}

Frequencies mrope(Frequencies freqs, const std::vector<int>& section, bool interleaved) {
  if (section.size() != 3)
    throw std::invalid_argument("[mrope] mrope_section must have 3 entries (t, h, w) but has " +
                                std::to_string(section.size()) + ".");
  int total = 0;
  for (int s : section) {
    if (s < 0)
      throw std::invalid_argument("[mrope] mrope_section entries must be non-negative.");
    total += s;
  }
  if (total != freqs.pairs())
    throw std::invalid_argument("[mrope] mrope_section must sum to dims/2 = " +
                                std::to_string(freqs.pairs()) + " but sums to " +
                                std::to_string(total) + ".");
  freqs.position_streams = 3;
  freqs.pair_position_stream.assign(total, 0);
  for (int j = 0; j < total; ++j) {
    if (interleaved) {
      if (j % 3 == 1 && j < 3 * section[1]) freqs.pair_position_stream[j] = 1;
      else if (j % 3 == 2 && j < 3 * section[2]) freqs.pair_position_stream[j] = 2;
    } else {
      freqs.pair_position_stream[j] = j < section[0] ? 0 : j < section[0] + section[1] ? 1 : 2;
    }
  }
  return freqs;
}

Frequencies mrope_alternating(Frequencies freqs, const std::vector<int>& section) {
  freqs = mrope(std::move(freqs), section, false);  // checks the sections
  if (section[0] != section[1])
    throw std::invalid_argument(
        "[mrope_alternating] mrope_section's h and w counts must be equal but are " +
        std::to_string(section[0]) + " and " + std::to_string(section[1]) + ".");
  for (int j = 0; j < freqs.pairs(); ++j)
    freqs.pair_position_stream[j] = j < 2 * section[0] ? 1 + j % 2 : 0;
  return freqs;
}

Frequencies vision_2d(int head_dim, double theta) {
  if (head_dim <= 0 || head_dim % 4 != 0)
    throw std::invalid_argument("[vision_2d] head_dim must be a positive multiple of 4 but got " +
                                std::to_string(head_dim) + ".");
  const int dv = head_dim / 2;  // features per axis
  Frequencies axis = default_frequencies(dv, theta);
  Frequencies f;
  f.inv_freq = axis.inv_freq;
  f.inv_freq.insert(f.inv_freq.end(), axis.inv_freq.begin(), axis.inv_freq.end());
  f.position_streams = 2;
  f.pair_position_stream.assign(dv / 2, 0);
  f.pair_position_stream.resize(dv, 1);
  return f;
}

}  // namespace rotary::scaling
