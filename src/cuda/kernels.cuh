// The RoPE kernels. Each thread owns one feature chunk of one token row: it forms the
// chunk's cos/sin once and applies them to every head of its head group (Q's and K's),
// so angle work is per (token, pair) and memory traffic is one read and one write.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/fp8.h"
#include "cuda/launch_args.cuh"

namespace rotary::cuda_backend {

inline constexpr int kBlockThreads = 256;

// Storage type <-> float (double for float64). Round to nearest even, as the CPU does.
template <typename T> struct Conv;
template <> struct Conv<float> {
  using Acc = float;
  static __device__ __forceinline__ float ld(float v) { return v; }
  static __device__ __forceinline__ float st(float v) { return v; }
};
template <> struct Conv<double> {
  using Acc = double;
  static __device__ __forceinline__ double ld(double v) { return v; }
  static __device__ __forceinline__ double st(double v) { return v; }
};
template <> struct Conv<float16_t> {
  using Acc = float;
  static __device__ __forceinline__ float ld(float16_t v) { return __half2float(__ushort_as_half(v.bits)); }
  static __device__ __forceinline__ float16_t st(float v) { return float16_t{__half_as_ushort(__float2half_rn(v))}; }
};
template <> struct Conv<bfloat16_t> {
  using Acc = float;
  static __device__ __forceinline__ float ld(bfloat16_t v) { return __uint_as_float(uint32_t(v.bits) << 16); }
  static __device__ __forceinline__ bfloat16_t st(float v) {
    return bfloat16_t{__bfloat16_as_ushort(__float2bfloat16_rn(v))};
  }
};

// An element of any activation, table or cache dtype to Acc and back, through Conv (FP8 through
// core/fp8.h, times / divided by the scale). (Dtype constants are host variables: device code
// compares the enum value.)
template <typename Acc>
__device__ Acc load_elem(const char* base, Dtype dt, int64_t i, float scale) {
  if (dt.val == Dtype::Val::float32) return reinterpret_cast<const float*>(base)[i];
  if (dt.val == Dtype::Val::float64) return Acc(reinterpret_cast<const double*>(base)[i]);
  if (dt.val == Dtype::Val::float16) return Conv<float16_t>::ld(reinterpret_cast<const float16_t*>(base)[i]);
  if (dt.val == Dtype::Val::bfloat16) return Conv<bfloat16_t>::ld(reinterpret_cast<const bfloat16_t*>(base)[i]);
  return Acc(core::to_float(reinterpret_cast<const core::float8_e4m3_t*>(base)[i])) * Acc(scale);
}

template <typename Acc>
__device__ void store_elem(char* base, Dtype dt, int64_t i, Acc v, float scale) {
  if (dt.val == Dtype::Val::float32) reinterpret_cast<float*>(base)[i] = float(v);
  else if (dt.val == Dtype::Val::float64) reinterpret_cast<double*>(base)[i] = double(v);
  else if (dt.val == Dtype::Val::float16) reinterpret_cast<float16_t*>(base)[i] = Conv<float16_t>::st(float(v));
  else if (dt.val == Dtype::Val::bfloat16) reinterpret_cast<bfloat16_t*>(base)[i] = Conv<bfloat16_t>::st(float(v));
  else reinterpret_cast<core::float8_e4m3_t*>(base)[i] = core::to_float8_e4m3(float(v / Acc(scale)));
}

// Products and sums rounded once each: the _rn intrinsics are never contracted into an FMA.
// fma_rn names the width explicitly (a float fma, never a double one rounded twice).
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

// One rotated feature x*c + partner*s, partner already signed (-x2 for a pair's first feature,
// x1 for its second), in the CPU's order (cpu/rotate_row.h rotated_feature): fma(x, c, partner*s).
template <typename Acc>
__device__ __forceinline__ Acc rotated_fused(Acc x, Acc partner, Acc c, Acc s) {
  return fma_rn(x, c, mul_rn(partner, s));
}

// The same with a table call's rounding: fused, or hf (transformers' eager order: each product
// rounded to storage type T, then their sum), bit for bit the CPU's.
template <typename T, typename Acc>
__device__ __forceinline__ Acc rotated_feature(Acc x, Acc partner, Acc c, Acc s, bool hf) {
  using C = Conv<T>;
  if (!hf) return rotated_fused(x, partner, c, s);
  return add_rn(Acc(C::ld(C::st(mul_rn(x, c)))), Acc(C::ld(C::st(mul_rn(partner, s)))));
}

// The caller's cos/sin (RopePlan::table) at column w for token (b, t) at stream-0 position pos,
// sin negated for the inverse: the CPU's fill_from_table.
template <typename Acc>
__device__ __forceinline__ void table_cos_sin(const core::RopePlan& p, int64_t b, int64_t t, int64_t pos, int64_t w,
                                              Acc& c, Acc& s) {
  const core::TablePlan& tb = p.table;
  const int64_t row = tb.row_of(t, pos);
  c = load_elem<Acc>(static_cast<const char*>(tb.cos.data), tb.dtype, tb.cos.index(b, row, w), 1.f);
  s = load_elem<Acc>(static_cast<const char*>(tb.sin.data), tb.dtype, tb.sin.index(b, row, w), 1.f) *
      (p.inverse ? Acc(-1) : Acc(1));
}

// 16 bytes of elements, moved with one vector load or store.
template <typename T>
union Vec16 {
  static constexpr int N = 16 / int(sizeof(T));
  uint4 u;
  T e[N];
};

// Copies inv_freq from the launch arguments into shared memory: lanes then read different
// pairs without serialising on the constant bank.
__device__ __forceinline__ void stage_inv_freq(const LaunchArgs& a, double* s_inv, int pairs) {
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  for (int i = tid; i < pairs; i += blockDim.x * blockDim.y) s_inv[i] = a.inv_freq[i];
  __syncthreads();
}

// Row (b, t) of global head h (Q's heads, then K's): its tensor, and the row's input and
// output element pointers (at feature 0).
template <typename T>
__device__ __forceinline__ const core::TensorPair& head_row(const core::RopePlan& p, int64_t b, int64_t t,
                                                            int64_t h, const T*& in, T*& out) {
  const bool first = h < p.tensors[0].heads;
  const core::TensorPair& tp = first ? p.tensors[0] : p.tensors[1];
  if (!first) h -= p.tensors[0].heads;
  in = reinterpret_cast<const T*>(tp.in.data) + b * tp.in.stride_b + t * tp.in.stride_t + tp.in.head_offset(h);
  out = reinterpret_cast<T*>(tp.out.data) + b * tp.out.stride_b + t * tp.out.stride_t + tp.out.head_offset(h);
  return tp;
}

// The head range [h0, h1) of this block's head group.
__device__ __forceinline__ void head_group(const LaunchArgs& a, int64_t& h0, int64_t& h1) {
  const int64_t total = a.plan.heads_total();
  h0 = int64_t(blockIdx.y) * a.heads_per_group;
  h1 = h0 + a.heads_per_group < total ? h0 + a.heads_per_group : total;
}

// Vectorised path: feature axis contiguous and 16-byte aligned. HD > 0 specialises on a
// full-rotary head size (64/128/256) so the pair count is a compile-time constant.
// Block: x = feature chunks of a row, y = rows; grid: x = row blocks, y = head groups.
template <typename T, PairLayout LAYOUT, int HD>
__global__ void __launch_bounds__(kBlockThreads) rope_vec_kernel(const __grid_constant__ LaunchArgs args) {
  using C = Conv<T>;
  const core::RopePlan& p = args.plan;
  constexpr bool INTERLEAVED = LAYOUT == PairLayout::interleaved;
  constexpr int V = Vec16<T>::N;
  constexpr int NP = INTERLEAVED ? V / 2 : V;  // pairs per chunk
  constexpr int HB = 4;                 // heads whose loads are in flight together
  __shared__ double s_inv[kMaxPairs];
  const int pairs = HD ? HD / 2 : p.pairs;
  const int dims = 2 * pairs;
  stage_inv_freq(args, s_inv, pairs);

  const int64_t row = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= p.B * p.T) return;
  const int64_t b = row / p.T, t = row - b * p.T;
  int64_t h0, h1;
  head_group(args, h0, h1);
  const int c = threadIdx.x;
  const int nrot = INTERLEAVED ? dims / V : pairs / V;

  if (c >= nrot) {  // a chunk of the unrotated tail [dims, D): copied unless in place
    const int64_t e = dims + int64_t(c - nrot) * V;
    for (int64_t h = h0; h < h1; ++h) {
      const T* in;
      T* out;
      if (head_row(p, b, t, h, in, out).in_place) continue;
      *reinterpret_cast<uint4*>(out + e) = *reinterpret_cast<const uint4*>(in + e);
    }
    return;
  }

  int64_t pos[core::kMaxPositionStreams];
  p.positions.at_streams(b, t, pos);
  float cs[NP], sn[NP];
  const int i0 = c * NP;
#pragma unroll
  for (int j = 0; j < NP; ++j) pair_angle<float>(p, s_inv, pos[pair_stream_of(args, i0 + j)], i0 + j, cs[j], sn[j]);

  // Element offsets of this chunk: x1 at e1; the half-split partner x2 at e1 + pairs.
  const int64_t e1 = int64_t(c) * V;
  for (int64_t hb = h0; hb < h1; hb += HB) {
    Vec16<T> x[HB], y[HB];
    T* outp[HB];
#pragma unroll
    for (int k = 0; k < HB; ++k) {
      if (hb + k >= h1) break;
      const T* in;
      head_row(p, b, t, hb + k, in, outp[k]);
      in += e1;
      outp[k] += e1;
      x[k].u = *reinterpret_cast<const uint4*>(in);
      if constexpr (!INTERLEAVED) y[k].u = *reinterpret_cast<const uint4*>(in + pairs);
    }
#pragma unroll
    for (int k = 0; k < HB; ++k) {
      if (hb + k >= h1) break;
      if constexpr (INTERLEAVED) {
#pragma unroll
        for (int j = 0; j < NP; ++j) {
          const float a = C::ld(x[k].e[2 * j]), d = C::ld(x[k].e[2 * j + 1]);
          x[k].e[2 * j] = C::st(rotated_fused(a, -d, cs[j], sn[j]));
          x[k].e[2 * j + 1] = C::st(rotated_fused(d, a, cs[j], sn[j]));
        }
        *reinterpret_cast<uint4*>(outp[k]) = x[k].u;
      } else {
#pragma unroll
        for (int j = 0; j < NP; ++j) {
          const float a = C::ld(x[k].e[j]), d = C::ld(y[k].e[j]);
          x[k].e[j] = C::st(rotated_fused(a, -d, cs[j], sn[j]));
          y[k].e[j] = C::st(rotated_fused(d, a, cs[j], sn[j]));
        }
        *reinterpret_cast<uint4*>(outp[k]) = x[k].u;
        *reinterpret_cast<uint4*>(outp[k] + pairs) = y[k].u;
      }
    }
  }
}

// Generic path: any feature stride, any dims, float64, and the table calls. Each thread takes
// pairs (then tail elements) of its row with stride blockDim.x, and every head of its group. A
// pair's cos/sin are formed (pair_angle) or read from the caller's table: one column per pair,
// or one per feature (each feature of the pair its own), with the table's rounding.
template <typename T>
__global__ void __launch_bounds__(kBlockThreads) rope_generic_kernel(const __grid_constant__ LaunchArgs args) {
  using C = Conv<T>;
  using Acc = typename C::Acc;
  const core::RopePlan& p = args.plan;
  __shared__ double s_inv[kMaxPairs];
  stage_inv_freq(args, s_inv, p.pairs);

  const int64_t row = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= p.B * p.T) return;
  const int64_t b = row / p.T, t = row - b * p.T;
  int64_t h0, h1;
  head_group(args, h0, h1);
  int64_t pos[core::kMaxPositionStreams];
  p.positions.at_streams(b, t, pos);
  const int64_t items = p.pairs + (p.D - p.dims);
  const bool from_table = p.table.cos.data != nullptr, hf = p.table.hf_rounding;

  for (int64_t item = threadIdx.x; item < items; item += blockDim.x) {
    if (item >= p.pairs) {  // unrotated tail element: copied unless in place
      const int64_t j = p.dims + (item - p.pairs);
      for (int64_t h = h0; h < h1; ++h) {
        const T* in;
        T* out;
        const core::TensorPair& tp = head_row(p, b, t, h, in, out);
        if (!tp.in_place) out[j * tp.out.stride_d] = in[j * tp.in.stride_d];
      }
      continue;
    }
    const int i = int(item);
    const int64_t e1 = i * p.pair_step();
    const int64_t e2 = e1 + p.partner_distance();
    Acc c1, s1, c2, s2;
    if (from_table) {
      table_cos_sin<Acc>(p, b, t, pos[0], p.table.column_of(i, e1, p.pairs), c1, s1);
      table_cos_sin<Acc>(p, b, t, pos[0], p.table.column_of(i, e2, p.pairs), c2, s2);
    } else {
      pair_angle<Acc>(p, s_inv, pos[pair_stream_of(args, i)], i, c1, s1);
      c2 = c1;
      s2 = s1;
    }
    for (int64_t h = h0; h < h1; ++h) {
      const T* in;
      T* out;
      const core::TensorPair& tp = head_row(p, b, t, h, in, out);
      const Acc x1 = C::ld(in[e1 * tp.in.stride_d]), x2 = C::ld(in[e2 * tp.in.stride_d]);
      out[e1 * tp.out.stride_d] = C::st(rotated_feature<T>(x1, -x2, c1, s1, hf));
      out[e2 * tp.out.stride_d] = C::st(rotated_feature<T>(x2, x1, c2, s2, hf));
    }
  }
}

}  // namespace rotary::cuda_backend
