// The capacity planner behind `tokenwarehouse plan`: hit ratio versus capacity for each policy, and
// the DRAM and disk sizes that reach a target share of the unlimited-capacity hit ratio.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/replay.h"

namespace tw::sim {

struct PlanOptions {
  std::vector<std::string> policies = SimPolicyNames();
  // Capacities of the curve, as fractions of the trace's unique blocks.
  std::vector<double> fractions = {0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.50, 1.0};
  std::string sizing_policy = "chain-reuse";  // the policy the sizes are computed for
  double target_share = 0.9;        // of the unlimited hit ratio, with DRAM and disk together
  double dram_target_share = 0.5;   // of the unlimited hit ratio, from DRAM alone (the hot set)
  uint64_t dram_blocks = 0;         // if non-zero, DRAM is fixed at this and disk makes up the rest
  // Block size, bytes and cost model; `tiers` and `policy` are filled in by the planner.
  SimOptions base;
  double dram_bytes_per_s = 55e9;
  double disk_bytes_per_s = 1.5e9;
  // (replays done, replays planned), for a progress bar. May be empty.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct CurvePoint {
  double fraction = 0;
  uint64_t capacity_blocks = 0;
  double hit_ratio = 0;
  uint64_t hit_tokens = 0;         // prompt tokens served from the cache (not prefilled)
  double gpu_seconds_saved = 0;    // by the cost model's prefill curve (sim/savings.h prices them)
};

struct PolicyCurve {
  std::string policy;
  std::vector<CurvePoint> points;
};

struct PlanResult {
  std::vector<PolicyCurve> curves;
  double unlimited_hit_ratio = 0;
  uint64_t unique_blocks = 0;
  std::string sizing_policy;
  double target_hit_ratio = 0;
  uint64_t dram_blocks = 0;
  uint64_t disk_blocks = 0;
  SimResult sized;  // a replay of the recommended DRAM + disk configuration
};

// Smallest capacity (blocks) at which `policy` reaches `hit_ratio` with one tier, found by bisection
// to within 0.5% of the unique blocks (hit ratio is treated as non-decreasing in capacity).
Result<uint64_t> CapacityForHitRatio(const Trace& trace, const SimOptions& base, const std::string& policy,
                                     double hit_ratio);

Result<PlanResult> Plan(const Trace& trace, const PlanOptions& options);

}  // namespace tw::sim
