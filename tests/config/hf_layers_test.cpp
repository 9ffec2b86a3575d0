// from_hf_config against transformers itself: tests/data/hf_layers_expected.json is written by
// tests/data/make_hf_layers_expected.py, which runs transformers' config classes and rotary
// embedding modules (the venv's transformers 5.x) on each config in tests/data/models/.
#include <cmath>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config_error.h"
#include "rotary/config.h"

namespace rotary {
namespace {

using nlohmann::json;

const json& hf_layers_expected() {
  static const json data = [] {
    std::ifstream in(std::string(ROTARY_TEST_DATA) + "/hf_layers_expected.json");
    return json::parse(in);
  }();
  return data;
}

std::string model_path(const std::string& name) {
  return std::string(ROTARY_TEST_DATA) + "/models/" + name;
}

// Our double frequencies against transformers' float32 buffer: 8 float32 ulps (HF's own float32
// rounding is up to ~4 ulps off the exact value), and the attention factor exactly.
void expect_matches_transformers(const Frequencies& ours, const json& hf, const std::string& what) {
  const auto f32 = hf.at("inv_freq_f32").get<std::vector<double>>();
  ASSERT_EQ(ours.inv_freq.size(), f32.size()) << what;
  for (size_t j = 0; j < f32.size(); ++j) {
    const float v = float(f32[j]);
    const double ulp = double(std::nextafter(v, INFINITY) - v);
    EXPECT_NEAR(ours.inv_freq[j], f32[j], 8 * ulp) << what << " pair " << j;
  }
  EXPECT_EQ(ours.attention_factor, hf.at("attention_factor").get<double>()) << what;
}

TEST(HfLayers, HunyuanNtkAlphaMatchesTransformers) {
  const json& hf = hf_layers_expected().at("models").at("hunyuan_a13b.json");
  ASSERT_EQ(hf.at("ropes").at("").at("rope_type"), "ntk_alpha");  // transformers' own reading
  RopeConfig c = from_hf_config(model_path("hunyuan_a13b.json"));
  EXPECT_EQ(c.method, "ntk_alpha");
  EXPECT_FALSE(c.depends_on_length());
  expect_matches_transformers(c.frequencies(), hf.at("ropes").at(""), "hunyuan");
  // Known answer: pair 1 of 64 is (base * alpha^(128/126))^(-1/64), in double.
  EXPECT_NEAR(c.frequencies().inv_freq[1], std::pow(1e4 * std::pow(1e3, 128.0 / 126), -1.0 / 64),
              1e-15);
  // The same config without alpha stays dynamic NTK.
  std::ifstream in(model_path("hunyuan_a13b.json"));
  json plain = json::parse(in);
  plain["rope_scaling"].erase("alpha");
  EXPECT_EQ(from_hf_config(plain).method, "dynamic");
}

// One RoPE against transformers' description of it: frequencies, attention factor, rotated
// dims, pair layout, M-RoPE streams and (LongRoPE) the long factor set past the original length.
void expect_rope_matches(const RopeConfig& ours, const json& hf, const std::string& what) {
  EXPECT_EQ(ours.rotated_dims, hf.at("rotated_dims").get<int>()) << what;
  EXPECT_EQ(ours.traditional, hf.at("layout") == "interleaved") << what;
  Frequencies f = ours.frequencies();
  expect_matches_transformers(f, hf, what);
  if (hf.contains("pair_stream"))
    EXPECT_EQ(std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()),
              hf.at("pair_stream").get<std::vector<int>>()) << what;
  if (hf.contains("long")) {
    const json& l = hf.at("long");
    EXPECT_TRUE(ours.depends_on_length()) << what;
    expect_matches_transformers(ours.frequencies(l.at("seq_len").get<int64_t>()), l, what + " long");
  }
}

TEST(HfLayers, EveryLayerMatchesTransformers) {
  const json& models = hf_layers_expected().at("models");
  ASSERT_GE(models.size(), 15u);
  for (const auto& [name, hf] : models.items()) {
    const RopeConfig c = from_hf_config(model_path(name));
    const json& layers = hf.at("layers");
    ASSERT_EQ(c.layers.size(), layers.size()) << name;
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string what = name + " layer " + std::to_string(i);
      const std::string type = layers[i].at("layer_type");
      if (!type.empty()) EXPECT_EQ(c.layers[i].layer_type, type) << what;
      const RopeConfig* rope = c.layer_rope(i);
      if (layers[i].at("rope").is_null()) {
        EXPECT_EQ(rope, nullptr) << what << " must be NoPE";
        EXPECT_FALSE(c.layers[i].nope_key.empty()) << what;
        continue;
      }
      ASSERT_NE(rope, nullptr) << what << " must rotate";
      expect_rope_matches(*rope, hf.at("ropes").at(layers[i].at("rope").get<std::string>()), what);
    }
  }
}

TEST(HfLayers, SeveralRopesAreDistinctAndTheMainOneIsFullAttention) {
  const RopeConfig g = from_hf_config(model_path("gemma3_4b.json"));
  ASSERT_EQ(g.layer_ropes.size(), 2u);
  EXPECT_EQ(g.method, "linear");  // the single-RoPE fields: the full-attention layers'
  EXPECT_EQ(g.base, 1e6);
  EXPECT_EQ(g.layer_rope(0)->base, 10000.0);
  EXPECT_EQ(g.layer_rope(0)->method, "default");
  EXPECT_EQ(g.layer_rope(5)->method, "linear");
  EXPECT_EQ(g.layer_rope(5)->factor, 8.0);
  EXPECT_THROW(g.layer_rope(34), std::out_of_range);
  const RopeConfig d = from_hf_config(model_path("deepseek_v3.json"));
  EXPECT_EQ(d.rotated_part, RotatedPart::rope_head);
  EXPECT_EQ(from_hf_config(model_path("glm4_9b.json")).rotated_part, RotatedPart::leading);
  EXPECT_EQ(from_hf_config(model_path("cohere2_command_r7b.json")).layers[3].nope_key,
            "layer_types: Cohere2 rotates only sliding_attention layers");
  EXPECT_EQ(from_hf_config(model_path("smollm3_3b.json")).layers[3].nope_key, "no_rope_layers[3]");
}

using testing::error_of;

TEST(HfLayers, InconsistentConfigsNameTheKey) {
  std::ifstream in(model_path("smollm3_3b.json"));
  const json smol = json::parse(in);
  json c = smol;
  c["no_rope_layers"] = {1, 1, 0};
  EXPECT_NE(error_of(c).find("'no_rope_layers' must be a list of num_hidden_layers = 8"),
            std::string::npos) << error_of(c);
  c["no_rope_layers"] = {1, 1, 1, 2, 1, 1, 1, 0};
  EXPECT_NE(error_of(c).find("'no_rope_layers' must hold 0 or 1"), std::string::npos) << error_of(c);
  c = smol;
  c["layer_types"] = {"full_attention"};
  EXPECT_NE(error_of(c).find("'layer_types' must be a list of num_hidden_layers = 8"),
            std::string::npos) << error_of(c);
  std::ifstream g(model_path("gemma3_text_v5.json"));
  c = json::parse(g);
  c["rope_parameters"].erase("sliding_attention");
  EXPECT_NE(error_of(c).find("'rope_parameters' has parameters per layer type but none for "
                             "'sliding_attention'"), std::string::npos) << error_of(c);
}

// Hybrid models (transformers' Dory) list attention-free layers in layer_types: those are NoPE,
// not an inconsistent config.
TEST(HfLayers, AttentionFreeLayerTypesHaveNoRope) {
  std::ifstream g(model_path("gemma3_text_v5.json"));
  json c = json::parse(g);
  std::vector<std::string> types = c["layer_types"];
  types[1] = "mlp";
  c["layer_types"] = types;
  const RopeConfig r = from_hf_config(c);
  ASSERT_GT(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[1].rope, -1);
  EXPECT_NE(r.layers[1].nope_key.find("mlp layers have no attention"), std::string::npos);
  EXPECT_GE(r.layers[0].rope, 0);
}

json model_json(const std::string& name) {
  std::ifstream in(model_path(name));
  return json::parse(in);
}

// Gemma 4: full-attention layers have proportional RoPE over their own, larger head
// (global_head_dim, or per_layer_config as transformers writes it). Known answers from the formula.
TEST(HfLayers, Gemma4FullAttentionIsProportionalOverItsOwnHead) {
  const json gemma = model_json("gemma4_text_small.json");
  const RopeConfig c = from_hf_config(gemma);
  EXPECT_EQ(c.method, "proportional");  // the single-RoPE fields: the full-attention layers'
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rotated_dims, 128);
  EXPECT_EQ(c.rotated_part, RotatedPart::whole_head);
  const Frequencies f = c.frequencies();
  ASSERT_EQ(f.pairs(), 64);
  EXPECT_NEAR(f.inv_freq[15], std::pow(1e6, -30.0 / 128), 1e-18);
  for (int j = 16; j < 64; ++j) EXPECT_EQ(f.inv_freq[j], 0.0) << j;
  EXPECT_EQ(c.method_parameters()["rotating_pairs"], 16);
  EXPECT_EQ(c.layer_rope(0)->head_dim, 64);
  EXPECT_EQ(c.layer_rope(0)->method, "default");
  // The same model written with per_layer_config (transformers' to_dict): the same RoPEs.
  json written = gemma;
  written.erase("global_head_dim");
  written["per_layer_config"] = {{"05", {{"head_dim", 128}}}};
  EXPECT_EQ(from_hf_config(written).frequencies().inv_freq, f.inv_freq);
  // Neither key: transformers' default global_head_dim, 512.
  json bare = gemma;
  bare.erase("global_head_dim");
  EXPECT_EQ(from_hf_config(bare).head_dim, 512);
}

TEST(HfLayers, PerLayerOverridesNameTheKey) {
  json c = model_json("gemma4_text_small.json");
  c["per_layer_config"] = {{"9", {{"head_dim", 128}}}};
  EXPECT_NE(error_of(c).find("'per_layer_config' keys must be layer indices in [0, num_hidden_layers = 6) "
                             "but has '9'"), std::string::npos) << error_of(c);
  c["per_layer_config"] = {{"5", {{"head_dim", 0}}}};
  EXPECT_NE(error_of(c).find("'per_layer_config.5.head_dim' must be in [1, "), std::string::npos)
      << error_of(c);
  c["per_layer_config"] = {{"5", 128}};
  EXPECT_NE(error_of(c).find("'per_layer_config.5' must be an object"), std::string::npos) << error_of(c);
  c = model_json("gemma4_text_small.json");
  c["rope_parameters"]["full_attention"]["partial_rotary_factor"] = 1.5;
  EXPECT_NE(error_of(c).find("'rope_parameters.full_attention.partial_rotary_factor' must be in [0, 1]"),
            std::string::npos) << error_of(c);
}

// Per-layer-type parameters keyed by any layer type (Dots3: indexed_attention), and a null entry
// for layers without RoPE (BEAM's full_attention).
TEST(HfLayers, PerLayerTypeParametersBeyondFullAttention) {
  json c = model_json("gemma3_text_v5.json");
  std::vector<std::string> types = c["layer_types"];
  for (std::string& t : types)
    if (t == "full_attention") t = "indexed_attention";
  c["layer_types"] = types;
  c["rope_parameters"]["indexed_attention"] = c["rope_parameters"]["full_attention"];
  c["rope_parameters"].erase("full_attention");
  const RopeConfig indexed = from_hf_config(c);
  EXPECT_EQ(indexed.layer_rope(2)->method, "linear");
  EXPECT_EQ(indexed.layer_rope(0)->method, "default");
  EXPECT_EQ(indexed.method, "default");  // no full-attention layer: layer 0's RoPE
  c = model_json("gemma3_text_v5.json");
  c["rope_parameters"]["full_attention"] = nullptr;
  const RopeConfig beam = from_hf_config(c);
  EXPECT_EQ(beam.layer_rope(2), nullptr);
  EXPECT_EQ(beam.layers[2].nope_key, "rope_parameters.full_attention: null");
  EXPECT_EQ(beam.method, "default");
  EXPECT_EQ(beam.base, 10000.0);
}

TEST(HfLayers, PathOverloadsAreUnambiguous) {
  const std::string file = model_path("glm4_9b.json");
  EXPECT_EQ(from_hf_config(file.c_str()).rotated_dims, 64);  // const char*: a path
  EXPECT_EQ(from_hf_config(file).rotated_dims, 64);          // std::string: a path
  EXPECT_EQ(from_hf_config(std::filesystem::path(file)).rotated_dims, 64);
}

}  // namespace
}  // namespace rotary
