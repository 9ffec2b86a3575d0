// The SIMD kernels (Google Highway, best target chosen at run time): the row rotation for
// float32/float16/bfloat16 with a contiguous feature axis, and the cos/sin of a position row.
// Dispatch lives in simd_dispatch.cpp alone; the per-target code in simd_*-inl.h.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rotary/dtype.h"
#include "rotary/rope.h"

namespace rotary::cpu_backend {

// `rows` rows of D contiguous features each, rotated with one cos/sin table row per row.
// Half-split layout: cos/sin hold `pairs` values per row (sin already signed and scaled).
// Interleaved layout: cos/sin hold 2*pairs values per row, one per feature: cos[2i] =
// cos[2i+1] = c_i, sin[2i] = -s_i, sin[2i+1] = s_i (see expand_interleaved), so the kernel
// needs one pair swap in registers and no shuffles of the table.
struct RowBlock {
  const void* in = nullptr;
  void* out = nullptr;
  int64_t rows = 1;
  int64_t in_stride = 0, out_stride = 0;  // elements between consecutive rows
  const float* cos = nullptr;
  const float* sin = nullptr;
  int64_t table_stride = 0;  // floats between consecutive rows' tables (0: one table for all)
  // Optional, interleaved layout: the same table in the half-split form (pairs values per row,
  // pair_table_stride between rows); lets the bfloat16 kernel split pairs without lane swaps.
  const float* pair_cos = nullptr;
  const float* pair_sin = nullptr;
  int64_t pair_table_stride = 0;
  // Half-split bfloat16: cos/sin rows already in the kernel's even/odd order
  // (split_table_bf16, on the same target), not split again per row. (With AVX512_BF16 the
  // kernel reads the natural order, and the split leaves it so.)
  bool table_split = false;
  int pairs = 0;
  int64_t D = 0;
  bool copy_tail = true;  // copy features [2*pairs, D) (false when in place)
  bool nontemporal = false;  // output too large for the caches: non-temporal stores where aligned
  bool caller_fences = false;  // streamed stores left unfenced: the caller runs hwy::FlushStream once after its calls
};

// dtype is float32, float16 or bfloat16. Results equal rotate_row's bit for bit.
void rotate_rows_simd(Dtype dtype, PairLayout layout, const RowBlock& block);

// Inputs of one position row's angles. Accurate mode: theta_i = pos_i * inv_freq[i] in double,
// pos_i = double(p) * scale; compat mode: theta_i = double(posf_i * inv_freq_f32[i]) (float32
// product, as MLX). Either way theta is reduced mod 2*pi in double and cos/sin are evaluated in
// double on the reduced angle, then rounded to float (within ~1 float ulp of the exact value).
struct AngleArgs {
  int pairs = 0;
  bool compat = false;
  double pos = 0;                        // accurate, every pair (when pos_per_pair is null)
  const double* pos_per_pair = nullptr;  // accurate, multi-stream positions
  float posf = 0;                        // compat
  const float* posf_per_pair = nullptr;  // compat, multi-stream
  const double* inv_freq = nullptr;
  const float* inv_freq_f32 = nullptr;  // compat
  // The largest |inv_freq[i]| (compat: of inv_freq_f32) when known: with one position the
  // row then checks the reduction's bound once, not per vector. Unknown: infinity.
  double inv_freq_max = HUGE_VAL;
  float factor = 1.0f;                  // attention factor, multiplies cos and sin
  float sign = 1.0f;                    // -1 for the inverse rotation, multiplies sin
};

// cos_out[i] = cos(theta_i) * factor, sin_out[i] = sin(theta_i) * factor * sign.
void sincos_row(const AngleArgs& args, float* cos_out, float* sin_out);

// Half-split table (pairs values) to the interleaved kernel's per-feature form (2*pairs values):
// c2[2i] = c2[2i+1] = c[i], s2[2i] = -s[i], s2[2i+1] = s[i].
void expand_interleaved(const float* c, const float* s, int pairs, float* c2, float* s2);

// In place, a half-split table row (pairs values of cos and of sin) into the order the
// half-split bfloat16 kernel reads (RowBlock::table_split): per vector step of pairs, the even
// pairs then the odd ones; the pairs after the last full step stay in place.
void split_table_bf16(float* cos, float* sin, int pairs);

// Whether the chosen target has hardware fused multiply-add. Without it the backend takes the
// scalar path (the kernels' bit-exactness with it and the angle reduction rely on FMA).
bool simd_usable();

// Name of the Highway target the kernels run on ("AVX2", "AVX3", ...).
const char* simd_target_name();
// The compiled targets with FMA this CPU supports, best first, by name; and a way to run on one of them
// (tests compare every target, benchmarks measure one). An unknown name or "" restores the best.
std::vector<std::string> simd_targets();
void use_simd_target(const std::string& name);

}  // namespace rotary::cpu_backend
