// Routing policies for the multi-engine simulation (sim/routing.h): which engine gets a request.
//
// Every policy sees, for each engine, how long its queue is (seconds of work already accepted) and
// how much of the request's prefix it would hit, split by where the hit lies: the engine's own GPU
// cache, its node's warehouse DRAM or disk, or another node's warehouse (peer). They differ in what
// they look at:
//   round-robin      nothing: engines in turn
//   least-loaded     the queue only
//   gpu-prefix       the queue and GPU hits only, as llm-d's precise prefix-cache scorer and
//                    Dynamo's KV router see a fleet (engines publish GPU events; storage tiers don't)
//   warehouse-aware  the queue and every tier, each hit costed at its tier's load rate (ours)
// The two prefix policies pick the engine with the lowest estimated TTFT: queue + load of the hits
// they can see + prefill of the rest (the cost model's curve). The estimate is the scorer; the
// simulation then charges what the engine really hits, whatever the router saw.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/cost_model.h"
#include "tw/result.h"

namespace tw::sim {

enum class RoutingPolicy : uint8_t { kRoundRobin, kLeastLoaded, kGpuPrefix, kWarehouseAware };

std::vector<RoutingPolicy> AllRoutingPolicies();
std::string_view RoutingPolicyName(RoutingPolicy p);
// "round-robin", "least-loaded", "gpu-prefix", "warehouse-aware"; kInvalidArgument otherwise.
Result<RoutingPolicy> ParseRoutingPolicy(std::string_view name);

// What a router knows of one engine for one request. Hit counts are blocks of the request's
// longest cached prefix, by the tier each block would come from (GPU first, then the warehouse).
struct EngineView {
  double queue_s = 0;
  uint32_t gpu_blocks = 0;
  uint32_t dram_blocks = 0;
  uint32_t disk_blocks = 0;
  uint32_t peer_blocks = 0;
};

struct RouteCosts {
  CostModel cost;               // prefill curve, dram and disk load rates
  double peer_bytes_per_s = 0;  // another node's warehouse over the network (0: counts as a miss)
  uint64_t object_bytes = 0;    // KV bytes of one block
  uint32_t block_tokens = 512;
};

// Seconds to load `blocks` of a tier at `bytes_per_s` (0 when the rate is 0: that tier is not used).
double LoadSeconds(uint32_t blocks, double bytes_per_s, uint64_t object_bytes);

// queue + load of the hits + prefill of the rest, counting warehouse tiers only if `see_warehouse`.
double EstimateTtft(const EngineView& v, double prompt_tokens, const RouteCosts& c, bool see_warehouse);

// The engine for a request of `prompt_tokens`. `turn` is the round-robin cursor, advanced by every
// call: round-robin takes it, the other policies break ties from it (so an idle fleet still
// spreads). views must not be empty.
size_t Route(RoutingPolicy policy, std::span<const EngineView> views, double prompt_tokens, const RouteCosts& c,
             uint64_t* turn);

}  // namespace tw::sim
