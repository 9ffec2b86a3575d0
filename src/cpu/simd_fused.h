// SIMD row helpers of the fused paths (kernels in simd_fused-inl.h, chosen in simd_dispatch.cpp).
// Rows are contiguous; float16 keeps the scalar conversion on targets without exact hardware
// conversion, as the rotation kernels do.
#pragma once

#include <cstdint>

#include "cpu/simd.h"
#include "rotary/dtype.h"

namespace rotary::cpu_backend {

// n elements of dtype (float32, float16, bfloat16) to float32, exactly.
void load_row_f32(Dtype dtype, const void* src, float* dst, int64_t n);
// n float32 values to dtype (float32, float16, bfloat16: nearest even; float8_e4m3: value / scale,
// nearest even, saturated at +-448), equal to the scalar conversions bit for bit.
void store_row_f32(Dtype dtype, const float* src, void* dst, int64_t n, float scale);

// memcpy; with nontemporal, the destination from its first vector-aligned byte on is written by
// streaming stores, left unfenced (the caller runs hwy::FlushStream before the work counts as done).
void copy_bytes(const void* src, void* dst, int64_t bytes, bool nontemporal);

// Rows through a float32 buffer in one dispatch: for each of `rows` rows, load (src_dtype),
// RMSNorm (when w), rotate with the RoPE row kernel on `angles` (when rotate; its in/out/rows
// are ignored), store (dst_dtype, FP8 with scale). Rows are contiguous, D features each.
struct BufferedRows {
  Dtype src_dtype = float32, dst_dtype = float32;
  const void* src = nullptr;
  void* dst = nullptr;
  int64_t rows = 1, src_stride = 0, dst_stride = 0;  // elements between rows
  int64_t D = 0;
  float scale = 1.0f;
  const float* w = nullptr;
  float eps = 0.0f;
  bool rotate = false;
  PairLayout layout = PairLayout::half_split;
  RowBlock angles;
  float* buffer = nullptr;  // D floats
  // Non-temporal stores where the one-pass kernel's stores are aligned; the caller fences
  // (hwy::FlushStream) before the work counts as done.
  bool nontemporal = false;
};
void buffered_rows(const BufferedRows& job);

}  // namespace rotary::cpu_backend
