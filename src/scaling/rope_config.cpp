// RopeConfig: the frequencies and the module that a loaded config describes, by its method's
// entry in the table (methods.cpp).
#include "rotary/config.h"

#include <nlohmann/json.hpp>

#include "scaling/methods.h"

namespace rotary {

using scaling_detail::method_named;

bool RopeConfig::depends_on_length() const { return method_named(method).depends_on_length; }

Frequencies RopeConfig::unscaled_frequencies() const {
  return scaling::default_frequencies(rotated_dims, base);
}

Frequencies RopeConfig::frequencies(std::optional<int64_t> seq_len) const {
  // 0: what HF builds before any call.
  Frequencies f = method_named(method).build(*this, seq_len.value_or(0));
  if (!mrope_section.empty())
    f = mrope_alternating ? scaling::mrope_alternating(std::move(f), mrope_section)
                          : scaling::mrope(std::move(f), mrope_section, mrope_interleaved);
  return f;
}

nlohmann::ordered_json RopeConfig::method_parameters(std::optional<int64_t> seq_len) const {
  return method_named(method).parameters(*this, seq_len.value_or(0));
}

std::shared_ptr<const nn::ScaledRoPE> RopeConfig::make_rope() const {
  return method_named(method).module(*this);
}

}  // namespace rotary
