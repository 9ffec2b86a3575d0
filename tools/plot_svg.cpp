// SVG wavelength chart: plain text, no dependencies; sized to be read at a glance.
#include "plot_svg.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace rotary::tools {
namespace {

constexpr double kWidth = 960, kHeight = 560;
constexpr double kLeft = 90, kRight = 250, kTop = 56, kBottom = 70;  // margins; legend on the right
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

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

}  // namespace

std::string wavelength_svg(const WavelengthPlot& plot) {
  // The log axis spans whole decades around every value shown.
  double lo = INFINITY, hi = 0;
  for (const auto* series : {&plot.scaled, &plot.unscaled})
    for (double w : *series) lo = std::min(lo, w), hi = std::max(hi, w);
  for (double c : {plot.original_context, plot.max_context})
    if (c > 0) lo = std::min(lo, c), hi = std::max(hi, c);
  const int dec_lo = int(std::floor(std::log10(lo))), dec_hi = int(std::ceil(std::log10(hi)));
  const int decades = std::max(1, dec_hi - dec_lo);
  const size_t n = std::max<size_t>(plot.scaled.size(), 2);

  auto x_of = [&](double j) { return kLeft + kPlotW * j / double(n - 1); };
  auto y_of = [&](double w) {
    return kTop + kPlotH * (1 - (std::log10(w) - dec_lo) / decades);
  };

  std::ostringstream s;
  s.precision(5);
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"14\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kLeft << "\" y=\"30\" font-size=\"18\" font-weight=\"bold\">"
    << escape(plot.title) << "</text>\n";

  // Grid and ticks: one line per decade on the wavelength axis.
  for (int d = dec_lo; d <= dec_lo + decades; ++d) {
    const double y = y_of(std::pow(10, d));
    s << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW << "\" y2=\""
      << y << "\" stroke=\"#e0e0e0\"/>\n"
      << "<text x=\"" << kLeft - 8 << "\" y=\"" << y + 5 << "\" text-anchor=\"end\">"
      << tick_label(d) << "</text>\n";
  }
  const size_t step = std::max<size_t>(1, (n + 7) / 8);
  for (size_t j = 0; j < n; j += step) {
    const double x = x_of(double(j));
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

  // Context lengths: horizontal reference lines.
  auto hline = [&](double value, const char* color, const char* dash) {
    const double y = y_of(value);
    s << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW << "\" y2=\""
      << y << "\" stroke=\"" << color << "\" stroke-width=\"1.5\" stroke-dasharray=\"" << dash
      << "\"/>\n";
  };
  const bool show_max = plot.max_context > 0 && plot.max_context != plot.original_context;
  if (plot.original_context > 0) hline(plot.original_context, "#d62728", "8,4");
  if (show_max) hline(plot.max_context, "#2ca02c", "2,4");

  auto polyline = [&](const std::vector<double>& w, const char* color, double width,
                      const char* dash) {
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"" << width << "\"";
    if (*dash) s << " stroke-dasharray=\"" << dash << "\"";
    s << " points=\"";
    for (size_t j = 0; j < w.size(); ++j) s << x_of(double(j)) << "," << y_of(w[j]) << " ";
    s << "\"/>\n";
  };
  polyline(plot.unscaled, "#7f7f7f", 2, "6,4");
  polyline(plot.scaled, "#1f77b4", 2.5, "");
  for (size_t j = 0; j < plot.scaled.size(); ++j)
    s << "<circle cx=\"" << x_of(double(j)) << "\" cy=\"" << y_of(plot.scaled[j])
      << "\" r=\"2.5\" fill=\"#1f77b4\"/>\n";

  // Legend.
  const double lx = kLeft + kPlotW + 20;
  double ly = kTop + 10;
  auto entry = [&](const char* color, const char* dash, double width, const std::string& label) {
    s << "<line x1=\"" << lx << "\" y1=\"" << ly << "\" x2=\"" << lx + 34 << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"" << width << "\"";
    if (*dash) s << " stroke-dasharray=\"" << dash << "\"";
    s << "/>\n<text x=\"" << lx + 42 << "\" y=\"" << ly + 5 << "\">" << escape(label) << "</text>\n";
    ly += 26;
  };
  entry("#1f77b4", "", 2.5, "scaled");
  entry("#7f7f7f", "6,4", 2, "unscaled");
  auto tokens = [](double v) { return std::to_string(int64_t(std::llround(v))); };
  if (plot.original_context > 0)
    entry("#d62728", "8,4", 1.5, "original ctx " + tokens(plot.original_context));
  if (show_max) entry("#2ca02c", "2,4", 1.5, "max ctx " + tokens(plot.max_context));
  s << "</svg>\n";
  return s.str();
}

}  // namespace rotary::tools
