// The loader's error text for a config, or "no exception": shared by the config test suites.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "rotary/config.h"

namespace rotary::testing {

inline std::string error_of(const nlohmann::json& config) {
  try {
    from_hf_config(config);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

}  // namespace rotary::testing
