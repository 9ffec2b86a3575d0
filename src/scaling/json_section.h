// A JSON object with the dotted name it was reached by, so that every error names its key.
// Shared by from_hf_config and nn::initialize_rope.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rotary::scaling_detail {

using nlohmann::json;

[[noreturn]] inline void fail(const char* who, const std::string& message) {
  throw std::invalid_argument(std::string(who) + " " + message);
}

// A JSON object together with the dotted name it was reached by, for error messages.
struct Section {
  const json* object = nullptr;
  std::string prefix;  // "" for the top level, else e.g. "rope_scaling."
  const char* who = "[from_hf_config]";  // the error prefix

  [[noreturn]] void fail(const std::string& message) const { scaling_detail::fail(who, message); }

  // The value of `key` when present and not null.
  const json* find(const std::string& key) const {
    if (object == nullptr) return nullptr;
    auto it = object->find(key);
    return it == object->end() || it->is_null() ? nullptr : &*it;
  }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  std::string name(const std::string& key) const { return prefix + key; }

  double number(const std::string& key) const {
    const json* v = find(key);
    if (v == nullptr) fail("missing key '" + name(key) + "'");
    return finite(*v, name(key));
  }
  std::optional<double> optional_number(const std::string& key) const {
    return has(key) ? std::optional<double>(number(key)) : std::nullopt;
  }
  int64_t integer(const std::string& key) const {
    const json* v = find(key);
    if (v == nullptr) fail("missing key '" + name(key) + "'");
    const bool integral = v->is_number_integer() ||
                          (v->is_number_float() && v->get<double>() == std::floor(v->get<double>()));
    if (!integral) fail("'" + name(key) + "' must be an integer but is " + v->dump());
    // int64 range: an unsigned above it, or a float at or past 2^63, does not convert.
    const bool in_range = v->is_number_unsigned()
                              ? v->get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max())
                              : !v->is_number_float() || std::fabs(v->get<double>()) < 0x1p63;
    if (!in_range) fail("'" + name(key) + "' is out of range: " + v->dump());
    return v->get<int64_t>();
  }
  // An integer in [lo, hi] (sizes that the library holds as int).
  int64_t integer_in(const std::string& key, int64_t lo, int64_t hi) const {
    const int64_t value = integer(key);
    if (value < lo || value > hi)
      fail("'" + name(key) + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
           "] but is " + std::to_string(value));
    return value;
  }
  bool boolean(const std::string& key, bool fallback) const {
    const json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail("'" + name(key) + "' must be true or false but is " + v->dump());
    return v->get<bool>();
  }
  std::vector<double> numbers(const std::string& key) const {
    const json* v = find(key);
    if (v == nullptr) fail("missing key '" + name(key) + "'");
    if (!v->is_array()) fail("'" + name(key) + "' must be a list of numbers but is " + v->dump());
    std::vector<double> out;
    for (const json& e : *v) {
      if (!e.is_number() && !e.is_string())
        fail("'" + name(key) + "' must contain only numbers but has " + e.dump());
      out.push_back(finite(e, name(key)));
    }
    return out;
  }

  // A finite number. NaN and Infinity arrive as strings (parse_hf_config keeps them so that
  // the error names the key).
  double finite(const json& v, const std::string& what) const {
    if (!v.is_number()) {
      const bool non_finite = v.is_string() && (v == "NaN" || v == "Infinity" || v == "-Infinity");
      fail("'" + what + "' must be a " + (non_finite ? "finite number but is " + v.get<std::string>()
                                                      : "number but is " + v.dump()));
    }
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail("'" + what + "' must be a finite number but is " + v.dump());
    return d;
  }
};

}  // namespace rotary::scaling_detail
