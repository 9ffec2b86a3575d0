// Spec 1.2: the gradient is the inverse rotation with the same angles.
#include <gtest/gtest.h>

#include "test_util.h"

namespace rotary {
namespace {

using testing::random_array;

TEST(Gradient, VjpUndoesRope) {
  for (Dtype dt : {float32, float64})
    for (bool traditional : {false, true}) {
      const Array x = random_array({2, 3, 6, 16}, dt, 17);
      const Array offsets({4, 900}, {2});
      const Array y = fast::rope(x, 12, traditional, 10000.f, 0.5f, offsets);
      const Array back = fast::rope_vjp(y, 12, traditional, 10000.f, 0.5f, offsets);
      EXPECT_LT(max_abs_diff(back, x), dt == float64 ? 1e-12 : 2e-6) << to_string(dt);
      const Array back_int = fast::rope_vjp(fast::rope(x, 12, traditional, 10000.f, 1.f, 5), 12, traditional,
                                            10000.f, 1.f, 5);
      EXPECT_LT(max_abs_diff(back_int, x), dt == float64 ? 1e-12 : 2e-6);
    }
}

// <vjp(g), e_j> equals the directional derivative of <g, rope(x)> along e_j, by central
// differences on a small float64 case.
TEST(Gradient, FiniteDifferences) {
  const Shape shape{1, 2, 3, 6};
  const Array x = random_array(shape, float64, 23);
  const Array g = random_array(shape, float64, 29);
  const auto objective = [&](const Array& input) {
    const Array y = fast::rope(input, 4, false, 100.f, 1.f, 2);
    double s = 0;
    for (int64_t i = 0; i < y.size(); ++i) s += y.at(i) * g.at(i);
    return s;
  };
  const Array grad = fast::rope_vjp(g, 4, false, 100.f, 1.f, 2);
  const double h = 1e-6;
  for (int64_t j = 0; j < x.size(); ++j) {
    Array plus = x.copy(), minus = x.copy();
    plus.data<double>()[j] += h;
    minus.data<double>()[j] -= h;
    const double numeric = (objective(plus) - objective(minus)) / (2 * h);
    EXPECT_NEAR(grad.at(j), numeric, 1e-8) << "element " << j;
  }
}

TEST(Gradient, VjpMatchesOracleInverse) {
  const Array g = random_array({2, 2, 4, 8}, float32, 31);
  const Array v = fast::rope_vjp(g, 8, true, 10000.f, 2.f, 3);
  RopeOptions opt = testing::oracle_options(8, true, reference::inv_freq_from_base(8, 10000), 2.f);
  opt.inverse = true;
  EXPECT_TRUE(testing::close_to_oracle(v, reference::rope(g, Positions(3), opt), testing::max_abs(g)));
}

}  // namespace
}  // namespace rotary
