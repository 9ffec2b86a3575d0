// rotary::Array: construction, conversion, views without copies.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "test_util.h"

namespace rotary {
namespace {

TEST(Array, ConstructFromTypedBuffersConverting) {
  const double d[4] = {1.5, -2.25, 3.0, 65504.0};
  const Array a(d, {2, 2}, float16);
  EXPECT_EQ(a.dtype(), float16);
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.strides(), (Strides{2, 1}));
  EXPECT_EQ(a.at(1), -2.25);
  EXPECT_EQ(a.at(3), 65504.0);
  const int64_t big[2] = {(int64_t(1) << 40) + 3, -7};
  const Array b(big, {2});
  EXPECT_EQ(b.dtype(), int64);
  EXPECT_EQ(b.item<int64_t>(), (int64_t(1) << 40) + 3);
  const uint32_t u[1] = {4000000000u};
  EXPECT_EQ(Array(u, {1}).at(0), 4000000000.0);
  EXPECT_EQ(Array(u, {1}, int64).at(0), 4000000000.0);
}

TEST(Array, ScalarsAndInitializerLists) {
  EXPECT_EQ(Array(3).dtype(), int32);
  EXPECT_EQ(Array(3).ndim(), 0);
  EXPECT_EQ(Array(2.5f).dtype(), float32);
  EXPECT_EQ(Array(2.5f).item<float>(), 2.5f);
  const Array l({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(l.shape(), (Shape{2, 3}));
  EXPECT_EQ(l.at(5), 6.0);
  EXPECT_THROW(Array({1, 2, 3}, {2, 2}), std::invalid_argument);
}

TEST(Array, AstypeRoundsOnceToNearestEven) {
  // 1 + 2^-11 is exactly halfway between two float16 values: ties to even gives 1.
  const double v[3] = {1.0 + std::ldexp(1.0, -11), 1.0 + 3 * std::ldexp(1.0, -11), 1.0 + std::ldexp(1.0, -11) + 1e-12};
  const Array h = Array(v, {3}, float64).astype(float16);
  EXPECT_EQ(h.at(0), 1.0);
  EXPECT_EQ(h.at(1), 1.0 + std::ldexp(1.0, -9));
  EXPECT_EQ(h.at(2), 1.0 + std::ldexp(1.0, -10));  // just above the tie: rounds up (no double rounding)
  const Array bf = Array(v, {3}, float64).astype(bfloat16);
  EXPECT_EQ(bf.at(0), 1.0);
}

TEST(Array, HalfConversionsKnownAnswers) {
  EXPECT_EQ(to_float16(65520.f).bits, 0x7c00);  // rounds to infinity
  EXPECT_EQ(to_float16(65519.f).bits, 0x7bff);
  EXPECT_EQ(to_float16(5.9604644775390625e-8f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(to_float(float16_t{0x0001}), 5.9604644775390625e-8f);
  EXPECT_EQ(to_float16(-0.0f).bits, 0x8000);
  EXPECT_EQ(to_bfloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(to_bfloat16(bits_to_float(0x3f808000)).bits, 0x3f80);  // tie to even
  EXPECT_EQ(to_bfloat16(bits_to_float(0x3f818000)).bits, 0x3f82);
  EXPECT_TRUE(std::isnan(to_float(to_bfloat16(NAN))));
}

TEST(Array, SwapaxesAndTransposeAreViews) {
  const Array a = testing::random_array({2, 3, 4}, float32);
  const Array s = swapaxes(a, 0, 2);
  EXPECT_EQ(s.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(s.strides(), (Strides{1, 4, 12}));
  EXPECT_EQ(s.raw_data(), a.raw_data());  // no copy
  EXPECT_FALSE(s.is_contiguous());
  const Array t = transpose(a, {1, 2, 0});
  EXPECT_EQ(t.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(t.at(1), a.at(12));  // t[0,0,1] = a[1,0,0]
  const Array c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.at(1), a.at(12));
  EXPECT_EQ(transpose(a).shape(), (Shape{4, 3, 2}));
  EXPECT_THROW(swapaxes(a, 0, 3), std::invalid_argument);
  EXPECT_THROW(transpose(a, {0, 0, 1}), std::invalid_argument);
}

TEST(Array, DataRequiresMatchingTypeAndContiguity) {
  Array a = testing::random_array({2, 3}, float32);
  EXPECT_NO_THROW(a.data<float>());
  EXPECT_THROW(a.data<double>(), std::invalid_argument);
  EXPECT_THROW(swapaxes(a, 0, 1).data<float>(), std::invalid_argument);
}

TEST(Array, SliceIsAView) {
  const Array a = testing::random_array({4, 10}, float32);
  const Array s = slice(a, 1, 2, 8, 2);
  EXPECT_EQ(s.shape(), (Shape{4, 3}));
  EXPECT_EQ(s.at(4), a.at(14));  // s[1,1] = a[1,4]
}

TEST(Array, AllocatorReusesFreedBuffers) {
  detail::clear_cache();
  void* first;
  {
    Array a = Array::empty({1 << 20}, float32);
    first = a.raw_data();
  }
  EXPECT_GE(detail::cached_bytes(), size_t(4) << 20);
  Array b = Array::empty({1 << 20}, float32);
  EXPECT_EQ(b.raw_data(), first);
}

}  // namespace
}  // namespace rotary
