// Frequencies' builders and the default frequencies of calls that name none.
#include "core/frequencies.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/validate.h"

namespace rotary {

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

namespace core {

const Frequencies& call_frequencies(const Frequencies& given, int dims) {
  if (!given.inv_freq.empty()) return given;
  // The base-10000 default replaces the whole Frequencies: a field set beside no inv_freq would
  // be dropped without a word, so it is refused.
  const char* set = given.attention_factor != 1.0         ? "attention_factor"
                    : !given.pair_position_stream.empty() ? "pair_position_stream"
                    : given.position_streams != 1         ? "position_streams"
                                                          : nullptr;
  if (set)
    core::fail(std::string("[rope] freqs sets ") + set +
               " but has no inv_freq; give the inverse frequencies too (Frequencies::from_base(dims, 10000) "
               "for the default ones).");
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<const Frequencies>> defaults;  // never shrinks: plans point in
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<const Frequencies>& f = defaults[dims];
  if (!f) f = std::make_unique<const Frequencies>(Frequencies::from_base(dims, 10000.0));
  return *f;
}

}  // namespace core
}  // namespace rotary
