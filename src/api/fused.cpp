// The fused calls of rotary/fused.h: arguments -> FusedPlan / ShiftPlan -> backend.
#include "rotary/fused.h"

#include "core/fused_plan.h"
#include "core/validate.h"

namespace rotary {
namespace {

int64_t last_dim(const TensorView& x) { return x.ndim() ? x.shape.back() : 0; }

}  // namespace

CacheSlots CacheSlots::write_positions(const TensorView& starts) {
  CacheSlots s;
  s.kind_ = Kind::write_positions;
  s.index_ = starts;
  return s;
}

CacheSlots CacheSlots::slot_mapping(const TensorView& slots) {
  CacheSlots s;
  s.kind_ = Kind::slot_mapping;
  s.index_ = slots;
  return s;
}

CacheSlots CacheSlots::block_table(const TensorView& block_table, const TensorView& cache_lens) {
  CacheSlots s;
  s.kind_ = Kind::block_table;
  s.index_ = block_table;
  s.lens_ = cache_lens;
  return s;
}

std::pair<TensorView, TensorView> split_kv(const TensorView& kv, int axis) {
  const int a = axis < 0 ? axis + kv.ndim() : axis;
  if (a < 0 || a >= kv.ndim() || kv.shape[a] != 2)
    core::fail("[split_kv] axis " + std::to_string(axis) + " of kv must have size 2 but kv has shape " +
               to_string(kv.shape) + ".");
  Shape shape = kv.shape;
  Strides strides = kv.strides;
  shape.erase(shape.begin() + a);
  strides.erase(strides.begin() + a);
  char* base = static_cast<char*>(kv.data);
  const TensorView k(base, kv.dtype, shape, strides, kv.device);
  const TensorView v(base + kv.strides[a] * kv.dtype.size, kv.dtype, shape, strides, kv.device);
  return {k, v};
}

void rope_and_cache(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& q_out,
                    const KVCache& cache, const Positions& positions, const RopeOptions& options,
                    const std::optional<QKNorm>& norm) {
  core::execute(core::make_fused_plan(q, k, &v, q_out, nullptr, &cache, norm ? &*norm : nullptr, positions, options,
                                      "rope_and_cache"));
}

void rms_norm_rope(const TensorView& q, const TensorView& k, const TensorView& q_out, const TensorView& k_out,
                   const QKNorm& norm, const Positions& positions, const RopeOptions& options) {
  core::execute(core::make_fused_plan(q, k, nullptr, q_out, &k_out, nullptr, &norm, positions, options, "rms_norm_rope"));
}

void rope_and_cache_mla(const TensorView& q_pe, const TensorView& k_pe, const TensorView& kv_c,
                        const TensorView& kv_cache, const CacheSlots& slots, const Positions& positions,
                        const RopeOptions& options, std::optional<float> scale) {
  const int64_t rope_dim = last_dim(k_pe), rank = last_dim(kv_c);
  if (kv_cache.ndim() != 3 || kv_cache.shape[2] != rank + rope_dim)
    core::fail("[rope_and_cache_mla] kv_cache must have shape (pages, rows, kv_lora_rank + rope_dim = " +
               std::to_string(rank + rope_dim) + ") but has shape " + to_string(kv_cache.shape) + ".");
  // Latent and rotary key as the v and k caches of one head: views of kv_cache's two parts.
  const Shape shape{kv_cache.shape[0], kv_cache.shape[1], 1, 0};
  const Strides strides{kv_cache.strides[0], kv_cache.strides[1], 0, kv_cache.strides[2]};
  KVCache cache;
  Shape ks = shape, vs = shape;
  ks[3] = int(rope_dim);
  vs[3] = int(rank);
  char* base = static_cast<char*>(kv_cache.data);
  cache.v = TensorView(base, kv_cache.dtype, vs, strides, kv_cache.device);
  cache.k = TensorView(base + rank * kv_cache.strides[2] * kv_cache.dtype.size, kv_cache.dtype, ks, strides,
                       kv_cache.device);
  cache.slots = slots;
  cache.k_scale = cache.v_scale = scale;
  // k_pe and kv_c carry no head axis: view them with one, as the cache does.
  auto with_head = [](const TensorView& x) {
    Shape s = x.shape;
    Strides st = x.strides;
    s.insert(s.end() - 1, 1);
    st.insert(st.end() - 1, 0);
    return TensorView(x.data, x.dtype, s, st, x.device);
  };
  RopeOptions o = options;
  if (positions.kind() != Positions::Kind::ragged) o.seq_axis = -3;  // (B, T, 1, D)
  const TensorView k1 = with_head(k_pe), v1 = with_head(kv_c);
  core::execute(
      core::make_fused_plan(q_pe, k1, &v1, q_pe, nullptr, &cache, nullptr, positions, o, "rope_and_cache_mla"));
}

void shift_cache(const TensorView& k_cache, CacheLayout layout, const TensorView& deltas,
                 const std::optional<TensorView>& row_counts, const RopeOptions& options, std::optional<float> scale,
                 const std::optional<FrequencyChange>& change) {
  core::execute(core::make_shift_plan(k_cache, layout, deltas, row_counts, options, scale, change ? &*change : nullptr));
}

}  // namespace rotary
