// The fused paths a serving engine calls around attention, each one pass over its data:
// RoPE + KV-cache append (contiguous or paged caches, activation-dtype, float32 or FP8 e4m3
// storage), per-head QK RMSNorm + RoPE (optionally continuing into the cache append), MLA's
// shared rotary key beside the compressed latent, and re-rotation of cached keys by a
// position delta. Every call takes the RoPE description of rope.h (Positions + RopeOptions:
// every position form, M-RoPE, partial rotary, both pair layouts, both precisions) and is
// validated completely before a byte is written.
#pragma once

#include <optional>
#include <utility>

#include "rotary/rope.h"
#include "rotary/tensor_view.h"

namespace rotary {

// Axis order of a cache array. A cache is cut into pages (the sequences of a contiguous cache,
// the blocks of a paged one), each holding `rows` token rows of every kv head:
enum class CacheLayout {
  rows_then_heads,  // (pages, rows, H_kv, D): vLLM's paged layout, (B, max_T, H_kv, D)
  heads_then_rows,  // (pages, H_kv, rows, D): FlashInfer's HND, (B, H_kv, max_T, D)
};

// Where each new token's k and v rows go. Token (sequence s, j-th new token of s, flat token
// index n: b*T + t, or t for ragged inputs) is written to (page, row) as follows.
class CacheSlots {
 public:
  enum class Kind { write_positions, slot_mapping, block_table };

  // Contiguous cache: page s, row starts[s] + j. starts: integer (num_seqs,).
  static CacheSlots write_positions(const TensorView& starts);
  // Paged cache, vLLM: slot = slots[n]; page slot / rows, row slot % rows. A negative slot
  // (padding) writes nothing. slots: integer (num_tokens,) or (B, T).
  static CacheSlots slot_mapping(const TensorView& slots);
  // Paged cache, FlashInfer / flash-attn: the token's cache position is c = cache_lens[s] + j
  // (cache_lens: tokens already cached, integer (num_seqs,)); page block_table[s, c / rows],
  // row c % rows. block_table: integer (num_seqs, max_blocks_per_seq).
  static CacheSlots block_table(const TensorView& block_table, const TensorView& cache_lens);

  Kind kind() const { return kind_; }
  const TensorView& index() const { return index_; }  // starts, slots or the block table
  const TensorView& lens() const { return lens_; }    // block_table: cache_lens

 private:
  Kind kind_ = Kind::write_positions;
  TensorView index_;
  TensorView lens_;
};

// The cache a call writes into. k and v have the same layout and page/row counts; v may have
// its own head size and is empty (data null) when only keys are written. The slot arrays are
// on the tensors' device, or on the host for device tensors: host ones are checked before the
// call and copied over (the call returns without waiting); device ones are checked by the
// kernel, and the call waits for the stream to report a bad one, except on a stream that is
// capturing a CUDA graph (a capture cannot hold a wait): there a bad slot's tokens are skipped
// unreported (as vLLM's reshape_and_cache), never written out of bounds.
struct KVCache {
  TensorView k;
  TensorView v;
  CacheLayout layout = CacheLayout::rows_then_heads;
  CacheSlots slots;
  // FP8 (float8_e4m3) caches store value / scale, rounded to nearest even and saturated at
  // +-448; a FP8 array needs its scale (finite, > 0). Ignored for other dtypes.
  std::optional<float> k_scale;
  std::optional<float> v_scale;
};

// k and v views of a combined cache array, e.g. (num_blocks, 2, block_size, H, D) split on
// axis 1, or (2, num_blocks, ...) on axis 0: no copy.
std::pair<TensorView, TensorView> split_kv(const TensorView& kv, int axis);

// Per-head RMSNorm applied to q and k before the rotation: y = x / sqrt(mean(x^2) + eps) * w,
// or * (1 + w) with unit_offset (Gemma). Weights: (D,) of any floating dtype. The sum of squares
// and everything up to the final rounding stay in float32 or wider (double on the CPU).
struct QKNorm {
  TensorView q_weight;
  TensorView k_weight;
  float eps = 1e-6f;
  bool unit_offset = false;
};

// Rotates q into q_out (pass q itself to rotate in place) and k, and writes the rotated k and
// v rows into `cache` at each token's slot. q, k, v: (B, *heads, T, D) / (B, T, *heads, D) as
// in rope() (ragged (N, *heads, D) with Positions::ragged), q and k of any head counts (GQA), v
// with k's heads and tokens and its own head size. k and v are only read. With `norm`, q and k
// are RMS-normalised first, in the same pass.
void rope_and_cache(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& q_out,
                    const KVCache& cache, const Positions& positions, const RopeOptions& options,
                    const std::optional<QKNorm>& norm = std::nullopt);

// QK RMSNorm + RoPE in one pass: q, k normalised and rotated into q_out, k_out (in place when
// they are q and k). Any even head size up to 512.
void rms_norm_rope(const TensorView& q, const TensorView& k, const TensorView& q_out, const TensorView& k_out,
                   const QKNorm& norm, const Positions& positions, const RopeOptions& options);

// DeepSeek MLA: q_pe, the qk_rope_head_dim features of each q head ((B, T, Hq, rope_dim) or
// ragged (N, Hq, rope_dim); usually a view of q's last features), is rotated in place; the one
// shared rotary key k_pe ((B, T, rope_dim) or ragged (N, rope_dim)) is rotated and written
// beside the compressed latent kv_c ((B, T, kv_lora_rank) / (N, kv_lora_rank)) into kv_cache
// (pages, rows, kv_lora_rank + rope_dim), latent first, as vLLM's concat_and_cache_mla. A FP8
// cache takes `scale` for both parts.
void rope_and_cache_mla(const TensorView& q_pe, const TensorView& k_pe, const TensorView& kv_c,
                        const TensorView& kv_cache, const CacheSlots& slots, const Positions& positions,
                        const RopeOptions& options, std::optional<float> scale = std::nullopt);

// A change of frequencies under cached keys: LongRoPE switching from its short to its long
// factors once a sequence outgrows original_max_position_embeddings (or any other change of
// inv_freq and attention factor). The keys were rotated at position p with `from` and carry
// from.attention_factor; after shift_cache they read as rotated at p + delta with the call's
// options.freqs and carry its attention factor: each pair turns by the new angle of p + delta
// minus the old angle of p (both formed in double), and cos and sin are multiplied by
// options.freqs.attention_factor / from.attention_factor.
struct FrequencyChange {
  Frequencies from;  // the frequencies the keys were cached with (one position stream)
  // The cached rows' positions p: integer (pages,) (row r of a page at positions[page] + r: a
  // contiguous cache's sequence start, or a block's first position) or (pages, rows), on the
  // cache's device or (for a CUDA cache) on the host.
  TensorView positions;
};

// Re-rotation: rotates the cached keys of `k_cache` in place by a position delta, so a key
// cached at position p reads as cached at p + delta (context shifting, prefix reuse at other
// positions). deltas: integer (pages,) (one delta per sequence of a contiguous cache or per
// block of a paged one) or (pages, rows) (one per row); any sign. With M-RoPE frequencies
// (several position streams) a delta moves each stream: deltas is (streams, pages) or
// (streams, pages, rows), and pair i turns by deltas[stream of pair i] * scale * inv_freq[i]
// (a text context shift moves every stream by the same amount: pass it once per stream).
// row_counts (optional, (pages,)): only rows [0, row_counts[page]) are rotated. The delta's
// angle is formed exactly (delta * scale * inv_freq in double, reduced), not by composing
// rounded rotations, and the attention factor is not applied again. FP8 caches are
// dequantised with `scale`, rotated and requantised. options.dims, layout, freqs, scale and
// precision are those of the cached keys (with `change`: those the keys are to have).
void shift_cache(const TensorView& k_cache, CacheLayout layout, const TensorView& deltas,
                 const std::optional<TensorView>& row_counts, const RopeOptions& options,
                 std::optional<float> scale = std::nullopt,
                 const std::optional<FrequencyChange>& change = std::nullopt);

}  // namespace rotary
