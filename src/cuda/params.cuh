// The one parameter struct every kernel receives by value (FlashInfer's pos_enc.cuh style),
// and the device-side position and angle helpers.
#pragma once

#include <cstdint>

#include "core/angles.h"
#include "core/plan.h"
#include "cuda/backend.h"

namespace rotary::cuda_backend {

// One tensor (Q or K): input and output base pointers and element strides.
struct TensorArgs {
  const char* in = nullptr;
  char* out = nullptr;
  int64_t in_b = 0, in_t = 0, in_d = 1;
  int64_t out_b = 0, out_t = 0, out_d = 1;
  int64_t heads = 1;
  int n_head_axes = 0;
  bool in_place = false;
  int64_t head_size[core::kMaxHeadAxes] = {};
  int64_t in_h[core::kMaxHeadAxes] = {};
  int64_t out_h[core::kMaxHeadAxes] = {};
};

enum IndexType : int { kInt32 = 0, kInt64 = 1, kUint32 = 2 };

struct PosArgs {
  int kind = 0;  // 0 offset, 1 ids, 2 ragged (Positions::Kind order)
  int streams = 1;
  int dtype = kInt64, starts_dtype = kInt64;
  int64_t offset = 0;
  const void* array = nullptr;
  int64_t stride_s = 0, stride_b = 0, stride_t = 0;
  const void* starts = nullptr;
  int64_t starts_stride = 0;
  int64_t num_seqs = 0;
};

struct Params {
  TensorArgs t[2];
  int n_tensors = 1;
  int64_t heads_total = 1;  // heads of Q plus heads of K: the head loop runs over both
  int64_t B = 1, T = 1, D = 0, rows = 0;
  int pairs = 0, dims = 0;
  int heads_per_group = 1;  // head-parallel split: blockIdx.y picks a group of heads
  bool accurate = true;
  bool traditional = false;  // pairs (2i, 2i+1) instead of (i, i + pairs)
  bool has_pair_stream = false;
  float sign = 1.0f;  // -1 for the inverse rotation
  double attention_factor = 1.0;
  double scale = 1.0;
  float scale_f32 = 1.0f;
  PosArgs pos;
  // Host inv_freq travels by value with the launch: no per-call allocation or copy.
  double inv_freq[kMaxPairs];
  uint8_t pair_stream[kMaxPairs];
};

__device__ __forceinline__ int64_t load_index(const void* p, int dtype, int64_t i) {
  if (dtype == kInt32) return __ldg(static_cast<const int32_t*>(p) + i);
  if (dtype == kUint32) return __ldg(static_cast<const uint32_t*>(p) + i);
  return __ldg(reinterpret_cast<const long long*>(p) + i);
}

// Positions of token (b, t) for every stream. Ragged: the sequence holding t by binary
// search over cu_seqlens (mirrors the CPU backend), so the grid is sized by tokens.
__device__ __forceinline__ void token_positions(const PosArgs& pp, int64_t b, int64_t t, int64_t* pos) {
  if (pp.kind == 0) {
    pos[0] = t + (pp.array ? load_index(pp.array, pp.dtype, b * pp.stride_b) : pp.offset);
    return;
  }
  if (pp.kind == 1) {
    for (int s = 0; s < pp.streams; ++s)
      pos[s] = load_index(pp.array, pp.dtype, s * pp.stride_s + b * pp.stride_b + t * pp.stride_t);
    return;
  }
  int64_t lo = 0, hi = pp.num_seqs;  // the last s with cu_seqlens[s] <= t, in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) >> 1;
    if (load_index(pp.array, pp.dtype, mid * pp.stride_t) <= t) lo = mid;
    else hi = mid;
  }
  const int64_t start = pp.starts ? load_index(pp.starts, pp.starts_dtype, lo * pp.starts_stride) : 0;
  pos[0] = start + t - load_index(pp.array, pp.dtype, lo * pp.stride_t);
}

// cos and sin of pair i at position p, times the attention factor, sin signed for the
// inverse: the same formation as the CPU backend (core/angles.h). Acc is float, or double
// for float64 tensors. Double math here is per (token, pair), not per element.
template <typename Acc>
__device__ __forceinline__ void pair_angle(const Params& p, const double* inv_freq, int64_t pos, int i,
                                           Acc& c, Acc& s) {
  const double inv = inv_freq[i];
  const double theta = p.accurate ? core::accurate_angle(pos, p.scale, inv)
                                  : double(core::compat_angle(pos, p.scale_f32, float(inv)));
  const Acc r = static_cast<Acc>(core::reduce_angle(theta));
  Acc sr, cr;
  if constexpr (sizeof(Acc) == 4) sincosf(r, &sr, &cr);
  else sincos(r, &sr, &cr);
  const Acc af = static_cast<Acc>(p.attention_factor);
  c = cr * af;
  s = sr * af * static_cast<Acc>(p.sign);
}

// Element offsets of flattened head h into a tensor's input and output.
__device__ __forceinline__ void head_offsets(const TensorArgs& ta, int64_t h, int64_t& in_off, int64_t& out_off) {
  if (ta.n_head_axes <= 1) {
    in_off = ta.n_head_axes ? h * ta.in_h[0] : 0;
    out_off = ta.n_head_axes ? h * ta.out_h[0] : 0;
    return;
  }
  in_off = 0;
  out_off = 0;
  for (int a = ta.n_head_axes - 1; a >= 0; --a) {
    const int64_t idx = h % ta.head_size[a];
    in_off += idx * ta.in_h[a];
    out_off += idx * ta.out_h[a];
    h /= ta.head_size[a];
  }
}

}  // namespace rotary::cuda_backend
