// The replay engine behind `tokenwarehouse simulate` and `plan`.
//
// Requests are replayed in timestamp order. A request's hits are its leading blocks that are resident
// in any tier, up to the first miss; then every block of the request is stored: a resident block is
// read (OnAccess), a missing one is admitted to the first tier. Blocks of the request being replayed
// are pinned, as a store pins blocks while a load or put runs, so a request never evicts itself.
//
// Tiers are exclusive and ordered fastest first. A block evicted from tier i is demoted to tier i+1
// (written there); one evicted from the last tier is gone. A hit in a lower tier is read from there
// and promoted to the first tier. Each tier is ordered by its own instance of the real eviction
// policy (src/store/eviction), given dense entry ids and chain parents exactly as the DRAM tier does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/cost_model.h"
#include "sim/trace.h"
#include "store/eviction/policy.h"
#include "tw/result.h"

namespace tw::sim {

// "lru", "s3fifo", "prefix-aware", "chain-hd", "chain-reuse" (the default policy of the store) and "belady"
// (offline optimum, needs the trace's future). "default" names the store's default.
std::vector<std::string> SimPolicyNames();
std::string DefaultPolicyName();
Result<std::unique_ptr<EvictionPolicy>> MakeSimPolicy(std::string_view name, uint32_t max_entries);

struct TierSpec {
  std::string name;          // "dram", "disk"
  uint64_t capacity_blocks = 0;
  double read_bytes_per_s = 0;  // bandwidth of a hit from this tier into the GPU
};

struct SimOptions {
  std::string policy = "chain-reuse";
  std::vector<TierSpec> tiers;  // fastest first; at least one
  uint32_t block_tokens = 512;
  uint64_t object_bytes = 0;    // KV bytes of one block; 0 leaves bytes and load times at zero
  CostModel cost;
  // Pin every block of the request being replayed (a store serving it holds them). When false, only
  // the parent of the block being admitted is protected: exactly what DramTier::Allocate does when
  // driven without leases, which the agreement test relies on.
  bool pin_request_blocks = true;
  // Called now and then with (requests replayed, total), for a progress bar. May be empty.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct TierStats {
  std::string name;
  uint64_t capacity_blocks = 0;
  uint64_t hit_blocks = 0;       // prefix hits served from this tier
  uint64_t bytes_read = 0;       // hit bytes read from this tier
  uint64_t bytes_written = 0;    // admissions, demotions and promotions into this tier
  uint64_t admissions = 0;
  uint64_t evictions = 0;        // left for lack of room (demoted or dropped)
};

struct SimResult {
  std::string policy;
  uint64_t capacity_blocks = 0;  // all tiers together
  uint64_t requests = 0;
  uint64_t block_accesses = 0;
  uint64_t unique_blocks = 0;
  uint64_t hit_blocks = 0;
  double hit_ratio = 0;          // hit_blocks / block_accesses
  std::vector<TierStats> tiers;
  uint64_t prompt_tokens = 0;
  uint64_t prefill_tokens_avoided = 0;
  double gpu_seconds_without_cache = 0;
  double gpu_seconds_saved = 0;
  double ttft_mean_s = 0, ttft_p90_s = 0;                  // with the warehouse
  double ttft_mean_no_cache_s = 0, ttft_p90_no_cache_s = 0;  // recomputing every prompt
};

// kInvalidArgument for an unknown policy, no tiers, or a tier of zero blocks.
Result<SimResult> Simulate(const Trace& trace, const SimOptions& options);

}  // namespace tw::sim
