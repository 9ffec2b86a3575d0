// A hand-written SVG chart of RoPE wavelengths per pair (for `rotary inspect --plot`).
#pragma once

#include <string>
#include <vector>

namespace rotary::tools {

struct WavelengthPlot {
  std::string title;
  std::vector<double> scaled;    // wavelength in tokens per pair, as the config builds them
  std::vector<double> unscaled;  // wavelength without scaling, for comparison
  double original_context = 0;   // marked as a horizontal line when > 0
  double max_context = 0;        // marked too when > 0 and different from original_context
};

// The chart as a standalone SVG document: log-scale wavelength axis, pair index axis, both
// curves, the context lengths, and a legend.
std::string wavelength_svg(const WavelengthPlot& plot);

}  // namespace rotary::tools
