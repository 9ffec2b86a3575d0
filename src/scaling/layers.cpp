// Per-layer RoPE: which layers of a model rotate and with which RoPE, read as transformers'
// config classes and modeling code read them (transformers 5.x): layer_types, per-layer-type
// rope_parameters, Gemma 3's rope_local_base_freq, ModernBERT's global/local thetas, NoPE
// layers (no_rope_layers: SmolLM3, Llama 4), Cohere2's rotating sliding layers only, and
// Qwen3-Next's and Qwen3.5's linear-attention layers without RoPE.
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "scaling/config_reader.h"

namespace rotary {

const RopeConfig* RopeConfig::layer_rope(size_t layer) const {
  const LayerRope& l = layers.at(layer);
  return l.rope < 0 ? nullptr : &layer_ropes.at(size_t(l.rope));
}

namespace scaling_detail {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& message) { scaling_detail::fail("[from_hf_config]", message); }

bool is_one_of(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

// Transformers' default pattern when the config gives no layer_types: every `period`-th layer
// (counted from `first`) is `every`, the others `other`.
std::vector<std::string> pattern(int64_t n, int64_t period, bool from_zero, const char* every,
                                 const char* other) {
  std::vector<std::string> types;
  for (int64_t i = 0; i < n; ++i) types.push_back(((from_zero ? i : i + 1) % period) ? other : every);
  return types;
}

// no_rope_layers (SmolLM3, Llama 4): 1 rotates, 0 is NoPE; default every 4th layer NoPE.
std::vector<int> read_no_rope_layers(const Section& text, const std::string& model_type, int64_t n) {
  const json* v = text.find("no_rope_layers");
  if (v != nullptr && (!v->is_array() || !v->empty())) {  // HF: an empty list means the default
    if (!v->is_array() || int64_t(v->size()) != n)
      fail("'" + text.name("no_rope_layers") + "' must be a list of num_hidden_layers = " +
           std::to_string(n) + " entries (1: RoPE, 0: NoPE) but is " + v->dump());
    std::vector<int> out;
    for (const json& e : *v) {
      if (!(e.is_number_integer() || e.is_boolean()) || (e != 0 && e != 1 && e != true && e != false))
        fail("'" + text.name("no_rope_layers") + "' must hold 0 or 1 but has " + e.dump());
      out.push_back(e.is_boolean() ? int(e.get<bool>()) : e.get<int>());
    }
    return out;
  }
  if (!is_one_of(model_type, {"smollm3", "llama4_text", "llama4"})) return std::vector<int>(n, 1);
  const int64_t interval = text.has("no_rope_layer_interval") ? text.integer_in("no_rope_layer_interval", 1, n + 1) : 4;
  std::vector<int> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(int((i + 1) % interval != 0));
  return out;
}

// layer_types as the config gives them, else as transformers derives them.
std::vector<std::string> read_layer_types(const Section& text, const std::string& model_type,
                                          int64_t n, const std::vector<int>& rope_layers) {
  if (const json* v = text.find("layer_types")) {
    if (!v->is_array() || int64_t(v->size()) != n)
      fail("'" + text.name("layer_types") + "' must be a list of num_hidden_layers = " +
           std::to_string(n) + " layer types but is " + v->dump());
    std::vector<std::string> types;
    for (const json& e : *v) {
      if (!e.is_string()) fail("'" + text.name("layer_types") + "' must hold strings but has " + e.dump());
      types.push_back(e.get<std::string>());
    }
    return types;
  }
  auto period = [&](const char* key, int64_t fallback) {
    return text.has(key) ? text.integer_in(key, 1, int64_t(1) << 30) : fallback;
  };
  if (is_one_of(model_type, {"gemma3", "gemma3_text"}))
    return pattern(n, period("sliding_window_pattern", 6), false, "full_attention", "sliding_attention");
  if (model_type == "cohere2")
    return pattern(n, period("sliding_window_pattern", 4), false, "full_attention", "sliding_attention");
  if (model_type == "modernbert")
    return pattern(n, period("global_attn_every_n_layers", 3), true, "full_attention", "sliding_attention");
  if (model_type == "qwen3_next")
    return pattern(n, period("full_attention_interval", 4), false, "full_attention", "linear_attention");
  if (model_type == "gpt_oss") return pattern(n, 2, false, "full_attention", "sliding_attention");
  if (is_one_of(model_type, {"llama4_text", "llama4"})) {
    std::vector<std::string> types;
    for (int rope : rope_layers)
      types.push_back(rope && text.has("attention_chunk_size") ? "chunked_attention" : "full_attention");
    return types;
  }
  // Models without layer types: every layer attends fully (transformers' default layer_types).
  return std::vector<std::string>(n, "full_attention");
}

// Whether a layer of `type` has attention with RoPE at all (before no_rope_layers).
std::string nope_by_type(const std::string& model_type, const std::string& type) {
  if (model_type == "cohere2" && type != "sliding_attention") return "layer_types: Cohere2 rotates only sliding_attention layers";
  // Qwen3-Next and Qwen3.5: Gated DeltaNet blocks take no position embeddings.
  if (type == "linear_attention" &&
      is_one_of(model_type, {"qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text"}))
    return "layer_types: linear_attention layers have no RoPE";
  // Hybrid models name their attention-free layers ("mlp", "mamba", "conv"): nothing to rotate.
  if (type.find("attention") == std::string::npos) return "layer_types: " + type + " layers have no attention";
  return "";
}

// transformers' per_layer_config: a sparse map from layer index to the keys that differ for that
// layer, e.g. {"05": {"head_dim": 512}}. Gemma 4's config classes derive it when a config has
// none: full-attention layers get head_dim = global_head_dim (default 512). Per layer: its
// overrides, or null.
std::vector<json> read_layer_overrides(const Section& text, const std::string& model_type,
                                       const std::vector<std::string>& types) {
  const int64_t n = int64_t(types.size());
  std::vector<json> out(types.size());
  const json* v = text.find("per_layer_config");
  if (v == nullptr) {
    if (!is_one_of(model_type, {"gemma4", "gemma4_text", "gemma4_unified", "gemma4_unified_text",
                                "diffusion_gemma", "diffusion_gemma_text", "embedding_gemma2",
                                "embedding_gemma2_text"}))
      return out;
    const int64_t global = text.has("global_head_dim")
                               ? text.integer_in("global_head_dim", 1, std::numeric_limits<int>::max())
                               : 512;
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i] == "full_attention") out[i] = {{"head_dim", global}};
    return out;
  }
  const std::string key = text.name("per_layer_config");
  if (!v->is_object()) fail("'" + key + "' must be an object of layer index: overrides but is " + v->dump());
  for (const auto& [index, overrides] : v->items()) {
    size_t used = 0;
    int64_t layer = -1;
    try {
      layer = std::stoll(index, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != index.size() || layer < 0 || layer >= n)
      fail("'" + key + "' keys must be layer indices in [0, num_hidden_layers = " + std::to_string(n) +
           ") but has '" + index + "'");
    if (!overrides.is_object())
      fail("'" + key + "." + index + "' must be an object of overrides but is " + overrides.dump());
    const Section entry{&overrides, key + "." + index + "."};
    if (entry.has("head_dim")) entry.integer_in("head_dim", 1, std::numeric_limits<int>::max());
    out[size_t(layer)] = overrides;
  }
  return out;
}

// The key that leaves the layers of `type` without RoPE in per-layer-type parameters (BEAM's
// {"full_attention": null}); "" when they have some.
std::string nope_by_parameters(const Section& text, const std::string& type) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json* v = text.find(key);
    if (v == nullptr) continue;
    if (per_layer_type(*v) && v->contains(type) && v->at(type).is_null())
      return text.name(key) + "." + type + ": null";
    break;
  }
  return "";
}

// The RoPE of the layers of `type`; `main` when the layer's keys are the text config's (null
// when per_layer_config overrides some of them).
RopeConfig rope_of_type(const json& config, const Section& text, const std::string& model_type,
                        const std::string& type, const RopeConfig* main) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json* v = text.find(key);
    if (v == nullptr) continue;
    // transformers v5: parameters keyed by layer type.
    if (per_layer_type(*v) && !type.empty()) {
      if (!v->contains(type) || !v->at(type).is_object())
        fail("'" + text.name(key) + "' has parameters per layer type but none for '" + type +
             "' (layer_types uses it)");
      return read_rope(config, text, Section{&v->at(type), text.name(key) + "." + type + "."});
    }
    break;
  }
  const bool sliding = type == "sliding_attention";
  if (is_one_of(model_type, {"gemma3", "gemma3_text"}) && sliding)  // unscaled, local theta
    return read_rope(config, text, Section{nullptr, "rope_scaling."},
                     text.has("rope_local_base_freq") ? text.number("rope_local_base_freq") : 10000.0);
  if (model_type == "modernbert") {
    const char* key = sliding ? "local_rope_theta" : "global_rope_theta";
    const Section rope = text.has("rope_scaling") ? Section{text.find("rope_scaling"), "rope_scaling."}
                                                  : Section{nullptr, "rope_scaling."};
    return read_rope(config, text, rope, text.has(key) ? text.number(key) : sliding ? 10000.0 : 160000.0);
  }
  return main ? *main : read_rope(config, text, scaling_section(text));
}

bool same_rope(const RopeConfig& a, const RopeConfig& b) {
  return a.method == b.method && a.base == b.base && a.rotated_dims == b.rotated_dims &&
         a.head_dim == b.head_dim && a.traditional == b.traditional &&
         a.frequencies().inv_freq == b.frequencies().inv_freq &&
         a.frequencies().attention_factor == b.frequencies().attention_factor;
}

}  // namespace

void read_layers(const json& config, const Section& text, RopeConfig& c) {
  // DBRX spells the layer count n_layers.
  const char* count =
      text.has("num_hidden_layers") || !text.has("n_layers") ? "num_hidden_layers" : "n_layers";
  if (!text.has(count)) return;
  const int64_t n = text.integer_in(count, 1, 1 << 20);
  const std::string model_type = text_model_type(config, text);
  const std::vector<int> rope_layers = read_no_rope_layers(text, model_type, n);
  const std::vector<std::string> types = read_layer_types(text, model_type, n, rope_layers);
  const std::vector<json> overrides = read_layer_overrides(text, model_type, types);
  std::vector<RopeConfig> ropes;
  std::vector<LayerRope> layers;
  for (int64_t i = 0; i < n; ++i) {
    LayerRope layer{types[size_t(i)], -1, nope_by_type(model_type, types[size_t(i)])};
    if (layer.nope_key.empty()) layer.nope_key = nope_by_parameters(text, layer.layer_type);
    if (!rope_layers[size_t(i)]) layer.nope_key = text.name("no_rope_layers") + "[" + std::to_string(i) + "]";
    if (layer.nope_key.empty()) {
      const bool own = !overrides[size_t(i)].is_null();
      json merged;  // the text config with this layer's per_layer_config applied
      if (own) {
        merged = *text.object;
        merged.update(overrides[size_t(i)]);
      }
      RopeConfig rope = rope_of_type(config, own ? Section{&merged, text.prefix} : text, model_type,
                                     layer.layer_type, own ? nullptr : &c);
      size_t k = 0;
      while (k < ropes.size() && !same_rope(ropes[k], rope)) ++k;
      if (k == ropes.size()) ropes.push_back(std::move(rope));
      layer.rope = int(k);
    }
    layers.push_back(std::move(layer));
  }
  // Several RoPEs, or one that per_layer_config changed: the single-RoPE fields describe the
  // full-attention layers' one, else (no rotating full-attention layer) the first rotating layer's.
  const LayerRope* described = nullptr;
  for (const LayerRope& l : layers)
    if (l.rope >= 0 && (described == nullptr || (l.layer_type == "full_attention" &&
                                                 described->layer_type != "full_attention")))
      described = &l;
  if (described != nullptr && (ropes.size() > 1 || !same_rope(ropes[0], c)))
    c = ropes[size_t(described->rope)];
  c.layer_ropes = std::move(ropes);
  c.layers = std::move(layers);
}

}  // namespace scaling_detail
}  // namespace rotary
