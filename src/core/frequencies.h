// The frequencies a call rotates with: its own, or the default (base 10000 over its rotated
// dims). Resolved here only; the planner and the oracle both ask.
#pragma once

#include "rotary/frequencies.h"

namespace rotary::core {

// `given` when it has frequencies, else Frequencies::from_base(dims, 10000) (built once per
// dims and kept for the life of the process, so a plan may point into it). dims is positive
// and even. A given with no frequencies but another field set is refused (it would be dropped).
const Frequencies& call_frequencies(const Frequencies& given, int dims);

}  // namespace rotary::core
