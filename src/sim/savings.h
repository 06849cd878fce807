// What each capacity of the plan saves, priced the way the daemon prices its hits (its `economics:`
// config, server/config.h): a hit token is a token the engine did not prefill, so
//   GPU-seconds saved = hit tokens / prefill_tokens_per_s,   money = GPU-seconds / 3600 * gpu_hour_price.
// Without a prefill rate the replay's own cost model (the model's measured prefill curve, which
// charges long prompts more per token) gives the GPU-seconds instead; without a price, no money.
#pragma once

#include <string>
#include <vector>

#include "sim/planner.h"
#include "sim/svg_plot.h"

namespace tw::sim {

struct EconomicsOptions {
  double prefill_tokens_per_s = 0;  // the daemon's economics.prefill_tokens_per_s; 0: the cost model's curve
  double gpu_hour_price = 0;        // economics.gpu_hour_price; 0: no money figures
  std::string currency = "USD";     // economics.currency
};

struct SavingsPoint {
  double fraction = 0;           // of the trace's unique blocks
  uint64_t capacity_blocks = 0;
  uint64_t hit_tokens = 0;
  double gpu_seconds_saved = 0;
  double money_saved = 0;        // 0 without a price
};

// One point per capacity of `curve`. kInvalidArgument for a negative rate or price.
Result<std::vector<SavingsPoint>> Savings(const PolicyCurve& curve, const EconomicsOptions& economics);

// The table `tokenwarehouse plan` prints: capacity, bytes, hit tokens, GPU-hours and money saved.
std::string SavingsTable(const std::string& policy, const std::vector<SavingsPoint>& points, uint64_t object_bytes,
                         const EconomicsOptions& economics);

// Money (or, without a price, GPU-hours) saved against capacity, one series per policy's curve.
Result<PlotSpec> SavingsPlot(const PlanResult& plan, const EconomicsOptions& economics, const std::string& title);

}  // namespace tw::sim
