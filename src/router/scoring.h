// Scoring: which engine a request goes to, by the simulator's own policy (sim/router_policy.h), so
// that what `tokenwarehouse simulate --engines N` measured (bench/results/routing_sim_2026-12-07.md)
// is what `tokenwarehouse route` does. This file only turns what the router observes into the
// policy's EngineView and names the reason of the choice.
//
// Units: the policy counts hits in blocks of RouteCosts::block_tokens. The router's hits come in two
// block sizes (vLLM's pages on the GPU, the warehouse's blocks), so here a "block" is one token:
// block_tokens = 1 and object_bytes = KV bytes of one token. Queue: the policy wants seconds of work
// ahead of the request; the router knows requests (running + waiting), each counted as
// queued_request_s seconds (an operator's estimate of the fleet's mean service time).
//
// The view of engine e: gpu = its GPU prefix; the warehouse's stored prefix beyond that, split by
// the tier of each stored block (dram, disk, peer): the tokens a connector would load rather than
// recompute.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sim/router_policy.h"
#include "tw/store.h"

namespace tw::router {

// The answer of an engine's warehouse for this request (the same for every engine of one node).
struct WarehouseHit {
  bool up = false;               // false: not asked or away; the warehouse then counts nothing
  uint32_t block_tokens = 0;
  std::vector<Tier> tiers;       // one per matched block

  uint64_t tokens() const { return up ? uint64_t{tiers.size()} * block_tokens : 0; }
};

struct Candidate {
  size_t engine = 0;             // the caller's index; returned in Choice
  double load_requests = 0;      // running + waiting
  uint32_t gpu_prefix_tokens = 0;
  WarehouseHit warehouse;        // its node's warehouse
};

struct ScoringCosts {
  sim::RouteCosts route;         // block_tokens must be 1, object_bytes the KV bytes of a token
  double queued_request_s = 0.5;
};

enum class Reason : uint8_t { kGpuPrefix, kWarehousePrefix, kLoad, kRoundRobin, kOnlyEngine };
inline constexpr size_t kReasonCount = 5;
// "gpu-prefix", "warehouse-prefix", "load", "round-robin", "only-engine".
std::string_view ReasonName(Reason r);

struct Choice {
  size_t engine = 0;             // Candidate::engine of the winner
  Reason reason = Reason::kRoundRobin;
  sim::EngineView view;          // the winner's view, in tokens
  double estimate_s = 0;         // its estimated TTFT (sim::EstimateTtft, as the policy saw it)
};

sim::EngineView ViewOf(const Candidate& c, const ScoringCosts& costs);

// The reason names what set the winner apart from the others, in this order: it holds more GPU prefix
// than some other candidate; its warehouse prefix costs less to load and complete than another's
// (longer, or in a faster tier); less load; none (a tie the round-robin cursor broke); only-engine
// when there was no other candidate. A policy that does not look at a property
// is not credited with it. candidates must not be
// empty; `turn` is the policy's round-robin cursor.
Choice Choose(sim::RoutingPolicy policy, std::span<const Candidate> candidates, uint32_t prompt_tokens,
              const ScoringCosts& costs, uint64_t* turn);

}  // namespace tw::router
