// The table of RoPE scaling methods: per method, how a config spells it, which keys it reads
// (as transformers' modeling_rope_utils, or mlx-lm's initialize_rope), the frequencies it builds
// and the module that rotates with them.
#include "scaling/methods.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "rotary/nn_scaling.h"
#include "rotary/scaling.h"

namespace rotary::scaling_detail {

int64_t MethodKeys::max_positions(const RopeConfig& c, const std::string& why) const {
  if (c.max_position_embeddings <= 0) {
    if (model) rope.fail("missing key '" + model->name("max_position_embeddings") + "' (" + why + ")");
    rope.fail("max_position_embeddings is required (" + why + ")");
  }
  return c.max_position_embeddings;
}

namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json optional_value(const std::optional<double>& v) {
  return v ? ordered_json(*v) : ordered_json();
}

// A builder (dims, base, params) over the config's parameters of its method.
template <auto builder, auto params>
Frequencies build_with(const RopeConfig& c, int64_t) {
  return builder(c.rotated_dims, c.base, c.*params);
}

std::shared_ptr<const nn::ScaledRoPE> fixed_module(const RopeConfig& c) {
  return std::make_shared<nn::FrequencyRoPE>(c.rotated_dims, c.traditional, c.frequencies());
}

// ---- default: base ** (-2j/dims); also Qwen2-VL's "mrope" (sections are read separately).
void read_nothing(const MethodKeys&, RopeConfig&) {}
Frequencies build_default(const RopeConfig& c, int64_t) {
  return scaling::default_frequencies(c.rotated_dims, c.base);
}
ordered_json no_parameters(const RopeConfig&, int64_t) { return ordered_json::object(); }

// ---- linear position interpolation.
void read_linear(const MethodKeys& k, RopeConfig& c) { c.factor = k.rope.number("factor"); }
Frequencies build_linear(const RopeConfig& c, int64_t) {
  return scaling::linear(c.rotated_dims, c.base, c.factor);
}
ordered_json factor_only(const RopeConfig& c, int64_t) { return {{"factor", c.factor}}; }

// ---- dynamic NTK, a pure function of the call's length.
void read_dynamic(const MethodKeys& k, RopeConfig& c) {
  c.factor = k.rope.number("factor");
  k.max_positions(c, "dynamic NTK scales relative to it");
}
Frequencies build_dynamic(const RopeConfig& c, int64_t length) {
  return scaling::dynamic_ntk(c.rotated_dims, c.base, c.factor, double(c.max_position_embeddings),
                              length);
}
std::shared_ptr<const nn::ScaledRoPE> dynamic_module(const RopeConfig& c) {
  return std::make_shared<nn::DynamicNTKScalingRoPE>(c.rotated_dims, c.max_position_embeddings,
                                                     c.traditional, c.base, c.factor);
}
ordered_json dynamic_parameters(const RopeConfig& c, int64_t length) {
  return {{"factor", c.factor},
          {"max_position_embeddings", c.max_position_embeddings},
          {"seq_len", length > 0 ? ordered_json(length) : ordered_json()}};
}

// ---- Llama 3.
void read_llama3(const MethodKeys& k, RopeConfig& c) {
  scaling::Llama3Params& p = c.llama3;
  c.factor = p.factor = k.rope.number("factor");
  if (k.mlx_lm()) {  // mlx-lm's defaults for the optional keys (Llama3Params' defaults)
    p.low_freq_factor = k.rope.optional_number("low_freq_factor").value_or(p.low_freq_factor);
    p.high_freq_factor = k.rope.optional_number("high_freq_factor").value_or(p.high_freq_factor);
    p.original_max_position_embeddings = k.rope.optional_number("original_max_position_embeddings")
                                             .value_or(p.original_max_position_embeddings);
  } else {
    p.low_freq_factor = k.rope.number("low_freq_factor");
    p.high_freq_factor = k.rope.number("high_freq_factor");
    p.original_max_position_embeddings = double(k.rope.integer("original_max_position_embeddings"));
  }
  c.original_max_position_embeddings = int64_t(p.original_max_position_embeddings);
}
std::shared_ptr<const nn::ScaledRoPE> llama3_module(const RopeConfig& c) {
  return std::make_shared<nn::Llama3RoPE>(c.rotated_dims, c.max_position_embeddings, c.traditional,
                                          c.base, c.llama3);
}
ordered_json llama3_parameters(const RopeConfig& c, int64_t) {
  const scaling::Llama3Params& p = c.llama3;
  const double o = p.original_max_position_embeddings;
  // The band edges in wavelength (tokens): unchanged below the first, divided above the second.
  return {{"factor", p.factor},
          {"low_freq_factor", p.low_freq_factor},
          {"high_freq_factor", p.high_freq_factor},
          {"original_max_position_embeddings", o},
          {"high_freq_wavelength", o / p.high_freq_factor},
          {"low_freq_wavelength", o / p.low_freq_factor}};
}

// ---- YaRN (and DeepSeek's spelling of it).
void read_yarn_hf(const MethodKeys& k, RopeConfig& c) {
  const Section& rope = k.rope;
  scaling::YarnParams& y = c.yarn;
  c.original_max_position_embeddings =
      rope.has("original_max_position_embeddings")
          ? rope.integer("original_max_position_embeddings")
          : k.max_positions(c, "YaRN's default original length");
  y.original_max_position_embeddings = double(c.original_max_position_embeddings);
  y.factor = rope.has("factor") ? rope.number("factor")
                                : double(c.max_position_embeddings) / y.original_max_position_embeddings;
  // HF: `beta_fast or 32`, so a 0 means the default too.
  if (rope.has("beta_fast") && rope.number("beta_fast") != 0) y.beta_fast = rope.number("beta_fast");
  if (rope.has("beta_slow") && rope.number("beta_slow") != 0) y.beta_slow = rope.number("beta_slow");
}
void read_yarn_mlx(const MethodKeys& k, RopeConfig& c) {
  scaling::YarnParams& y = c.yarn;
  y.factor = k.rope.number("factor");
  y.original_max_position_embeddings =
      k.rope.optional_number("original_max_position_embeddings").value_or(4096);
  c.original_max_position_embeddings = int64_t(y.original_max_position_embeddings);
  y.beta_fast = k.rope.optional_number("beta_fast").value_or(32.0);
  y.beta_slow = k.rope.optional_number("beta_slow").value_or(1.0);
}
void read_yarn(const MethodKeys& k, RopeConfig& c) {
  if (k.mlx_lm()) read_yarn_mlx(k, c);
  else read_yarn_hf(k, c);
  scaling::YarnParams& y = c.yarn;
  c.factor = y.factor;
  y.attention_factor = k.rope.optional_number("attention_factor");
  y.mscale = k.rope.optional_number("mscale");
  y.mscale_all_dim = k.rope.optional_number("mscale_all_dim");
  y.truncate = k.rope.boolean("truncate", true);
  if (y.mscale_all_dim.value_or(0) != 0) {
    const double m = scaling::yarn_get_mscale(y.factor, *y.mscale_all_dim);
    c.softmax_scale_factor = m * m;
  }
}
std::shared_ptr<const nn::ScaledRoPE> yarn_module(const RopeConfig& c) {
  return std::make_shared<nn::YarnRoPE>(c.rotated_dims, c.traditional, c.max_position_embeddings,
                                        c.base, c.yarn);
}
ordered_json yarn_parameters(const RopeConfig& c, int64_t) {
  const scaling::YarnParams& y = c.yarn;
  return {{"factor", y.factor},
          {"original_max_position_embeddings", y.original_max_position_embeddings},
          {"beta_fast", y.beta_fast},
          {"beta_slow", y.beta_slow},
          {"mscale", optional_value(y.mscale)},
          {"mscale_all_dim", optional_value(y.mscale_all_dim)},
          {"attention_factor (config)", optional_value(y.attention_factor)},
          {"truncate", y.truncate},
          {"softmax_scale_factor", c.softmax_scale_factor}};
}

// ---- LongRoPE (Phi-3; "su" in its first configs).
void read_longrope_lengths(const MethodKeys& k, RopeConfig& c) {
  scaling::LongRopeParams& l = c.longrope;
  if (k.mlx_lm()) {
    k.max_positions(c, "LongRoPE's default factor");
    l.original_max_position_embeddings = k.rope.number("original_max_position_embeddings");
    c.original_max_position_embeddings = int64_t(l.original_max_position_embeddings);
  } else if (k.model->has("original_max_position_embeddings")) {  // Phi-3: at the top level
    c.original_max_position_embeddings = k.model->integer("original_max_position_embeddings");
  } else if (k.rope.has("original_max_position_embeddings")) {
    c.original_max_position_embeddings = k.rope.integer("original_max_position_embeddings");
  } else {
    c.original_max_position_embeddings = k.max_positions(c, "LongRoPE's default original length");
  }
  l.original_max_position_embeddings = double(c.original_max_position_embeddings);
  if (k.rope.has("factor")) {
    l.factor = k.rope.number("factor");
  } else {
    k.max_positions(c, "LongRoPE's default factor");
    l.factor = double(c.max_position_embeddings) / l.original_max_position_embeddings;
  }
}
void read_longrope(const MethodKeys& k, RopeConfig& c) {
  scaling::LongRopeParams& l = c.longrope;
  l.short_factor = k.rope.numbers("short_factor");
  l.long_factor = k.rope.numbers("long_factor");
  const size_t pairs = size_t(c.rotated_dims / 2);
  for (const char* key : {"short_factor", "long_factor"}) {
    const size_t n = k.rope.numbers(key).size();
    if (n != pairs)
      k.rope.fail("'" + k.rope.name(key) + "' must have rotated_dims/2 = " + std::to_string(pairs) +
                  " entries but has " + std::to_string(n));
  }
  read_longrope_lengths(k, c);
  c.factor = l.factor;
  l.attention_factor = k.rope.optional_number("attention_factor");
}
// The length that picks the factor set: the call's, or the serving length (vLLM).
int64_t longrope_selecting_length(const RopeConfig& c, int64_t length) {
  if (c.longrope_policy == scaling::LongRopePolicy::per_call) return length;
  return c.serving_length > 0 ? c.serving_length : c.max_position_embeddings;
}
Frequencies build_longrope(const RopeConfig& c, int64_t length) {
  return scaling::longrope(c.rotated_dims, c.base, c.longrope, longrope_selecting_length(c, length));
}
std::shared_ptr<const nn::ScaledRoPE> longrope_module(const RopeConfig& c) {
  // SuScaledRoPE's serving length is its max_position_embeddings.
  const int64_t serving = c.serving_length > 0 ? c.serving_length : c.max_position_embeddings;
  return std::make_shared<nn::SuScaledRoPE>(c.rotated_dims, c.base, serving, c.longrope,
                                            c.longrope_policy, c.traditional);
}
ordered_json longrope_parameters(const RopeConfig& c, int64_t length) {
  const scaling::LongRopeParams& l = c.longrope;
  const int64_t selecting = longrope_selecting_length(c, length);
  const bool long_set = double(selecting) > l.original_max_position_embeddings;
  return {{"factor", l.factor},
          {"original_max_position_embeddings", l.original_max_position_embeddings},
          {"attention_factor (config)", optional_value(l.attention_factor)},
          {"policy", c.longrope_policy == scaling::LongRopePolicy::per_call ? "per_call"
                                                                            : "serving_length"},
          {"factor_set", long_set ? "long_factor" : "short_factor"},
          {"selected_by_length", selecting}};
}

// ---- NTK with a fixed alpha (Hunyuan: "dynamic" with `alpha`): base * alpha ** (d/(d-2)).
void read_ntk_alpha(const MethodKeys& k, RopeConfig& c) { c.alpha = k.rope.number("alpha"); }
Frequencies build_ntk_alpha(const RopeConfig& c, int64_t) {
  const int d = c.rotated_dims;
  if (d <= 2)  // the exponent d/(d-2) is undefined
    throw std::invalid_argument("[ntk_alpha] dims must be at least 4 but got " + std::to_string(d) + ".");
  return scaling::default_frequencies(d, c.base * std::pow(c.alpha, double(d) / (d - 2)));
}
ordered_json alpha_only(const RopeConfig& c, int64_t) { return {{"alpha", c.alpha}}; }

// ---- proportional (Gemma 4): the whole head, zero frequencies past partial_rotary_factor.
void read_proportional(const MethodKeys& k, RopeConfig& c) {
  c.factor = k.rope.optional_number("factor").value_or(1.0);
  c.partial_rotary_factor = k.rope.optional_number("partial_rotary_factor").value_or(1.0);
  if (!(c.partial_rotary_factor >= 0 && c.partial_rotary_factor <= 1))
    k.rope.fail("'" + k.rope.name("partial_rotary_factor") + "' must be in [0, 1] but is " +
                std::to_string(c.partial_rotary_factor));
}
Frequencies build_proportional(const RopeConfig& c, int64_t) {
  return scaling::proportional(c.head_dim, c.base, c.partial_rotary_factor, c.factor);
}
ordered_json proportional_parameters(const RopeConfig& c, int64_t) {
  const Frequencies f = build_proportional(c, 0);
  const auto rotating = std::count_if(f.inv_freq.begin(), f.inv_freq.end(), [](double v) { return v != 0; });
  return {{"factor", c.factor},
          {"partial_rotary_factor", c.partial_rotary_factor},
          {"rotating_pairs", rotating},
          {"still_pairs", int64_t(f.inv_freq.size()) - rotating}};
}

const std::vector<ScalingMethod>& methods() {
  static const std::vector<ScalingMethod> table = {
      {.name = "default", .aliases = {"mrope"}, .read = read_nothing, .build = build_default,
       .depends_on_length = false, .module = fixed_module, .mlx_plain_rope = true,
       .parameters = no_parameters},
      {.name = "linear", .read = read_linear, .build = build_linear, .depends_on_length = false,
       .module = fixed_module, .mlx_plain_rope = true, .parameters = factor_only},
      {.name = "dynamic", .read = read_dynamic, .build = build_dynamic, .depends_on_length = true,
       .module = dynamic_module, .mlx_plain_rope = false, .parameters = dynamic_parameters},
      {.name = "yarn", .aliases = {"deepseek_yarn"}, .read = read_yarn,
       .build = build_with<scaling::yarn, &RopeConfig::yarn>, .depends_on_length = false,
       .module = yarn_module, .mlx_plain_rope = false, .parameters = yarn_parameters},
      {.name = "llama3", .read = read_llama3,
       .build = build_with<scaling::llama3, &RopeConfig::llama3>, .depends_on_length = false,
       .module = llama3_module, .mlx_plain_rope = false, .parameters = llama3_parameters},
      {.name = "longrope", .aliases = {"su"}, .read = read_longrope, .build = build_longrope,
       .depends_on_length = true, .module = longrope_module, .mlx_plain_rope = false,
       .parameters = longrope_parameters},
      {.name = "proportional", .read = read_proportional, .build = build_proportional,
       .depends_on_length = false, .whole_head = true, .module = fixed_module,
       .mlx_plain_rope = false, .parameters = proportional_parameters},
      {.name = "ntk_alpha", .refines = "dynamic", .marker = "alpha", .read = read_ntk_alpha,
       .build = build_ntk_alpha, .depends_on_length = false, .module = fixed_module,
       .mlx_plain_rope = false, .parameters = alpha_only},
  };
  return table;
}

bool marker_set(const Section& rope, const char* marker) {
  const nlohmann::json* v = rope.find(marker);
  return v != nullptr && !(v->is_number() && v->get<double>() == 0);
}

std::string accepted_names() {
  std::string names, aliases;
  for (const ScalingMethod& m : methods()) {
    if (m.refines) continue;  // spelled as the method it refines
    names += (names.empty() ? "" : ", ") + std::string(m.name);
    for (const std::string& a : m.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
  }
  return names + (aliases.empty() ? "" : " (or " + aliases + ")");
}

}  // namespace

const ScalingMethod& method_named(const std::string& name) {
  for (const ScalingMethod& m : methods())
    if (name == m.name) return m;
  throw std::invalid_argument("[RopeConfig] unknown method '" + name + "'; expected one of " +
                              accepted_names() + ".");
}

const ScalingMethod& select_method(const std::string& type, const Section& rope,
                                   const std::string& key) {
  const ScalingMethod* found = nullptr;
  for (const ScalingMethod& m : methods()) {
    if (m.refines) continue;
    if (type == m.name) found = &m;
    for (const std::string& a : m.aliases)
      if (type == a) found = &m;
  }
  if (found == nullptr)
    rope.fail("unknown RoPE scaling method '" + type + "' in '" + key + "'; expected one of " +
              accepted_names());
  for (const ScalingMethod& m : methods())
    if (m.refines && found->name == std::string(m.refines) && marker_set(rope, m.marker)) return m;
  return *found;
}

}  // namespace rotary::scaling_detail
