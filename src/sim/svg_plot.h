// A minimal SVG line chart writer (no dependency): series of (x, y) points, a log or linear x axis,
// grid, axis labels and a legend. For the curves of `simulate` and `plan`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tw/status.h"

namespace tw::sim {

struct PlotSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  double y_min = 0, y_max = 0;  // both 0: from the data
  std::vector<PlotSeries> series;
};

std::string RenderSvg(const PlotSpec& spec);
// kIOError if the file cannot be written.
Status WriteSvg(const std::string& path, const PlotSpec& spec);

}  // namespace tw::sim
