// Positions: where each token sits (a value type of the public API).
#include "rotary/rope.h"

namespace rotary {

Positions::Positions(int64_t offset) : offset_(offset) {}

Positions Positions::offsets(const TensorView& offsets) {
  Positions p;
  p.array_ = offsets;
  return p;
}

Positions Positions::ids(const TensorView& ids) {
  Positions p;
  p.kind_ = Kind::ids;
  p.array_ = ids;
  return p;
}

Positions Positions::ragged(const TensorView& cu_seqlens, const std::optional<TensorView>& starts) {
  Positions p;
  p.kind_ = Kind::ragged;
  p.array_ = cu_seqlens;
  p.starts_ = starts;
  return p;
}

}  // namespace rotary
