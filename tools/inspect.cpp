// `rotary inspect`: method, sizes, attention factor, every method parameter and, per pair, the
// inverse frequency, the wavelength in tokens and its ratio to the unscaled frequency.
#include "inspect.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "plot_svg.h"
#include "rotary/config.h"

namespace rotary::tools {
namespace {

double wavelength(double inv_freq) { return 2 * std::numbers::pi / inv_freq; }

// What one RoPE of the config builds for the requested length.
struct Built {
  Frequencies freqs;
  Frequencies unscaled;
  nlohmann::ordered_json parameters;
};

Built build(const RopeConfig& c, const InspectOptions& o) {
  return {c.frequencies(o.seq_len), c.unscaled_frequencies(), c.method_parameters(o.seq_len)};
}

void print_json(const RopeConfig& c, const Built& b, const InspectOptions& o) {
  nlohmann::ordered_json j;
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
  j["parameters"] = b.parameters;
  j["attention_factor"] = b.freqs.attention_factor;
  j["softmax_scale_factor"] = c.softmax_scale_factor;
  j["seq_len"] = o.seq_len ? nlohmann::ordered_json(*o.seq_len) : nlohmann::ordered_json();
  j["inv_freq"] = b.freqs.inv_freq;
  j["unscaled_inv_freq"] = b.unscaled.inv_freq;
  nlohmann::ordered_json wl = nlohmann::ordered_json::array();
  for (double v : b.freqs.inv_freq) wl.push_back(wavelength(v));
  j["wavelength"] = wl;
  if (!c.mrope_section.empty()) {
    j["mrope_section"] = c.mrope_section;
    j["mrope_interleaved"] = c.mrope_interleaved;
    j["pair_stream"] = std::vector<int>(b.freqs.pair_stream.begin(), b.freqs.pair_stream.end());
  }
  std::cout << j.dump(2) << "\n";
}

void print_summary(const RopeConfig& c, const Built& b, const InspectOptions& o) {
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
  for (const auto& [name, value] : b.parameters.items())
    std::printf("  %-32s %s\n", name.c_str(), value.dump().c_str());
  std::printf("attention_factor  %.17g\n", b.freqs.attention_factor);
  if (c.softmax_scale_factor != 1.0)
    std::printf("softmax scale x   %.17g (DeepSeek mscale^2, applied by attention)\n",
                c.softmax_scale_factor);
  if (c.depends_on_length())
    std::printf("seq_len           %s\n",
                o.seq_len ? std::to_string(*o.seq_len).c_str() : "none (as built at load time)");
  if (!c.mrope_section.empty())
    std::printf("mrope_section     [%d, %d, %d]%s\n", c.mrope_section[0], c.mrope_section[1],
                c.mrope_section[2], c.mrope_interleaved ? " interleaved" : "");
}

void print_pairs(const Built& b) {
  const Frequencies& f = b.freqs;
  std::printf("\n%5s %24s %16s %12s%s\n", "pair", "inv_freq", "wavelength", "ratio",
              f.pair_stream.empty() ? "" : "  stream");
  for (int j = 0; j < f.pairs(); ++j) {
    std::printf("%5d %24.17g %16.2f %12.8f", j, f.inv_freq[j], wavelength(f.inv_freq[j]),
                f.inv_freq[j] / b.unscaled.inv_freq[j]);
    if (!f.pair_stream.empty()) std::printf("  %6d", int(f.pair_stream[j]));
    std::printf("\n");
  }
}

// Only SVG is written; anything else is refused before any output.
void check_plot_path(const std::string& path) {
  if (path.empty()) return;
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".svg") return;
  if (ext == ".png")
    throw std::invalid_argument("--plot writes SVG only, not PNG: give a .svg path and convert it "
                                "(e.g. rsvg-convert -o plot.png plot.svg); got '" + path + "'");
  throw std::invalid_argument("--plot needs a .svg path but got '" + path + "'");
}

WavelengthPlot make_plot(const RopeConfig& c, const Built& b) {
  WavelengthPlot plot;
  plot.title = (c.model_type.empty() ? std::string("model") : c.model_type) + ": " + c.method +
               " RoPE, " + std::to_string(c.rotated_dims / 2) + " pairs, theta " +
               nlohmann::json(c.base).dump();
  if (b.parameters.contains("factor_set"))  // LongRoPE: which factors this length uses
    plot.title += ", " + b.parameters["factor_set"].get<std::string>();
  for (int j = 0; j < b.freqs.pairs(); ++j) {
    plot.scaled.push_back(wavelength(b.freqs.inv_freq[j]));
    plot.unscaled.push_back(wavelength(b.unscaled.inv_freq[j]));
  }
  auto tokens = [](double v) { return std::to_string(int64_t(std::llround(v))); };
  const double original = double(c.original_max_position_embeddings);
  const double max = double(c.max_position_embeddings);
  plot.lines.push_back({original, "original ctx " + tokens(original), "#d62728", "8,4"});
  if (max != original) plot.lines.push_back({max, "max ctx " + tokens(max), "#2ca02c", "2,4"});
  // Llama 3's band edges: unchanged below the first, divided by the factor above the second.
  if (b.parameters.contains("high_freq_wavelength")) {
    const double hi = b.parameters["high_freq_wavelength"], lo = b.parameters["low_freq_wavelength"];
    plot.lines.push_back({hi, "band start " + tokens(hi), "#9467bd", "4,2"});
    plot.lines.push_back({lo, "band end " + tokens(lo), "#8c564b", "4,2"});
  }
  return plot;
}

void write_plot(const RopeConfig& c, const Built& b, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw std::invalid_argument("cannot write '" + path + "'");
  out << wavelength_svg(make_plot(c, b));
  out.close();
  if (!out) throw std::invalid_argument("cannot write '" + path + "'");
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

}  // namespace

void inspect(const InspectOptions& o) {
  check_plot_path(o.plot_path);
  const RopeConfig c = from_hf_config(std::filesystem::path(o.config_path));
  const Built b = build(c, o);
  if (o.json) {
    print_json(c, b, o);
  } else {
    print_summary(c, b, o);
    print_pairs(b);
  }
  if (!o.plot_path.empty()) write_plot(c, b, o.plot_path);
}

}  // namespace rotary::tools
