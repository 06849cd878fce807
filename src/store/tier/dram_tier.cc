#include "store/tier/dram_tier.h"

#include "common/check.h"
#include "common/logging.h"

namespace tw {

DramObject::DramObject(std::shared_ptr<DramMemory> mem, std::vector<PageIndex> p)
    : memory(std::move(mem)), pages(std::move(p)) {}

DramObject::~DramObject() { memory->allocator().Free(pages); }

Result<std::unique_ptr<DramTier>> DramTier::Open(const DramTierOptions& options) {
  if (options.page_bytes == 0 || options.page_bytes % 4096 != 0) {
    return Status::InvalidArgument("page_bytes must be a non-zero multiple of 4096");
  }
  if (options.capacity_bytes < options.page_bytes) {
    return Status::InvalidArgument("DRAM capacity must hold at least one page");
  }
  const uint64_t pages = options.capacity_bytes / options.page_bytes;
  if (pages >= kNoEntry) return Status::InvalidArgument("too many pages: raise page_bytes");
  if (!NewEvictionPolicy(options.policy, 1)) return Status::InvalidArgument("unknown eviction policy");
  ArenaOptions arena_options;
  arena_options.size_bytes = pages * options.page_bytes;
  arena_options.huge_pages = options.huge_pages;
  arena_options.shareable = options.shareable;
  arena_options.prefault = options.prefault;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<Arena> arena, Arena::Create(arena_options));
  auto memory = std::make_shared<DramMemory>(std::move(arena), options.page_bytes);
  return std::unique_ptr<DramTier>(new DramTier(options, std::move(memory)));
}

DramTier::DramTier(const DramTierOptions& options, std::shared_ptr<DramMemory> memory)
    : options_(options),
      clock_(options.clock ? options.clock : SteadyClock::Default()),
      memory_(std::move(memory)),
      leases_(clock_),
      policy_(NewEvictionPolicy(options.policy, memory_->allocator().total_pages())),
      slots_(memory_->allocator().total_pages()) {
  free_slots_.reserve(slots_.size());
  for (EntryId i = static_cast<EntryId>(slots_.size()); i > 0; --i) free_slots_.push_back(i - 1);
}

DramTier::~DramTier() = default;

std::string_view DramTier::policy_name() const { return policy_->name(); }

Result<std::shared_ptr<DramObject>> DramTier::Allocate(const Request& request) {
  const uint64_t size_bytes = request.size_bytes;
  const uint32_t tenant = request.tenant;
  const uint64_t tenant_quota_bytes = request.tenant_quota_bytes;
  const uint64_t page = memory_->page_bytes();
  const uint64_t needed = (size_bytes + page - 1) / page;
  if (size_bytes == 0) return Status::InvalidArgument("object size is 0");
  if (needed > memory_->allocator().total_pages()) {
    return Status::InvalidArgument("object of " + std::to_string(size_bytes) + " bytes exceeds the DRAM tier (" +
                                   std::to_string(capacity_bytes()) + " bytes)");
  }
  if (size_bytes > tenant_quota_bytes) {
    return Status::ResourceExhausted("object exceeds the tenant's quota of " + std::to_string(tenant_quota_bytes));
  }
  const uint64_t charge = needed * page;
  auto IsParent = [&request](const DramObject& o) { return o.key == request.parent && o.ns == request.ns; };
  std::vector<std::shared_ptr<DramObject>> evicted;
  std::vector<PageIndex> pages;
  leases_.Reap();  // expired leases must not block eviction
  // One eviction per round, with the victim demoted and released outside the lock: its pages return
  // to the allocator only when the last reference (ours, or a reader's) is dropped.
  for (;;) {
    Status failure;
    bool allocated = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (tenant_bytes_[tenant] + charge > tenant_quota_bytes) {
        // A tenant at its limit makes room from its own objects, never from others'.
        if (!EvictOneLocked([&](const DramObject& o) { return o.tenant == tenant && !IsParent(o); }, &evicted)) {
          failure = Status::ResourceExhausted("tenant quota of " + std::to_string(tenant_quota_bytes) +
                                              " bytes reached and none of its objects can be evicted");
        }
      } else if (memory_->allocator().Allocate(static_cast<uint32_t>(needed), &pages)) {
        tenant_bytes_[tenant] += charge;
        allocated = true;
      } else if (PreferKeptElsewhere() &&
                 EvictOneLocked([&](const DramObject& o) { return !IsParent(o) && options_.kept_elsewhere(o); }, &evicted)) {
        // a copy that also lives in the slower tier left: nothing was lost
      } else if (!EvictOneLocked([&](const DramObject& o) { return !IsParent(o); }, &evicted)) {
        failure = Status::ResourceExhausted("DRAM tier full: every object is pinned or being read");
      }
    }
    Demote(&evicted);
    if (!failure.ok()) return failure;
    if (allocated) break;
  }
  auto obj = std::make_shared<DramObject>(memory_, std::move(pages));
  obj->size_bytes = size_bytes;
  obj->tenant = tenant;
  obj->ns = request.ns;
  obj->parent = request.parent;
  return obj;
}

bool DramTier::Publish(std::shared_ptr<DramObject> obj) {
  TW_CHECK(obj && obj->slot == kNoEntry);
  const IndexKey k{obj->ns, obj->key};
  std::lock_guard<std::mutex> lock(mu_);
  EntryId parent = kNoEntry;
  {
    Shard& ps = ShardOf(IndexKey{obj->ns, obj->parent});
    std::lock_guard<std::mutex> shard_lock(ps.mu);
    auto it = ps.map.find(IndexKey{obj->ns, obj->parent});
    if (it != ps.map.end()) parent = it->second->slot;
  }
  std::shared_ptr<DramObject> existing;
  {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> shard_lock(s.mu);
    auto it = s.map.find(k);
    if (it != s.map.end()) existing = it->second;
  }
  if (existing) {
    if (!Expired(*existing, clock_->NowMs())) {
      tenant_bytes_[obj->tenant] -= obj->pages.size() * memory_->page_bytes();
      return false;  // objects are immutable: the first copy wins
    }
    UnlinkLocked(existing);  // an expired copy is a miss; the fresh one replaces it
    counters_.evictions.fetch_add(1, std::memory_order_relaxed);
  }
  {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> shard_lock(s.mu);
    TW_CHECK(!free_slots_.empty());  // one slot per page, and every object holds a page
    obj->slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[obj->slot] = obj;
    s.map.emplace(k, obj);
  }
  // The fingerprint lets a policy recognise a key that comes back after eviction (S3-FIFO's ghost).
  const uint64_t fingerprint = obj->key.Prefix64();
  policy_->OnInsertWithHint(obj->slot, parent, PolicyHint{fingerprint ? fingerprint : 1, PolicyHint::kUnknown});
  if (const uint64_t deadline = obj->expires_at_ms.load(std::memory_order_relaxed)) {
    deadlines_.emplace(deadline, obj->slot, obj.get());
  }
  counters_.objects.fetch_add(1, std::memory_order_relaxed);
  counters_.admissions.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_written.fetch_add(obj->size_bytes, std::memory_order_relaxed);
  return true;
}

void DramTier::Abandon(const std::shared_ptr<DramObject>& obj) {
  std::lock_guard<std::mutex> lock(mu_);
  TW_CHECK(obj->slot == kNoEntry);
  tenant_bytes_[obj->tenant] -= obj->pages.size() * memory_->page_bytes();
}

std::shared_ptr<DramObject> DramTier::Indexed(const NamespaceId& ns, const BlockKey& key) {
  const IndexKey k{ns, key};
  Shard& s = ShardOf(k);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(k);
  return it == s.map.end() ? nullptr : it->second;
}

std::shared_ptr<DramObject> DramTier::Find(const NamespaceId& ns, const BlockKey& key, bool record_access) {
  std::shared_ptr<DramObject> obj = Indexed(ns, key);
  if (!obj) return nullptr;
  if (Expired(*obj, clock_->NowMs())) return nullptr;  // eviction reclaims it
  if (record_access) {
    std::lock_guard<std::mutex> lock(mu_);
    if (obj->slot != kNoEntry) policy_->OnAccess(obj->slot);
  }
  return obj;
}

bool DramTier::Contains(const NamespaceId& ns, const BlockKey& key, uint64_t now_ms) {
  const IndexKey k{ns, key};
  Shard& s = ShardOf(k);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(k);
  return it != s.map.end() && !Expired(*it->second, now_ms);
}

std::optional<uint64_t> DramTier::Renew(const NamespaceId& ns, const BlockKey& key, uint64_t expires_at_ms) {
  std::shared_ptr<DramObject> obj = Indexed(ns, key);
  if (!obj) return std::nullopt;
  uint64_t deadline = obj->expires_at_ms.load(std::memory_order_relaxed);
  const uint64_t now = clock_->NowMs();
  // A deadline that passed stays passed: the object was a miss from then on, and a renewal racing
  // the clock must not bring it back. Persistent objects (0) have nothing to renew.
  do {
    if (deadline == 0) return deadline;
    if (now >= deadline) return std::nullopt;
    if (deadline >= expires_at_ms) return deadline;
  } while (!obj->expires_at_ms.compare_exchange_weak(deadline, expires_at_ms, std::memory_order_relaxed));
  return expires_at_ms;
}

bool DramTier::Erase(const NamespaceId& ns, const BlockKey& key) {
  std::shared_ptr<DramObject> obj;
  std::lock_guard<std::mutex> lock(mu_);
  {
    Shard& s = ShardOf(IndexKey{ns, key});
    std::lock_guard<std::mutex> shard_lock(s.mu);
    auto it = s.map.find(IndexKey{ns, key});
    if (it == s.map.end()) return false;
    obj = it->second;
  }
  UnlinkLocked(obj);
  return true;
}

void DramTier::UnlinkLocked(const std::shared_ptr<DramObject>& obj) {
  {
    Shard& s = ShardOf(IndexKey{obj->ns, obj->key});
    std::lock_guard<std::mutex> shard_lock(s.mu);
    s.map.erase(IndexKey{obj->ns, obj->key});
  }
  policy_->OnErase(obj->slot);
  slots_[obj->slot].reset();
  free_slots_.push_back(obj->slot);
  obj->slot = kNoEntry;
  tenant_bytes_[obj->tenant] -= obj->pages.size() * memory_->page_bytes();
  counters_.objects.fetch_sub(1, std::memory_order_relaxed);
}

bool DramTier::EvictOneLocked(const std::function<bool(const DramObject&)>& extra,
                              std::vector<std::shared_ptr<DramObject>>* evicted) {
  const uint64_t now = clock_->NowMs();
  EntryId victim = kNoEntry;
  while (!deadlines_.empty()) {
    auto [deadline, slot, ptr] = deadlines_.top();
    if (slots_[slot].get() != ptr) {
      deadlines_.pop();  // stale: that object already left
      continue;
    }
    if (const uint64_t current = ptr->expires_at_ms.load(std::memory_order_relaxed); current > deadline) {
      deadlines_.pop();  // renewed since it was pushed: file it under its current deadline
      deadlines_.emplace(current, slot, ptr);
      continue;
    }
    if (deadline <= now && (!extra || extra(*ptr))) {
      deadlines_.pop();
      victim = slot;
    }
    break;
  }
  if (victim == kNoEntry) victim = policy_->Victim([&](EntryId id) {
    const DramObject& o = *slots_[id];
    if (o.pins.load(std::memory_order_acquire) != 0 && !Expired(o, now)) return false;
    return !extra || extra(o);
  });
  if (victim == kNoEntry) return false;
  std::shared_ptr<DramObject> obj = slots_[victim];
  UnlinkLocked(obj);
  counters_.evictions.fetch_add(1, std::memory_order_relaxed);
  evicted->push_back(std::move(obj));
  return true;
}

void DramTier::Demote(std::vector<std::shared_ptr<DramObject>>* evicted) {
  if (options_.on_evict) {
    for (const auto& obj : *evicted) {
      if (!Expired(*obj, clock_->NowMs())) options_.on_evict(obj);
    }
  }
  evicted->clear();
}

uint64_t DramTier::tenant_bytes(uint32_t tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenant_bytes_.find(tenant);
  return it == tenant_bytes_.end() ? 0 : it->second;
}

TierStats DramTier::Stats() const {
  TierStats s;
  s.tier = Tier::kDram;
  s.capacity_bytes = memory_->arena().size_bytes();
  s.used_bytes = uint64_t{memory_->allocator().total_pages() - memory_->allocator().free_pages()} * memory_->page_bytes();
  counters_.SnapshotInto(&s);
  return s;
}

void DramTier::ForEachKey(const std::function<bool(const NamespaceId&, const BlockKey&)>& fn) {
  std::vector<std::pair<NamespaceId, BlockKey>> keys;
  for (Shard& shard : shards_) {
    keys.clear();
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      keys.reserve(shard.map.size());
      const uint64_t now = clock_->NowMs();
      // Expired objects are misses: a scan (re-replication) must not carry them anywhere.
      for (const auto& [k, obj] : shard.map) {
        if (!Expired(*obj, now)) keys.emplace_back(k.ns, k.key);
      }
    }
    for (const auto& [ns, key] : keys) {
      if (!fn(ns, key)) return;
    }
  }
}

}  // namespace tw
