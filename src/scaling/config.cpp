// from_hf_config: reads the RoPE facts of a Hugging Face config.json the way transformers' config
// classes and modeling_rope_utils read them, including model-specific spellings.
#include "rotary/config.h"

#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "scaling/json_section.h"

namespace rotary {
namespace {

using nlohmann::json;
using scaling_detail::Section;

[[noreturn]] void fail(const std::string& message) { scaling_detail::fail("[from_hf_config]", message); }

// Method names as configs spell them -> the names transformers uses.
std::string canonical_method(const std::string& name, const std::string& key) {
  static const std::set<std::string> known = {"default", "linear", "dynamic", "yarn", "llama3",
                                              "longrope"};
  if (known.count(name)) return name;
  if (name == "su") return "longrope";              // Phi-3's first configs
  if (name == "mrope") return "default";            // Qwen2-VL: sections, unscaled frequencies
  if (name == "deepseek_yarn") return "yarn";       // mlx-lm's spelling for DeepSeek
  fail("unknown RoPE scaling method '" + name + "' in '" + key +
       "'; expected one of default, linear, dynamic, yarn, llama3, longrope (or su, mrope, "
       "deepseek_yarn)");
}

// The scaling parameters: `rope_parameters` (transformers v5) or `rope_scaling`; an empty
// section when the config has neither.
Section scaling_section(const Section& text) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json* v = text.find(key);
    if (v == nullptr) continue;
    if (!v->is_object()) fail("'" + text.name(key) + "' must be an object but is " + v->dump());
    // v5 configs with per-layer-type parameters (e.g. Gemma 3): the full-attention layers'.
    if (!v->contains("rope_type") && !v->contains("type") && v->contains("full_attention"))
      return Section{&v->at("full_attention"), text.name(key) + ".full_attention."};
    return Section{v, text.name(key) + "."};
  }
  return Section{nullptr, "rope_scaling."};
}

void read_head(const Section& text, const Section& rope, RopeConfig& c) {
  if (text.has("qk_rope_head_dim")) {  // DeepSeek MLA: RoPE sees only the rope part of a head
    c.head_dim = int(text.integer("qk_rope_head_dim"));
  } else if (text.has("head_dim")) {
    c.head_dim = int(text.integer("head_dim"));
  } else {
    const std::string hidden = text.has("hidden_size") || !text.has("n_embd") ? "hidden_size" : "n_embd";
    const std::string heads =
        text.has("num_attention_heads") || !text.has("n_head") ? "num_attention_heads" : "n_head";
    if (!text.has(hidden) || !text.has(heads))
      fail("cannot find the head size: need 'head_dim', or '" + text.name(hidden) + "' and '" +
           text.name(heads) + "'");
    const int64_t h = text.integer(heads);
    if (h <= 0) fail("'" + text.name(heads) + "' must be positive");
    c.head_dim = int(text.integer(hidden) / h);  // Python's //, as HF
  }
  if (c.head_dim <= 0) fail("the head size must be positive but is " + std::to_string(c.head_dim));

  if (text.has("rotary_dim")) {  // GPT-J, CodeGen
    c.rotated_dims = int(text.integer("rotary_dim"));
    if (c.rotated_dims <= 0 || c.rotated_dims % 2 != 0 || c.rotated_dims > c.head_dim)
      fail("'" + text.name("rotary_dim") + "' must be even and in (0, head_dim = " +
           std::to_string(c.head_dim) + "] but is " + std::to_string(c.rotated_dims));
    return;
  }
  std::string key = "partial_rotary_factor";
  const Section* where = &text;
  if (rope.has(key)) where = &rope;
  else if (!text.has(key) && text.has("rotary_pct")) key = "rotary_pct";  // GPT-NeoX
  double fraction = where->has(key) ? where->number(key) : 1.0;
  try {
    c.rotated_dims = scaling::rotated_dims(c.head_dim, fraction);
  } catch (const std::invalid_argument& e) {
    fail("'" + where->name(key) + "': " + e.what());
  }
}

// Interleaved pairs: GPT-J/CodeGen and DeepSeek (whose rope_interleave key may say otherwise),
// and the model types whose transformers modeling file rotates pairs (2i, 2i+1) (found by
// python/tests/hf_zoo.py, which runs each file's apply_rotary_pos_emb).
bool read_traditional(const Section& text, const std::string& model_type) {
  static const std::set<std::string> interleaved = {
      "gptj", "codegen", "deepseek_v2", "deepseek_v3", "cohere", "cohere2", "cohere2_moe",
      "ernie4_5", "ernie4_5_moe", "glm", "glm4", "glm_ocr", "glm_ocr_text", "helium",
      "moonshine_streaming", "openai_privacy_filter"};
  return text.boolean("rope_interleave", interleaved.count(model_type) > 0);
}

void read_method(const Section& text, const Section& rope, RopeConfig& c) {
  const int64_t max_pos = c.max_position_embeddings;
  auto need_max = [&](const char* why) {
    if (max_pos <= 0) fail("missing key '" + text.name("max_position_embeddings") + "' (" + why + ")");
  };
  if (c.method == "linear" || c.method == "dynamic" || c.method == "llama3")
    c.factor = rope.number("factor");
  if (c.method == "dynamic") need_max("dynamic NTK scales relative to it");
  if (c.method == "llama3") {
    c.llama3.factor = c.factor;
    c.llama3.low_freq_factor = rope.number("low_freq_factor");
    c.llama3.high_freq_factor = rope.number("high_freq_factor");
    c.llama3.original_max_position_embeddings = double(rope.integer("original_max_position_embeddings"));
    c.original_max_position_embeddings = rope.integer("original_max_position_embeddings");
  } else if (c.method == "yarn") {
    if (!rope.has("original_max_position_embeddings")) need_max("YaRN's default original length");
    c.original_max_position_embeddings = rope.has("original_max_position_embeddings")
                                             ? rope.integer("original_max_position_embeddings")
                                             : max_pos;
    auto& y = c.yarn;
    y.original_max_position_embeddings = double(c.original_max_position_embeddings);
    if (rope.has("factor")) y.factor = rope.number("factor");
    else y.factor = double(max_pos) / y.original_max_position_embeddings;
    c.factor = y.factor;
    y.attention_factor = rope.optional_number("attention_factor");
    y.mscale = rope.optional_number("mscale");
    y.mscale_all_dim = rope.optional_number("mscale_all_dim");
    // HF: `beta_fast or 32`, so a 0 means the default too.
    if (rope.has("beta_fast") && rope.number("beta_fast") != 0) y.beta_fast = rope.number("beta_fast");
    if (rope.has("beta_slow") && rope.number("beta_slow") != 0) y.beta_slow = rope.number("beta_slow");
    y.truncate = rope.boolean("truncate", true);
    c.attention_factor = scaling::yarn_attention_factor(y);
    if (y.mscale_all_dim.value_or(0) != 0) {
      const double m = scaling::yarn_get_mscale(y.factor, *y.mscale_all_dim);
      c.softmax_scale_factor = m * m;
    }
  } else if (c.method == "longrope") {
    auto& l = c.longrope;
    l.short_factor = rope.numbers("short_factor");
    l.long_factor = rope.numbers("long_factor");
    const size_t pairs = size_t(c.rotated_dims / 2);
    for (const char* key : {"short_factor", "long_factor"}) {
      const size_t n = rope.numbers(key).size();
      if (n != pairs)
        fail("'" + rope.name(key) + "' must have rotated_dims/2 = " + std::to_string(pairs) +
             " entries but has " + std::to_string(n));
    }
    // Phi-3 keeps the pretraining length at the top level.
    if (text.has("original_max_position_embeddings"))
      c.original_max_position_embeddings = text.integer("original_max_position_embeddings");
    else if (rope.has("original_max_position_embeddings"))
      c.original_max_position_embeddings = rope.integer("original_max_position_embeddings");
    else {
      need_max("LongRoPE's default original length");
      c.original_max_position_embeddings = max_pos;
    }
    l.original_max_position_embeddings = double(c.original_max_position_embeddings);
    if (rope.has("factor")) {
      l.factor = rope.number("factor");
    } else {
      need_max("LongRoPE's default factor");
      l.factor = double(max_pos) / l.original_max_position_embeddings;
    }
    c.factor = l.factor;
    l.attention_factor = rope.optional_number("attention_factor");
    c.attention_factor = scaling::longrope_attention_factor(l);
  }
}

void read_mrope(const Section& text, const Section& rope, RopeConfig& c) {
  if (!rope.has("mrope_section")) return;
  const json& section = *rope.find("mrope_section");
  if (!section.is_array() || section.size() != 3)
    fail("'" + rope.name("mrope_section") + "' must be a list of 3 pair counts but is " +
         section.dump());
  int total = 0;
  for (const json& s : section) {
    if (!s.is_number_integer() || s.get<int>() < 0)
      fail("'" + rope.name("mrope_section") + "' must hold non-negative integers but is " +
           section.dump());
    c.mrope_section.push_back(s.get<int>());
    total += s.get<int>();
  }
  if (total != c.rotated_dims / 2)
    fail("'" + rope.name("mrope_section") + "' must sum to rotated_dims/2 = " +
         std::to_string(c.rotated_dims / 2) + " but sums to " + std::to_string(total));
  c.mrope_interleaved = rope.boolean("mrope_interleaved", text.boolean("mrope_interleaved", false));
}

}  // namespace

RopeConfig from_hf_config(const nlohmann::json& config) {
  if (!config.is_object()) fail("the config must be a JSON object but is " + config.dump());
  Section text{&config, ""};
  // Multimodal wrappers (Qwen3-VL, Gemma 3, ...) keep the language model's keys in text_config.
  if (!text.has("num_attention_heads") && !text.has("n_head") && text.has("text_config")) {
    if (!config.at("text_config").is_object()) fail("'text_config' must be an object");
    text = Section{&config.at("text_config"), "text_config."};
  }
  const Section rope = scaling_section(text);

  RopeConfig c;
  if (const json* m = Section{&config, ""}.find("model_type"); m && m->is_string())
    c.model_type = m->get<std::string>();
  if (rope.has("rope_theta")) c.base = rope.number("rope_theta");
  else if (text.has("rope_theta")) c.base = text.number("rope_theta");
  else if (text.has("rotary_emb_base")) c.base = text.number("rotary_emb_base");  // GPT-NeoX
  if (!(c.base > 1)) fail("the RoPE base (rope_theta) must exceed 1 but is " + std::to_string(c.base));

  read_head(text, rope, c);
  c.traditional = read_traditional(text, c.model_type);
  if (text.has("max_position_embeddings")) c.max_position_embeddings = text.integer("max_position_embeddings");
  else if (text.has("n_positions")) c.max_position_embeddings = text.integer("n_positions");  // GPT-J
  c.original_max_position_embeddings = text.has("original_max_position_embeddings")
                                           ? text.integer("original_max_position_embeddings")
                                           : c.max_position_embeddings;

  std::string method_key = rope.name("rope_type");
  std::string method = "default";
  if (rope.has("rope_type") || rope.has("type")) {
    const char* key = rope.has("rope_type") ? "rope_type" : "type";
    method_key = rope.name(key);
    const json& v = *rope.find(key);
    if (!v.is_string()) fail("'" + method_key + "' must be a string but is " + v.dump());
    method = v.get<std::string>();
  }
  c.method = canonical_method(method, method_key);
  read_method(text, rope, c);
  read_mrope(text, rope, c);
  return c;
}

RopeConfig from_hf_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open '" + path.string() + "'");
  try {
    return from_hf_config(nlohmann::json::parse(in));
  } catch (const nlohmann::json::parse_error& e) {
    fail("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

}  // namespace rotary
