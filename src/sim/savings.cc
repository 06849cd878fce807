#include "sim/savings.h"

#include <cstdio>

#include "sim/report.h"

namespace tw::sim {

Result<std::vector<SavingsPoint>> Savings(const PolicyCurve& curve, const EconomicsOptions& e) {
  if (e.prefill_tokens_per_s < 0 || e.gpu_hour_price < 0) {
    return Status::InvalidArgument("economics: rates and prices cannot be negative");
  }
  std::vector<SavingsPoint> out;
  out.reserve(curve.points.size());
  for (const CurvePoint& p : curve.points) {
    SavingsPoint s{p.fraction, p.capacity_blocks, p.hit_tokens, p.gpu_seconds_saved, 0};
    // The daemon's formula where the operator gave a rate, so the plan and /stats agree.
    if (e.prefill_tokens_per_s > 0) s.gpu_seconds_saved = static_cast<double>(p.hit_tokens) / e.prefill_tokens_per_s;
    s.money_saved = s.gpu_seconds_saved / 3600.0 * e.gpu_hour_price;
    out.push_back(s);
  }
  return out;
}

std::string SavingsTable(const std::string& policy, const std::vector<SavingsPoint>& points, uint64_t object_bytes,
                         const EconomicsOptions& e) {
  std::string o = "savings by capacity with " + policy + " (";
  char b[160];
  if (e.prefill_tokens_per_s > 0) {
    std::snprintf(b, sizeof(b), "hit tokens / %.0f prefill tokens/s", e.prefill_tokens_per_s);
    o += b;
  } else {
    o += "the model's prefill curve; set --prefill-tokens-per-s for the daemon's flat rate";
  }
  if (e.gpu_hour_price > 0) {
    std::snprintf(b, sizeof(b), ", %.2f %s a GPU-hour", e.gpu_hour_price, e.currency.c_str());
    o += b;
  }
  o += ")\n\ncapacity    bytes       hit tokens      GPU-hours saved";
  if (e.gpu_hour_price > 0) o += "   " + e.currency + " saved";
  o += "\n";
  for (const SavingsPoint& p : points) {
    char capacity[32];
    std::snprintf(capacity, sizeof(capacity), "%.1f%%", 100 * p.fraction);
    std::snprintf(b, sizeof(b), "%-11s %-11s %-15llu %-17.3f", capacity,
                  FormatBytes(static_cast<double>(p.capacity_blocks) * object_bytes).c_str(),
                  static_cast<unsigned long long>(p.hit_tokens), p.gpu_seconds_saved / 3600.0);
    o += b;
    if (e.gpu_hour_price > 0) {
      std::snprintf(b, sizeof(b), " %.2f", p.money_saved);
      o += b;
    }
    o += "\n";
  }
  return o;
}

Result<PlotSpec> SavingsPlot(const PlanResult& plan, const EconomicsOptions& e, const std::string& title) {
  PlotSpec spec;
  spec.title = title;
  spec.x_label = "capacity (% of unique blocks)";
  spec.y_label = e.gpu_hour_price > 0 ? e.currency + " saved" : "GPU-hours saved";
  spec.log_x = true;
  for (const PolicyCurve& c : plan.curves) {
    TW_ASSIGN_OR_RETURN(std::vector<SavingsPoint> points, Savings(c, e));
    PlotSeries s{c.policy, {}, c.policy == "belady"};
    for (const SavingsPoint& p : points) {
      s.points.push_back({100 * p.fraction, e.gpu_hour_price > 0 ? p.money_saved : p.gpu_seconds_saved / 3600.0});
    }
    spec.series.push_back(std::move(s));
  }
  return spec;
}

}  // namespace tw::sim
