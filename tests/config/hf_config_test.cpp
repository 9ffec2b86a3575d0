// from_hf_config on real models' config.json files (tests/data/configs/, written from the
// models' published configs). Expected frequencies and attention factors: the "configs" entries
// of tests/data/scaling_expected.json, made by tests/data/make_scaling_expected.py, which reads
// each config as transformers' config classes do and runs transformers' RoPE formulas in torch
// (float32, as HF, and float64). Model facts (head sizes, methods) are from the model cards.
#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config_error.h"
#include "rotary/config.h"
#include "rotary/scaling.h"
#include "scaling/expected_data.h"

namespace rotary {
namespace {

using nlohmann::json;
using testing::config_path;
using testing::expect_matches_hf;
using testing::scaling_expected;

TEST(HfConfig, EveryConfigMatchesHuggingFace) {
  const json& configs = scaling_expected().at("configs");
  ASSERT_GE(configs.size(), 14u);
  for (const auto& [name, expected] : configs.items()) {
    RopeConfig c = from_hf_config(std::filesystem::path(config_path(name)));
    EXPECT_EQ(c.head_dim, expected.at("head_dim").get<int>()) << name;
    EXPECT_EQ(c.rotated_dims, expected.at("rotated_dims").get<int>()) << name;
    EXPECT_EQ(c.base, expected.at("base").get<double>()) << name;
    for (const json& e : expected.at("evaluations")) {
      std::optional<int64_t> seq_len;
      if (!e.at("seq_len").is_null()) seq_len = e.at("seq_len").get<int64_t>();
      const std::string what = name + " seq_len " + e.at("seq_len").dump();
      Frequencies f = c.frequencies(seq_len);
      expect_matches_hf(f.inv_freq, e, what);
      EXPECT_EQ(f.attention_factor, e.at("attention_factor").get<double>()) << what;
      if (expected.contains("pair_stream")) {
        EXPECT_EQ(std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()),
                  expected.at("pair_stream").get<std::vector<int>>()) << what;
      } else {
        EXPECT_TRUE(f.pair_position_stream.empty()) << what;
      }
    }
  }
}

struct ModelFacts {
  const char* file;
  const char* method;
  int head_dim;
  int rotated_dims;
  bool traditional;
  int64_t max_positions;
  int64_t original_positions;
};

TEST(HfConfig, ModelFacts) {
  const ModelFacts models[] = {
      {"llama3_1_8b.json", "llama3", 128, 128, false, 131072, 8192},
      {"llama3_1_8b_rope_parameters.json", "llama3", 128, 128, false, 131072, 8192},
      {"llama3_2_1b.json", "llama3", 64, 64, false, 131072, 8192},
      {"qwen2_5_7b.json", "default", 128, 128, false, 131072, 131072},
      {"mistral_7b.json", "default", 128, 128, false, 32768, 32768},
      {"phi3_mini_128k.json", "longrope", 96, 96, false, 131072, 4096},
      {"deepseek_v2_lite.json", "yarn", 64, 64, true, 163840, 4096},
      {"gpt_neox_20b.json", "default", 96, 24, false, 2048, 2048},
      {"gpt_j_6b.json", "default", 256, 64, true, 2048, 2048},
      {"phi_2.json", "default", 80, 32, false, 2048, 2048},
      {"gemma_2_9b.json", "default", 256, 256, false, 8192, 8192},
      {"qwen2_vl_7b.json", "default", 128, 128, false, 32768, 32768},
      {"qwen3_vl_8b.json", "default", 128, 128, false, 262144, 262144},
      {"qwen3_8b_yarn.json", "yarn", 128, 128, false, 131072, 32768},
  };
  for (const ModelFacts& m : models) {
    RopeConfig c = from_hf_config(std::filesystem::path(config_path(m.file)));
    EXPECT_EQ(c.method, m.method) << m.file;
    EXPECT_EQ(c.head_dim, m.head_dim) << m.file;
    EXPECT_EQ(c.rotated_dims, m.rotated_dims) << m.file;
    EXPECT_EQ(c.traditional, m.traditional) << m.file;
    EXPECT_EQ(c.max_position_embeddings, m.max_positions) << m.file;
    EXPECT_EQ(c.original_max_position_embeddings, m.original_positions) << m.file;
  }
}

TEST(HfConfig, NewerRopeParametersFormEqualsRopeScalingForm) {
  RopeConfig a = from_hf_config(std::filesystem::path(config_path("llama3_1_8b.json")));
  RopeConfig b = from_hf_config(std::filesystem::path(config_path("llama3_1_8b_rope_parameters.json")));
  EXPECT_EQ(a.frequencies().inv_freq, b.frequencies().inv_freq);
}

TEST(HfConfig, DeepSeekExposesSoftmaxScale) {
  RopeConfig c = from_hf_config(std::filesystem::path(config_path("deepseek_v2_lite.json")));
  EXPECT_EQ(c.frequencies().attention_factor, 1.0);  // mscale == mscale_all_dim: they cancel
  // Hand-derived: (0.1 * 0.707 * ln 40 + 1)^2 with ln 40 = 3.68887945411393...
  const double m = 0.1 * 0.707 * 3.6888794541139363 + 1;
  EXPECT_NEAR(c.softmax_scale_factor, m * m, 1e-15);
  EXPECT_NEAR(c.softmax_scale_factor, 1.5896, 1e-4);
}

TEST(HfConfig, Phi3AttentionFactorAndPolicy) {
  RopeConfig c = from_hf_config(std::filesystem::path(config_path("phi3_mini_128k.json")));
  // Hand-derived: factor 131072/4096 = 32; sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12).
  EXPECT_NEAR(c.frequencies().attention_factor, std::sqrt(17.0 / 12), 1e-15);
  EXPECT_TRUE(c.depends_on_length());
  // Short factors through the original length, long ones after it.
  EXPECT_EQ(c.frequencies(4096).inv_freq, c.frequencies().inv_freq);
  EXPECT_NE(c.frequencies(4097).inv_freq, c.frequencies(4096).inv_freq);
}

TEST(HfConfig, GenericScalingMethods) {
  json linear = {{"hidden_size", 64}, {"num_attention_heads", 4}, {"rope_theta", 10000.0},
                 {"max_position_embeddings", 2048},
                 {"rope_scaling", {{"type", "linear"}, {"factor", 4.0}}}};
  RopeConfig c = from_hf_config(linear);
  EXPECT_EQ(c.method, "linear");
  EXPECT_DOUBLE_EQ(c.frequencies().inv_freq[2], 0.1 / 4);  // head 16: pair 2 is 10000^(-1/4)
  json dynamic = linear;
  dynamic["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  RopeConfig d = from_hf_config(dynamic);
  EXPECT_TRUE(d.depends_on_length());
  EXPECT_EQ(d.frequencies(2048).inv_freq, d.unscaled_frequencies().inv_freq);
  EXPECT_LT(d.frequencies(4096).inv_freq[1], d.unscaled_frequencies().inv_freq[1]);
  json su = {{"hidden_size", 8}, {"num_attention_heads", 2}, {"max_position_embeddings", 64},
             {"rope_scaling", {{"type", "su"}, {"short_factor", {1, 1}}, {"long_factor", {2, 2}},
                               {"original_max_position_embeddings", 16}}}};
  RopeConfig s = from_hf_config(su);
  EXPECT_EQ(s.method, "longrope");
  EXPECT_EQ(s.frequencies(17).inv_freq[0], 0.5);
}

using testing::error_of;

// The spellings of the head size across transformers' config classes (their attribute_map).
TEST(HfConfig, HeadSizeSpellings) {
  const RopeConfig dbrx = from_hf_config(json{{"d_model", 256}, {"n_heads", 4}, {"max_seq_len", 4096}});
  EXPECT_EQ(dbrx.head_dim, 64);
  EXPECT_EQ(dbrx.max_position_embeddings, 4096);
  EXPECT_EQ(from_hf_config(json{{"hidden_size", 256}, {"num_attention_heads", 4}, {"kv_channels", 96}}).head_dim,
            96);  // JetMoe
  // Zamba2: head_dim is attention_head_dim (its kv_channels is another size).
  EXPECT_EQ(from_hf_config(json{{"hidden_size", 256}, {"num_attention_heads", 4},
                                {"attention_head_dim", 160}, {"kv_channels", 80}}).head_dim, 160);
  // Moonshine: decoder heads; 288 // 8 = 36, int(36 * 0.9) = 32.
  const RopeConfig moon = from_hf_config(json{{"hidden_size", 288}, {"decoder_num_attention_heads", 8},
                                              {"rope_parameters", {{"partial_rotary_factor", 0.9}}}});
  EXPECT_EQ(moon.head_dim, 36);
  EXPECT_EQ(moon.rotated_dims, 32);
  // Encoder-decoder models: the decoder's keys.
  for (const char* key : {"decoder", "decoder_config"}) {
    const RopeConfig d = from_hf_config(json{{key, {{"hidden_size", 64}, {"num_attention_heads", 2},
                                                    {"rope_theta", 500.0}}}});
    EXPECT_EQ(d.head_dim, 32) << key;
    EXPECT_EQ(d.base, 500.0) << key;
  }
}

// MLA configs with a partial_rotary_factor (Mistral 4, DeepSeek V4): HF rotates
// int(head_dim * factor) features, the qk_rope_head_dim part.
TEST(HfConfig, MlaPartialFactorIsOfTheWholeHead) {
  json mla = {{"hidden_size", 4096}, {"num_attention_heads", 32}, {"head_dim", 128},
              {"qk_rope_head_dim", 64}, {"rope_parameters", {{"partial_rotary_factor", 0.5}}}};
  const RopeConfig c = from_hf_config(mla);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rotated_dims, 64);
  EXPECT_EQ(c.rotated_part, RotatedPart::rope_head);
  EXPECT_EQ(c.frequencies().inv_freq, scaling::default_frequencies(64, 10000).inv_freq);
  mla["rope_parameters"]["partial_rotary_factor"] = 0.25;
  const std::string e = error_of(mla);
  EXPECT_NE(e.find("'head_dim' * 'rope_parameters.partial_rotary_factor' = 32 must equal "
                   "'qk_rope_head_dim' = 64"), std::string::npos) << e;
}

// Qwen3-VL's modules interleave the M-RoPE streams without reading mrope_interleaved.
TEST(HfConfig, MropeInterleavingDefaultsByModelType) {
  json c = {{"model_type", "qwen3_vl_text"}, {"hidden_size", 256}, {"num_attention_heads", 4},
            {"rope_parameters", {{"rope_type", "default"}, {"mrope_section", {12, 10, 10}}}}};
  EXPECT_TRUE(from_hf_config(c).mrope_interleaved);
  c["rope_parameters"]["mrope_interleaved"] = false;  // a config that says so wins
  EXPECT_FALSE(from_hf_config(c).mrope_interleaved);
  c["rope_parameters"].erase("mrope_interleaved");
  c["model_type"] = "qwen2_5_vl_text";
  EXPECT_FALSE(from_hf_config(c).mrope_interleaved);
}

TEST(HfConfig, ErnieVlAlternatesHeightAndWidthPairs) {
  json c = {{"model_type", "ernie4_5_vl_moe_text"}, {"hidden_size", 64}, {"num_attention_heads", 4},
            {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500000.0},
                                 {"mrope_section", {2, 2, 4}}}}};
  const RopeConfig r = from_hf_config(c);
  EXPECT_TRUE(r.mrope_alternating);
  EXPECT_TRUE(r.traditional);
  const Frequencies f = r.frequencies();
  EXPECT_EQ(std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()),
            (std::vector<int>{1, 2, 1, 2, 0, 0, 0, 0}));
  c["rope_parameters"]["mrope_section"] = {3, 1, 4};
  EXPECT_NE(error_of(c).find("'rope_parameters.mrope_section' must give h and w the same count"),
            std::string::npos) << error_of(c);
}

TEST(HfConfig, ErrorsNameTheKey) {
  const json base = {{"hidden_size", 64}, {"num_attention_heads", 4},
                     {"max_position_embeddings", 2048}, {"rope_theta", 10000.0}};
  auto with = [&](const char* key, json value) {
    json c = base;
    c[key] = std::move(value);
    return c;
  };
  auto expect_mentions = [](const std::string& message, const std::string& key) {
    EXPECT_NE(message.find(key), std::string::npos) << message;
  };
  expect_mentions(error_of(with("rope_scaling", {{"rope_type", "llama3"}})), "rope_scaling.factor");
  const std::string unknown = error_of(with("rope_scaling", {{"rope_type", "fancy"}}));
  expect_mentions(unknown, "'fancy'");
  expect_mentions(unknown, "rope_scaling.rope_type");
  expect_mentions(error_of(with("rope_scaling", {{"type", "mrope"}, {"mrope_section", {1, 2, 3}}})),
                  "rope_scaling.mrope_section");
  expect_mentions(error_of(with("rope_scaling", {{"type", "longrope"}, {"short_factor", {1}},
                                                 {"long_factor", {1, 1, 1, 1, 1, 1, 1, 1}}})),
                  "rope_scaling.short_factor");
  expect_mentions(error_of(with("rope_theta", "big")), "rope_theta");
  expect_mentions(error_of(with("partial_rotary_factor", 0.0)), "partial_rotary_factor");
  expect_mentions(error_of(with("rotary_dim", 7)), "rotary_dim");
  expect_mentions(error_of(with("rope_scaling", {{"rope_type", "yarn"}, {"factor", "x"}})),
                  "rope_scaling.factor");
  expect_mentions(error_of(json{{"hidden_size", 64}}), "num_attention_heads");
  expect_mentions(error_of(json{{"text_config", {{"hidden_size", 64}}}}),
                  "text_config.num_attention_heads");
  expect_mentions(error_of(json::array()), "JSON object");
  try {
    from_hf_config(std::filesystem::path("/nonexistent/config.json"));
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    expect_mentions(e.what(), "/nonexistent/config.json");
  }
}

}  // namespace
}  // namespace rotary
