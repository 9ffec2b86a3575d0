// nn::RoPE: settings, both offset kinds, printed form, and the KV-cache decode pattern.
#include <gtest/gtest.h>

#include <sstream>

#include "test_util.h"

namespace rotary {
namespace {

TEST(NnRoPE, PrintedForm) {
  std::ostringstream os;
  os << nn::RoPE(64) << " " << nn::RoPE(32, true);
  EXPECT_EQ(os.str(), "RoPE(64, traditional=false) RoPE(32, traditional=true)");
}

TEST(NnRoPE, DefaultsAreMlxs) {
  const nn::RoPE r(16);
  EXPECT_FALSE(r.traditional());
  EXPECT_EQ(r.base(), 10000.f);
  EXPECT_EQ(r.scale(), 1.f);
}

TEST(NnRoPE, CallsFastRopeWithItsSettings) {
  const Array x = testing::random_array({2, 3, 5, 16}, float32, 3);
  const nn::RoPE r(8, true, 500.f, 0.25f);
  EXPECT_TRUE(bit_equal(r(x, 6), fast::rope(x, 8, true, 500.f, 0.25f, 6)));
  const Array off({1, 2}, {2});
  EXPECT_TRUE(bit_equal(r(x, off), fast::rope(x, 8, true, 500.f, 0.25f, off)));
  EXPECT_TRUE(bit_equal(r(x), fast::rope(x, 8, true, 500.f, 0.25f, 0)));
}

// Prefill then decode with the cache offset equals rotating the whole sequence at once.
TEST(NnRoPE, IncrementalDecodeEqualsWholeSequence) {
  const nn::RoPE r(32);
  const Array seq = testing::random_array({1, 4, 12, 32}, float32, 5);
  const Array whole = r(seq);
  const Array prefill = r(slice(seq, 2, 0, 8));
  EXPECT_TRUE(bit_equal(prefill.contiguous(), slice(whole, 2, 0, 8).contiguous()));
  for (int t = 8; t < 12; ++t) {
    const Array step = r(slice(seq, 2, t, t + 1), t);
    EXPECT_TRUE(bit_equal(step.contiguous(), slice(whole, 2, t, t + 1).contiguous())) << "token " << t;
  }
}

}  // namespace
}  // namespace rotary
