// Build a model's RoPE from its Hugging Face config.json: the same frequencies and attention
// factor that transformers builds (docs/SCALING.md lists the keys read).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rotary/frequencies.h"
#include "rotary/nn_scaling.h"
#include "rotary/scaling.h"

namespace rotary {

// Which features of a head the RoPE rotates.
enum class RotatedPart {
  whole_head,  // all head_dim features
  leading,     // the first rotated_dims features; the rest pass through (partial_rotary_factor,
               // rotary_pct, rotary_dim: GPT-NeoX, Phi, GLM-4, Qwen3-Next)
  rope_head,   // DeepSeek MLA: each head's qk_rope_head_dim part (after its qk_nope_head_dim
               // part), rotated whole; head_dim is that part's size
};

// One decoder layer's RoPE.
struct LayerRope {
  std::string layer_type;  // the config's layer_types entry, or the one transformers derives
                           // ("full_attention", "sliding_attention", "linear_attention", ...)
  int rope = -1;           // index into RopeConfig::layer_ropes; -1: NoPE, no rotation
  std::string nope_key;    // for NoPE layers: the key that says so (e.g. "no_rope_layers[3]")
};

// What a config says about its RoPE.
struct RopeConfig {
  std::string method = "default";  // transformers' rope_type (docs/SCALING.md lists them)
  std::string model_type;          // config's model_type ("" when absent)
  int head_dim = 0;                // features per attention head that RoPE sees
  int rotated_dims = 0;            // int(head_dim * partial_rotary_factor)
  bool traditional = false;        // interleaved pairs (GPT-J, DeepSeek) vs half split
  double base = 10000;             // rope_theta
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;  // pretraining length (= max when unscaled)
  double factor = 1.0;             // linear, dynamic, llama3, yarn, longrope
  double alpha = 0;                // ntk_alpha (Hunyuan): base * alpha ** (dims/(dims-2))
  double partial_rotary_factor = 1;  // proportional (Gemma 4): the share of the head whose pairs
                                     // rotate (rotated_dims is then head_dim)
  double softmax_scale_factor = 1.0;  // DeepSeek: yarn_get_mscale(factor, mscale_all_dim)^2
  scaling::Llama3Params llama3;       // filled when method == "llama3"
  scaling::YarnParams yarn;           // filled when method == "yarn"
  scaling::LongRopeParams longrope;   // filled when method == "longrope"
  scaling::LongRopePolicy longrope_policy = scaling::LongRopePolicy::per_call;
  int64_t serving_length = 0;         // serving_length policy: 0 means max_position_embeddings
  std::vector<int> mrope_section;     // M-RoPE pairs per (t, h, w) stream; empty otherwise
  bool mrope_interleaved = false;     // Qwen3-VL layout
  bool mrope_alternating = false;     // ERNIE-4.5-VL layout (scaling::mrope_alternating)
  RotatedPart rotated_part = RotatedPart::whole_head;

  // Per layer, when the config gives num_hidden_layers: the distinct RoPEs of its layers (each
  // with empty layers of its own) and, per layer, which one it rotates with. For models with
  // several RoPEs the fields above describe the full-attention layers' RoPE (Gemma 3, ModernBERT).
  std::vector<RopeConfig> layer_ropes;
  std::vector<LayerRope> layers;
  // The RoPE of layer `layer`; nullptr for a NoPE layer. Throws std::out_of_range.
  const RopeConfig* layer_rope(size_t layer) const;

  // Whether frequencies() depends on the sequence length (dynamic NTK, LongRoPE).
  bool depends_on_length() const;
  // The frequencies for a call whose largest position is seq_len - 1 (their attention_factor
  // multiplies cos and sin). No length: the frequencies HF builds at load time (dynamic:
  // unscaled; LongRoPE: short factors). LongRoPE under the serving_length policy picks its
  // factors by serving_length whatever the call's length.
  Frequencies frequencies(std::optional<int64_t> seq_len = std::nullopt) const;
  // Every parameter of the method, by its config name, as read (for a call of seq_len where the
  // method depends on it): e.g. Llama 3's band edges, YaRN's betas, LongRoPE's factor set.
  nlohmann::ordered_json method_parameters(std::optional<int64_t> seq_len = std::nullopt) const;
  // The unscaled frequencies base ** (-2j/rotated_dims), for comparison.
  Frequencies unscaled_frequencies() const;
  // A module that rotates (B, *, T, head_dim) arrays with these settings.
  std::shared_ptr<const nn::ScaledRoPE> make_rope() const;
};

// Reads a parsed config, a config.json path or a model directory holding config.json (a string
// is always a path). Errors name the key: std::invalid_argument. Multimodal configs with a
// text_config read their text model's keys from it.
RopeConfig from_hf_config(const nlohmann::json& config);
RopeConfig from_hf_config(const std::filesystem::path& path);
RopeConfig from_hf_config(const char* path);
RopeConfig from_hf_config(const std::string& path);

// Parses config.json text; NaN, Infinity and -Infinity (as Python's json writes them) are kept
// as strings so that from_hf_config's error names the key that holds one.
nlohmann::json parse_hf_config(std::string_view text);

}  // namespace rotary
