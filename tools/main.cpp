// The `rotary` command-line tool. `rotary inspect CONFIG.json` shows the RoPE that a model's
// Hugging Face config builds: method, sizes, attention factor and, per pair, the inverse
// frequency, the wavelength in tokens and its ratio to the unscaled frequency.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numbers>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "plot_svg.h"
#include "rotary/config.h"

namespace {

struct InspectOptions {
  std::string config_path;
  std::string plot_path;
  bool json = false;
  std::optional<int64_t> seq_len;
};

double wavelength(double inv_freq) { return 2 * std::numbers::pi / inv_freq; }

void print_json(const rotary::RopeConfig& c, const rotary::Frequencies& f,
                const rotary::Frequencies& unscaled, const InspectOptions& o) {
  nlohmann::json j;
  j["config"] = o.config_path;
  j["model_type"] = c.model_type;
  j["method"] = c.method;
  j["head_dim"] = c.head_dim;
  j["rotated_dims"] = c.rotated_dims;
  j["traditional"] = c.traditional;
  j["rope_theta"] = c.base;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["original_max_position_embeddings"] = c.original_max_position_embeddings;
  j["factor"] = c.factor;
  j["attention_factor"] = f.attention_factor;
  j["softmax_scale_factor"] = c.softmax_scale_factor;
  j["seq_len"] = o.seq_len ? nlohmann::json(*o.seq_len) : nlohmann::json();
  j["inv_freq"] = f.inv_freq;
  j["unscaled_inv_freq"] = unscaled.inv_freq;
  nlohmann::json wl = nlohmann::json::array();
  for (double v : f.inv_freq) wl.push_back(wavelength(v));
  j["wavelength"] = wl;
  if (!c.mrope_section.empty()) {
    j["mrope_section"] = c.mrope_section;
    j["mrope_interleaved"] = c.mrope_interleaved;
    j["pair_stream"] = std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end());
  }
  std::cout << j.dump(2) << "\n";
}

void print_text(const rotary::RopeConfig& c, const rotary::Frequencies& f,
                const rotary::Frequencies& unscaled, const InspectOptions& o) {
  std::printf("config            %s\n", o.config_path.c_str());
  std::printf("model_type        %s\n", c.model_type.empty() ? "-" : c.model_type.c_str());
  std::printf("method            %s\n", c.method.c_str());
  std::printf("head_dim          %d\n", c.head_dim);
  std::printf("rotated_dims      %d (%d pairs%s)\n", c.rotated_dims, c.rotated_dims / 2,
              c.rotated_dims < c.head_dim ? ", the rest pass through" : "");
  std::printf("layout            %s\n", c.traditional ? "interleaved pairs (traditional=true)"
                                                     : "half split (traditional=false)");
  std::printf("rope_theta        %.17g\n", c.base);
  std::printf("max positions     %lld (original %lld)\n", (long long)c.max_position_embeddings,
              (long long)c.original_max_position_embeddings);
  if (c.method != "default") std::printf("factor            %.17g\n", c.factor);
  std::printf("attention_factor  %.17g\n", f.attention_factor);
  if (c.softmax_scale_factor != 1.0)
    std::printf("softmax scale x   %.17g (DeepSeek mscale^2, applied by attention)\n",
                c.softmax_scale_factor);
  if (c.depends_on_length())
    std::printf("seq_len           %s\n",
                o.seq_len ? std::to_string(*o.seq_len).c_str() : "none (as built at load time)");
  if (!c.mrope_section.empty())
    std::printf("mrope_section     [%d, %d, %d]%s\n", c.mrope_section[0], c.mrope_section[1],
                c.mrope_section[2], c.mrope_interleaved ? " interleaved" : "");
  std::printf("\n%5s %24s %16s %12s%s\n", "pair", "inv_freq", "wavelength", "ratio",
              f.pair_position_stream.empty() ? "" : "  stream");
  for (int j = 0; j < f.pairs(); ++j) {
    std::printf("%5d %24.17g %16.2f %12.8f", j, f.inv_freq[j], wavelength(f.inv_freq[j]),
                f.inv_freq[j] / unscaled.inv_freq[j]);
    if (!f.pair_position_stream.empty()) std::printf("  %6d", int(f.pair_position_stream[j]));
    std::printf("\n");
  }
}

void write_plot(const rotary::RopeConfig& c, const rotary::Frequencies& f,
                const rotary::Frequencies& unscaled, const std::string& path) {
  rotary::tools::WavelengthPlot plot;
  plot.title = (c.model_type.empty() ? std::string("model") : c.model_type) + ": " + c.method +
               " RoPE, " + std::to_string(c.rotated_dims / 2) + " pairs, theta " +
               nlohmann::json(c.base).dump();
  for (int j = 0; j < f.pairs(); ++j) {
    plot.scaled.push_back(wavelength(f.inv_freq[j]));
    plot.unscaled.push_back(wavelength(unscaled.inv_freq[j]));
  }
  plot.original_context = double(c.original_max_position_embeddings);
  plot.max_context = double(c.max_position_embeddings);
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
  out << rotary::tools::wavelength_svg(plot);
}

int inspect(const InspectOptions& o) {
  const rotary::RopeConfig c = rotary::from_hf_config(std::filesystem::path(o.config_path));
  const rotary::Frequencies f = c.frequencies(o.seq_len);
  const rotary::Frequencies unscaled = c.unscaled_frequencies();
  if (o.json) print_json(c, f, unscaled, o);
  else print_text(c, f, unscaled, o);
  if (!o.plot_path.empty()) write_plot(c, f, unscaled, o.plot_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rotary: rotary position embeddings"};
  app.require_subcommand(1);
  InspectOptions options;
  int64_t seq_len = 0;
  auto* cmd = app.add_subcommand("inspect", "show the RoPE a Hugging Face config.json builds");
  cmd->add_option("config", options.config_path, "the model's config.json")->required();
  cmd->add_option("--plot", options.plot_path, "write wavelength per pair as an SVG chart");
  cmd->add_flag("--json", options.json, "print one JSON object instead of text");
  auto* len = cmd->add_option("--seq-len", seq_len,
                              "sequence length for length-dependent methods (dynamic, longrope)")
                  ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (len->count() > 0) options.seq_len = seq_len;
  try {
    return inspect(options);
  } catch (const std::exception& e) {
    std::cerr << "rotary inspect: " << e.what() << "\n";
    return 1;
  }
}
