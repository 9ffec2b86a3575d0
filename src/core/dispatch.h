// Run-time values to template parameters, written once (as MLX's fast.cpp does): a backend
// writes `dispatch_float(dtype, [&](auto type) { run<typename decltype(type)::type>(...); })`
// instead of a switch of its own.
#pragma once

#include <type_traits>

#include "core/validate.h"
#include "rotary/dtype.h"
#include "rotary/rope.h"

namespace rotary::core {

template <typename T>
struct TypeTag {
  using type = T;
};

// f(TypeTag<T>{}) with T the storage type of a floating dtype.
template <typename F>
decltype(auto) dispatch_float(Dtype dtype, F&& f) {
  switch (dtype.val) {
    case Dtype::Val::float32: return f(TypeTag<float>{});
    case Dtype::Val::float64: return f(TypeTag<double>{});
    case Dtype::Val::float16: return f(TypeTag<float16_t>{});
    case Dtype::Val::bfloat16: return f(TypeTag<bfloat16_t>{});
    default: break;
  }
  fail("[rope] unsupported dtype " + to_string(dtype) + ".");
}

template <PairLayout L>
using LayoutTag = std::integral_constant<PairLayout, L>;

// f(LayoutTag<layout>{}): the layout as a compile-time constant.
template <typename F>
decltype(auto) dispatch_layout(PairLayout layout, F&& f) {
  if (layout == PairLayout::interleaved) return f(LayoutTag<PairLayout::interleaved>{});
  return f(LayoutTag<PairLayout::half_split>{});
}

}  // namespace rotary::core
