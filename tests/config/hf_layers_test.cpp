// from_hf_config against transformers itself: tests/data/hf_layers_expected.json is written by
// tests/data/make_hf_layers_expected.py, which runs transformers' config classes and rotary
// embedding modules (the venv's transformers 5.x) on each config in tests/data/models/.
#include <cmath>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace rotary
