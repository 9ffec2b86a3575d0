// Frequency builders against Hugging Face's formulas. Expected values: the "cases" and
// "multi_axis" entries of tests/data/scaling_expected.json, produced by
// tests/data/make_scaling_expected.py (a Python/torch re-implementation of transformers'
// modeling_rope_utils and Qwen2-VL's M-RoPE code, not sharing code with rotary).
#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>

#include "rotary/scaling.h"
#include "scaling/expected_data.h"

namespace rotary {
namespace {

using nlohmann::json;
using testing::expect_matches_hf;
using testing::scaling_expected;

Frequencies build(const json& c) {
  const std::string m = c.at("method");
  const int dims = c.at("dims");
  const double base = c.at("base");
  const json& p = c.at("params");
  if (m == "default") return scaling::default_frequencies(dims, base);
  if (m == "linear") return scaling::linear(dims, base, p.at("factor"));
  if (m == "dynamic")
    return scaling::dynamic_ntk(dims, base, p.at("factor"), p.at("max_position_embeddings"),
                                c.at("seq_len"));
  if (m == "llama3") {
    scaling::Llama3Params l{p.at("factor"), p.at("low_freq_factor"), p.at("high_freq_factor"),
                            p.at("original_max_position_embeddings")};
    return scaling::llama3(dims, base, l);
  }
  if (m == "yarn") {
    scaling::YarnParams y;
    y.factor = p.at("factor");
    y.original_max_position_embeddings = p.at("original_max_position_embeddings");
    if (p.contains("attention_factor")) y.attention_factor = p.at("attention_factor").get<double>();
    if (p.contains("mscale")) y.mscale = p.at("mscale").get<double>();
    if (p.contains("mscale_all_dim")) y.mscale_all_dim = p.at("mscale_all_dim").get<double>();
    y.beta_fast = p.value("beta_fast", 32.0);
    y.beta_slow = p.value("beta_slow", 1.0);
    y.truncate = p.value("truncate", true);
    return scaling::yarn(dims, base, y);
  }
  scaling::LongRopeParams l;
  l.short_factor = p.at("short_factor").get<std::vector<double>>();
  l.long_factor = p.at("long_factor").get<std::vector<double>>();
  l.original_max_position_embeddings = p.at("original_max_position_embeddings");
  l.factor = p.at("factor");
  if (p.contains("attention_factor")) l.attention_factor = p.at("attention_factor").get<double>();
  return scaling::longrope(dims, base, l, c.at("seq_len"));
}

TEST(ScalingBuilders, EveryMethodMatchesHuggingFace) {
  const json& cases = scaling_expected().at("cases");
  ASSERT_GE(cases.size(), 13u);
  for (const json& c : cases) {
    const std::string what = c.at("method").get<std::string>() + " " + c.at("params").dump() +
                             " seq_len " + c.value("seq_len", json()).dump();
    Frequencies f = build(c);
    expect_matches_hf(f.inv_freq, c, what);
    // HF's attention factor is a Python float: equal to the last bit.
    EXPECT_EQ(f.attention_factor, c.at("attention_factor").get<double>()) << what;
    EXPECT_EQ(f.position_streams, 1);
    EXPECT_TRUE(f.pair_position_stream.empty());
  }
}

// Hand-derived: dims 8, base 10000 has periods 1, 10, 100, 1000, so pair 2's wavelength
// is 200*pi. With high_freq_factor = 8192 / (200*pi) that wavelength lies exactly on the
// high-frequency boundary; HF counts it in the smoothed band, whose value there is inv_freq
// itself (smooth = 1), and an ulp-level detail of the blend is what the JSON pins down.
TEST(ScalingBuilders, Llama3WavelengthOnTheBoundaryIsSmoothed) {
  const json* found = nullptr;
  for (const json& c : scaling_expected().at("cases"))
    if (c.at("method") == "llama3" && c.at("dims") == 8) found = &c;
  ASSERT_NE(found, nullptr);
  const double wavelength = 2 * M_PI / 0.01;
  const double hf = found->at("params").at("high_freq_factor");
  EXPECT_EQ(8192 / hf, wavelength);  // exactly on the boundary
  Frequencies f = build(*found);
  EXPECT_NEAR(f.inv_freq[2], 0.01, 1e-17);                 // smooth = 1: unscaled
  EXPECT_EQ(f.inv_freq[2], found->at("inv_freq_f64")[2].get<double>());
  EXPECT_EQ(f.inv_freq[0], 1.0);  // wavelength 2*pi, shorter than the band: unchanged
  // Pair 3 (wavelength 2000*pi, inside the band): smooth = (8192/(2000*pi) - 1) / (hf - 1).
  const double s = (8192 / (2000 * M_PI) - 1) / (hf - 1);
  EXPECT_NEAR(f.inv_freq[3], (1 - s) * 1e-3 / 8 + s * 1e-3, 1e-18);
}

TEST(ScalingBuilders, YarnMscaleRules) {
  scaling::YarnParams y;
  y.factor = 40;
  // Hand-derived: gm(40) = 0.1 * ln 40 + 1 = 1.368887945411393...
  EXPECT_NEAR(scaling::yarn_attention_factor(y), 1.3688879454113936, 1e-15);
  y.mscale = 0.707;  // without mscale_all_dim HF ignores mscale
  EXPECT_NEAR(scaling::yarn_attention_factor(y), 1.3688879454113936, 1e-15);
  y.mscale_all_dim = 0.707;  // equal mscales cancel (DeepSeek-V2)
  EXPECT_EQ(scaling::yarn_attention_factor(y), 1.0);
  y.attention_factor = 0.5;  // explicit wins
  EXPECT_EQ(scaling::yarn_attention_factor(y), 0.5);
  EXPECT_EQ(scaling::yarn_get_mscale(1.0, 3.0), 1.0);  // no scaling, no mscale
}

TEST(ScalingBuilders, LongRopeSwitchesAfterOriginalLength) {
  scaling::LongRopeParams l{{1, 1}, {4, 8}, 100, 4.0, std::nullopt};
  // Hand-derived: dims 4, base 10000 -> periods 1, 100.
  Frequencies below = scaling::longrope(4, 10000, l, 100);
  Frequencies above = scaling::longrope(4, 10000, l, 101);
  EXPECT_DOUBLE_EQ(below.inv_freq[1], 0.01);
  EXPECT_DOUBLE_EQ(above.inv_freq[0], 0.25);
  EXPECT_DOUBLE_EQ(above.inv_freq[1], 0.01 / 8);
  // sqrt(1 + ln 4 / ln 100) = sqrt(1.30103) (ln 4 / ln 100 = log10 2)
  EXPECT_NEAR(above.attention_factor, std::sqrt(1 + std::log10(2.0)), 1e-15);
  EXPECT_EQ(below.attention_factor, above.attention_factor);
}

TEST(ScalingBuilders, DynamicNtkIsDefaultUpToMaxLength) {
  Frequencies d = scaling::default_frequencies(16, 10000);
  EXPECT_EQ(scaling::dynamic_ntk(16, 10000, 4, 2048, 2048).inv_freq, d.inv_freq);
  EXPECT_EQ(scaling::dynamic_ntk(16, 10000, 4, 2048, 10).inv_freq, d.inv_freq);
  // Hand-derived: L = 2M, f = 2 -> base' = base * 3^(16/14); pair 1 = base'^(-1/8).
  Frequencies l = scaling::dynamic_ntk(16, 10000, 2, 2048, 4096);
  EXPECT_NEAR(l.inv_freq[1], std::pow(10000 * std::pow(3.0, 16.0 / 14), -1.0 / 8), 1e-15);
}

TEST(ScalingBuilders, PartialRotaryTruncatesLikePython) {
  EXPECT_EQ(scaling::rotated_dims(80, 0.4), 32);   // Phi-2
  EXPECT_EQ(scaling::rotated_dims(96, 0.25), 24);  // GPT-NeoX 20B
  EXPECT_EQ(scaling::rotated_dims(128, 1.0), 128);
  EXPECT_THROW(scaling::rotated_dims(80, 0.0), std::invalid_argument);
  EXPECT_THROW(scaling::rotated_dims(10, 0.5), std::invalid_argument);  // 5 is odd
}

// Known answers from the formula (Gemma 4): base^(-2j/head_dim) / factor for the first
// floor(p * head_dim / 2) pairs, 0 for the others.
TEST(ScalingBuilders, ProportionalZeroesThePairsPastTheFactor) {
  const Frequencies f = scaling::proportional(16, 10000, 0.25, 2.0);
  ASSERT_EQ(f.pairs(), 8);
  EXPECT_EQ(f.inv_freq[0], 0.5);
  EXPECT_NEAR(f.inv_freq[1], std::pow(10000.0, -2.0 / 16) / 2, 1e-17);
  for (int j = 2; j < 8; ++j) EXPECT_EQ(f.inv_freq[j], 0.0) << j;
  EXPECT_EQ(f.attention_factor, 1.0);
  // 0.3 * 16 / 2 = 2.4: two pairs rotate, as HF's int(0.3 * 16 // 2).
  EXPECT_EQ(scaling::proportional(16, 10000, 0.3, 1.0).inv_freq[2], 0.0);
  EXPECT_GT(scaling::proportional(16, 10000, 0.3, 1.0).inv_freq[1], 0.0);
  EXPECT_EQ(scaling::proportional(16, 10000, 1.0, 4.0).inv_freq, scaling::linear(16, 10000, 4.0).inv_freq);
  for (double v : scaling::proportional(16, 10000, 0.0, 1.0).inv_freq) EXPECT_EQ(v, 0.0);
  EXPECT_THROW(scaling::proportional(16, 10000, 1.5, 1.0), std::invalid_argument);
  EXPECT_THROW(scaling::proportional(15, 10000, 0.5, 1.0), std::invalid_argument);
  EXPECT_THROW(scaling::proportional(16, 10000, 0.5, 0.0), std::invalid_argument);
}

TEST(ScalingBuilders, MropePairStreamsMatchQwenCode) {
  for (const json& c : scaling_expected().at("multi_axis").at("mrope")) {
    const auto section = c.at("section").get<std::vector<int>>();
    const auto expected = c.at("pair_stream").get<std::vector<int>>();
    const int pairs = section[0] + section[1] + section[2];
    Frequencies f = scaling::mrope(scaling::default_frequencies(2 * pairs, 10000), section,
                                   c.at("interleaved"));
    EXPECT_EQ(f.position_streams, 3);
    EXPECT_EQ(std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()), expected)
        << c.dump();
  }
  EXPECT_THROW(scaling::mrope(scaling::default_frequencies(8, 10000), {1, 1, 1}, false),
               std::invalid_argument);
  EXPECT_THROW(scaling::mrope(scaling::default_frequencies(8, 10000), {4}, false),
               std::invalid_argument);
}

// ERNIE-4.5-VL (its recomposition_frequencies): h and w pairs alternate, then t.
TEST(ScalingBuilders, MropeAlternatingPairStreams) {
  const Frequencies f = scaling::mrope_alternating(scaling::default_frequencies(16, 10000), {2, 2, 4});
  EXPECT_EQ(f.position_streams, 3);
  EXPECT_EQ(std::vector<int>(f.pair_position_stream.begin(), f.pair_position_stream.end()),
            (std::vector<int>{1, 2, 1, 2, 0, 0, 0, 0}));
  EXPECT_EQ(f.inv_freq, scaling::default_frequencies(16, 10000).inv_freq);
  EXPECT_THROW(scaling::mrope_alternating(scaling::default_frequencies(16, 10000), {3, 1, 4}),
               std::invalid_argument);
  EXPECT_THROW(scaling::mrope_alternating(scaling::default_frequencies(16, 10000), {2, 2, 2}),
               std::invalid_argument);
}

TEST(ScalingBuilders, VisionAnglesMatchQwen2VlVisionTower) {
  const json& v = scaling_expected().at("multi_axis").at("vision");
  Frequencies f = scaling::vision_2d(v.at("head_dim"), v.at("theta"));
  const double stream_pos[2] = {v.at("h"), v.at("w")};
  const auto angles = v.at("angles").get<std::vector<double>>();
  ASSERT_EQ(f.pairs(), int(angles.size()));
  EXPECT_EQ(f.position_streams, 2);
  for (int j = 0; j < f.pairs(); ++j)
    EXPECT_NEAR(stream_pos[f.pair_position_stream[j]] * f.inv_freq[j], angles[j], 1e-14) << j;
  EXPECT_THROW(scaling::vision_2d(82), std::invalid_argument);
}

TEST(ScalingBuilders, BadArgumentsNameTheArgument) {
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_NE(message([] { scaling::linear(16, 10000, 0); }).find("factor"), std::string::npos);
  EXPECT_NE(message([] { scaling::default_frequencies(7, 10000); }).find("dims"), std::string::npos);
  EXPECT_NE(message([] { scaling::llama3(16, 10000, {8, 4, 1, 8192}); }).find("high_freq_factor"),
            std::string::npos);
  scaling::LongRopeParams l{{1}, {1, 2}, 4096, 32, std::nullopt};
  EXPECT_NE(message([&] { scaling::longrope(4, 10000, l, 1); }).find("short_factor"),
            std::string::npos);
  EXPECT_NE(message([] { scaling::dynamic_ntk(16, 10000, 2, 0, 1); }).find("max_position_embeddings"),
            std::string::npos);
}

}  // namespace
}  // namespace rotary
