// The one table of RoPE scaling methods. Each method is registered once (methods.cpp) with its
// names, its config reader, its frequency builder, whether it depends on the sequence length and
// its nn module; from_hf_config, initialize_rope, RopeConfig, the CLI and Python all go through
// it. Adding a method is one entry in methods.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rotary/config.h"
#include "scaling/json_section.h"

namespace rotary::scaling_detail {

// Where a method's reader finds its keys.
struct MethodKeys {
  const Section& rope;           // the scaling parameters (rope_parameters, rope_scaling, ...)
  const Section* model;          // the model config's top level; null for initialize_rope
  // initialize_rope reads as mlx-lm does: mlx-lm's defaults for keys that HF requires.
  bool mlx_lm() const { return model == nullptr; }
  // max_position_embeddings, which the method needs (`why` says for what).
  int64_t max_positions(const RopeConfig& c, const std::string& why) const;
};

struct ScalingMethod {
  const char* name;                  // transformers' rope_type
  std::vector<std::string> aliases;  // other spellings configs use (Phi-3's "su", ...)
  // Set when a config of type `refines` that holds a non-zero `marker` key is this method
  // (Hunyuan: "dynamic" with an `alpha`).
  const char* refines = nullptr;
  const char* marker = nullptr;
  void (*read)(const MethodKeys& keys, RopeConfig& c);
  // The frequencies for a call of `length` (largest position + 1; 0: as built at load time).
  Frequencies (*build)(const RopeConfig& c, int64_t length);
  bool depends_on_length;
  // The method reads partial_rotary_factor itself and rotates the whole head (proportional).
  bool whole_head = false;
  std::shared_ptr<const nn::ScaledRoPE> (*module)(const RopeConfig& c);
  // initialize_rope returns MLX's nn::RoPE with scale 1/factor, as mlx-lm does.
  bool mlx_plain_rope;
  // Every parameter of the method as the config set it, for inspect and Python.
  nlohmann::ordered_json (*parameters)(const RopeConfig& c, int64_t length);
};

// The method of a loaded config (by its canonical name).
const ScalingMethod& method_named(const std::string& name);
// The method a config's type string names: canonical names, aliases and refinements.
// `key` names the type's key for the error, which lists every accepted name.
const ScalingMethod& select_method(const std::string& type, const Section& rope,
                                   const std::string& key);

}  // namespace rotary::scaling_detail
