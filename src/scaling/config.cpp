// from_hf_config: reads the RoPE facts of a Hugging Face config.json the way transformers' config
// classes and modeling_rope_utils read them, including model-specific spellings.
#include "rotary/config.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "scaling/config_reader.h"
#include "scaling/json_section.h"
#include "scaling/methods.h"

namespace rotary {
namespace {

using nlohmann::json;
using scaling_detail::Section;

[[noreturn]] void fail(const std::string& message) { scaling_detail::fail("[from_hf_config]", message); }



// Sizes are held as int: larger ones are refused by name.
constexpr int64_t kMaxSize = std::numeric_limits<int>::max();

// The base transformers' config classes default to when a config gives none.
double default_theta(const std::string& model_type) {
  if (model_type == "gemma3" || model_type == "gemma3_text") return 1e6;  // global theta
  if (model_type == "modernbert") return 160000;
  return 10000;
}

// The partial_rotary_factor transformers' config classes default to (for BC) when a config
// gives none.
double default_partial_rotary_factor(const std::string& model_type) {
  static const std::set<std::string> half = {"glm", "glm4", "glm4_moe", "persimmon", "phi",
                                             "nemotron", "recurrent_gemma"};
  static const std::set<std::string> quarter = {"stablelm", "qwen3_next", "qwen3_5",
                                                "qwen3_5_moe", "gpt_neox"};
  return half.count(model_type) ? 0.5 : quarter.count(model_type) ? 0.25 : 1.0;
}

// The first of `keys` that the section holds (else the first): the spellings one quantity has
// across transformers' config classes (their attribute_map).
std::string first_present(const Section& s, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (s.has(key)) return key;
  return *keys.begin();
}

// The features per head that RoPE sees: DeepSeek MLA's qk_rope_head_dim part, head_dim (JetMoe:
// kv_channels, Zamba2: attention_head_dim), else hidden size // attention heads, as HF.
int read_head_dim(const Section& text) {
  for (const char* key : {"qk_rope_head_dim", "head_dim", "attention_head_dim", "kv_channels"})
    if (text.has(key)) return int(text.integer_in(key, 1, kMaxSize));
  const std::string hidden = first_present(text, {"hidden_size", "n_embd", "d_model"});
  const std::string heads =
      first_present(text, {"num_attention_heads", "n_head", "n_heads", "decoder_num_attention_heads"});
  if (!text.has(hidden) || !text.has(heads))
    fail("cannot find the head size: need 'head_dim', or '" + text.name(hidden) + "' and '" +
         text.name(heads) + "'");
  const int64_t h = text.integer(heads);
  if (h <= 0) fail("'" + text.name(heads) + "' must be positive");
  const int64_t head = text.integer(hidden) / h;  // Python's //, as HF
  if (head <= 0 || head > kMaxSize)
    fail("'" + text.name(hidden) + "' / '" + text.name(heads) + "' must be in [1, " +
         std::to_string(kMaxSize) + "] but is " + std::to_string(head));
  return int(head);
}

int rotated_part_of(int head_dim, double fraction, const Section& where, const std::string& key) {
  try {
    return scaling::rotated_dims(head_dim, fraction);
  } catch (const std::invalid_argument& e) {
    fail("'" + where.name(key) + "': " + e.what());
  }
}

// The head size and how much of it rotates. A method that reads partial_rotary_factor itself
// (`whole_head`: proportional) rotates the whole head.
void read_head(const Section& text, const Section& rope, const std::string& model_type,
               bool whole_head, RopeConfig& c) {
  c.head_dim = read_head_dim(text);
  const bool mla = text.has("qk_rope_head_dim");
  if (mla) c.rotated_part = RotatedPart::rope_head;
  if (whole_head) {
    c.rotated_dims = c.head_dim;
    return;
  }
  if (text.has("rotary_dim")) {  // GPT-J, CodeGen
    c.rotated_dims = int(text.integer_in("rotary_dim", 1, kMaxSize));
    if (c.rotated_dims <= 0 || c.rotated_dims % 2 != 0 || c.rotated_dims > c.head_dim)
      fail("'" + text.name("rotary_dim") + "' must be even and in (0, head_dim = " +
           std::to_string(c.head_dim) + "] but is " + std::to_string(c.rotated_dims));
    c.rotated_part = c.rotated_dims < c.head_dim ? RotatedPart::leading : RotatedPart::whole_head;
    return;
  }
  std::string key = "partial_rotary_factor";
  const Section* where = &text;
  if (rope.has(key)) where = &rope;
  else if (!text.has(key) && text.has("rotary_pct")) key = "rotary_pct";  // GPT-NeoX
  const double fraction = where->has(key) ? where->number(key) : default_partial_rotary_factor(model_type);
  if (mla && where->has(key) && text.has("head_dim")) {
    // MLA with a factor (Mistral 4, DeepSeek V4): HF rotates int(head_dim * factor) features,
    // which must be the qk_rope_head_dim part.
    const int width = rotated_part_of(int(text.integer_in("head_dim", 1, kMaxSize)), fraction, *where, key);
    if (width != c.head_dim)
      fail("'" + text.name("head_dim") + "' * '" + where->name(key) + "' = " + std::to_string(width) +
           " must equal '" + text.name("qk_rope_head_dim") + "' = " + std::to_string(c.head_dim));
    c.rotated_dims = c.head_dim;
    return;
  }
  c.rotated_dims = rotated_part_of(c.head_dim, fraction, *where, key);
  if (!mla && c.rotated_dims < c.head_dim) c.rotated_part = RotatedPart::leading;
}

// Interleaved pairs (checked against each model's apply function in transformers 5.x, by
// python/tests/hf_zoo.py and tests/data/make_hf_layers_expected.py): GPT-J/CodeGen, DeepSeek
// (whose rope_interleave key may say otherwise), Llama 4 (complex products over adjacent pairs),
// and the types whose modeling file rotates pairs (2i, 2i+1).
bool read_traditional(const Section& text, const std::string& model_type) {
  static const std::set<std::string> interleaved = {
      "gptj", "codegen", "deepseek_v2", "deepseek_v3", "llama4", "llama4_text", "cohere",
      "cohere2", "cohere2_moe", "ernie4_5", "ernie4_5_moe", "ernie4_5_vl_moe",
      "ernie4_5_vl_moe_text", "glm", "glm4", "glm4v", "glm4v_text",
      "glm_ocr", "glm_ocr_text", "helium", "hy_v4_vl", "hy_v4_vl_text", "moonshine",
      "moonshine_streaming", "openai_privacy_filter"};
  return text.boolean("rope_interleave", interleaved.count(model_type) > 0);
}

// M-RoPE modules that interleave the streams (Qwen3-VL's layout) without reading the config's
// mrope_interleaved, which such configs may leave out.
bool interleaves_mrope(const std::string& model_type) {
  static const std::set<std::string> interleaved = {
      "qwen3_vl", "qwen3_vl_text", "qwen3_vl_moe", "qwen3_vl_moe_text", "qwen3_5", "qwen3_5_text",
      "qwen3_5_moe", "qwen3_5_moe_text", "qwen4_exp", "qwen4_exp_text", "qwen3_omni_moe_text",
      "qwen3_omni_moe_thinker", "qwen3_omni_moe_talker_text", "qwen3_omni_moe_talker_code_predictor",
      "cosmos3_edge", "cosmos3_edge_text", "hy_v4_vl", "hy_v4_vl_text"};
  return interleaved.count(model_type) > 0;
}

void read_mrope(const Section& text, const Section& rope, const std::string& model_type, RopeConfig& c) {
  if (!rope.has("mrope_section")) return;
  const json& section = *rope.find("mrope_section");
  if (!section.is_array() || section.size() != 3)
    fail("'" + rope.name("mrope_section") + "' must be a list of 3 pair counts but is " +
         section.dump());
  int total = 0;
  for (const json& s : section) {
    if (!s.is_number_integer() || s.get<int64_t>() < 0 || s.get<int64_t>() > kMaxSize)
      fail("'" + rope.name("mrope_section") + "' must hold non-negative integers but is " +
           section.dump());
    c.mrope_section.push_back(s.get<int>());
    total += s.get<int>();
  }
  if (total != c.rotated_dims / 2)
    fail("'" + rope.name("mrope_section") + "' must sum to rotated_dims/2 = " +
         std::to_string(c.rotated_dims / 2) + " but sums to " + std::to_string(total));
  c.mrope_interleaved = rope.boolean("mrope_interleaved",
                                     text.boolean("mrope_interleaved", interleaves_mrope(model_type)));
  // ERNIE-4.5-VL alternates h and w pairs (its module permutes inv_freq to that end).
  c.mrope_alternating = model_type == "ernie4_5_vl_moe" || model_type == "ernie4_5_vl_moe_text";
  if (c.mrope_alternating && c.mrope_section[0] != c.mrope_section[1])
    fail("'" + rope.name("mrope_section") + "' must give h and w the same count "
         "(ERNIE-4.5-VL alternates them) but is " + section.dump());
}

// The key that names the method: rope_type, or the older spelling type.
std::string method_key(const Section& rope) {
  return rope.name(rope.has("rope_type") || !rope.has("type") ? "rope_type" : "type");
}

// The method's name as the config spells it ("default" when it names none).
std::string method_type(const Section& rope) {
  const char* key = rope.has("rope_type") ? "rope_type" : rope.has("type") ? "type" : nullptr;
  if (key == nullptr) return "default";
  const json& v = *rope.find(key);
  if (!v.is_string()) fail("'" + rope.name(key) + "' must be a string but is " + v.dump());
  return v.get<std::string>();
}

}  // namespace

namespace scaling_detail {

bool per_layer_type(const json& parameters) {
  if (!parameters.is_object() || parameters.empty()) return false;
  for (const char* key : {"rope_type", "type", "rope_theta"})
    if (parameters.contains(key)) return false;
  for (const auto& [type, entry] : parameters.items())
    if (!entry.is_object() && !entry.is_null()) return false;
  return true;
}

Section scaling_section(const Section& text) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json* v = text.find(key);
    if (v == nullptr) continue;
    if (!v->is_object()) rotary::fail("'" + text.name(key) + "' must be an object but is " + v->dump());
    if (!per_layer_type(*v)) return Section{v, text.name(key) + "."};
    std::vector<std::string> types = {"full_attention"};
    if (const json* listed = text.find("layer_types"); listed && listed->is_array())
      for (const json& t : *listed)
        if (t.is_string()) types.push_back(t.get<std::string>());
    for (const std::string& type : types)
      if (v->contains(type) && v->at(type).is_object())
        return Section{&v->at(type), text.name(key) + "." + type + "."};
    rotary::fail("'" + text.name(key) + "' has parameters per layer type but none for full_attention "
                 "or for a type in layer_types");
  }
  return Section{nullptr, "rope_scaling."};
}

std::string text_model_type(const json& config, const Section& text) {
  for (const Section& s : {text, Section{&config, ""}})
    if (const json* m = s.find("model_type"); m && m->is_string()) return m->get<std::string>();
  return "";
}

RopeConfig read_rope(const json& config, const Section& text, const Section& rope,
                     std::optional<double> theta) {
  RopeConfig c;
  if (const json* m = Section{&config, ""}.find("model_type"); m && m->is_string())
    c.model_type = m->get<std::string>();
  const std::string text_type = text_model_type(config, text);
  if (theta) c.base = *theta;
  else if (rope.has("rope_theta")) c.base = rope.number("rope_theta");
  else if (text.has("rope_theta")) c.base = text.number("rope_theta");
  else if (text.has("rotary_emb_base")) c.base = text.number("rotary_emb_base");  // GPT-NeoX
  else c.base = default_theta(text_type);
  if (!(c.base > 1)) rotary::fail("the RoPE base (rope_theta) must exceed 1 but is " + std::to_string(c.base));

  const ScalingMethod& m = select_method(method_type(rope), rope, method_key(rope));
  read_head(text, rope, text_type, m.whole_head, c);
  c.traditional = read_traditional(text, text_type);
  if (text.has("max_position_embeddings")) c.max_position_embeddings = text.integer("max_position_embeddings");
  else if (text.has("n_positions")) c.max_position_embeddings = text.integer("n_positions");  // GPT-J
  else if (text.has("max_seq_len")) c.max_position_embeddings = text.integer("max_seq_len");  // DBRX
  else if (text.has("model_max_length"))  // Bailing
    c.max_position_embeddings = text.integer("model_max_length");
  c.original_max_position_embeddings = text.has("original_max_position_embeddings")
                                           ? text.integer("original_max_position_embeddings")
                                           : c.max_position_embeddings;

  c.method = m.name;
  m.read(MethodKeys{rope, &text}, c);
  read_mrope(text, rope, text_type, c);
  return c;
}

}  // namespace scaling_detail

RopeConfig from_hf_config(const nlohmann::json& config) {
  if (!config.is_object()) fail("the config must be a JSON object but is " + config.dump());
  Section text{&config, ""};
  // Multimodal wrappers (Qwen3-VL, Gemma 3, ...) keep the language model's keys in text_config;
  // encoder-decoder models (T5Gemma, Dia) the decoder's in decoder or decoder_config.
  const bool has_heads = text.has("num_attention_heads") || text.has("n_head") || text.has("n_heads");
  for (const char* key : {"text_config", "decoder", "decoder_config"}) {
    if (has_heads || !text.has(key)) continue;
    if (!config.at(key).is_object()) fail("'" + std::string(key) + "' must be an object");
    text = Section{&config.at(key), std::string(key) + "."};
    break;
  }
  RopeConfig c = scaling_detail::read_rope(config, text, scaling_detail::scaling_section(text));
  scaling_detail::read_layers(config, text, c);
  return c;
}

nlohmann::json parse_hf_config(std::string_view text) {
  // Python's json writes NaN, Infinity and -Infinity, which JSON lacks: keep them as strings so
  // that the loader's error names the key that holds one.
  std::string quoted;
  quoted.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      quoted += ch;
      if (ch == '\\' && i + 1 < text.size()) quoted += text[++i];
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    bool replaced = false;
    for (std::string_view word : {"NaN", "Infinity", "-Infinity"}) {
      if (text.substr(i, word.size()) == word) {
        quoted += "\"" + std::string(word) + "\"";
        i += word.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) quoted += ch;
  }
  return nlohmann::json::parse(quoted);
}

RopeConfig from_hf_config(const std::filesystem::path& path) {
  // A model directory holds its config.json.
  std::error_code ec;
  const bool directory = std::filesystem::is_directory(path, ec);
  const std::filesystem::path file = directory ? path / "config.json" : path;
  if (directory && !std::filesystem::is_regular_file(file, ec))
    fail("'" + path.string() + "' is a directory without a config.json");
  std::ifstream in(file);
  if (!in) fail("cannot open '" + file.string() + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("cannot read '" + file.string() + "'");
  nlohmann::json config;
  try {
    config = parse_hf_config(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("'" + file.string() + "' is not valid JSON: " + e.what());
  }
  return from_hf_config(config);
}

RopeConfig from_hf_config(const char* path) { return from_hf_config(std::filesystem::path(path)); }
RopeConfig from_hf_config(const std::string& path) {
  return from_hf_config(std::filesystem::path(path));
}

}  // namespace rotary
