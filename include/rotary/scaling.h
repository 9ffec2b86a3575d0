// Frequency builders for every RoPE scaling method real models use (docs/SCALING.md).
// Each reproduces Hugging Face transformers' definition, computed in double: one inverse
// frequency per rotated pair and the attention factor that the kernel multiplies into cos and
// sin. `dims` is the number of rotated features (head_dim * partial_rotary_factor), `base` is
// rope_theta. Bad arguments throw std::invalid_argument naming the argument.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "rotary/frequencies.h"

namespace rotary::scaling {

struct Llama3Params {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct YarnParams {
  double factor = 1.0;
  double original_max_position_embeddings = 4096;
  std::optional<double> attention_factor;  // overrides the mscale rules when given
  std::optional<double> mscale;            // used only together with mscale_all_dim (as HF)
  std::optional<double> mscale_all_dim;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  bool truncate = true;  // floor/ceil the correction range
};

struct LongRopeParams {
  std::vector<double> short_factor;  // one per pair
  std::vector<double> long_factor;   // one per pair
  double original_max_position_embeddings = 4096;
  double factor = 1.0;  // max_position_embeddings / original when the config gives no factor
  std::optional<double> attention_factor;
};

// How LongRoPE picks between short and long factors.
enum class LongRopePolicy {
  per_call,        // Hugging Face (default): long when this call's largest position + 1 > original
  serving_length,  // vLLM: long for every call when the serving length exceeds original
};

// Unscaled: inv_freq[j] = base ** (-2j/dims), attention factor 1.
Frequencies default_frequencies(int dims, double base);

// Linear position interpolation: inv_freq[j] = base ** (-2j/dims) / factor.
Frequencies linear(int dims, double base, double factor);

// Dynamic NTK, a pure function of the sequence length: for seq_len > max_position_embeddings
// the base becomes base * (factor*L/M - (factor-1)) ** (dims/(dims-2)); otherwise the default.
Frequencies dynamic_ntk(int dims, double base, double factor, double max_position_embeddings,
                        int64_t seq_len);

// Llama 3: wavelengths below O/high_freq_factor keep inv_freq, above O/low_freq_factor get
// inv_freq/factor, and the band in between (boundaries included, as HF) is interpolated.
// high_freq_factor must be at least low_freq_factor (equal: no band, as Llama 4 Scout).
Frequencies llama3(int dims, double base, const Llama3Params& params);

// YaRN's mscale: 1 for scale <= 1, else 0.1 * mscale * ln(scale) + 1.
double yarn_get_mscale(double scale, double mscale = 1.0);

// YaRN's attention factor: attention_factor if given, else mscale(f, mscale)/mscale(f,
// mscale_all_dim) when both are given and non-zero, else mscale(f).
double yarn_attention_factor(const YarnParams& params);

// YaRN: blends inv_freq/factor (long wavelengths) and inv_freq (short ones) with a linear ramp
// over the pairs between the beta_fast and beta_slow correction dimensions.
Frequencies yarn(int dims, double base, const YarnParams& params);

// LongRoPE's attention factor: attention_factor if given, else 1 for factor <= 1, else
// sqrt(1 + ln(factor) / ln(original_max_position_embeddings)).
double longrope_attention_factor(const LongRopeParams& params);

// LongRoPE: inv_freq[j] = base ** (-2j/dims) / ext[j], ext = long_factor when `length` exceeds
// original_max_position_embeddings, else short_factor. `length` is the call's largest position
// + 1 under LongRopePolicy::per_call, the serving length under LongRopePolicy::serving_length.
Frequencies longrope(int dims, double base, const LongRopeParams& params, int64_t length);

// Proportional RoPE (Gemma 4), over the whole head: inv_freq[j] = base ** (-2j/head_dim) / factor
// for the first floor(partial_rotary_factor * head_dim / 2) pairs and 0 (no rotation) for the
// others, so the rotating pairs keep the frequencies they have in the full head.
Frequencies proportional(int head_dim, double base, double partial_rotary_factor, double factor);

// The rotated feature count of a head: int(head_dim * partial_rotary_factor), truncated as
// Python's int(); must be even and positive.
int rotated_dims(int head_dim, double partial_rotary_factor);

// M-RoPE (Qwen2-VL): `freqs` with three position streams; pair j reads stream 0 for
// j < s0, stream 1 for j < s0+s1, else stream 2. With `interleaved` (Qwen3-VL): stream 1 when
// j % 3 == 1 and j < 3*s1, stream 2 when j % 3 == 2 and j < 3*s2, else stream 0.
// The sections must sum to freqs.pairs().
Frequencies mrope(Frequencies freqs, const std::vector<int>& mrope_section, bool interleaved);

// ERNIE-4.5-VL's M-RoPE: the first s0 + s1 pairs alternate between stream 1 (h, even pairs) and
// stream 2 (w, odd pairs), s0 = s1; the last s2 pairs read stream 0 (t). The sections must sum to
// freqs.pairs().
Frequencies mrope_alternating(Frequencies freqs, const std::vector<int>& mrope_section);

// 2-D vision RoPE (Qwen2-VL vision tower) over a whole head: dv = head_dim/2,
// inv_v[k] = theta ** (-2k/dv); inv_freq = concat(inv_v, inv_v), the first half reading the
// row stream (0) and the second the column stream (1). head_dim must be a multiple of 4.
Frequencies vision_2d(int head_dim, double theta = 10000.0);

}  // namespace rotary::scaling
