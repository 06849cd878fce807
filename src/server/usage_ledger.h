// Usage accounting per namespace, summed per tenant: what a prompt-caching product bills.
//
//   write tokens   blocks newly stored (PUT, COMMIT), times block_tokens: cache writes
//   hit tokens     blocks a LOOKUP matched, by the tier that held each: cache reads
//   miss tokens    blocks a LOOKUP asked for past the matched prefix: to be prefilled
//   read tokens    blocks served by GET / ACQUIRE (the bytes actually moved)
//
// Tokens are blocks times the namespace's block_tokens, so they are exact for full blocks (only
// full blocks are stored). Counters are relaxed atomics bumped by the request handlers; a
// namespace's counters live as long as the daemon (re-registering keeps them). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tw/store.h"

namespace tw::server {

// A copy of one namespace's (or a tenant's summed) counters.
struct UsageTotals {
  uint64_t write_tokens = 0;
  uint64_t hit_tokens = 0;  // sum of hit_tokens_by_tier
  std::array<uint64_t, 4> hit_tokens_by_tier{};  // indexed by Tier (kNone unused)
  uint64_t miss_tokens = 0;
  uint64_t read_tokens = 0;
  // Derived, not counted: hit tokens over the model's prefill rate (EconomicsConfig), the GPU time
  // the engines did not spend; 0 where no rate is configured. Filled by ServerCore, summed by +=.
  double gpu_seconds_saved = 0;
  UsageTotals& operator+=(const UsageTotals& o);
};

class NamespaceUsage {
 public:
  explicit NamespaceUsage(uint32_t block_tokens) : block_tokens_(block_tokens) {}

  void Wrote(uint64_t blocks) { Add(write_, blocks); }
  // A LOOKUP of `asked` keys that matched tiers.size() of them, tiers[i] holding key i.
  void Looked(size_t asked, std::span<const Tier> tiers);
  void Read(uint64_t blocks) { Add(read_, blocks); }
  // Adds counts saved before a restart (usage_file.h); gpu_seconds_saved is ignored (derived).
  void Seed(const UsageTotals& saved);

  UsageTotals Totals() const;

 private:
  void Add(std::atomic<uint64_t>& c, uint64_t blocks) { c.fetch_add(blocks * block_tokens_, std::memory_order_relaxed); }

  const uint32_t block_tokens_;
  std::atomic<uint64_t> write_{0};
  std::array<std::atomic<uint64_t>, 4> hit_{};
  std::atomic<uint64_t> miss_{0};
  std::atomic<uint64_t> read_{0};
};

// Prometheus text: tw_tenant_{write,miss,read}_tokens_total{tenant=..},
// tw_tenant_hit_tokens_total{tenant,tier} and tw_tenant_gpu_seconds_saved_total{tenant}. `per_tenant` is sorted by tenant; its size is bounded by
// the configured tenants (plus the anonymous one), so the labels are too.
std::string RenderUsagePrometheus(const std::vector<std::pair<std::string, UsageTotals>>& per_tenant);

}  // namespace tw::server
