// The precision of calls that do not name one: process-wide, first read from ROTARY_PRECISION.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "rotary/rope.h"

namespace rotary {
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
