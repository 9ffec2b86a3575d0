// The fused paths' row kernel (buffered_rows: load, RMSNorm, rotate, store converting) on every
// SIMD target against the same steps done one at a time in scalar code, bit for bit: each
// source and destination dtype (FP8 with a scale), both layouts, with and without RMSNorm, head
// sizes on and off the one-pass kernel's fast shapes. The inputs are multiples of 1/64 below 2
// in magnitude, so every sum of squares is exact in double whatever its order, and the only
// rounding left is the one both sides share. Streamed stores (nontemporal) give the same bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/fp8.h"
#include "cpu/simd.h"
#include "cpu/simd_fused.h"

namespace rotary {
namespace {

float rounded(Dtype d, float v) {
  if (d == bfloat16) return to_float(to_bfloat16(v));
  if (d == float16) return to_float(to_float16(v));
  return v;
}

// n values of dtype d (float32, float16, bfloat16, FP8 e4m3 of value / scale) as raw bytes.
std::vector<uint8_t> encode(Dtype d, const std::vector<float>& v, float scale) {
  std::vector<uint8_t> out(v.size() * d.size);
  for (size_t i = 0; i < v.size(); ++i) {
    if (d == float32) std::memcpy(&out[i * 4], &v[i], 4);
    const uint16_t b16 = to_bfloat16(v[i]).bits, f16 = to_float16(v[i]).bits;
    if (d == bfloat16) std::memcpy(&out[i * 2], &b16, 2);
    if (d == float16) std::memcpy(&out[i * 2], &f16, 2);
    if (d == float8_e4m3) out[i] = core::to_float8_e4m3(v[i] / scale).bits;
  }
  return out;
}

struct RowsCase {
  Dtype src, dst;
  int D;
  bool rotate, norm, interleaved;
};

// The rows the steps give one at a time: RMSNorm with the sum in double, then
// out1 = fma(x1, c, -(x2 * s)), out2 = fma(x2, c, x1 * s) on each pair (rotate_row's order).
std::vector<float> expected_rows(const RowsCase& k, const std::vector<float>& x, int rows, const std::vector<float>& w,
                                 const std::vector<float>& c, const std::vector<float>& s, float eps) {
  std::vector<float> y(x);
  const int D = k.D, pairs = D / 2;
  for (int r = 0; r < rows; ++r) {
    float* row = y.data() + r * D;
    if (k.norm) {
      double sum = 0;
      for (int i = 0; i < D; ++i) sum += double(row[i]) * double(row[i]);
      const float rstd = float(1.0 / std::sqrt(sum / double(D) + double(eps)));
      for (int i = 0; i < D; ++i) row[i] = row[i] * rstd * w[i];
    }
    if (!k.rotate) continue;
    for (int i = 0; i < pairs; ++i) {
      const int i1 = k.interleaved ? 2 * i : i, i2 = k.interleaved ? 2 * i + 1 : i + pairs;
      const float x1 = row[i1], x2 = row[i2];
      row[i1] = std::fma(x1, c[i], -(x2 * s[i]));
      row[i2] = std::fma(x2, c[i], x1 * s[i]);
    }
  }
  return y;
}

// rows rows through buffered_rows; with nontemporal the destination is 64-byte aligned, so the
// one-pass kernels stream their stores, and the 64 bytes after it must stay untouched.
void check_rows(const RowsCase& k, int rows, bool nontemporal) {
  const int D = k.D, pairs = D / 2;
  const float scale = 0.37f, eps = 1e-6f;
  std::vector<float> x(size_t(rows * D)), w(D), c(pairs), s(pairs), c2(D), s2(D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int((i * 37 + 11) % 257) - 128) / 64.0f;
  for (int i = 0; i < D; ++i) w[i] = rounded(bfloat16, 0.5f + float((i * 13) % 29) / 17.0f);
  for (int i = 0; i < pairs; ++i) {
    c[i] = std::cos(0.3f * float(i) + 0.1f);
    s[i] = std::sin(0.3f * float(i) + 0.1f);
  }
  cpu_backend::expand_interleaved(c.data(), s.data(), pairs, c2.data(), s2.data());
  const std::vector<uint8_t> src = encode(k.src, x, 1.0f);
  std::vector<float> xr(x.size());
  for (size_t i = 0; i < x.size(); ++i) xr[i] = rounded(k.src, x[i]);
  const std::vector<uint8_t> want = encode(k.dst, expected_rows(k, xr, rows, w, c, s, eps), scale);
  std::vector<uint8_t> storage(want.size() + 192, 0xAB);
  uint8_t* got = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64);
  std::vector<float> buffer(D);
  cpu_backend::BufferedRows job;
  job.src_dtype = k.src;
  job.dst_dtype = k.dst;
  job.src = src.data();
  job.dst = got;
  job.rows = rows;
  job.src_stride = job.dst_stride = D;
  job.D = D;
  job.scale = scale;
  job.w = k.norm ? w.data() : nullptr;
  job.eps = eps;
  job.rotate = k.rotate;
  job.layout = k.interleaved ? PairLayout::interleaved : PairLayout::half_split;
  job.angles.cos = k.interleaved ? c2.data() : c.data();
  job.angles.sin = k.interleaved ? s2.data() : s.data();
  job.angles.pair_cos = k.interleaved ? c.data() : nullptr;
  job.angles.pair_sin = k.interleaved ? s.data() : nullptr;
  job.angles.pairs = pairs;
  job.angles.D = D;
  job.buffer = buffer.data();
  job.nontemporal = nontemporal;
  cpu_backend::buffered_rows(job);
  EXPECT_EQ(std::vector<uint8_t>(got, got + want.size()), want) << rows << " rows, nontemporal " << nontemporal;
  EXPECT_EQ(std::vector<uint8_t>(got + want.size(), got + want.size() + 64), std::vector<uint8_t>(64, 0xAB));
}

TEST(FusedRows, EveryTargetEqualsTheStepsBitForBit) {
  for (const std::string& target : cpu_backend::simd_targets()) {
    cpu_backend::use_simd_target(target);
    for (Dtype src : {float32, float16, bfloat16})
      for (Dtype dst : {src, float32, float8_e4m3})
        for (int D : {2, 64, 80, 128, 136, 256})
          for (int op = 0; op < 5; ++op) {  // copy, half, interleaved, half + norm, interleaved + norm
            const RowsCase k{src, dst, D, op > 0, op > 2, op == 2 || op == 4};
            SCOPED_TRACE(target + " " + to_string(src) + "->" + to_string(dst) + " D=" + std::to_string(D) +
                         " op " + std::to_string(op));
            check_rows(k, 3, false);
            check_rows(k, 21, true);  // past one block of rstds (kNormBlock), streamed
          }
  }
  cpu_backend::use_simd_target("");
}

}  // namespace
}  // namespace rotary
