// Build a model's RoPE from its Hugging Face config.json: the same frequencies and attention
// factor that transformers builds (docs/SCALING.md lists the keys read).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rotary/frequencies.h"
#include "rotary/nn_scaling.h"
#include "rotary/scaling.h"

namespace rotary {

// What a config says about its RoPE.
struct RopeConfig {
  std::string method = "default";  // default, linear, dynamic, yarn, llama3, longrope
  std::string model_type;          // config's model_type ("" when absent)
  int head_dim = 0;                // features per attention head that RoPE sees
  int rotated_dims = 0;            // int(head_dim * partial_rotary_factor)
  bool traditional = false;        // interleaved pairs (GPT-J, DeepSeek) vs half split
  double base = 10000;             // rope_theta
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;  // pretraining length (= max when unscaled)
  double factor = 1.0;             // linear, dynamic, llama3, yarn, longrope
  double attention_factor = 1.0;   // multiplies cos and sin (YaRN, LongRoPE)
  double softmax_scale_factor = 1.0;  // DeepSeek: yarn_get_mscale(factor, mscale_all_dim)^2
  scaling::Llama3Params llama3;       // filled when method == "llama3"
  scaling::YarnParams yarn;           // filled when method == "yarn"
  scaling::LongRopeParams longrope;   // filled when method == "longrope"
  scaling::LongRopePolicy longrope_policy = scaling::LongRopePolicy::per_call;
  std::vector<int> mrope_section;     // M-RoPE pairs per (t, h, w) stream; empty otherwise
  bool mrope_interleaved = false;     // Qwen3-VL layout

  // Whether frequencies() depends on the sequence length (dynamic NTK, LongRoPE).
  bool depends_on_length() const;
  // The frequencies for a call whose largest position is seq_len - 1 (for LongRoPE under the
  // serving_length policy: the serving length). No length: the frequencies HF builds at load
  // time (dynamic: unscaled; LongRoPE: short factors).
  Frequencies frequencies(std::optional<int64_t> seq_len = std::nullopt) const;
  // The unscaled frequencies base ** (-2j/rotated_dims), for comparison.
  Frequencies unscaled_frequencies() const;
  // A module that rotates (B, *, T, head_dim) arrays with these settings.
  std::shared_ptr<const nn::ScaledRoPE> make_rope() const;
};

// Reads config.json (or a parsed object). Errors name the key: std::invalid_argument.
// Multimodal configs with a text_config read their text model's keys from it.
RopeConfig from_hf_config(const nlohmann::json& config);
RopeConfig from_hf_config(const std::filesystem::path& path);

}  // namespace rotary
