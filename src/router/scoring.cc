#include "router/scoring.h"

#include <algorithm>

#include "common/check.h"

namespace tw::router {

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kGpuPrefix: return "gpu-prefix";
    case Reason::kWarehousePrefix: return "warehouse-prefix";
    case Reason::kLoad: return "load";
    case Reason::kRoundRobin: return "round-robin";
    case Reason::kOnlyEngine: return "only-engine";
  }
  return "?";
}

sim::EngineView ViewOf(const Candidate& c, const ScoringCosts& costs) {
  const WarehouseHit& w = c.warehouse;
  sim::EngineView v;
  v.queue_s = c.load_requests * costs.queued_request_s;
  v.gpu_blocks = c.gpu_prefix_tokens;
  if (!w.up) return v;
  for (size_t i = 0; i < w.tiers.size(); ++i) {
    // Tokens of stored block i that the GPU does not already hold.
    const uint64_t begin = std::max<uint64_t>(uint64_t{i} * w.block_tokens, c.gpu_prefix_tokens);
    const uint64_t end = uint64_t{i + 1} * w.block_tokens;
    if (end <= begin) continue;
    const auto n = static_cast<uint32_t>(end - begin);
    switch (w.tiers[i]) {
      case Tier::kDram: v.dram_blocks += n; break;
      case Tier::kDisk: v.disk_blocks += n; break;
      case Tier::kPeer: v.peer_blocks += n; break;
      case Tier::kNone: break;
    }
  }
  return v;
}

Choice Choose(sim::RoutingPolicy policy, std::span<const Candidate> candidates, uint32_t prompt_tokens,
              const ScoringCosts& costs, uint64_t* turn) {
  TW_CHECK(!candidates.empty());
  TW_CHECK(costs.route.block_tokens == 1);
  std::vector<sim::EngineView> views;
  views.reserve(candidates.size());
  for (const Candidate& c : candidates) views.push_back(ViewOf(c, costs));
  const size_t best = sim::Route(policy, views, prompt_tokens, costs.route, turn);

  Choice out;
  out.engine = candidates[best].engine;
  out.view = views[best];
  const bool sees_gpu = policy == sim::RoutingPolicy::kGpuPrefix || policy == sim::RoutingPolicy::kWarehouseAware;
  const bool sees_warehouse = policy == sim::RoutingPolicy::kWarehouseAware;
  out.estimate_s = sim::EstimateTtft(views[best], prompt_tokens, costs.route, sees_warehouse);
  // What the prefix costs an engine, its queue aside: loading what it would hit, prefilling the rest.
  auto prefix_s = [&](sim::EngineView v) {
    v.queue_s = 0;
    return sim::EstimateTtft(v, prompt_tokens, costs.route, /*see_warehouse=*/true);
  };
  bool more_gpu = false, cheaper_prefix = false, less_load = false;
  for (size_t i = 0; i < views.size(); ++i) {
    if (i == best) continue;
    more_gpu |= views[best].gpu_blocks > views[i].gpu_blocks;
    cheaper_prefix |= prefix_s(views[best]) < prefix_s(views[i]);
    less_load |= views[best].queue_s < views[i].queue_s;
  }
  if (views.size() == 1) out.reason = Reason::kOnlyEngine;
  else if (sees_gpu && more_gpu) out.reason = Reason::kGpuPrefix;
  else if (sees_warehouse && cheaper_prefix) out.reason = Reason::kWarehousePrefix;
  else if (policy != sim::RoutingPolicy::kRoundRobin && less_load) out.reason = Reason::kLoad;
  else out.reason = Reason::kRoundRobin;
  return out;
}

}  // namespace tw::router
