#include "sim/routing_report.h"

#include <cmath>
#include <cstdio>

namespace tw::sim {

namespace {

double Pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0; }

}  // namespace

std::string RoutingTable(const std::vector<RoutingResult>& results) {
  std::string out =
      "| routing | GPU hit | DRAM hit | disk hit | peer hit | computed | TTFT mean | p50 | p90 | p99 | queue mean | imbalance |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  char line[512];
  for (const RoutingResult& r : results) {
    std::snprintf(line, sizeof line,
                  "| %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.3f s | %.3f s | %.3f s | %.3f s | %.3f s | %.2f |\n",
                  std::string(RoutingPolicyName(r.policy)).c_str(), Pct(r.gpu_hit_tokens, r.prompt_tokens),
                  Pct(r.dram_hit_tokens, r.prompt_tokens), Pct(r.disk_hit_tokens, r.prompt_tokens),
                  Pct(r.peer_hit_tokens, r.prompt_tokens), Pct(r.computed_tokens, r.prompt_tokens), r.ttft_mean_s,
                  r.ttft_p50_s, r.ttft_p90_s, r.ttft_p99_s, r.queue_mean_s, r.load_imbalance);
    out += line;
  }
  return out;
}

std::string RoutingJson(const std::vector<RoutingResult>& results) {
  std::string out = "[";
  char buf[1024];
  for (size_t i = 0; i < results.size(); ++i) {
    const RoutingResult& r = results[i];
    std::snprintf(buf, sizeof buf,
                  "%s{\"routing\":\"%s\",\"requests\":%llu,\"prompt_tokens\":%llu,\"gpu_hit_tokens\":%llu,"
                  "\"dram_hit_tokens\":%llu,\"disk_hit_tokens\":%llu,\"peer_hit_tokens\":%llu,\"computed_tokens\":%llu,"
                  "\"ttft_mean_s\":%.6f,\"ttft_p50_s\":%.6f,\"ttft_p90_s\":%.6f,\"ttft_p99_s\":%.6f,"
                  "\"queue_mean_s\":%.6f,\"load_imbalance\":%.4f}",
                  i ? "," : "", std::string(RoutingPolicyName(r.policy)).c_str(),
                  static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.prompt_tokens),
                  static_cast<unsigned long long>(r.gpu_hit_tokens), static_cast<unsigned long long>(r.dram_hit_tokens),
                  static_cast<unsigned long long>(r.disk_hit_tokens), static_cast<unsigned long long>(r.peer_hit_tokens),
                  static_cast<unsigned long long>(r.computed_tokens), r.ttft_mean_s, r.ttft_p50_s, r.ttft_p90_s,
                  r.ttft_p99_s, r.queue_mean_s, r.load_imbalance);
    out += buf;
  }
  return out + "]";
}

PlotSpec RoutingPlot(const std::vector<RoutingResult>& results, const std::string& title) {
  PlotSpec spec;
  spec.title = title;
  spec.x_label = "TTFT (s)";
  spec.y_label = "fraction of requests";
  spec.log_x = true;
  spec.y_min = 0;
  spec.y_max = 1;
  for (const RoutingResult& r : results) {
    PlotSeries s;
    s.label = std::string(RoutingPolicyName(r.policy));
    const size_t n = r.ttft_sorted_s.size();
    // ~200 points of the CDF; a log axis needs x > 0.
    const size_t step = std::max<size_t>(1, n / 200);
    for (size_t i = 0; i < n; i += step) {
      s.points.push_back({std::max(1e-3, r.ttft_sorted_s[i]), static_cast<double>(i + 1) / static_cast<double>(n)});
    }
    if (n) s.points.push_back({std::max(1e-3, r.ttft_sorted_s.back()), 1.0});
    spec.series.push_back(std::move(s));
  }
  return spec;
}

}  // namespace tw::sim
