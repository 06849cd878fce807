// DramTier: the first tier. Objects live in a pre-faulted arena carved into fixed pages.
//
// Policy:
//  - Admission: every Put is admitted (the caller asked for it; DRAM is where new KV is hot).
//  - Eviction: when pages run out, expired objects (misses already) go first, soonest deadline
//    first; then the configured EvictionPolicy (chain-reuse by default) picks victims among
//    objects that no lease pins. When nothing is evictable, allocation fails with kResourceExhausted: it never blocks and
//    never evicts a pinned object.
//  - Demotion: each evicted object is offered to `on_evict` (the disk tier's write-behind queue)
//    before its pages are released.
//  - Quotas: a tenant over its byte quota evicts its own objects first; if it cannot, it is refused.
//  - Only copies: while the slower tier does not admit, objects it also holds are evicted before
//    objects that live nowhere else (DramTierOptions::prefer_kept_elsewhere).
//  - Retention: an expired object is a miss at once (Find, Contains) and the first to go when
//    room is needed; a sliding retention's hit moves its deadline later (Renew), never earlier.
//  - Durability: none; DRAM is lost on exit.
//
// Concurrency: the index is sharded (one mutex per shard) so lookups from many threads do not
// contend; inserts, evictions and recency updates serialise on `mu_`. Lock order: mu_ -> shard.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "store/eviction/policy.h"
#include "store/lease_table.h"
#include "store/tier/dram_memory.h"
#include "store/tier/dram_object.h"
#include "tw/policy.h"
#include "tw/result.h"
#include "store/tier/tier_counters.h"
#include "tw/store.h"

namespace tw {

struct DramTierOptions {
  uint64_t capacity_bytes = 0;
  uint64_t page_bytes = 2ull << 20;
  bool huge_pages = false;
  bool shareable = false;
  bool prefault = true;
  EvictionPolicyKind policy = EvictionPolicyKind::kChainReuse;
  const Clock* clock = nullptr;  // nullptr: steady clock
  // Called, outside every lock, with each object evicted to make room (not with removed ones).
  std::function<void(const std::shared_ptr<DramObject>&)> on_evict;
  // When `prefer_kept_elsewhere()` is true (the slower tier stopped admitting, so evicting a
  // DRAM-only object loses it), victims are first sought among objects `kept_elsewhere` says also
  // live in a slower tier (evicting those loses nothing). Called under mu_; must not call back.
  std::function<bool()> prefer_kept_elsewhere;
  std::function<bool(const DramObject&)> kept_elsewhere;
};

class DramTier {
 public:
  static Result<std::unique_ptr<DramTier>> Open(const DramTierOptions& options);
  ~DramTier();

  // What an allocation is for: sizes it, charges its tenant, and names the parent that must survive
  // (evicting it to make room would make the new object an orphan that no Lookup can reach).
  struct Request {
    uint64_t size_bytes = 0;
    uint32_t tenant = 0;
    uint64_t tenant_quota_bytes = UINT64_MAX;
    NamespaceId ns;
    BlockKey parent;
  };
  // Reserves pages for an object, evicting as needed. The object is not visible until Publish.
  // kInvalidArgument if it can never fit; kResourceExhausted if nothing evictable is left or the
  // tenant's quota cannot be met.
  Result<std::shared_ptr<DramObject>> Allocate(const Request& request);
  // Makes a filled object visible. Returns false (and discards `obj`) if the key is already present.
  bool Publish(std::shared_ptr<DramObject> obj);
  // Gives back a reserved object that will never be published (an aborted write).
  void Abandon(const std::shared_ptr<DramObject>& obj);

  // The visible, unexpired object, or nullptr. `record_access` feeds the eviction policy (a hit).
  std::shared_ptr<DramObject> Find(const NamespaceId& ns, const BlockKey& key, bool record_access);
  bool Contains(const NamespaceId& ns, const BlockKey& key, uint64_t now_ms);
  // A sliding retention's hit: moves the unexpired object's deadline to `expires_at_ms` if that is
  // later. Lock-free (one atomic); the expiry heap catches up lazily at eviction. Returns the
  // deadline it holds now (0: never), or nullopt if the object is absent or already expired.
  std::optional<uint64_t> Renew(const NamespaceId& ns, const BlockKey& key, uint64_t expires_at_ms);
  // The (namespace, key) of every visible object, one shard at a time (each shard's lock held only
  // while copying its keys out); stops when `fn` returns false. `fn` runs with no lock held.
  void ForEachKey(const std::function<bool(const NamespaceId&, const BlockKey&)>& fn);
  // Hides and releases the object. false if it was not present.
  bool Erase(const NamespaceId& ns, const BlockKey& key);

  LeaseTable& leases() { return leases_; }
  DramMemory& memory() { return *memory_; }
  const Clock& clock() const { return *clock_; }
  std::string_view policy_name() const;
  uint64_t capacity_bytes() const { return memory_->arena().size_bytes(); }
  uint64_t tenant_bytes(uint32_t tenant) const;
  TierStats Stats() const;

  // Counters the store bumps for reads it serves from this tier.
  void CountRead(uint64_t bytes) {
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
    counters_.bytes_read.fetch_add(bytes, std::memory_order_relaxed);
  }

 private:
  struct IndexKey {
    NamespaceId ns;
    BlockKey key;
    bool operator==(const IndexKey&) const = default;
  };
  struct IndexKeyHash {
    size_t operator()(const IndexKey& k) const { return k.key.Prefix64() ^ (k.ns.Prefix64() * 0x9E3779B97F4A7C15ull); }
  };
  static constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<IndexKey, std::shared_ptr<DramObject>, IndexKeyHash> map;
  };

  DramTier(const DramTierOptions& options, std::shared_ptr<DramMemory> memory);
  Shard& ShardOf(const IndexKey& k) { return shards_[IndexKeyHash()(k) % kShards]; }
  // The indexed object, expired or not, or nullptr. Takes its shard's lock only.
  std::shared_ptr<DramObject> Indexed(const NamespaceId& ns, const BlockKey& key);
  static bool Expired(const DramObject& obj, uint64_t now_ms) {
    const uint64_t deadline = obj.expires_at_ms.load(std::memory_order_relaxed);
    return deadline && now_ms >= deadline;
  }
  // Evicts one object for which `extra` holds (and no lease pins). Appends it to *evicted.
  bool PreferKeptElsewhere() const {
    return options_.prefer_kept_elsewhere && options_.kept_elsewhere && options_.prefer_kept_elsewhere();
  }
  bool EvictOneLocked(const std::function<bool(const DramObject&)>& extra,
                      std::vector<std::shared_ptr<DramObject>>* evicted);
  // Hides `obj`: index, policy, slot, tenant accounting. Requires mu_.
  void UnlinkLocked(const std::shared_ptr<DramObject>& obj);
  void Demote(std::vector<std::shared_ptr<DramObject>>* evicted);

  const DramTierOptions options_;
  const Clock* clock_;
  std::shared_ptr<DramMemory> memory_;
  LeaseTable leases_;
  std::array<Shard, kShards> shards_;

  mutable std::mutex mu_;  // guards everything below, the policy and DramObject::slot
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<std::shared_ptr<DramObject>> slots_;  // entry id -> visible object
  std::vector<EntryId> free_slots_;
  std::unordered_map<uint32_t, uint64_t> tenant_bytes_;
  // Objects with a TTL by deadline, soonest first, so expired objects are evicted before any live
  // one. Entries go stale when their object leaves; they are skipped lazily (slot no longer holds it).
  // A renewed (sliding) object's entry is early: met at the top, it is pushed again with the
  // object's current deadline, so a renewal never takes mu_.
  using Deadline = std::tuple<uint64_t, EntryId, const DramObject*>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines_;

  TierCounters counters_;
};

}  // namespace tw
