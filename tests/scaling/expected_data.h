// Expected values for the scaling tests: tests/data/scaling_expected.json, written by
// tests/data/make_scaling_expected.py, an independent Python re-implementation of Hugging Face
// transformers' RoPE initialisation (torch float32 as HF runs it, and float64).
#pragma once

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace rotary::testing {

inline const nlohmann::json& scaling_expected() {
  static const nlohmann::json data = [] {
    std::ifstream in(std::string(ROTARY_TEST_DATA) + "/scaling_expected.json");
    return nlohmann::json::parse(in);
  }();
  return data;
}

inline std::string config_path(const std::string& name) {
  return std::string(ROTARY_TEST_DATA) + "/configs/" + name;
}

// Our double frequencies against both references: the float64 formulas to 1e-12 relative, and
// HF's float32 tensors to 8 float32 ulps (HF's own float32 rounding is up to ~4.3 ulps off the
// exact value on these configs, so 8 ulps is "float32 precision" with a margin).
inline void expect_matches_hf(const std::vector<double>& ours, const nlohmann::json& expected,
                              const std::string& what) {
  const auto f64 = expected.at("inv_freq_f64").get<std::vector<double>>();
  const auto f32 = expected.at("inv_freq_f32").get<std::vector<double>>();
  ASSERT_EQ(ours.size(), f64.size()) << what;
  for (size_t j = 0; j < ours.size(); ++j) {
    EXPECT_NEAR(ours[j], f64[j], 1e-12 * std::abs(f64[j])) << what << " pair " << j;
    const float hf = float(f32[j]);
    const double ulp = double(std::nextafter(hf, INFINITY) - hf);
    EXPECT_NEAR(ours[j], f32[j], 8 * ulp) << what << " pair " << j << " (HF float32)";
  }
}

}  // namespace rotary::testing
