// The pieces of from_hf_config shared by the single-RoPE reader (config.cpp) and the per-layer
// reader (layers.cpp).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "rotary/config.h"
#include "scaling/json_section.h"

namespace rotary::scaling_detail {

// The text model's model_type: text_config's, else the top level's ("" when absent).
std::string text_model_type(const nlohmann::json& config, const Section& text);

// Whether rope_parameters / rope_scaling are keyed by layer type (transformers v5: Gemma 3's
// {"sliding_attention": {...}, "full_attention": {...}}; a null entry: those layers have no RoPE).
bool per_layer_type(const nlohmann::json& parameters);

// The scaling parameters: `rope_parameters` (transformers v5) or `rope_scaling`; an empty
// section when the config has neither. Per-layer-type parameters: the full-attention layers',
// else those of the first layer type in layer_types that has some.
Section scaling_section(const Section& text);

// One RoPE: `rope` holds the scaling parameters (an empty section for none), `text` the text
// model's keys; `theta`, when given, is the base (model-specific keys such as Gemma 3's
// rope_local_base_freq).
RopeConfig read_rope(const nlohmann::json& config, const Section& text, const Section& rope,
                     std::optional<double> theta = std::nullopt);

// Fills c.layers and c.layer_ropes when the config gives num_hidden_layers (layers.cpp); for a
// model with several RoPEs, c becomes its full-attention layers' RoPE.
void read_layers(const nlohmann::json& config, const Section& text, RopeConfig& c);

}  // namespace rotary::scaling_detail
