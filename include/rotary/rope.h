// The extended RoPE API: one call description (what to rotate, which positions,
// which frequencies, which layout, which direction, which precision) that every
// backend executes. fast::rope (MLX's signature) is a thin case of it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "rotary/array.h"
#include "rotary/frequencies.h"
#include "rotary/tensor_view.h"

namespace rotary {

// How angles are formed (spec part 3).
enum class Precision {
  accurate,  // angle from the integer position in double, reduced mod 2*pi: error flat in position
  compat,    // float(p) * float(inv_freq) in float32, as MLX and Hugging Face: bit-level parity
};
// The precision of calls that do not name one (all MLX-signature calls). Starts as accurate,
// or as the ROTARY_PRECISION environment variable says ("accurate" or "compat").
Precision default_precision();
void set_default_precision(Precision precision);

// Where each token sits. Positions are integers; the frequency's `scale` multiplies them.
class Positions {
 public:
  enum class Kind { offset, ids, ragged };

  // Token t of batch row b is at t + offset (MLX). Default: offset 0.
  Positions(int64_t offset = 0);
  // ... at t + offsets[b]: offsets is an integer array of shape (), (1,) or (B,).
  static Positions offsets(const TensorView& offsets);
  // Explicit ids (Hugging Face position_ids): integer (T,) or (B,T); with several
  // position streams (M-RoPE, vision), (S,T) or (S,B,T).
  static Positions ids(const TensorView& ids);
  // Packed sequences along the token axis of a (total_T, *heads, D) tensor:
  // sequence s holds tokens [cu_seqlens[s], cu_seqlens[s+1]) at positions
  // starts[s] + 0, 1, ... (starts default to 0).
  static Positions ragged(const TensorView& cu_seqlens,
                          const std::optional<TensorView>& starts = std::nullopt);
  // The same from Arrays: the Positions keeps them alive (a temporary Array is fine).
  static Positions offsets(const Array& offsets);
  static Positions ids(const Array& ids);
  static Positions ragged(const Array& cu_seqlens, const std::optional<Array>& starts = std::nullopt);

  Kind kind() const { return kind_; }
  // True for Positions(offset): no array is read.
  bool is_scalar_offset() const { return kind_ == Kind::offset && !has_array_; }
  int64_t scalar_offset() const { return offset_; }
  const TensorView& array() const { return array_; }      // offsets, ids or cu_seqlens
  const std::optional<TensorView>& starts() const { return starts_; }

 private:
  Kind kind_ = Kind::offset;
  int64_t offset_ = 0;
  bool has_array_ = false;
  TensorView array_;  // unused for a scalar offset
  std::optional<TensorView> starts_;
  std::vector<Array> owned_;  // Arrays the views point into, when built from Arrays
};

// The largest position + 1 of a call on x of shape x_shape at these positions (0 when no token
// has one): the length that picks length-dependent frequencies (dynamic NTK, LongRoPE's short or
// long factors). Scalar offset: offset + T; offsets: their largest + T (T along seq_axis); ids:
// the largest id + 1 over every stream (M-RoPE) and row; ragged: the largest starts[s] + length
// of a non-empty sequence. Index arrays must be in CPU memory.
int64_t positions_length(const Positions& positions, const Shape& x_shape, int seq_axis = -2);

// Which features form a rotated pair. MLX's `traditional = true` is `interleaved`.
enum class PairLayout : uint8_t {
  half_split,   // pairs (i, i + dims/2): GPT-NeoX, Llama, MLX's default
  interleaved,  // pairs (2i, 2i+1): GPT-J, MLX's traditional
};
inline constexpr PairLayout pair_layout(bool traditional) {
  return traditional ? PairLayout::interleaved : PairLayout::half_split;
}

// Caller-given cos and sin, the angle source instead of frequencies (RopeOptions::table).
// cos and sin have one shape and a floating dtype (float32, or x's dtype). Their last axis W is
// dims/2 (one value per pair) or dims (one per rotated feature, Hugging Face's cat(freqs, freqs)
// or, interleaved, repeat_interleave form: feature j reads column j). rows token: (T, W) or
// (B or 1, T, W), token (b, t) reads row (b, t). rows position: (P, W), a token reads the row of
// its position (position stream 0), which must be below P. Values are used as given: no
// attention factor; inverse negates sin. cos and sin are on x's device (CPU or CUDA); on CUDA a
// position-indexed table read through device-resident positions has its rows checked on the
// device before anything is written, and that call waits for its stream.
struct CosSinTable {
  enum class Rows { token, position };
  TensorView cos, sin;
  Rows rows = Rows::token;
};

// How a table rotation rounds. fused: out = fma(x1, c, -(x2 s)) in float32 (float64 for
// float64 x), as the formed-angle path. hf: transformers' eager arithmetic, each product
// rounded to x's dtype, then their sum in x's dtype (no fused multiply-add).
enum class TableRounding { fused, hf };

struct RopeOptions {
  int dims = 0;               // rotated features (even); 0 means all of D
  PairLayout layout = PairLayout::half_split;
  Frequencies freqs;          // default: from_base(dims, 10000)
  float scale = 1.0f;         // multiplies positions
  bool inverse = false;       // the inverse rotation (the gradient)
  int seq_axis = -2;          // -2: (B, *heads, T, D); -3: (B, T, *heads, D). Ragged: ignored
  std::optional<Precision> precision;  // default_precision() when unset
  void* cuda_stream = nullptr;  // cudaStream_t for device tensors; null: the default stream
  const CosSinTable* table = nullptr;  // caller-given cos/sin instead of freqs (on x's device)
  TableRounding rounding = TableRounding::fused;  // table calls only
};

// Rotates x into a new array of its shape and dtype.
Array rope(const Array& x, const Positions& positions, const RopeOptions& options);
// Rotates x into out (same shape and dtype; any strides). out may be x itself (in place);
// any other overlap between x and out is refused.
void rope(const TensorView& x, const TensorView& out, const Positions& positions,
          const RopeOptions& options);
// Rotates x in place.
void rope_inplace(const TensorView& x, const Positions& positions, const RopeOptions& options);
// Rotates q and k (their own head counts, same batch and tokens) in one pass sharing the angles.
void rope_qk(const TensorView& q, const TensorView& k, const TensorView& q_out,
             const TensorView& k_out, const Positions& positions, const RopeOptions& options);
void rope_qk_inplace(const TensorView& q, const TensorView& k, const Positions& positions,
                     const RopeOptions& options);

// CPU threads used by the kernels (default: all cores, or ROTARY_NUM_THREADS).
int num_threads();
void set_num_threads(int n);

}  // namespace rotary
