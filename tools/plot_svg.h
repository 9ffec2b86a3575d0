// A hand-written SVG chart of RoPE wavelengths per pair (for `rotary inspect --plot`).
#pragma once

#include <string>
#include <vector>

namespace rotary::tools {

// A horizontal line at a wavelength (a context length, a band edge), with its legend label.
struct ReferenceLine {
  double wavelength = 0;
  std::string label;
  std::string color;
  std::string dash;  // SVG stroke-dasharray
};

struct WavelengthPlot {
  std::string title;
  std::vector<double> scaled;    // wavelength in tokens per pair, as the config builds them
  std::vector<double> unscaled;  // wavelength without scaling, for comparison
  std::vector<ReferenceLine> lines;  // drawn when wavelength > 0
};

// The chart as a standalone SVG document: log-scale wavelength axis, pair index axis, both
// curves, the reference lines, and a legend.
std::string wavelength_svg(const WavelengthPlot& plot);

}  // namespace rotary::tools
