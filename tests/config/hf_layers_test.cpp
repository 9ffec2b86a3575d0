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

TEST(HfLayers, PathOverloadsAreUnambiguous) {
  const std::string file = model_path("glm4_9b.json");
  EXPECT_EQ(from_hf_config(file.c_str()).rotated_dims, 64);  // const char*: a path
  EXPECT_EQ(from_hf_config(file).rotated_dims, 64);          // std::string: a path
  EXPECT_EQ(from_hf_config(std::filesystem::path(file)).rotated_dims, 64);
}

}  // namespace
}  // namespace rotary
