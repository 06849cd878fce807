// The embedded store: the whole warehouse in-process, no daemon. Also what the daemon runs inside.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "tw/result.h"
#include "tw/store.h"

namespace tw {

class Clock;  // src/common/clock.h; tests inject a manual clock

// Which eviction policy orders the DRAM tier. See docs/design.md for how each behaves.
enum class EvictionPolicyKind : uint8_t {
  kLru = 1,
  kPrefixAware = 2,  // LRU over chain leaves: a child always goes before its parent
  kS3Fifo = 3,       // S3-FIFO: a small probation FIFO filters blocks read once
  kChainHitDensity = 4,  // learned hits per slot-time by class and age, chain-aware (the default)
};

struct EmbeddedStoreOptions {
  // DRAM tier: one arena of this many bytes, reserved and pre-faulted at open.
  uint64_t dram_capacity_bytes = 1ull << 30;
  // The arena's allocation unit. An object occupies ceil(size / page_bytes) pages; no external
  // fragmentation is possible. Smaller pages waste less on small objects.
  uint64_t page_bytes = 2ull << 20;
  // Back the arena with 2 MiB huge pages if the kernel has them reserved; falls back silently.
  bool huge_pages = false;
  // Back the arena with a memfd so it can be shared with local clients (the daemon sets this).
  bool shareable_arena = false;
  // Pre-fault the arena at open (MAP_POPULATE); without it the first touch of each page faults.
  bool prefault = true;
  EvictionPolicyKind eviction = EvictionPolicyKind::kChainHitDensity;
  // Per-tenant byte quotas over all tiers' DRAM use; a tenant not listed is unlimited.
  std::map<std::string, uint64_t> tenant_quota_bytes;
  // Time source for TTLs and leases; nullptr means the steady clock. Not owned.
  Clock* clock = nullptr;
};

// The DRAM arena, for the GPU path to register as pinned memory or the daemon to share.
struct ArenaInfo {
  void* base = nullptr;
  uint64_t size_bytes = 0;
  uint64_t page_bytes = 0;
  int memfd = -1;  // >= 0 when shareable_arena was set
};

class EmbeddedStore : public Store {
 public:
  // kInvalidArgument for zero or inconsistent sizes; kResourceExhausted if the arena cannot be mapped.
  static Result<std::unique_ptr<EmbeddedStore>> Open(const EmbeddedStoreOptions& options);

  virtual ArenaInfo arena() const = 0;

  // Calls `fn` with the namespace and key of every visible object, until it returns false. A scan
  // for background work (cluster re-replication), not a snapshot: objects stored or evicted while
  // it runs may or may not be seen. Never blocks other calls for more than one index shard; `fn`
  // runs with no lock held and may call back into the store.
  using ObjectVisitor =
      std::function<bool(const Namespace& nspace, const NamespaceOptions& options, const BlockKey& key)>;
  virtual void ForEachObject(const ObjectVisitor& fn) = 0;
};

}  // namespace tw
