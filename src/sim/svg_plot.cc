#include "sim/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace tw::sim {
namespace {

constexpr double kWidth = 760, kHeight = 460;
constexpr double kLeft = 70, kRight = 190, kTop = 40, kBottom = 60;
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;"; else if (c == '>') out += "&gt;"; else if (c == '&') out += "&amp;"; else out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string Tick(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

std::string RenderSvg(const PlotSpec& spec) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = spec.y_min, y_hi = spec.y_max;
  bool auto_y = spec.y_min == 0 && spec.y_max == 0;
  if (auto_y) { y_lo = 0; y_hi = -INFINITY; }
  for (const auto& s : spec.series) {
    for (auto [x, y] : s.points) {
      if (spec.log_x && x <= 0) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      if (auto_y) y_hi = std::max(y_hi, y);
    }
  }
  if (!std::isfinite(x_lo)) { x_lo = 0; x_hi = 1; }
  if (x_hi <= x_lo) x_hi = x_lo + 1;
  if (!std::isfinite(y_hi) || y_hi <= y_lo) y_hi = y_lo + 1;
  if (auto_y) y_hi *= 1.05;
  auto fx = [&](double x) {
    double t = spec.log_x ? (std::log10(x) - std::log10(x_lo)) / (std::log10(x_hi) - std::log10(x_lo))
                          : (x - x_lo) / (x_hi - x_lo);
    return kLeft + t * (kWidth - kLeft - kRight);
  };
  auto fy = [&](double y) { return kHeight - kBottom - (y - y_lo) / (y_hi - y_lo) * (kHeight - kTop - kBottom); };

  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(kWidth) + "\" height=\"" + Num(kHeight) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + Num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + Escape(spec.title) + "</text>\n";
  // Grid and ticks: y in 10 steps; x at the data's distinct x values (they are the chosen capacities).
  for (int i = 0; i <= 10; ++i) {
    double y = y_lo + (y_hi - y_lo) * i / 10;
    o += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kWidth - kRight) + "\" y1=\"" + Num(fy(y)) + "\" y2=\"" +
         Num(fy(y)) + "\" stroke=\"#ddd\"/>\n";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3g", y);
    o += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(fy(y) + 4) + "\" text-anchor=\"end\">" + buf + "</text>\n";
  }
  std::vector<double> xs;
  for (const auto& s : spec.series) for (auto [x, y] : s.points) xs.push_back(x);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  for (double x : xs) {
    if (spec.log_x && x <= 0) continue;
    o += "<line x1=\"" + Num(fx(x)) + "\" x2=\"" + Num(fx(x)) + "\" y1=\"" + Num(kTop) + "\" y2=\"" +
         Num(kHeight - kBottom) + "\" stroke=\"#eee\"/>\n";
    o += "<text x=\"" + Num(fx(x)) + "\" y=\"" + Num(kHeight - kBottom + 16) + "\" text-anchor=\"middle\">" + Tick(x) + "</text>\n";
  }
  o += "<rect x=\"" + Num(kLeft) + "\" y=\"" + Num(kTop) + "\" width=\"" + Num(kWidth - kLeft - kRight) + "\" height=\"" +
       Num(kHeight - kTop - kBottom) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  o += "<text x=\"" + Num((kLeft + kWidth - kRight) / 2) + "\" y=\"" + Num(kHeight - 18) + "\" text-anchor=\"middle\">" +
       Escape(spec.x_label) + "</text>\n";
  o += "<text transform=\"translate(18," + Num((kTop + kHeight - kBottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       Escape(spec.y_label) + "</text>\n";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const PlotSeries& s = spec.series[i];
    const char* colour = kColours[i % (sizeof(kColours) / sizeof(kColours[0]))];
    std::string path;
    for (auto [x, y] : s.points) {
      if (spec.log_x && x <= 0) continue;
      path += (path.empty() ? "" : " ") + Num(fx(x)) + "," + Num(fy(y));
    }
    o += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + path + "\"/>\n";
    for (auto [x, y] : s.points) {
      if (spec.log_x && x <= 0) continue;
      o += "<circle cx=\"" + Num(fx(x)) + "\" cy=\"" + Num(fy(y)) + "\" r=\"3\" fill=\"" + colour + "\"/>\n";
    }
    double ly = kTop + 10 + 20.0 * i;
    o += "<line x1=\"" + Num(kWidth - kRight + 14) + "\" x2=\"" + Num(kWidth - kRight + 40) + "\" y1=\"" + Num(ly) +
         "\" y2=\"" + Num(ly) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    o += "<text x=\"" + Num(kWidth - kRight + 46) + "\" y=\"" + Num(ly + 4) + "\">" + Escape(s.label) + "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

Status WriteSvg(const std::string& path, const PlotSpec& spec) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot open " + path + " for writing");
  out << RenderSvg(spec);
  out.close();
  if (!out) return Status::IOError("cannot write " + path);
  return Status::Ok();
}

}  // namespace tw::sim
