// Positions: where each token sits (a value type of the public API).
#include "rotary/rope.h"

namespace rotary {

Positions::Positions(int64_t offset) : offset_(offset) {}

Positions Positions::offsets(const TensorView& offsets) {
  Positions p;
  p.has_array_ = true;
  p.array_ = offsets;
  return p;
}

Positions Positions::ids(const TensorView& ids) {
  Positions p;
  p.kind_ = Kind::ids;
  p.has_array_ = true;
  p.array_ = ids;
  return p;
}

Positions Positions::ragged(const TensorView& cu_seqlens, const std::optional<TensorView>& starts) {
  Positions p;
  p.kind_ = Kind::ragged;
  p.has_array_ = true;
  p.array_ = cu_seqlens;
  p.starts_ = starts;
  return p;
}

Positions Positions::offsets(const Array& offsets) {
  Positions p = Positions::offsets(offsets.view());
  p.owned_.push_back(offsets);
  return p;
}

Positions Positions::ids(const Array& ids) {
  Positions p = Positions::ids(ids.view());
  p.owned_.push_back(ids);
  return p;
}

Positions Positions::ragged(const Array& cu_seqlens, const std::optional<Array>& starts) {
  Positions p = Positions::ragged(cu_seqlens.view(), starts ? std::optional<TensorView>(starts->view()) : std::nullopt);
  p.owned_.push_back(cu_seqlens);
  if (starts) p.owned_.push_back(*starts);
  return p;
}

}  // namespace rotary
