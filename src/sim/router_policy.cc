#include "sim/router_policy.h"

#include <algorithm>

namespace tw::sim {

std::vector<RoutingPolicy> AllRoutingPolicies() {
  return {RoutingPolicy::kRoundRobin, RoutingPolicy::kLeastLoaded, RoutingPolicy::kGpuPrefix, RoutingPolicy::kWarehouseAware};
}

std::string_view RoutingPolicyName(RoutingPolicy p) {
  switch (p) {
    case RoutingPolicy::kRoundRobin: return "round-robin";
    case RoutingPolicy::kLeastLoaded: return "least-loaded";
    case RoutingPolicy::kGpuPrefix: return "gpu-prefix";
    case RoutingPolicy::kWarehouseAware: return "warehouse-aware";
  }
  return "?";
}

Result<RoutingPolicy> ParseRoutingPolicy(std::string_view name) {
  for (RoutingPolicy p : AllRoutingPolicies()) {
    if (RoutingPolicyName(p) == name) return p;
  }
  return Status::InvalidArgument("unknown routing policy '" + std::string(name) +
                                 "' (round-robin, least-loaded, gpu-prefix, warehouse-aware)");
}

double LoadSeconds(uint32_t blocks, double bytes_per_s, uint64_t object_bytes) {
  return bytes_per_s > 0 ? static_cast<double>(blocks) * static_cast<double>(object_bytes) / bytes_per_s : 0;
}

double EstimateTtft(const EngineView& v, double prompt_tokens, const RouteCosts& c, bool see_warehouse) {
  uint32_t hit_blocks = v.gpu_blocks;
  double load_s = 0;
  if (see_warehouse) {
    // A tier without a rate cannot be loaded from: the prefix a router may count stops there.
    hit_blocks += v.dram_blocks + v.disk_blocks;
    load_s += LoadSeconds(v.dram_blocks, c.cost.dram_bytes_per_s, c.object_bytes) +
              LoadSeconds(v.disk_blocks, c.cost.disk_bytes_per_s, c.object_bytes);
    if (c.peer_bytes_per_s > 0) {
      hit_blocks += v.peer_blocks;
      load_s += LoadSeconds(v.peer_blocks, c.peer_bytes_per_s, c.object_bytes);
    }
  }
  const double hit_tokens = std::min(prompt_tokens, static_cast<double>(hit_blocks) * c.block_tokens);
  const double compute_s = c.cost.prefill.Seconds(prompt_tokens) - c.cost.prefill.Seconds(hit_tokens);
  return v.queue_s + load_s + compute_s;
}

size_t Route(RoutingPolicy policy, std::span<const EngineView> views, double prompt_tokens, const RouteCosts& c,
             uint64_t* turn) {
  const size_t n = views.size();
  // Every policy starts from the round-robin cursor, and only a strictly better engine displaces
  // the one it holds: ties rotate instead of piling onto engine 0 (an idle fleet is all ties).
  const size_t first = static_cast<size_t>((*turn)++ % n);
  if (policy == RoutingPolicy::kRoundRobin) return first;
  auto score = [&](const EngineView& v) {
    if (policy == RoutingPolicy::kLeastLoaded) return v.queue_s;
    return EstimateTtft(v, prompt_tokens, c, policy == RoutingPolicy::kWarehouseAware);
  };
  size_t best = first;
  double best_s = score(views[first]);
  for (size_t k = 1; k < n; ++k) {
    const size_t i = (first + k) % n;
    const double s = score(views[i]);
    if (s < best_s) {
      best_s = s;
      best = i;
    }
  }
  return best;
}

}  // namespace tw::sim
