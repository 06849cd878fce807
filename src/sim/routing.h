// The multi-engine simulation behind `tokenwarehouse simulate --engines N`: a trace replayed
// through N engines, each with a GPU prefix cache of its own, and one warehouse (DRAM, then disk)
// per node shared by that node's engines, optionally reading the other nodes' warehouses (peer),
// under one routing policy (sim/router_policy.h).
//
// A request arrives at its timestamp (divided by arrival_speedup) and is routed. The engine it
// gets serves requests one at a time, in order: it waits for its queue, loads its longest cached
// prefix (GPU blocks free, warehouse blocks at their tier's rate), and prefills the rest (the cost
// model's curve). TTFT = wait + load + prefill. Decode is not modelled: an upper bound on how well a
// prefill-bound fleet can do with each policy, and the same for all policies.
//
// After the prefill the request's blocks are in its engine's GPU cache and in its node's warehouse
// DRAM (write-through, as the vLLM connector stores them); a warehouse hit from disk or a peer is
// promoted to the node's DRAM; DRAM evicts to disk, disk drops. Every cache is LRU (sim/block_lru.h).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "sim/router_policy.h"
#include "sim/trace.h"
#include "tw/result.h"

namespace tw::sim {

struct RoutingOptions {
  uint32_t engines = 4;
  uint32_t engines_per_node = 4;  // engines that share one warehouse; nodes = ceil(engines / this)
  uint64_t gpu_blocks = 0;        // each engine's GPU prefix cache; may be 0
  uint64_t dram_blocks = 0;       // each node's warehouse DRAM; 0: no warehouse at all
  uint64_t disk_blocks = 0;       // each node's warehouse disk; 0: none
  bool cluster = false;           // a node reads other nodes' warehouses at costs.peer_bytes_per_s
  RouteCosts costs;
  double arrival_speedup = 1;     // > 1 compresses the trace's time: more load on the same fleet
  std::function<void(uint64_t, uint64_t)> progress;  // (requests done, total); may be empty
};

struct RoutingResult {
  RoutingPolicy policy = RoutingPolicy::kRoundRobin;
  uint64_t requests = 0;
  uint64_t prompt_tokens = 0;
  // Prompt tokens by where they came from; they sum to prompt_tokens.
  uint64_t gpu_hit_tokens = 0, dram_hit_tokens = 0, disk_hit_tokens = 0, peer_hit_tokens = 0, computed_tokens = 0;
  double ttft_mean_s = 0, ttft_p50_s = 0, ttft_p90_s = 0, ttft_p99_s = 0;
  double queue_mean_s = 0;
  // Busy seconds of the busiest engine over the mean of all engines (1: perfectly even).
  double load_imbalance = 0;
  std::vector<double> engine_busy_s;
  std::vector<double> ttft_sorted_s;  // every request's TTFT, ascending (for a CDF)
};

// kInvalidArgument for zero engines or engines_per_node, or arrival_speedup <= 0.
Result<RoutingResult> SimulateRouting(const Trace& trace, const RoutingOptions& options, RoutingPolicy policy);

}  // namespace tw::sim
