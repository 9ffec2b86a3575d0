// RoPE modules with scaled frequencies and mlx-lm's initialize_rope dispatch.
#include "rotary/nn_scaling.h"

#include <algorithm>
#include <string>
#include <stdexcept>

#include "rotary/config.h"
#include "scaling/json_section.h"
#include "scaling/methods.h"

namespace rotary::nn {
namespace {

std::string describe(const char* name, int dims, bool traditional) {
  return std::string(name) + "(" + std::to_string(dims) + ", traditional=" + (traditional ? "true" : "false") + ")";
}

// The call's length (largest position + 1) in MLX's layout (B, *, T, D), after MLX's rank check.
// A non-integer offset array has none: the rope call refuses it with MLX's text.
int64_t call_length(const Array& x, const Positions& positions) {
  if (x.ndim() < 3)
    throw std::invalid_argument("[rope] Input must have at least 3 dimensions but got input with " +
                                std::to_string(x.ndim()) + " dimensions.");
  if (!positions.is_scalar_offset() && !is_integer(positions.array().dtype)) return 0;
  return positions_length(positions, x.shape());
}

// AnyRoPE's alternatives as pointers, so one visitor serves both.
const RoPE* deref(const RoPE& rope) { return &rope; }
const ScaledRoPE* deref(const std::shared_ptr<const ScaledRoPE>& rope) { return rope.get(); }

}  // namespace

ScaledRoPE::ScaledRoPE(int dims, bool traditional) : dims_(dims), traditional_(traditional) {
  if (dims <= 0 || dims % 2 != 0)
    throw std::invalid_argument("[ScaledRoPE] dims must be positive and even but got " +
                                std::to_string(dims) + ".");
}

Array ScaledRoPE::apply(const Array& x, const Positions& positions, int64_t length) const {
  RopeOptions options;
  options.dims = dims_;
  options.layout = pair_layout(traditional_);
  options.freqs = frequencies(length);
  return rope(x, positions, options);
}

Array ScaledRoPE::operator()(const Array& x, int offset) const {
  const Positions positions(offset);
  return apply(x, positions, call_length(x, positions));
}

Array ScaledRoPE::operator()(const Array& x, const Array& offset) const {
  // The offset must stay alive while the view is used: it does, for the whole call.
  const Positions positions = Positions::offsets(offset.view());
  return apply(x, positions, call_length(x, positions));
}

FrequencyRoPE::FrequencyRoPE(int dims, bool traditional, Frequencies freqs)
    : ScaledRoPE(dims, traditional), freqs_(std::move(freqs)) {
  if (freqs_.pairs() != dims / 2)
    throw std::invalid_argument("[FrequencyRoPE] freqs must have dims/2 = " +
                                std::to_string(dims / 2) + " entries but has " +
                                std::to_string(freqs_.pairs()) + ".");
}
std::string FrequencyRoPE::to_string() const { return describe("RoPE", dims(), traditional()); }

Llama3RoPE::Llama3RoPE(int dims, int64_t /*max_position_embeddings*/, bool traditional,
                       double base, const scaling::Llama3Params& params)
    : ScaledRoPE(dims, traditional), freqs_(scaling::llama3(dims, base, params)) {}
std::string Llama3RoPE::to_string() const { return describe("Llama3RoPE", dims(), traditional()); }

YarnRoPE::YarnRoPE(int dims, bool traditional, int64_t /*max_position_embeddings*/, double base,
                   const scaling::YarnParams& params)
    : ScaledRoPE(dims, traditional), freqs_(scaling::yarn(dims, base, params)) {}
std::string YarnRoPE::to_string() const { return describe("YarnRoPE", dims(), traditional()); }

SuScaledRoPE::SuScaledRoPE(int dims, double base, int64_t max_position_embeddings,
                           const scaling::LongRopeParams& params, scaling::LongRopePolicy policy,
                           bool traditional)
    : ScaledRoPE(dims, traditional),
      base_(base),
      max_position_embeddings_(max_position_embeddings),
      params_(params),
      policy_(policy) {
  scaling::longrope(dims, base, params, 0);  // validates the factor lists now, not on first call
}
Frequencies SuScaledRoPE::frequencies(int64_t length) const {
  const int64_t selecting = policy_ == scaling::LongRopePolicy::per_call ? length
                                                                         : max_position_embeddings_;
  return scaling::longrope(dims(), base_, params_, selecting);
}
std::string SuScaledRoPE::to_string() const { return describe("SuScaledRoPE", dims(), traditional()); }

DynamicNTKScalingRoPE::DynamicNTKScalingRoPE(int dims, int64_t max_position_embeddings,
                                             bool traditional, double base, double factor)
    : ScaledRoPE(dims, traditional),
      max_position_embeddings_(max_position_embeddings),
      base_(base),
      factor_(factor) {
  scaling::dynamic_ntk(dims, base, factor, double(max_position_embeddings), 0);  // validates
}
Frequencies DynamicNTKScalingRoPE::frequencies(int64_t length) const {
  return scaling::dynamic_ntk(dims(), base_, factor_, double(max_position_embeddings_), length);
}
std::string DynamicNTKScalingRoPE::to_string() const {
  return describe("DynamicNTKScalingRoPE", dims(), traditional());
}

const ScaledRoPE* AnyRoPE::scaled() const {
  auto* p = std::get_if<std::shared_ptr<const ScaledRoPE>>(&module_);
  return p ? p->get() : nullptr;
}
Array AnyRoPE::operator()(const Array& x, int offset) const {
  return std::visit([&](const auto& m) { return (*deref(m))(x, offset); }, module_);
}
Array AnyRoPE::operator()(const Array& x, const Array& offset) const {
  return std::visit([&](const auto& m) { return (*deref(m))(x, offset); }, module_);
}
std::string AnyRoPE::to_string() const {
  return std::visit([](const auto& m) { return deref(m)->to_string(); }, module_);
}

AnyRoPE initialize_rope(int dims, double base, bool traditional,
                        const nlohmann::json& scaling_config,
                        std::optional<int64_t> max_position_embeddings) {
  using scaling_detail::Section;
  const char* who = "[initialize_rope]";
  if (!scaling_config.is_null() && !scaling_config.is_object())
    scaling_detail::fail(who, "scaling_config must be an object or null but is " +
                                  scaling_config.dump());
  const Section config{scaling_config.is_null() ? nullptr : &scaling_config, "scaling_config.", who};
  // mlx-lm: config.get("type") or config.get("rope_type", "default").
  std::string type = "default", type_key = config.name("type");
  for (const char* key : {"type", "rope_type"}) {
    if (const auto* v = config.find(key)) {
      if (!v->is_string()) config.fail("'" + config.name(key) + "' must be a string");
      type = v->get<std::string>();
      type_key = config.name(key);
      break;
    }
  }
  const scaling_detail::ScalingMethod& method = scaling_detail::select_method(type, config, type_key);
  RopeConfig c;
  c.method = method.name;
  c.head_dim = c.rotated_dims = dims;
  c.base = base;
  c.traditional = traditional;
  c.max_position_embeddings = max_position_embeddings.value_or(0);
  method.read(scaling_detail::MethodKeys{config, nullptr}, c);
  if (method.mlx_plain_rope) return AnyRoPE(RoPE(dims, traditional, float(base), float(1.0 / c.factor)));
  return AnyRoPE(method.module(c));
}

}  // namespace rotary::nn
