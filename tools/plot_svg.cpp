// SVG wavelength chart: plain text, no dependencies; sized to be read at a glance.
#include "plot_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

namespace rotary::tools {
namespace {

constexpr double kWidth = 960, kHeight = 560;
constexpr double kLeft = 90, kRight = 250, kTop = 56, kBottom = 70;  // margins; legend on the right
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
constexpr const char* kScaledColor = "#1f77b4";
constexpr const char* kUnscaledColor = "#7f7f7f";

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

std::string tick_label(int exponent) {
  // 10^k as a plain number while short, else as 1e k.
  if (exponent >= 0 && exponent <= 5) return std::to_string(int64_t(std::pow(10, exponent)));
  return "1e" + std::to_string(exponent);
}

// Where values land: whole decades on the log wavelength axis around every value shown.
struct Axes {
  int dec_lo = 0, decades = 1;
  size_t pairs = 2;

  explicit Axes(const WavelengthPlot& plot) {
    double lo = INFINITY, hi = 0;
    for (const auto* series : {&plot.scaled, &plot.unscaled})
      for (double w : *series) lo = std::min(lo, w), hi = std::max(hi, w);
    for (const ReferenceLine& line : plot.lines)
      if (line.wavelength > 0) lo = std::min(lo, line.wavelength), hi = std::max(hi, line.wavelength);
    dec_lo = int(std::floor(std::log10(lo)));
    decades = std::max(1, int(std::ceil(std::log10(hi))) - dec_lo);
    pairs = std::max<size_t>(plot.scaled.size(), 2);
  }
  double x(double j) const { return kLeft + kPlotW * j / double(pairs - 1); }
  double y(double w) const { return kTop + kPlotH * (1 - (std::log10(w) - dec_lo) / decades); }
};

void write_header(std::ostringstream& s, const std::string& title) {
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"14\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kLeft << "\" y=\"30\" font-size=\"18\" font-weight=\"bold\">"
    << escape(title) << "</text>\n";
}

// Grid and ticks (one line per decade on the wavelength axis), frame and axis titles.
void write_axes(std::ostringstream& s, const Axes& a) {
  for (int d = a.dec_lo; d <= a.dec_lo + a.decades; ++d) {
    const double y = a.y(std::pow(10, d));
    s << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW << "\" y2=\""
      << y << "\" stroke=\"#e0e0e0\"/>\n"
      << "<text x=\"" << kLeft - 8 << "\" y=\"" << y + 5 << "\" text-anchor=\"end\">"
      << tick_label(d) << "</text>\n";
  }
  const size_t step = std::max<size_t>(1, (a.pairs + 7) / 8);
  for (size_t j = 0; j < a.pairs; j += step) {
    const double x = a.x(double(j));
    s << "<line x1=\"" << x << "\" y1=\"" << kTop + kPlotH << "\" x2=\"" << x << "\" y2=\""
      << kTop + kPlotH + 6 << "\" stroke=\"black\"/>\n"
      << "<text x=\"" << x << "\" y=\"" << kTop + kPlotH + 24 << "\" text-anchor=\"middle\">" << j
      << "</text>\n";
  }
  s << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kPlotW << "\" height=\""
    << kPlotH << "\" fill=\"none\" stroke=\"black\"/>\n"
    << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << kHeight - 20
    << "\" text-anchor=\"middle\">pair index j</text>\n"
    << "<text transform=\"translate(26," << kTop + kPlotH / 2
    << ") rotate(-90)\" text-anchor=\"middle\">wavelength 2&#960;/inv_freq (tokens, log scale)</text>\n";
}

void write_reference_lines(std::ostringstream& s, const Axes& a, const WavelengthPlot& plot) {
  for (const ReferenceLine& line : plot.lines) {
    if (line.wavelength <= 0) continue;
    const double y = a.y(line.wavelength);
    s << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW << "\" y2=\""
      << y << "\" stroke=\"" << line.color << "\" stroke-width=\"1.5\" stroke-dasharray=\""
      << line.dash << "\"/>\n";
  }
}

void write_curves(std::ostringstream& s, const Axes& a, const WavelengthPlot& plot) {
  auto polyline = [&](const std::vector<double>& w, const char* color, double width,
                      const char* dash) {
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"" << width << "\"";
    if (*dash) s << " stroke-dasharray=\"" << dash << "\"";
    s << " points=\"";
    for (size_t j = 0; j < w.size(); ++j) s << a.x(double(j)) << "," << a.y(w[j]) << " ";
    s << "\"/>\n";
  };
  polyline(plot.unscaled, kUnscaledColor, 2, "6,4");
  polyline(plot.scaled, kScaledColor, 2.5, "");
  for (size_t j = 0; j < plot.scaled.size(); ++j)
    s << "<circle cx=\"" << a.x(double(j)) << "\" cy=\"" << a.y(plot.scaled[j])
      << "\" r=\"2.5\" fill=\"" << kScaledColor << "\"/>\n";
}

void write_legend(std::ostringstream& s, const WavelengthPlot& plot) {
  const double lx = kLeft + kPlotW + 20;
  double ly = kTop + 10;
  auto entry = [&](const std::string& color, const std::string& dash, double width,
                   const std::string& label) {
    s << "<line x1=\"" << lx << "\" y1=\"" << ly << "\" x2=\"" << lx + 34 << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"" << width << "\"";
    if (!dash.empty()) s << " stroke-dasharray=\"" << dash << "\"";
    s << "/>\n<text x=\"" << lx + 42 << "\" y=\"" << ly + 5 << "\">" << escape(label) << "</text>\n";
    ly += 26;
  };
  entry(kScaledColor, "", 2.5, "scaled");
  entry(kUnscaledColor, "6,4", 2, "unscaled");
  for (const ReferenceLine& line : plot.lines)
    if (line.wavelength > 0) entry(line.color, line.dash, 1.5, line.label);
}

}  // namespace

std::string wavelength_svg(const WavelengthPlot& plot) {
  const Axes axes(plot);
  std::ostringstream s;
  s.precision(5);
  write_header(s, plot.title);
  write_axes(s, axes);
  write_reference_lines(s, axes, plot);
  write_curves(s, axes, plot);
  write_legend(s, plot);
  s << "</svg>\n";
  return s.str();
}

}  // namespace rotary::tools
