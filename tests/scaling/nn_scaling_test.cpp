// The scaled RoPE modules and initialize_rope. Each module's output is compared with a rotation
// computed here in double from the expected frequencies of tests/data/scaling_expected.json
// (made by tests/data/make_scaling_expected.py from transformers' formulas), so both the
// frequencies and the attention factor (applied to cos and sin) are checked end to end.
#include <cmath>
#include <functional>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rotary/config.h"
#include "rotary/nn_scaling.h"
#include "scaling/expected_data.h"

namespace rotary {
namespace {

using nlohmann::json;
using testing::scaling_expected;

const json& find_case(const std::string& method, const std::function<bool(const json&)>& pick) {
  for (const json& c : scaling_expected().at("cases"))
    if (c.at("method") == method && pick(c)) return c;
  throw std::runtime_error("no expected case for " + method);
}

Array ramp_input(int B, int T, int D) {
  std::vector<float> v(size_t(B) * T * D);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(0.37 * double(i) + 0.1));
  return Array(v.data(), Shape{B, 1, T, D});
}

// Half-split rotation of (B, 1, T, D) in double: pair i is (x[i], x[i + dims/2]).
void expect_rotated(const Array& out, const Array& x, int dims, const std::vector<double>& inv,
                    double attention_factor, const std::vector<int64_t>& offsets,
                    const std::string& what) {
  const int B = x.shape(0), T = x.shape(2), D = x.shape(3), half = dims / 2;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const int64_t row = (int64_t(b) * T + t) * D;
      const double p = double(offsets[offsets.size() == 1 ? 0 : b] + t);
      for (int i = 0; i < half; ++i) {
        const double c = std::cos(p * inv[i]) * attention_factor;
        const double s = std::sin(p * inv[i]) * attention_factor;
        const double x1 = x.at(row + i), x2 = x.at(row + i + half);
        EXPECT_NEAR(out.at(row + i), x1 * c - x2 * s, 2e-5) << what << " t " << t << " i " << i;
        EXPECT_NEAR(out.at(row + i + half), x1 * s + x2 * c, 2e-5) << what << " t " << t;
      }
      for (int i = dims; i < D; ++i) EXPECT_EQ(out.at(row + i), x.at(row + i)) << what;
    }
}

std::vector<double> f64(const json& entry) { return entry.at("inv_freq_f64").get<std::vector<double>>(); }

TEST(ScaledRoPEModules, Llama3RoPEFromLlama31Config) {
  RopeConfig c = from_hf_config(std::filesystem::path(testing::config_path("llama3_1_8b.json")));
  nn::Llama3RoPE rope(128, c.max_position_embeddings, false, c.base, c.llama3);
  const json& e = scaling_expected().at("configs").at("llama3_1_8b.json").at("evaluations")[0];
  Array x = ramp_input(1, 3, 128);
  expect_rotated(rope(x, 5), x, 128, f64(e), 1.0, {5}, "llama3");
  EXPECT_EQ(rope.to_string(), "Llama3RoPE(128, traditional=false)");
}

TEST(ScaledRoPEModules, YarnAppliesAttentionFactorOnce) {
  const json& e = find_case("yarn", [](const json& c) { return c.at("params").size() == 2; });
  scaling::YarnParams p;
  p.factor = 16;
  p.original_max_position_embeddings = 4096;
  nn::YarnRoPE rope(64, false, 65536, 10000, p);
  EXPECT_EQ(rope.mscale(), e.at("attention_factor").get<double>());
  Array x = ramp_input(1, 4, 72);  // 8 features pass through
  expect_rotated(rope(x, 100), x, 64, f64(e), e.at("attention_factor"), {100}, "yarn");
}

TEST(ScaledRoPEModules, SuScaledRoPEPoliciesPickFactors) {
  const json& short_case = find_case("longrope", [](const json& c) { return c.at("seq_len") == 4096; });
  const json& long_case = find_case("longrope", [](const json& c) {
    return c.at("seq_len") == 4097 && !c.at("params").contains("attention_factor");
  });
  const json& p = short_case.at("params");
  scaling::LongRopeParams params{p.at("short_factor"), p.at("long_factor"), 4096, 32, std::nullopt};
  const double af = short_case.at("attention_factor");
  Array x = ramp_input(1, 2, 8);
  // HF (per call): largest position 4095 -> short factors; 4096 -> long factors.
  nn::SuScaledRoPE hf(8, 10000, 131072, params);
  expect_rotated(hf(x, 4094), x, 8, f64(short_case), af, {4094}, "longrope short");
  expect_rotated(hf(x, 4095), x, 8, f64(long_case), af, {4095}, "longrope long");
  // A per-row offset array: the largest row decides for the whole call.
  std::vector<int32_t> offsets = {0, 4095};
  Array x2 = ramp_input(2, 2, 8);
  expect_rotated(hf(x2, Array(offsets.data(), Shape{2})), x2, 8, f64(long_case), af, {0, 4095},
                 "longrope offsets");
  // vLLM (serving length 131072 > 4096): long factors even at position 0.
  nn::SuScaledRoPE vllm(8, 10000, 131072, params, scaling::LongRopePolicy::serving_length);
  expect_rotated(vllm(x, 0), x, 8, f64(long_case), af, {0}, "longrope serving");
}

TEST(ScaledRoPEModules, DynamicNtkDependsOnCallLength) {
  const json& scaled = find_case("dynamic", [](const json& c) { return c.at("seq_len") == 10000; });
  const json& plain = find_case("dynamic", [](const json& c) { return c.at("seq_len") == 2048; });
  nn::DynamicNTKScalingRoPE rope(16, 4096, false, 10000, 2.0);
  Array x = ramp_input(1, 2, 16);
  expect_rotated(rope(x, 9998), x, 16, f64(scaled), 1.0, {9998}, "dynamic 10000");
  expect_rotated(rope(x, 2046), x, 16, f64(plain), 1.0, {2046}, "dynamic 2048");
}

TEST(ScaledRoPEModules, ConfigMakesRopeForPartialRotary) {
  RopeConfig c = from_hf_config(std::filesystem::path(testing::config_path("phi_2.json")));
  auto rope = c.make_rope();
  const json& e = scaling_expected().at("configs").at("phi_2.json").at("evaluations")[0];
  Array x = ramp_input(1, 3, 80);
  expect_rotated((*rope)(x, 7), x, 32, f64(e), 1.0, {7}, "phi-2 partial");
}

TEST(InitializeRope, DispatchesLikeMlxLm) {
  using nn::initialize_rope;
  EXPECT_EQ(initialize_rope(64, 10000, false, json()).to_string(), "RoPE(64, traditional=false)");
  auto linear = initialize_rope(64, 10000, true, json{{"type", "linear"}, {"factor", 4.0}});
  ASSERT_NE(linear.rope(), nullptr);
  EXPECT_EQ(linear.rope()->scale(), 0.25f);
  EXPECT_TRUE(linear.rope()->traditional());
  EXPECT_EQ(initialize_rope(64, 500000, false, json{{"rope_type", "llama3"}, {"factor", 8.0}})
                .to_string(), "Llama3RoPE(64, traditional=false)");
  EXPECT_EQ(initialize_rope(64, 10000, true, json{{"type", "deepseek_yarn"}, {"factor", 40}})
                .to_string(), "YarnRoPE(64, traditional=true)");
  json su = {{"type", "su"}, {"short_factor", {1, 1}}, {"long_factor", {2, 2}},
             {"original_max_position_embeddings", 16}};
  EXPECT_EQ(initialize_rope(4, 10000, false, su, 64).to_string(), "SuScaledRoPE(4, traditional=false)");
  EXPECT_EQ(initialize_rope(16, 10000, false, json{{"type", "dynamic"}, {"factor", 2.0}}, 2048)
                .to_string(), "DynamicNTKScalingRoPE(16, traditional=false)");
  EXPECT_NE(initialize_rope(8, 10000, false, json{{"type", "mrope"}, {"mrope_section", {2, 1, 1}}})
                .rope(), nullptr);
  // The Llama3RoPE from initialize_rope rotates as the config's frequencies say.
  auto llama = initialize_rope(64, 500000, false,
                               json{{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                                    {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}},
                               131072);
  const json& e = scaling_expected().at("configs").at("llama3_2_1b.json").at("evaluations")[0];
  Array x = ramp_input(1, 2, 64);
  expect_rotated(llama(x, 3), x, 64, f64(e), 1.0, {3}, "initialize_rope llama3");
}

TEST(InitializeRope, ErrorsNameTheProblem) {
  auto error_of = [](auto&& fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  using nn::initialize_rope;
  EXPECT_NE(error_of([] { initialize_rope(64, 1e4, false, json{{"type", "wavy"}}); }).find("'wavy'"),
            std::string::npos);
  EXPECT_NE(error_of([] { initialize_rope(64, 1e4, false, json{{"type", "linear"}}); })
                .find("scaling_config.factor"), std::string::npos);
  EXPECT_NE(error_of([] { initialize_rope(16, 1e4, false, json{{"type", "dynamic"}, {"factor", 2}}); })
                .find("max_position_embeddings"), std::string::npos);
}

}  // namespace
}  // namespace rotary
