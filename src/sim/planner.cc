#include "sim/planner.h"

#include <algorithm>
#include <cmath>

namespace tw::sim {
namespace {

Result<SimResult> ReplayAt(const Trace& trace, const SimOptions& base, const std::string& policy, uint64_t blocks) {
  SimOptions o = base;
  o.policy = policy;
  o.progress = nullptr;
  o.tiers = {{"dram", std::max<uint64_t>(blocks, 1), 0}};
  return Simulate(trace, o);
}

Result<double> HitRatioAt(const Trace& trace, const SimOptions& base, const std::string& policy, uint64_t blocks) {
  TW_ASSIGN_OR_RETURN(SimResult r, ReplayAt(trace, base, policy, blocks));
  return r.hit_ratio;
}

}  // namespace

Result<uint64_t> CapacityForHitRatio(const Trace& trace, const SimOptions& base, const std::string& policy,
                                     double hit_ratio) {
  uint64_t lo = 1, hi = std::max<uint64_t>(trace.unique_blocks, 1);
  uint64_t tolerance = std::max<uint64_t>(1, trace.unique_blocks / 200);
  while (hi - lo > tolerance) {
    uint64_t mid = lo + (hi - lo) / 2;
    TW_ASSIGN_OR_RETURN(double h, HitRatioAt(trace, base, policy, mid));
    if (h >= hit_ratio) hi = mid; else lo = mid;
  }
  return hi;
}

Result<PlanResult> Plan(const Trace& trace, const PlanOptions& options) {
  if (trace.unique_blocks == 0) return Status::InvalidArgument("the trace has no blocks");
  if (!(options.target_share > 0 && options.target_share <= 1) ||
      !(options.dram_target_share > 0 && options.dram_target_share <= options.target_share)) {
    return Status::InvalidArgument("targets must satisfy 0 < dram target <= target <= 1");
  }
  PlanResult plan;
  plan.unique_blocks = trace.unique_blocks;
  plan.sizing_policy = options.sizing_policy;
  uint64_t total = options.policies.size() * options.fractions.size() + 1, done = 0;
  auto tick = [&] { if (options.progress) options.progress(++done, total); };

  TW_ASSIGN_OR_RETURN(plan.unlimited_hit_ratio, HitRatioAt(trace, options.base, "lru", trace.unique_blocks));
  tick();
  for (const std::string& policy : options.policies) {
    PolicyCurve curve;
    curve.policy = policy;
    for (double f : options.fractions) {
      uint64_t blocks = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(f * trace.unique_blocks)));
      TW_ASSIGN_OR_RETURN(SimResult r, ReplayAt(trace, options.base, policy, blocks));
      curve.points.push_back({f, blocks, r.hit_ratio, r.prefill_tokens_avoided, r.gpu_seconds_saved});
      tick();
    }
    plan.curves.push_back(std::move(curve));
  }

  plan.target_hit_ratio = options.target_share * plan.unlimited_hit_ratio;
  TW_ASSIGN_OR_RETURN(uint64_t needed, CapacityForHitRatio(trace, options.base, options.sizing_policy,
                                                           plan.target_hit_ratio));
  if (options.dram_blocks > 0) {
    plan.dram_blocks = std::min(options.dram_blocks, needed);
  } else {
    TW_ASSIGN_OR_RETURN(plan.dram_blocks,
                        CapacityForHitRatio(trace, options.base, options.sizing_policy,
                                            options.dram_target_share * plan.unlimited_hit_ratio));
    plan.dram_blocks = std::min(plan.dram_blocks, needed);
  }
  plan.disk_blocks = needed - plan.dram_blocks;

  SimOptions o = options.base;
  o.policy = options.sizing_policy;
  o.progress = nullptr;
  o.tiers = {{"dram", plan.dram_blocks, options.dram_bytes_per_s}};
  if (plan.disk_blocks > 0) o.tiers.push_back({"disk", plan.disk_blocks, options.disk_bytes_per_s});
  TW_ASSIGN_OR_RETURN(plan.sized, Simulate(trace, o));
  return plan;
}

}  // namespace tw::sim
