// The fused calls on the CPU. Work is split over tokens; each token's angles are formed once
// and applied to its q heads and k heads, and its k and v rows go straight to their cache
// slot: every element of q, k and v is read once and written once. Rows whose source and
// destination share a dtype (no norm) run through the RoPE backend's SIMD row kernels directly
// into the destination; the others (RMSNorm first, a float32 or FP8 cache, float64) go through
// a row buffer in float (double for float64): load, normalise, rotate with the same kernels,
// store converting once.
#include "cpu/fused.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/convert.h"
#include "core/fp8.h"
#include "core/validate.h"
#include "cpu/backend.h"
#include "cpu/parallel.h"
#include "cpu/rotate_row.h"
#include "cpu/simd.h"
#include "cpu/simd_fused.h"
#include "hwy/cache_control.h"

namespace rotary::cpu_backend {

using core::CacheGeometry;
using core::FusedPlan;
using core::RopePlan;

template <typename Acc>
AngleRow<Acc>::AngleRow(int pairs) : cos(pairs), sin(pairs), cos2(2 * pairs), sin2(2 * pairs) {}

template <typename Acc>
void fill_angle_row(const RopePlan& plan, const AngleSetup& setup, bool simd, bool expand, int64_t b, int64_t t,
                    AngleRow<Acc>& row) {
  if constexpr (std::is_same_v<Acc, float>) {
    if (simd) {
      sincos_position_row(plan, setup, b, t, row.positions, row.cos.data(), row.sin.data());
      if (expand) expand_interleaved(row.cos.data(), row.sin.data(), plan.pairs, row.cos2.data(), row.sin2.data());
      return;
    }
  }
  fill_angles(plan, setup, b, t, row.cos.data(), row.sin.data());
}
template struct AngleRow<float>;
template struct AngleRow<double>;
template void fill_angle_row(const RopePlan&, const AngleSetup&, bool, bool, int64_t, int64_t, AngleRow<float>&);
template void fill_angle_row(const RopePlan&, const AngleSetup&, bool, bool, int64_t, int64_t, AngleRow<double>&);

namespace {

constexpr int64_t kNontemporalBytes = int64_t(16) << 20;

// Where a row is stored: element pointer, dtype, feature stride, FP8 scale.
struct RowDest {
  char* data;
  Dtype dtype;
  int64_t stride_d;
  float scale;
};

// buf (Acc) -> destination, rounding once (FP8: value / scale, saturated).
template <typename Acc>
void store_row(const Acc* buf, int64_t D, const RowDest& d) {
  if constexpr (std::is_same_v<Acc, double>) {
    for (int64_t i = 0; i < D; ++i)
      core::store_double(d.data, d.dtype, i * d.stride_d, d.dtype == float8_e4m3 ? buf[i] / d.scale : buf[i]);
  } else {
    const int64_t s = d.stride_d;
    switch (d.dtype.val) {
      case Dtype::Val::float32:
        for (int64_t i = 0; i < D; ++i) reinterpret_cast<float*>(d.data)[i * s] = buf[i];
        break;
      case Dtype::Val::float16:
        for (int64_t i = 0; i < D; ++i) reinterpret_cast<float16_t*>(d.data)[i * s] = to_float16(buf[i]);
        break;
      case Dtype::Val::bfloat16:
        for (int64_t i = 0; i < D; ++i) reinterpret_cast<bfloat16_t*>(d.data)[i * s] = to_bfloat16(buf[i]);
        break;
      case Dtype::Val::float8_e4m3:
        for (int64_t i = 0; i < D; ++i)
          reinterpret_cast<core::float8_e4m3_t*>(d.data)[i * s] = core::to_float8_e4m3(buf[i] / d.scale);
        break;
      default:
        for (int64_t i = 0; i < D; ++i) core::store_double(d.data, d.dtype, i * s, buf[i]);
    }
  }
}

// Source row -> buf (Acc); FP8 rows are multiplied by their scale.
template <typename Acc>
void load_row(const char* src, Dtype dtype, int64_t stride_d, int64_t D, float scale, Acc* buf) {
  if (dtype == float8_e4m3) {
    for (int64_t i = 0; i < D; ++i)
      buf[i] = Acc(core::to_float(reinterpret_cast<const core::float8_e4m3_t*>(src)[i * stride_d])) * Acc(scale);
    return;
  }
  for (int64_t i = 0; i < D; ++i) buf[i] = Acc(core::load_double(src, dtype, i * stride_d));
}

// RMSNorm weights as the multiplier each feature gets: w, or 1 + w.
template <typename Acc>
std::vector<Acc> norm_weights(const core::NormPlan& n, int k, int64_t D) {
  std::vector<Acc> w(D);
  for (int64_t i = 0; i < D; ++i) {
    const double v = core::load_double(n.weight[k], n.weight_dtype[k], i * n.weight_stride[k]);
    w[i] = Acc(n.unit_offset ? 1.0 + v : v);
  }
  return w;
}

template <typename Acc>
void rms_norm(Acc* buf, int64_t D, const Acc* w, float eps) {
  double sum = 0;  // double: no float32 error growth with the head size
  for (int64_t i = 0; i < D; ++i) sum += double(buf[i]) * double(buf[i]);
  const Acc rstd = Acc(1.0 / std::sqrt(sum / double(D) + double(eps)));
  for (int64_t i = 0; i < D; ++i) buf[i] = buf[i] * rstd * w[i];
}

// The angle part of a RowBlock: the token's tables in the form the row kernels take (float
// tables only; float64 rows use the scalar row).
template <typename Acc>
RowBlock angle_block(const RopePlan& r, bool expand, const AngleRow<Acc>& angles) {
  RowBlock blk;
  if constexpr (std::is_same_v<Acc, float>) {
    blk.cos = expand ? angles.cos2.data() : angles.cos.data();
    blk.sin = expand ? angles.sin2.data() : angles.sin.data();
    blk.pair_cos = expand ? angles.cos.data() : nullptr;
    blk.pair_sin = expand ? angles.sin.data() : nullptr;
  }
  blk.pairs = r.pairs;
  blk.D = r.D;
  return blk;
}

// Rotation of a row held in buf: the float32 SIMD kernel in place, or the scalar row.
template <typename Acc>
void rotate_buffer(const RopePlan& r, bool simd, bool expand, Acc* buf, const AngleRow<Acc>& angles) {
  if constexpr (std::is_same_v<Acc, float>) {
    if (simd) {
      RowBlock blk = angle_block(r, expand, angles);
      blk.in = buf;
      blk.out = buf;
      blk.copy_tail = false;
      return rotate_rows_simd(float32, r.layout, blk);
    }
  }
  rotate_row<Acc, Acc>(buf, buf, 1, 1, r.pairs, r.D, r.layout, true, angles.cos.data(), angles.sin.data());
}

template <typename T>
class FusedRunner {
  using Acc = typename Element<T>::Acc;

 public:
  explicit FusedRunner(const FusedPlan& p)
      : p_(p), r_(p.rope), setup_(p.rope),
        simd_(!std::is_same_v<T, double> && kernel_mode() == KernelMode::simd && simd_usable() && finite_tables(r_)),
        expand_(simd_ && r_.layout == PairLayout::interleaved) {
    if (p.norm.enabled) {
      wq_ = norm_weights<Acc>(p.norm, 0, r_.D);
      wk_ = norm_weights<Acc>(p.norm, 1, r_.D);
    }
    const int64_t qh = r_.tensors[0].heads, kh = r_.tensors[1].heads;
    row_bytes_ = (2 * (qh + kh) * r_.D + 2 * p.v_heads * p.v_D) * int64_t(sizeof(T));
    nontemporal_ = r_.B * r_.T * row_bytes_ >= 2 * kNontemporalBytes;
  }

  void run() {
    std::atomic<bool> out_of_range{false};
    parallel_for(r_.B * r_.T, row_bytes_, [&](int64_t begin, int64_t end) {
      AngleRow<Acc> angles(r_.pairs);
      std::vector<Acc> buf(std::max(r_.D, p_.v_D));
      for (int64_t n = begin; n < end; ++n) {
        const int64_t b = n / r_.T, t = n % r_.T;
        fill_angle_row(r_, setup_, simd_, expand_, b, t, angles);
        q_rows(b, t, angles, buf.data());
        if (!k_rows(b, t, angles, buf.data())) out_of_range = true;
      }
      // The rows' streamed stores, left unfenced (a fence per row of a few KiB stalls the
      // stream), are ordered once before the pool reports the range done.
      if (nontemporal_) hwy::FlushStream();
    });
    // Unreachable for host slot arrays (validated up front); a guard, never an OOB write.
    if (out_of_range) core::fail("[rope_and_cache] cache.slots addressed a row outside the cache.");
  }

 private:
  void q_rows(int64_t b, int64_t t, const AngleRow<Acc>& angles, Acc* buf) const {
    const core::TensorPair& q = r_.tensors[0];
    rows(q.in, b, t, q.heads, out_rows(q.out, b, t), wq_, true, angles, buf);
  }

  bool k_rows(int64_t b, int64_t t, const AngleRow<Acc>& angles, Acc* buf) const {
    const core::TensorPair& k = r_.tensors[1];
    if (!p_.to_cache) {
      rows(k.in, b, t, k.heads, out_rows(k.out, b, t), wk_, true, angles, buf);
      return true;
    }
    int64_t s, j, page = 0, row = 0;
    p_.sequence_of(b, t, s, j);
    const core::SlotStatus st = p_.slots.locate(s, j, b, t, page, row);
    if (st != core::SlotStatus::write) return st == core::SlotStatus::skip;
    rows(k.in, b, t, k.heads, cache_rows(p_.k_cache, page, row), wk_, true, angles, buf);
    if (p_.has_v) rows(p_.v, b, t, p_.v_heads, cache_rows(p_.v_cache, page, row), {}, false, angles, buf);
    return true;
  }

  // The destination rows of one token: head h at data + h_offset(h).
  struct Rows {
    char* data;
    Dtype dtype;
    int64_t stride_d;
    float scale;
    const core::TensorGeometry* geometry;  // head offsets of a tensor, or null: cache heads
    int64_t head_stride;                  // cache heads
    int64_t offset(int64_t h) const { return geometry ? geometry->head_offset(h) : h * head_stride; }
  };
  Rows out_rows(const core::TensorGeometry& g, int64_t b, int64_t t) const {
    return {g.data + (b * g.stride_b + t * g.stride_t) * int64_t(sizeof(T)), r_.dtype, g.stride_d, 1.0f, &g, 0};
  }
  Rows cache_rows(const CacheGeometry& c, int64_t page, int64_t row) const {
    return {c.data + c.row_offset(page, row, 0) * c.dtype.size, c.dtype, c.stride_d, c.scale, nullptr,
            c.stride_head};
  }

  // All heads of one token of tensor `in` into `dst`: rotated (rotate) and normalised (w).
  void rows(const core::TensorGeometry& in, int64_t b, int64_t t, int64_t heads, const Rows& dst,
            const std::vector<Acc>& w, bool rotate, const AngleRow<Acc>& angles, Acc* buf) const {
    const T* src = reinterpret_cast<const T*>(in.data) + b * in.stride_b + t * in.stride_t;
    const int64_t D = rotate ? r_.D : p_.v_D;
    const bool copy = dst.dtype == r_.dtype && w.empty();  // rows land unchanged or only rotated
    const bool contiguous = in.stride_d == 1 && dst.stride_d == 1;
    if (copy && simd_ && rotate && contiguous) return rotate_heads(src, in, heads, dst, angles);
    if constexpr (std::is_same_v<Acc, float>)
      if (simd_ && contiguous && dst.dtype != float64 && !(copy && !rotate))
        return buffered(src, in, heads, dst, w, rotate, angles, buf, D);
    if (copy && !rotate && contiguous && dense_heads(in, heads, dst, D))  // v: one copy for all heads
      return copy_bytes(src, dst.data, heads * D * int64_t(sizeof(T)), nontemporal_);
    const int64_t esize = dst.dtype.size;
    for (int64_t h = 0; h < heads; ++h) {
      const T* x = src + in.head_offset(h);
      char* y = dst.data + dst.offset(h) * esize;
      if (copy && !rotate && contiguous) {
        copy_bytes(x, y, D * int64_t(sizeof(T)), nontemporal_);
        continue;
      }
      for (int64_t i = 0; i < D; ++i) buf[i] = Element<T>::load(x[i * in.stride_d]);
      if (!w.empty()) rms_norm(buf, D, w.data(), p_.norm.eps);
      if (rotate) rotate_buffer(r_, simd_, expand_, buf, angles);
      store_row(buf, D, RowDest{y, dst.dtype, dst.stride_d, dst.scale});
    }
  }

  // Whether the heads of a token are D apart at both ends (each head's D features contiguous).
  static bool dense_heads(const core::TensorGeometry& in, int64_t heads, const Rows& dst, int64_t D) {
    if (heads == 1) return true;
    const bool linear = in.n_head_axes <= 1 && (!dst.geometry || dst.geometry->n_head_axes <= 1);
    return linear && in.head_offset(1) == D && dst.offset(1) == D;
  }

  // Rows that change dtype or are normalised: the SIMD row pipeline, one dispatch for all heads
  // at fixed strides (else one per head).
  void buffered(const T* src, const core::TensorGeometry& in, int64_t heads, const Rows& dst,
                const std::vector<Acc>& w, bool rotate, const AngleRow<Acc>& angles, Acc* buf, int64_t D) const {
    BufferedRows job;
    job.src_dtype = r_.dtype;
    job.dst_dtype = dst.dtype;
    job.D = D;
    job.scale = dst.scale;
    job.w = w.empty() ? nullptr : reinterpret_cast<const float*>(w.data());
    job.eps = p_.norm.eps;
    job.rotate = rotate;
    job.layout = r_.layout;
    job.angles = angle_block(r_, expand_, angles);
    job.buffer = reinterpret_cast<float*>(buf);
    job.nontemporal = nontemporal_;
    if (in.n_head_axes <= 1 && (!dst.geometry || dst.geometry->n_head_axes <= 1)) {
      job.src = src;
      job.dst = dst.data;
      job.rows = heads;
      job.src_stride = in.n_head_axes ? in.head_stride[0] : 0;
      job.dst_stride = dst.offset(heads > 1 ? 1 : 0);
      return buffered_rows(job);
    }
    for (int64_t h = 0; h < heads; ++h) {
      job.src = src + in.head_offset(h);
      job.dst = dst.data + dst.offset(h) * dst.dtype.size;
      buffered_rows(job);
    }
  }

  // The RoPE backend's SIMD kernel straight from the source rows into the destination rows.
  void rotate_heads(const T* src, const core::TensorGeometry& in, int64_t heads, const Rows& dst,
                    const AngleRow<Acc>& angles) const {
    RowBlock blk = angle_block(r_, expand_, angles);
    blk.copy_tail = true;
    blk.nontemporal = nontemporal_;
    blk.caller_fences = true;
    T* out = reinterpret_cast<T*>(dst.data);
    const bool uniform = in.n_head_axes <= 1 && (!dst.geometry || dst.geometry->n_head_axes <= 1);
    if (uniform) {  // one call: the heads are rows at fixed strides
      blk.in = src;
      blk.out = out;
      blk.rows = heads;
      blk.in_stride = in.n_head_axes ? in.head_stride[0] : 0;
      blk.out_stride = dst.geometry ? (dst.geometry->n_head_axes ? dst.geometry->head_stride[0] : 0) : dst.head_stride;
      if (src == out && blk.in_stride == blk.out_stride) blk.copy_tail = false;
      return rotate_rows_simd(r_.dtype, r_.layout, blk);
    }
    for (int64_t h = 0; h < heads; ++h) {
      blk.in = src + in.head_offset(h);
      blk.out = out + dst.offset(h);
      blk.copy_tail = blk.in != blk.out;
      rotate_rows_simd(r_.dtype, r_.layout, blk);
    }
  }

  const FusedPlan& p_;
  const RopePlan& r_;
  const AngleSetup setup_;
  const bool simd_, expand_;
  std::vector<Acc> wq_, wk_;
  int64_t row_bytes_ = 0;
  bool nontemporal_ = false;
};


// cos/sin of a row under a FrequencyChange: each pair turns by its new angle at p + delta minus
// its old angle at p (both in double: the angle error stays that of forming the new angle),
// cos and sin times the attention-factor ratio the plan holds.
template <typename Acc>
void fill_change_angles(const core::ShiftPlan& p, int64_t page, int64_t row, bool expand, AngleRow<Acc>& a) {
  const RopePlan& r = p.rope;
  const int64_t from = p.from_position(page, row), to = from + p.delta(page, row, 0);
  const double af = r.attention_factor, sign = r.inverse ? -1.0 : 1.0;
  const float scale_f32 = float(r.scale);
  for (int i = 0; i < r.pairs; ++i) {
    const double theta =
        r.precision == Precision::accurate
            ? core::accurate_angle(to, r.scale, r.inv_freq[i]) - core::accurate_angle(from, r.scale, p.from_inv_freq[i])
            : double(core::compat_angle(to, scale_f32, float(r.inv_freq[i]))) -
                  double(core::compat_angle(from, scale_f32, float(p.from_inv_freq[i])));
    a.cos[i] = Acc(std::cos(theta) * af);
    a.sin[i] = Acc(std::sin(theta) * af * sign);
  }
  if constexpr (std::is_same_v<Acc, float>)
    if (expand) expand_interleaved(a.cos.data(), a.sin.data(), r.pairs, a.cos2.data(), a.sin2.data());
}

// Re-rotation, one (page, chunk of rows) per work item: the page's delta table (or each row's)
// formed once; rows rotated in place by the SIMD kernel, heads of a row in one call when they
// are closer in memory than rows (else rows of a head), or through the row buffer (FP8,
// float64, strided features).
constexpr int64_t kShiftChunkRows = 64;

template <typename Acc>
void shift_typed(const core::ShiftPlan& p) {
  const RopePlan& r = p.rope;
  const CacheGeometry& c = p.cache;
  const bool simd = !std::is_same_v<Acc, double> && kernel_mode() == KernelMode::simd && simd_usable() &&
                    finite_tables(r);
  const bool direct = simd && c.dtype != float8_e4m3 && c.stride_d == 1;
  const bool expand = simd && r.layout == PairLayout::interleaved;
  const bool heads_inner = std::abs(c.stride_head) <= std::abs(c.stride_row);
  const AngleSetup setup(r);
  const int64_t chunks = (c.rows + kShiftChunkRows - 1) / kShiftChunkRows;
  parallel_for(c.pages * chunks, kShiftChunkRows * c.heads * c.D * c.dtype.size * 2, [&](int64_t begin, int64_t end) {
    AngleRow<Acc> angles(r.pairs);
    std::vector<Acc> buf(c.D);
    RowBlock blk;
    blk.pairs = r.pairs;
    blk.D = c.D;
    blk.copy_tail = false;
    for (int64_t it = begin; it < end; ++it) {
      const int64_t page = it / chunks, r0 = (it % chunks) * kShiftChunkRows;
      const int64_t r1 = std::min(p.rows_of(page), r0 + kShiftChunkRows);
      for (int64_t row = r0; row < r1; ++row) {
        if (row == r0 || p.per_row()) {  // the plan's positions are the deltas: (page, row)
          if (p.from_inv_freq) fill_change_angles(p, page, row, expand, angles);
          else fill_angle_row(r, setup, simd, expand, page, row, angles);
          const RowBlock tables = angle_block(r, expand, angles);
          blk.cos = tables.cos;
          blk.sin = tables.sin;
          blk.pair_cos = tables.pair_cos;
          blk.pair_sin = tables.pair_sin;
        }
        char* x = c.data + c.row_offset(page, row, 0) * c.dtype.size;
        if (direct && (heads_inner || p.per_row())) {  // the heads of this row
          blk.in = blk.out = x;
          blk.rows = c.heads;
          blk.in_stride = blk.out_stride = c.stride_head;
          rotate_rows_simd(c.dtype, r.layout, blk);
          continue;
        }
        if (direct) {  // rows [r0, r1) of each head share the page's table
          for (int64_t h = 0; h < c.heads; ++h) {
            blk.in = blk.out = x + h * c.stride_head * c.dtype.size;
            blk.rows = r1 - r0;
            blk.in_stride = blk.out_stride = c.stride_row;
            rotate_rows_simd(c.dtype, r.layout, blk);
          }
          break;
        }
        for (int64_t h = 0; h < c.heads; ++h) {
          char* xh = x + h * c.stride_head * c.dtype.size;
          load_row(xh, c.dtype, c.stride_d, c.D, c.scale, buf.data());
          rotate_buffer(r, simd, expand, buf.data(), angles);
          const RowDest d{xh, c.dtype, c.stride_d, c.scale};
          if constexpr (std::is_same_v<Acc, float>)
            if (simd && c.stride_d == 1) {
              store_row_f32(c.dtype, buf.data(), xh, c.D, c.scale);
              continue;
            }
          store_row(buf.data(), c.D, d);
        }
      }
    }
  });
}

}  // namespace

void run_fused(const FusedPlan& plan) {
  switch (plan.rope.dtype.val) {
    case Dtype::Val::float32: return FusedRunner<float>(plan).run();
    case Dtype::Val::float64: return FusedRunner<double>(plan).run();
    case Dtype::Val::float16: return FusedRunner<float16_t>(plan).run();
    case Dtype::Val::bfloat16: return FusedRunner<bfloat16_t>(plan).run();
    default: core::fail("[rope_and_cache] unsupported dtype " + to_string(plan.rope.dtype) + ".");
  }
}

void run_shift(const core::ShiftPlan& plan) {
  if (plan.cache.dtype == float64) return shift_typed<double>(plan);
  shift_typed<float>(plan);
}

}  // namespace rotary::cpu_backend
