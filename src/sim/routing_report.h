// What `simulate --engines N` prints and plots: a table with a row per routing policy (prompt tokens
// by where they came from, TTFT, load imbalance), and an SVG of each policy's TTFT distribution.
#pragma once

#include <string>
#include <vector>

#include "sim/routing.h"
#include "sim/svg_plot.h"

namespace tw::sim {

// A Markdown table (it reads as plain text too), one row per result.
std::string RoutingTable(const std::vector<RoutingResult>& results);
std::string RoutingJson(const std::vector<RoutingResult>& results);
// TTFT CDF (log x), one series per policy.
PlotSpec RoutingPlot(const std::vector<RoutingResult>& results, const std::string& title);

}  // namespace tw::sim
