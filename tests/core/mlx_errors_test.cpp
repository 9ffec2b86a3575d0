// Every validation error of spec 1.1, with its exact text, and the order they are checked in.
#include <gtest/gtest.h>

#include "test_util.h"

namespace rotary {
namespace {

using testing::random_array;

// Runs f and returns the std::invalid_argument text it throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

const Array x = random_array({2, 3, 4, 8}, float32);

TEST(MlxErrors, BaseAndFreqsBoth) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, 10000.f, 1.f, 0, Array({1.f, 2.f, 3.f, 4.f})); }),
            "[rope] Only one of base or freqs can have a value.");
}

TEST(MlxErrors, NeitherBaseNorFreqs) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, std::nullopt, 1.f, 0); }),
            "[rope] Neither base nor freqs has a value.");
}

TEST(MlxErrors, TooFewDimensions) {
  EXPECT_EQ(error_of([] { fast::rope(random_array({4, 8}, float32), 8, false, 10000.f, 1.f, 0); }),
            "[rope] Input must have at least 3 dimensions but got input with 2 dimensions.");
}

TEST(MlxErrors, NotFloating) {
  EXPECT_EQ(error_of([] { fast::rope(Array::zeros({2, 3, 8}, int32), 8, false, 10000.f, 1.f, 0); }),
            "[rope] Input must be a floating type but got int32.");
}

TEST(MlxErrors, OffsetTwoDimensional) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, 10000.f, 1.f, Array({1, 2}, {1, 2})); }),
            "[rope] offset must have at most one dimension but has shape (1,2).");
}

TEST(MlxErrors, OffsetWrongLength) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, 10000.f, 1.f, Array({1, 2, 3}, {3})); }),
            "[rope] offset must be a scalar or vector with 2 elements but has shape (3).");
}

TEST(MlxErrors, OffsetNotInteger) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, 10000.f, 1.f, Array({1.f, 2.f}, {2})); }),
            "[rope] offset must be an integer but got type float32.");
  EXPECT_EQ(error_of([] {
              bool v[2] = {true, false};
              fast::rope(x, 8, false, 10000.f, 1.f, Array(v, {2}));
            }),
            "[rope] offset must be an integer but got type bool.");
}

TEST(MlxErrors, DimsNotPositive) {
  EXPECT_EQ(error_of([] { fast::rope(x, 0, false, 10000.f, 1.f, 0); }), "[rope] dims must be positive but got 0.");
  EXPECT_EQ(error_of([] { fast::rope(x, -4, false, 10000.f, 1.f, 0); }), "[rope] dims must be positive but got -4.");
}

TEST(MlxErrors, DimsOdd) {
  EXPECT_EQ(error_of([] { fast::rope(x, 5, false, 10000.f, 1.f, 0); }), "[rope] dims must be even but got 5.");
}

TEST(MlxErrors, DimsBeyondD) {
  // Regression: bad dims must be refused before anything reads out of bounds.
  EXPECT_EQ(error_of([] { fast::rope(x, 10, false, 10000.f, 1.f, 0); }),
            "[rope] dims must not exceed the input's last dimension (8) but got 10.");
}

TEST(MlxErrors, FreqsWrongShape) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, std::nullopt, 1.f, 0, Array({1.f, 2.f, 3.f})); }),
            "[rope] freqs must be one dimensional with size 4 but got shape (3).");
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, std::nullopt, 1.f, 0, Array({1.f, 2.f, 3.f, 4.f}, {2, 2})); }),
            "[rope] freqs must be one dimensional with size 4 but got shape (2,2).");
}

TEST(MlxErrors, ScalarShapePrintsAsEmptyParens) {
  EXPECT_EQ(error_of([] { fast::rope(x, 8, false, 10000.f, 1.f, Array(1.5f)); }),
            "[rope] offset must be an integer but got type float32.");
  EXPECT_EQ(to_string(Shape{}), "()");
}

// The spec's order: each call breaks several rules and must report the earliest one.
TEST(MlxErrors, ValidationOrder) {
  const Array bad_x = Array::zeros({4, 8}, int32);  // breaks 3 and 4
  EXPECT_EQ(error_of([&] { fast::rope(bad_x, 5, false, 10000.f, 1.f, 0, Array({1.f})); }),
            "[rope] Only one of base or freqs can have a value.");
  EXPECT_EQ(error_of([&] { fast::rope(bad_x, 5, false, std::nullopt, 1.f, 0); }),
            "[rope] Neither base nor freqs has a value.");
  EXPECT_EQ(error_of([&] { fast::rope(bad_x, 5, false, 10000.f, 1.f, Array({1.f}, {1, 1})); }),
            "[rope] Input must have at least 3 dimensions but got input with 2 dimensions.");
  const Array int_x = Array::zeros({2, 4, 8}, int32);  // breaks 4
  EXPECT_EQ(error_of([&] { fast::rope(int_x, 5, false, 10000.f, 1.f, Array({1.f}, {1, 1})); }),
            "[rope] Input must be a floating type but got int32.");
  EXPECT_EQ(error_of([&] { fast::rope(x, 5, false, 10000.f, 1.f, Array({1.f}, {1, 1})); }),
            "[rope] offset must have at most one dimension but has shape (1,1).");
  EXPECT_EQ(error_of([&] { fast::rope(x, 5, false, 10000.f, 1.f, Array({1.f, 2.f, 3.f}, {3})); }),
            "[rope] offset must be a scalar or vector with 2 elements but has shape (3).");
  EXPECT_EQ(error_of([&] { fast::rope(x, -1, false, 10000.f, 1.f, Array({1.f, 2.f}, {2})); }),
            "[rope] offset must be an integer but got type float32.");
  EXPECT_EQ(error_of([&] { fast::rope(x, -1, false, std::nullopt, 1.f, 0, Array({1.f})); }),
            "[rope] dims must be positive but got -1.");
  EXPECT_EQ(error_of([&] { fast::rope(x, 9, false, std::nullopt, 1.f, 0, Array({1.f})); }),
            "[rope] dims must be even but got 9.");
  EXPECT_EQ(error_of([&] { fast::rope(x, 10, false, std::nullopt, 1.f, 0, Array({1.f})); }),
            "[rope] dims must not exceed the input's last dimension (8) but got 10.");
}

TEST(MlxErrors, VjpValidatesTheSame) {
  EXPECT_EQ(error_of([] { fast::rope_vjp(x, 5, false, 10000.f, 1.f, 0); }), "[rope] dims must be even but got 5.");
  EXPECT_EQ(error_of([] { fast::rope_vjp(x, 8, false, std::nullopt, 1.f, Array({1, 2})); }),
            "[rope] Neither base nor freqs has a value.");
}

TEST(MlxErrors, NnRoPEReportsTheSameErrors) {
  EXPECT_EQ(error_of([] { nn::RoPE(7)(x); }), "[rope] dims must be even but got 7.");
}

}  // namespace
}  // namespace rotary
