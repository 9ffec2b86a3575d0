// `rotary inspect`: the RoPE that a model's Hugging Face config builds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rotary::tools {

struct InspectOptions {
  std::string config_path;  // config.json or a model directory holding one
  std::string plot_path;    // "" or an .svg path
  bool json = false;
  std::optional<int64_t> seq_len;
};

// Prints the report (and writes the plot); throws std::invalid_argument on a bad config or path.
void inspect(const InspectOptions& options);

}  // namespace rotary::tools
