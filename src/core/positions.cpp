// Positions, Frequencies and the global precision: small value types of the public API.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <stdexcept>

#include "core/validate.h"
#include "rotary/frequencies.h"
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

Frequencies Frequencies::from_base(int dims, double base) {
  if (dims <= 0 || dims % 2) core::fail("[rope] dims must be positive and even but got " + std::to_string(dims) + ".");
  if (!(base > 0)) core::fail("[rope] base must be positive but got " + std::to_string(base) + ".");
  Frequencies f;
  f.inv_freq.resize(dims / 2);
  for (int i = 0; i < dims / 2; ++i) f.inv_freq[i] = std::pow(base, -2.0 * i / dims);
  return f;
}

Frequencies Frequencies::from_periods(const std::vector<double>& periods) {
  Frequencies f;
  f.inv_freq.reserve(periods.size());
  for (double p : periods) {
    if (!(p != 0) || !std::isfinite(p))
      core::fail("[rope] freqs (periods) must be finite and non-zero but got " + std::to_string(p) + ".");
    f.inv_freq.push_back(1.0 / p);
  }
  return f;
}

namespace {
Precision initial_precision() {
  const char* env = std::getenv("ROTARY_PRECISION");
  if (!env || !*env || std::strcmp(env, "accurate") == 0) return Precision::accurate;
  if (std::strcmp(env, "compat") == 0) return Precision::compat;
  throw std::invalid_argument(std::string("[rotary] ROTARY_PRECISION must be \"accurate\" or \"compat\" but is \"") +
                              env + "\".");
}
std::atomic<Precision>& precision_setting() {
  static std::atomic<Precision> p{initial_precision()};
  return p;
}
}  // namespace

Precision default_precision() { return precision_setting().load(); }
void set_default_precision(Precision precision) { precision_setting().store(precision); }

}  // namespace rotary
