// `rotary inspect`: method, sizes, attention factor, every method parameter and, per pair, the
// inverse frequency, the wavelength in tokens and its ratio to the unscaled frequency.
#include "inspect.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

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
    const std::vector<uint8_t>& streams = b.freqs.pair_position_stream;
    j["pair_stream"] = std::vector<int>(streams.begin(), streams.end());
  }
  j["layers"] = nlohmann::ordered_json::array();
  for (const LayerRope& l : c.layers)
    j["layers"].push_back({{"layer_type", l.layer_type},
                           {"rope", l.rope < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(l.rope)},
                           {"nope_key", l.nope_key}});
  j["ropes"] = nlohmann::ordered_json::array();
  for (const RopeConfig& r : c.layer_ropes) {
    const Built rb = build(r, o);
    j["ropes"].push_back({{"method", r.method}, {"rope_theta", r.base}, {"rotated_dims", r.rotated_dims},
                          {"traditional", r.traditional}, {"parameters", rb.parameters},
                          {"attention_factor", rb.freqs.attention_factor},
                          {"inv_freq", rb.freqs.inv_freq}});
  }
  std::cout << j.dump(2) << "\n";
}

void print_rope(const RopeConfig& c, const Built& b, const InspectOptions& o) {
  std::printf("method            %s\n", c.method.c_str());
  std::printf("head_dim          %d\n", c.head_dim);
  std::printf("rotated_dims      %d (%d pairs%s)\n", c.rotated_dims, c.rotated_dims / 2,
              c.rotated_part == RotatedPart::rope_head ? ", the head's qk_rope_head_dim part"
              : c.rotated_dims < c.head_dim            ? ", the leading ones; the rest pass through"
                                                       : "");
  std::printf("layout            %s\n", c.traditional ? "interleaved pairs (traditional=true)"
                                                     : "half split (traditional=false)");
  std::printf("rope_theta        %.17g\n", c.base);
  std::printf("max positions     %lld (original %lld)\n", (long long)c.max_position_embeddings,
              (long long)c.original_max_position_embeddings);
  std::printf("attention_factor  %.17g\n", b.freqs.attention_factor);
  if (c.softmax_scale_factor != 1.0)
    std::printf("softmax scale x   %.17g (DeepSeek mscale^2, applied by attention)\n",
                c.softmax_scale_factor);
  if (c.depends_on_length())
    std::printf("seq_len           %s\n",
                o.seq_len ? std::to_string(*o.seq_len).c_str() : "none (as built at load time)");
  if (!c.mrope_section.empty())
    std::printf("mrope_section     [%d, %d, %d] %s\n", c.mrope_section[0], c.mrope_section[1],
                c.mrope_section[2],
                c.mrope_alternating   ? "(h, w, t): h and w pairs alternate"
                : c.mrope_interleaved ? "(t, h, w) interleaved"
                                      : "(t, h, w)");
  if (!b.parameters.empty()) {
    std::printf("\n  %-34s %s\n", "method parameter", "value");
    for (const auto& [name, value] : b.parameters.items())
      std::printf("  %-34s %s\n", name.c_str(), value.dump().c_str());
  }
}

void print_pairs(const Built& b) {
  const Frequencies& f = b.freqs;
  std::printf("\n%5s %24s %16s %12s%s\n", "pair", "inv_freq", "wavelength", "ratio",
              f.pair_position_stream.empty() ? "" : "  stream");
  for (int j = 0; j < f.pairs(); ++j) {
    std::printf("%5d %24.17g %16.2f %12.8f", j, f.inv_freq[j], wavelength(f.inv_freq[j]),
                f.inv_freq[j] / b.unscaled.inv_freq[j]);
    if (!f.pair_position_stream.empty()) std::printf("  %6d", int(f.pair_position_stream[j]));
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
  // Proportional RoPE's still pairs (inv_freq 0, after the rotating ones) have no wavelength.
  int still = 0;
  for (int j = 0; j < b.freqs.pairs(); ++j) {
    if (b.freqs.inv_freq[j] == 0) {
      ++still;
      continue;
    }
    plot.scaled.push_back(wavelength(b.freqs.inv_freq[j]));
    plot.unscaled.push_back(wavelength(b.unscaled.inv_freq[j]));
  }
  if (still > 0) plot.title += ", " + std::to_string(still) + " still pairs not drawn";
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

// "0–4, 6–10, 12"
std::string ranges(const std::vector<size_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(layers[i]);
    if (j > i) out += "\u2013" + std::to_string(layers[j]);
    i = j + 1;
  }
  return out;
}

// "linear ×8, theta 1e+06"
std::string describe(const RopeConfig& r) {
  auto number = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  std::string s = r.method;
  if (r.method != "default" && r.factor != 1.0) s += " \u00d7" + number(r.factor);
  s += ", theta " + number(r.base);
  if (r.rotated_dims < r.head_dim)
    s += ", " + std::to_string(r.rotated_dims) + " of " + std::to_string(r.head_dim) + " dims";
  if (r.traditional) s += ", interleaved";
  if (!r.mrope_section.empty()) s += ", M-RoPE";
  return s;
}

// Layers grouped by (layer type, RoPE): "layers 0–4, 6–10: sliding_attention, RoPE 0 (...)".
void print_layer_plan(const RopeConfig& c) {
  if (c.layers.empty()) return;
  struct Group {
    std::string type;
    int rope;
    std::string nope;
    std::vector<size_t> layers;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerRope& l = c.layers[i];
    const std::string nope = l.nope_key.substr(0, l.nope_key.find('['));  // one group per key
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.type == l.layer_type && g.rope == l.rope && g.nope == nope;
    });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{l.layer_type, l.rope, nope, {}});
    g->layers.push_back(i);
  }
  std::printf("layers            %zu, %zu RoPE%s\n", c.layers.size(), c.layer_ropes.size(),
              c.layer_ropes.size() == 1 ? "" : "s");
  for (const Group& g : groups) {
    std::printf("  layers %s: %s, ", ranges(g.layers).c_str(), g.type.c_str());
    if (g.rope < 0) std::printf("NoPE by %s\n", g.nope.c_str());
    else std::printf("RoPE %d: %s\n", g.rope, describe(c.layer_ropes[size_t(g.rope)]).c_str());
  }
}

// The RoPEs to show: the layers' distinct ones, or the config's one.
std::vector<const RopeConfig*> ropes_of(const RopeConfig& c) {
  std::vector<const RopeConfig*> out;
  for (const RopeConfig& r : c.layer_ropes) out.push_back(&r);
  if (out.empty()) out.push_back(&c);
  return out;
}

void print_text(const RopeConfig& c, const InspectOptions& o) {
  std::printf("config            %s\n", o.config_path.c_str());
  std::printf("model_type        %s\n", c.model_type.empty() ? "-" : c.model_type.c_str());
  print_layer_plan(c);
  const std::vector<const RopeConfig*> ropes = ropes_of(c);
  for (size_t k = 0; k < ropes.size(); ++k) {
    if (ropes.size() > 1) std::printf("\n== RoPE %zu: %s\n", k, describe(*ropes[k]).c_str());
    else std::printf("\n");
    const Built b = build(*ropes[k], o);
    print_rope(*ropes[k], b, o);
    print_pairs(b);
  }
}

}  // namespace

void inspect(const InspectOptions& o) {
  check_plot_path(o.plot_path);
  const RopeConfig c = from_hf_config(std::filesystem::path(o.config_path));
  if (o.json) print_json(c, build(c, o), o);
  else print_text(c, o);
  if (!o.plot_path.empty()) write_plot(c, build(c, o), o.plot_path);
}

}  // namespace rotary::tools
