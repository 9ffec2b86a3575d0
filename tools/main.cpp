// The `rotary` command-line tool: `rotary inspect CONFIG` shows the RoPE that a model's Hugging
// Face config builds (tools/inspect.cpp).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "inspect.h"

namespace {

CLI::App* add_inspect(CLI::App& app, rotary::tools::InspectOptions& o, int64_t& seq_len) {
  auto* cmd = app.add_subcommand("inspect", "show the RoPE a Hugging Face config builds");
  cmd->add_option("config", o.config_path, "the model's config.json, or its model directory")
      ->required();
  cmd->add_option("--plot", o.plot_path, "write wavelength per pair as an SVG chart (FILE.svg)");
  cmd->add_flag("--json", o.json, "print one JSON object instead of text");
  cmd->add_option("--seq-len", seq_len,
                  "sequence length for length-dependent methods (dynamic, longrope)")
      ->check(CLI::PositiveNumber);
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, also when piped
  CLI::App app{"rotary: rotary position embeddings"};
  app.set_version_flag("--version", std::string("rotary ") + ROTARY_VERSION);
  app.require_subcommand(1);
  rotary::tools::InspectOptions options;
  int64_t seq_len = 0;
  CLI::App* inspect = add_inspect(app, options, seq_len);
  CLI11_PARSE(app, argc, argv);
  if (inspect->get_option("--seq-len")->count() > 0) options.seq_len = seq_len;
  try {
    rotary::tools::inspect(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotary inspect: %s\n", e.what());
    return 1;
  }
  return 0;
}
