// RopeConfig: the frequencies and the module that a loaded config describes.
#include <stdexcept>

#include "rotary/config.h"

namespace rotary {

bool RopeConfig::depends_on_length() const {
  return method == "dynamic" || method == "longrope";
}

Frequencies RopeConfig::unscaled_frequencies() const {
  return scaling::default_frequencies(rotated_dims, base);
}

Frequencies RopeConfig::frequencies(std::optional<int64_t> seq_len) const {
  const int64_t length = seq_len.value_or(0);  // 0: what HF builds before any call
  Frequencies f;
  if (method == "default") f = scaling::default_frequencies(rotated_dims, base);
  else if (method == "linear") f = scaling::linear(rotated_dims, base, factor);
  else if (method == "dynamic")
    f = scaling::dynamic_ntk(rotated_dims, base, factor, double(max_position_embeddings), length);
  else if (method == "llama3") f = scaling::llama3(rotated_dims, base, llama3);
  else if (method == "yarn") f = scaling::yarn(rotated_dims, base, yarn);
  else if (method == "longrope") f = scaling::longrope(rotated_dims, base, longrope, length);
  else throw std::invalid_argument("[RopeConfig] unknown method '" + method + "'.");
  if (!mrope_section.empty()) f = scaling::mrope(std::move(f), mrope_section, mrope_interleaved);
  return f;
}

std::shared_ptr<const nn::ScaledRoPE> RopeConfig::make_rope() const {
  if (method == "llama3")
    return std::make_shared<nn::Llama3RoPE>(rotated_dims, max_position_embeddings, traditional,
                                            base, llama3);
  if (method == "yarn")
    return std::make_shared<nn::YarnRoPE>(rotated_dims, traditional, max_position_embeddings,
                                          base, yarn);
  if (method == "longrope")
    return std::make_shared<nn::SuScaledRoPE>(rotated_dims, base, max_position_embeddings,
                                              longrope, longrope_policy, traditional);
  if (method == "dynamic")
    return std::make_shared<nn::DynamicNTKScalingRoPE>(rotated_dims, max_position_embeddings,
                                                       traditional, base, factor);
  // default, linear and M-RoPE: fixed frequencies (M-RoPE reads its streams via apply()).
  return std::make_shared<nn::FrequencyRoPE>(rotated_dims, traditional, frequencies());
}

}  // namespace rotary
