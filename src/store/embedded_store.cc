// EmbeddedStore: namespaces, chain rules, quotas and handles over the tiers.
//
// Lock discipline: `ns_mu_` guards the namespace and tenant tables (read-mostly, so shared);
// `writes_mu_` guards open reservations. Neither is held while calling into a tier.
//
// Tiering: DRAM first. An object DRAM evicts is offered to the disk tier (DramTierOptions::on_evict
// -> Demote), which queues it for write-behind, borrowing its pages (no copy) within a bound; with DiskAdmission::kWriteThrough
// every Put is offered too. Lookup reports the fastest tier holding each key. Get, Acquire and Pin
// of an object only on disk promote it: DRAM pages are allocated (evicting, and so demoting, as
// usual) and the disk tier reads the record straight into them, verifying its checksum; if DRAM has
// no evictable room, Get still serves from disk through a temporary buffer. Remove clears every tier.
//
// Retention (tw/retention.h): a new object's deadline is its store time + ttl_ms. In a sliding
// namespace every hit (Lookup's matched keys; Get, Acquire, Pin) renews it in each tier holding the
// object, DRAM and disk alike, so whichever copy serves next, and the disk copy after a restart,
// has the renewed deadline. An expired object is a miss in every tier.
//
// Short prompts (min_prefix_tokens): judged per store request, by the chain it starts from the
// root (SkipShortChain); skipped requests answer OK, as for an object already present.
#include "tw/embedded_store.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/short_chain_judge.h"
#include "common/stored_slice.h"
#include "common/clock.h"
#include "common/env/env.h"
#include "common/segments.h"
#include "store/store_counters.h"
#include "store/store_seams.h"
#include "store/tier/disk_tier.h"
#include "store/tier/dram_tier.h"

namespace tw {
namespace {

struct NamespaceEntry {
  Namespace nspace;
  NamespaceOptions options;
  BlockKey root;
  uint64_t object_bytes = 0;
  uint32_t tenant = 0;
  uint64_t quota_bytes = std::numeric_limits<uint64_t>::max();
  StoreCounters* tenant_counters = nullptr;  // the tenant's; lives as long as the store
  // The smallest min_prefix_tokens any registration asked for (0 counts: store everything). The one
  // option a registration may lower later: a cluster node's namespace is registered by its peers with
  // 1 (they store chain heads, see cluster/peer_set.cc) and by local engines with their own, and
  // storing more is the safe direction. Atomic: lowered under ns_mu_ while puts read it.
  std::atomic<uint32_t> min_prefix_tokens{0};
};

struct Reservation {
  std::shared_ptr<DramObject> object;  // nullptr: the key was already present, commit is a no-op
  bool parent_was_reserved = false;    // the parent was itself only reserved: check it at commit
};

class EmbeddedStoreImpl final : public EmbeddedStore {
 public:
  EmbeddedStoreImpl(const EmbeddedStoreOptions& options, std::unique_ptr<DiskTier> disk)
      : options_(options), disk_(std::move(disk)) {}

  // Opens the DRAM tier, whose evictions feed this store's Demote.
  Status Init(DramTierOptions dram) {
    if (disk_ || options_.on_event) dram.on_evict = [this](const std::shared_ptr<DramObject>& obj) { OnDramEvict(obj); };
    if (disk_) {
      // A disk that stopped admitting (full, failing) cannot take demotions: then DRAM keeps the
      // objects that exist nowhere else and evicts the copies the disk still holds first.
      dram.prefer_kept_elsewhere = [this] { return !disk_->admitting(); };
      dram.kept_elsewhere = [this](const DramObject& o) { return disk_->Contains(o.ns, o.key); };
    }
    TW_ASSIGN_OR_RETURN(dram_, DramTier::Open(dram));
    clock_ = &dram_->clock();
    return Status::Ok();
  }

  ~EmbeddedStoreImpl() override {
    // Reservations still open are aborted by their handles, which must not outlive the store.
    std::lock_guard<std::mutex> lock(writes_mu_);
    for (auto& [id, r] : writes_) {
      if (r.object) dram_->Abandon(r.object);
    }
  }

  ArenaInfo arena() const override {
    Arena& a = dram_->memory().arena();
    return ArenaInfo{a.base(), a.size_bytes(), dram_->memory().page_bytes(), a.fd()};
  }

  void ForEachObject(const ObjectVisitor& fn) override {
    // One pass over DRAM, then one over disk, skipping what was already visited: an object often
    // sits in both tiers (write-through, or promoted from disk), and the disk pass may meet a
    // record twice (queue, then index). An object that moves between the passes is still seen:
    // promotion leaves the disk copy in place, and a demotion is in the disk queue by the time
    // the disk pass runs unless it is still waiting for room there (then the next scan sees it).
    // The visited set costs about 64 bytes per object for the scan's duration: a few MB for a
    // node of 100,000 objects, next to the scan's own list of them.
    struct Seen {
      NamespaceId ns;
      BlockKey key;
      bool operator==(const Seen&) const = default;
    };
    struct SeenHash {
      size_t operator()(const Seen& s) const { return s.key.Prefix64() ^ (s.ns.Prefix64() * 0x9E3779B97F4A7C15ull); }
    };
    std::unordered_set<Seen, SeenHash> seen;
    // Namespace lookups per key would take ns_mu_ once per object; cache the last one instead
    // (keys of one namespace cluster together only by chance, but the table is tiny).
    NamespaceId last_id;
    const NamespaceEntry* last = nullptr;
    bool have_last = false;
    bool go_on = true;
    auto visit = [&](const NamespaceId& ns, const BlockKey& key) {
      if (!seen.insert(Seen{ns, key}).second) return true;
      if (!have_last || !(ns == last_id)) {
        // Not registered in this process (a disk object recovered at restart whose namespace no
        // client has registered again): its full namespace is unknown, so it cannot be described.
        if (!FindNamespace(ns, &last).ok()) {
          have_last = false;
          return true;
        }
        last_id = ns;
        have_last = true;
      }
      go_on = fn(last->nspace, last->options, key);
      return go_on;
    };
    dram_->ForEachKey(visit);
    if (go_on && disk_) disk_->ForEachKey(visit);
  }

  Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) override {
    TW_RETURN_IF_ERROR(nspace.Validate());
    const NamespaceId id = nspace.Id();
    std::unique_lock<std::shared_mutex> lock(ns_mu_);
    auto it = namespaces_.find(id);
    if (it != namespaces_.end()) {
      const NamespaceOptions& had = it->second.options;
      if (had.ttl_ms != options.ttl_ms || had.ttl_sliding != options.ttl_sliding) {
        return Status::InvalidArgument("namespace already registered with another retention (" +
                                       FormatRetention(had.retention()) + ")");
      }
      std::atomic<uint32_t>& min = it->second.min_prefix_tokens;
      if (options.min_prefix_tokens < min.load(std::memory_order_relaxed)) {
        min.store(options.min_prefix_tokens, std::memory_order_relaxed);
      }
      return id;
    }
    NamespaceEntry& e = namespaces_[id];  // in place: the entry holds an atomic
    e.nspace = nspace;
    e.options = options;
    e.root = RootKey(id, nspace.key_hash);
    e.object_bytes = nspace.ObjectBytes();
    auto [t, inserted] = tenants_.emplace(nspace.tenant, static_cast<uint32_t>(tenants_.size()));
    e.tenant = t->second;
    if (inserted) tenant_counters_.emplace_back();
    e.tenant_counters = &tenant_counters_[e.tenant];
    auto quota = options_.tenant_quota_bytes.find(nspace.tenant);
    if (quota != options_.tenant_quota_bytes.end()) e.quota_bytes = quota->second;
    e.min_prefix_tokens.store(options.min_prefix_tokens, std::memory_order_relaxed);
    return id;
  }

  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    return LookupImpl(ns, keys, /*hit=*/true);
  }

  Result<LookupResult> Probe(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    return LookupImpl(ns, keys, /*hit=*/false);
  }

  // `hit`: a client's lookup (renews sliding deadlines, counted); else background work's.
  Result<LookupResult> LookupImpl(const NamespaceId& ns, std::span<const BlockKey> keys, bool hit) {
    const NamespaceEntry* e = nullptr;
    TW_RETURN_IF_ERROR(FindNamespace(ns, &e));
    LookupResult out;
    out.tiers.reserve(keys.size());
    const uint64_t now = clock_->NowMs();
    for (const BlockKey& key : keys) {
      if (dram_->Contains(ns, key, now)) {
        out.tiers.push_back(Tier::kDram);
      } else if (disk_ && disk_->Contains(ns, key)) {
        out.tiers.push_back(Tier::kDisk);
      } else {
        break;
      }
    }
    out.matched = out.tiers.size();
    out.usage = LookupUsage(keys.size(), out.tiers, e->nspace.geometry.block_tokens);
    if (!hit) return out;
    for (size_t i = 0; i < out.matched; ++i) Renew(ns, *e, keys[i]);
    Count(e, &StoreCounters::lookups);
    Count(e, &StoreCounters::lookup_keys, keys.size());
    Count(e, &StoreCounters::lookup_hits, out.matched);
    return out;
  }

  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override {
    if (SkipShortChain(ns, {&ref, 1})) return Status::Ok();
    return PutOne(ns, ref, data);
  }

  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) override {
    std::vector<BlockRef> chain;
    chain.reserve(items.size());
    for (const PutItem& item : items) chain.push_back(item.ref);
    BatchStatus out;
    const uint64_t block_tokens = BlockTokens(ns);
    out.usage.reported = true;
    if (SkipShortChain(ns, chain)) {
      out.items.assign(items.size(), Status::Ok());
      out.usage.skipped_short_tokens = items.size() * block_tokens;
      return out;
    }
    out.items.reserve(items.size());
    for (const PutItem& item : items) {
      bool stored = false;
      out.items.push_back(PutOne(ns, item.ref, item.data, item.expires_in_ms, &stored));
      if (out.items.back().ok()) (stored ? out.usage.write_tokens : out.usage.present_tokens) += block_tokens;
    }
    return out;
  }

  // The namespace's block_tokens, or 0 for an unknown one (whose calls fail anyway).
  uint64_t BlockTokens(const NamespaceId& ns) {
    const NamespaceEntry* e = nullptr;
    return FindNamespace(ns, &e).ok() ? e->nspace.geometry.block_tokens : 0;
  }

  Result<WriteHandle> ReserveCopy(const NamespaceId& ns, const BlockRef& ref, uint64_t expires_in_ms) override {
    return ReserveImpl(ns, ref, expires_in_ms);
  }

  std::optional<uint64_t> ExpiresInMs(const NamespaceId& ns, const BlockKey& key) override {
    const uint64_t now = clock_->NowMs();
    uint64_t deadline = 0;
    if (std::shared_ptr<DramObject> obj = dram_->Find(ns, key, /*record_access=*/false)) {
      deadline = obj->expires_at_ms.load(std::memory_order_relaxed);
    } else if (std::optional<DiskObjectInfo> info = disk_ ? disk_->Find(ns, key) : std::nullopt) {
      deadline = info->expires_at_ms;
    } else {
      return std::nullopt;
    }
    if (deadline == 0) return 0;
    if (deadline <= now) return std::nullopt;
    return deadline - now;
  }

  bool SkipShortChain(const NamespaceId& ns, std::span<const BlockRef> chain) override {
    const NamespaceEntry* e = nullptr;
    if (chain.empty() || !FindNamespace(ns, &e).ok()) return false;
    if (!short_chains_.Skip(ns, e->root, e->nspace.geometry.block_tokens,
                            e->min_prefix_tokens.load(std::memory_order_relaxed), chain)) {
      return false;
    }
    Count(e, &StoreCounters::skipped_short, chain.size());
    return true;
  }

  // Put without the short-chain check (done once per request by the caller). *stored (if given)
  // says whether the object was written, as opposed to already present.
  Status PutOne(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data, uint64_t expires_in_ms = 0,
                bool* stored = nullptr) {
    const NamespaceEntry* e = nullptr;
    Status s = FindNamespace(ns, &e);
    if (s.ok() && data.size() != e->object_bytes) {
      s = Status::InvalidArgument("object is " + std::to_string(data.size()) + " bytes; geometry " +
                                  e->nspace.geometry.ToString() + " needs " + std::to_string(e->object_bytes));
    }
    std::shared_ptr<DramObject> obj;
    if (s.ok()) s = Prepare(ns, *e, ref, expires_in_ms, &obj);
    if (!s.ok()) return Rejected(e, std::move(s));
    if (!obj) return Status::Ok();  // already present
    TW_RETURN_IF_ERROR(ScatterAt(dram_->memory().Segments<std::byte>(obj->pages, obj->size_bytes), 0, data));
    PublishNew(std::move(obj));
    if (stored) *stored = true;
    return Status::Ok();
  }

  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) override { return ReserveImpl(ns, ref, 0); }

  Result<WriteHandle> ReserveImpl(const NamespaceId& ns, const BlockRef& ref, uint64_t expires_in_ms) {
    const NamespaceEntry* e = nullptr;
    Status s = FindNamespace(ns, &e);
    std::shared_ptr<DramObject> obj;
    bool parent_reserved = false;
    if (s.ok()) s = Prepare(ns, *e, ref, expires_in_ms, &obj, &parent_reserved);
    if (!s.ok()) return Rejected(e, std::move(s));
    std::vector<std::span<std::byte>> segments;
    if (obj) segments = dram_->memory().Segments<std::byte>(obj->pages, obj->size_bytes);
    std::lock_guard<std::mutex> lock(writes_mu_);
    const uint64_t id = next_write_id_++;
    if (obj) ++reserved_keys_[{ns, ref.key}];
    writes_.emplace(id, Reservation{std::move(obj), parent_reserved});
    return WriteHandle(this, id, std::move(segments));
  }

  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override {
    return GetImpl(ns, key, out, slice, /*hit=*/true);
  }

  Status ReadForCopy(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out) override {
    return GetImpl(ns, key, out, KvSlice::All(), /*hit=*/false);
  }

  // `hit`: a client's read (renews a sliding deadline, feeds eviction, counted); else a copy's.
  Status GetImpl(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice, bool hit) {
    const NamespaceEntry* e = nullptr;
    TW_RETURN_IF_ERROR(FindNamespace(ns, &e));
    TW_ASSIGN_OR_RETURN(std::vector<ByteRun> runs, StoredSliceRuns(e->nspace.geometry, e->nspace.codec != KvCodec::kNone,
                                                                  e->object_bytes, slice));
    if (hit) Count(e, &StoreCounters::gets);
    Status why;
    std::shared_ptr<DramObject> obj = FindOrPromote(ns, *e, key, /*record_access=*/hit, &why);
    if (!obj && why.IsResourceExhausted()) {
      // DRAM has no evictable room: serve this read from disk without promoting.
      std::vector<std::byte> tmp(e->object_bytes);
      std::span<std::byte> whole(tmp);
      if (disk_->Read(ns, key, {&whole, 1}).ok()) {
        if (hit) Renew(ns, *e, key);
        TW_RETURN_IF_ERROR(GatherRuns({std::span<const std::byte>(tmp)}, runs, out));
        return Status::Ok();
      }
    }
    if (!obj) {
      if (hit) Count(e, &StoreCounters::get_misses);
      return Status::NotFound();
    }
    if (hit) Renew(ns, *e, key);
    TW_RETURN_IF_ERROR(GatherRuns(dram_->memory().Segments<const std::byte>(obj->pages, obj->size_bytes), runs, out));
    dram_->CountRead(out.size());
    return Status::Ok();
  }

  // A prefix load: the objects only on disk are promoted together, their reads in flight at once
  // (DiskTier::ReadBatch), instead of one object after another. Everything else is Get.
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override {
    std::vector<BlockKey> keys;
    keys.reserve(items.size());
    for (const GetItem& item : items) keys.push_back(item.key);
    PromoteFromDisk(ns, keys);
    BatchStatus out = Store::GetBatch(ns, items);  // now served from DRAM (or missed, as Get decides)
    out.usage = ReadUsage(out.items, BlockTokens(ns));
    return out;
  }

  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) override {
    const NamespaceEntry* e = nullptr;
    TW_RETURN_IF_ERROR(FindNamespace(ns, &e));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    Count(e, &StoreCounters::gets);
    Status why;
    std::shared_ptr<DramObject> obj = FindOrPromote(ns, *e, key, /*record_access=*/true, &why);
    if (!obj && why.IsResourceExhausted()) return why;  // on disk, but DRAM has no room to map it
    if (!obj) {
      Count(e, &StoreCounters::get_misses);
      return Status::NotFound();
    }
    Renew(ns, *e, key);
    dram_->CountRead(obj->size_bytes);
    auto segments = dram_->memory().Segments<const std::byte>(obj->pages, obj->size_bytes);
    LeaseId lease = dram_->leases().Grant({obj}, lease_ms);
    return ReadHandle(this, lease, std::move(segments), std::move(obj));
  }

  std::vector<Result<ReadHandle>> AcquireBatch(const NamespaceId& ns, std::span<const BlockKey> keys,
                                               uint64_t lease_ms) override {
    PromoteFromDisk(ns, keys);
    std::vector<Result<ReadHandle>> out;
    out.reserve(keys.size());
    for (const BlockKey& key : keys) out.push_back(Acquire(ns, key, lease_ms));
    return out;
  }

  bool ServedFromDram(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    if (!disk_) return true;
    const uint64_t now_ms = clock_->NowMs();
    for (const BlockKey& key : keys) {
      if (!dram_->Contains(ns, key, now_ms) && disk_->Contains(ns, key)) return false;
    }
    return true;
  }

  bool has_disk_tier() const override { return disk_ != nullptr; }

  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) override {
    const NamespaceEntry* e = nullptr;
    TW_RETURN_IF_ERROR(FindNamespace(ns, &e));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    if (keys.empty()) return Status::InvalidArgument("nothing to pin");
    PromoteFromDisk(ns, keys);  // a prefix about to be loaded: its disk reads go in flight together
    std::vector<std::shared_ptr<DramObject>> objects;
    objects.reserve(keys.size());
    for (const BlockKey& key : keys) {
      Status why;
      auto obj = FindOrPromote(ns, *e, key, /*record_access=*/false, &why);
      if (!obj && why.IsResourceExhausted()) return why;
      if (!obj) return Status::NotFound("key " + key.ToHex() + " is not present; nothing pinned");
      objects.push_back(std::move(obj));
    }
    for (const BlockKey& key : keys) Renew(ns, *e, key);
    return dram_->leases().Grant(std::move(objects), lease_ms);
  }

  Status Unpin(LeaseId lease) override { return dram_->leases().Release(lease); }

  Status Remove(const NamespaceId& ns, const BlockKey& key) override {
    TW_RETURN_IF_ERROR(FindNamespace(ns, nullptr));
    const bool in_dram = dram_->Erase(ns, key);
    const bool on_disk = disk_ && disk_->Remove(ns, key).ok();
    return in_dram || on_disk ? Status::Ok() : Status::NotFound();
  }

  Result<StoreStats> Stats() override {
    dram_->leases().Reap();
    StoreStats s;
    all_.SnapshotInto(&s);
    s.pinned_objects = dram_->leases().pinned_objects();
    s.active_leases = dram_->leases().active_leases();
    s.tiers.push_back(dram_->Stats());
    if (disk_) s.tiers.push_back(disk_->Stats());
    return s;
  }

  StoreStats TenantStats(std::string_view tenant) override {
    StoreStats s;
    TierStats dram;
    dram.tier = Tier::kDram;
    dram.capacity_bytes = dram_->Stats().capacity_bytes;
    auto quota = options_.tenant_quota_bytes.find(std::string(tenant));
    if (quota != options_.tenant_quota_bytes.end()) dram.capacity_bytes = std::min(dram.capacity_bytes, quota->second);
    {
      std::shared_lock<std::shared_mutex> lock(ns_mu_);
      auto t = tenants_.find(std::string(tenant));
      if (t != tenants_.end()) {
        tenant_counters_[t->second].SnapshotInto(&s);
        dram.used_bytes = dram_->tenant_bytes(t->second);
      }
    }
    s.tiers.push_back(dram);
    if (disk_) {
      const TierStats d = disk_->Stats();
      TierStats disk;
      disk.tier = Tier::kDisk;
      disk.capacity_bytes = d.capacity_bytes;
      disk.admitting = d.admitting;
      s.tiers.push_back(disk);
    }
    return s;
  }

  Status FlushDisk() override { return disk_ ? disk_->Seal() : Status::Ok(); }

 protected:
  Status CommitWrite(uint64_t id) override {
    Reservation r;
    {
      std::lock_guard<std::mutex> lock(writes_mu_);
      auto it = writes_.find(id);
      if (it == writes_.end()) return Status::InvalidArgument("unknown reservation");
      r = std::move(it->second);
      writes_.erase(it);
      if (r.object) ForgetReservedLocked(r.object->ns, r.object->key);
    }
    if (r.object && r.parent_was_reserved && !Present(r.object->ns, r.object->parent)) {
      // Its parent was aborted, or is still waiting for its own commit: publishing this object
      // would leave it unreachable by any Lookup.
      const NamespaceEntry* e = nullptr;
      (void)FindNamespace(r.object->ns, &e);  // registered: it was reserved through it
      dram_->Abandon(r.object);
      return Rejected(e, Status::InvalidArgument("parent " + r.object->parent.ToHex() +
                                              " was not committed first: commit a chain from its first block"));
    }
    if (r.object) PublishNew(std::move(r.object));
    return Status::Ok();
  }

  void AbortWrite(uint64_t id) override {
    Reservation r;
    {
      std::lock_guard<std::mutex> lock(writes_mu_);
      auto it = writes_.find(id);
      if (it == writes_.end()) return;
      r = std::move(it->second);
      writes_.erase(it);
      if (r.object) ForgetReservedLocked(r.object->ns, r.object->key);
    }
    if (r.object) dram_->Abandon(r.object);
  }

  void ForgetReservedLocked(const NamespaceId& ns, const BlockKey& key) {
    auto it = reserved_keys_.find({ns, key});
    if (it != reserved_keys_.end() && --it->second == 0) reserved_keys_.erase(it);
  }

  void ReleaseRead(uint64_t id) override { (void)dram_->leases().Release(id); }

 private:
  // Moves the objects of `keys` that are only on disk into DRAM with their reads in flight together.
  // Best effort: what cannot be promoted here (no room, a failed read) is left to the per-key path.
  void PromoteFromDisk(const NamespaceId& ns, std::span<const BlockKey> keys) {
    const NamespaceEntry* e = nullptr;
    if (!disk_ || keys.size() < 2 || !FindNamespace(ns, &e).ok()) return;
    struct Promotion {
      size_t item;
      std::shared_ptr<DramObject> obj;
      std::vector<std::span<std::byte>> segments;
    };
    std::vector<Promotion> promotions;
    for (size_t i = 0; i < keys.size(); ++i) {
      const BlockKey& key = keys[i];
      if (dram_->Contains(ns, key, clock_->NowMs())) continue;
      std::optional<DiskObjectInfo> info = disk_->Find(ns, key);
      if (!info || info->payload_bytes != e->object_bytes) continue;
      Result<std::shared_ptr<DramObject>> fresh = AllocateDram({.size_bytes = e->object_bytes,
                                                                   .tenant = e->tenant,
                                                                   .tenant_quota_bytes = e->quota_bytes,
                                                                   .ns = ns,
                                                                   .parent = info->parent});
      if (!fresh.ok()) break;  // DRAM is full of pinned objects: the rest go one by one through Get
      std::shared_ptr<DramObject> obj = std::move(*fresh);
      obj->ns = ns;
      obj->key = key;
      obj->parent = info->parent;
      obj->expires_at_ms = info->expires_at_ms;
      auto segments = dram_->memory().Segments<std::byte>(obj->pages, AlignUp(obj->size_bytes));
      promotions.push_back({i, std::move(obj), std::move(segments)});
    }
    if (!promotions.empty()) {
      std::vector<DiskTier::ReadItem> reads;
      reads.reserve(promotions.size());
      for (const Promotion& p : promotions) reads.push_back({ns, keys[p.item], p.segments, Status::Ok()});
      disk_->ReadBatch(reads);
      for (size_t j = 0; j < promotions.size(); ++j) {
        if (reads[j].status.ok()) dram_->Publish(promotions[j].obj);  // false: promoted concurrently, fine
        else dram_->Abandon(promotions[j].obj);
      }
    }
  }

  // Copies the namespace's entry into *out (if given). kInvalidArgument for an unknown id.
  // Hands out a pointer, not a copy (an entry holds five strings): entries are never changed or
  // erased once registered, and an unordered_map's elements keep their address across rehashes.
  Status FindNamespace(const NamespaceId& ns, const NamespaceEntry** out) {
    std::shared_lock<std::shared_mutex> lock(ns_mu_);
    auto it = namespaces_.find(ns);
    if (it == namespaces_.end()) return Status::FailedPrecondition("unknown namespace " + ns.ToHex() + ": register it first");
    if (out) *out = &it->second;
    return Status::Ok();
  }

  bool Reserved(const NamespaceId& ns, const BlockKey& key) {
    std::lock_guard<std::mutex> lock(writes_mu_);
    return reserved_keys_.count({ns, key}) > 0;
  }

  bool Present(const NamespaceId& ns, const BlockKey& key) {
    return dram_->Contains(ns, key, clock_->NowMs()) || (disk_ && disk_->Contains(ns, key));
  }

  // Publishes a newly stored object; with write-through it is queued for disk as well.
  void PublishNew(std::shared_ptr<DramObject> obj) {
    if (!dram_->Publish(obj)) return;
    if (disk_ && options_.disk_admission == DiskAdmission::kWriteThrough) Demote(obj);
  }

  // The DRAM tier's eviction hook (outside every DRAM lock): offer the object to the disk tier. The
  // disk tier borrows it (writes straight from its pages, holding `obj` until written: no copy),
  // within a bound (disk_borrow_limit below), else copies it. Objects are immutable, so the pages
  // cannot change under the write. Dropped quietly when the namespace is unknown or the disk tier
  // refuses (full queue past its wait, stopped, too large); the disk tier counts those. Returns
  // true if the disk tier holds the object now (queued counts: it serves from its queue).
  bool Demote(const std::shared_ptr<DramObject>& obj) {
    const NamespaceEntry* e = nullptr;
    if (!FindNamespace(obj->ns, &e).ok()) return false;
    auto segments = obj->memory->Segments<const std::byte>(obj->pages, obj->size_bytes);
    return disk_->Enqueue(obj->ns, obj->key, obj->parent, e->nspace.geometry, obj->expires_at_ms, segments,
                          obj->size_bytes, obj).ok();
  }

  // The DRAM tier's eviction hook: demote, then tell the listener where the object went.
  void OnDramEvict(const std::shared_ptr<DramObject>& obj) {
    const bool demoted = disk_ && Demote(obj);
    if (!options_.on_event) return;
    options_.on_event(StoreEvent{StoreEvent::Kind::kEvicted, obj->ns, obj->key, Tier::kDram});
    if (demoted) options_.on_event(StoreEvent{StoreEvent::Kind::kStored, obj->ns, obj->key, Tier::kDisk});
  }

  // DRAM allocation. Evicted objects the disk tier still borrows hold their pages until written, so
  // when DRAM found nothing more to evict, wait for those writes once and try again.
  Result<std::shared_ptr<DramObject>> AllocateDram(const DramTier::Request& request) {
    Result<std::shared_ptr<DramObject>> got = dram_->Allocate(request);
    if (got.ok() || !got.status().IsResourceExhausted() || !disk_) return got;
    if (disk_->Counters().borrowed_bytes == 0) return got;
    (void)disk_->WaitBorrowedReleased();
    return dram_->Allocate(request);
  }

  // The visible DRAM object, or the disk copy promoted into DRAM, or nullptr (a miss). *why is
  // kResourceExhausted when the object is on disk but DRAM had no evictable room for it.
  std::shared_ptr<DramObject> FindOrPromote(const NamespaceId& ns, const NamespaceEntry& e, const BlockKey& key,
                                            bool record_access, Status* why) {
    std::shared_ptr<DramObject> obj = dram_->Find(ns, key, record_access);
    if (obj || !disk_) return obj;
    std::optional<DiskObjectInfo> info = disk_->Find(ns, key);
    // A record of another size cannot belong to this namespace's geometry: a miss, never served.
    if (!info || info->payload_bytes != e.object_bytes) return nullptr;
    Result<std::shared_ptr<DramObject>> fresh = AllocateDram({.size_bytes = e.object_bytes,
                                                                 .tenant = e.tenant,
                                                                 .tenant_quota_bytes = e.quota_bytes,
                                                                 .ns = ns,
                                                                 .parent = info->parent});
    if (!fresh.ok()) {
      *why = fresh.status();
      return nullptr;
    }
    obj = std::move(*fresh);
    obj->ns = ns;
    obj->key = key;
    obj->parent = info->parent;
    obj->expires_at_ms = info->expires_at_ms;
    // Pages are whole multiples of 4 KiB, so the padded record fits the object's last page and the
    // disk tier can read with O_DIRECT straight into them.
    auto segments = dram_->memory().Segments<std::byte>(obj->pages, AlignUp(obj->size_bytes));
    if (!disk_->Read(ns, key, segments).ok()) {
      dram_->Abandon(obj);
      return nullptr;
    }
    if (!dram_->Publish(obj)) return dram_->Find(ns, key, record_access);  // promoted concurrently
    return obj;
  }

  // The checks shared by Put and Reserve, then the allocation. *obj stays null if the key is present.
  // With `parent_reserved` (Reserve), a parent that is only reserved so far is accepted too, and
  // *parent_reserved says so: a client can then reserve a whole chain in one round trip and commit
  // it in order; CommitWrite re-checks the parent.
  // `expires_in_ms` (a copy's remaining lifetime; 0: none) can only bring the deadline earlier.
  Status Prepare(const NamespaceId& ns, const NamespaceEntry& e, const BlockRef& ref, uint64_t expires_in_ms,
                 std::shared_ptr<DramObject>* obj, bool* parent_reserved = nullptr) {
    Count(&e, &StoreCounters::puts);
    if (ref.key == ref.parent || ref.key == e.root) return Status::InvalidArgument("a block cannot be its own parent or the root");
    if (Present(ns, ref.key)) {
      Count(&e, &StoreCounters::put_duplicates);
      return Status::Ok();
    }
    if (ref.parent != e.root && !Present(ns, ref.parent) && !(parent_reserved && (*parent_reserved = Reserved(ns, ref.parent)))) {
      return Status::InvalidArgument("parent " + ref.parent.ToHex() +
                                     " is not present: keys out of chain order (store the chain from its first block)");
    }
    TW_ASSIGN_OR_RETURN(*obj, AllocateDram({.size_bytes = e.object_bytes,
                                               .tenant = e.tenant,
                                               .tenant_quota_bytes = e.quota_bytes,
                                               .ns = ns,
                                               .parent = ref.parent}));
    (*obj)->key = ref.key;
    const uint64_t ttl_ms = expires_in_ms ? std::min(expires_in_ms, e.options.ttl_ms) : e.options.ttl_ms;
    (*obj)->expires_at_ms = ttl_ms ? clock_->NowMs() + ttl_ms : 0;
    return Status::Ok();
  }

  // A hit in a sliding namespace: the object's deadline moves to now + ttl_ms in every tier that
  // holds it. Cheap enough per hit: DRAM's is one atomic, the disk tier's one index shard lock (its
  // file is written in batches by its writer thread).
  void Renew(const NamespaceId& ns, const NamespaceEntry& e, const BlockKey& key) {
    if (!e.options.ttl_sliding || e.options.ttl_ms == 0) return;
    const uint64_t deadline = clock_->NowMs() + e.options.ttl_ms;
    (void)dram_->Renew(ns, key, deadline);
    if (disk_) (void)disk_->Renew(ns, key, deadline);
  }

  // Counts a refused put (for the namespace's tenant too, when the namespace is known).
  Status Rejected(const NamespaceEntry* e, Status s) {
    if (!s.ok()) Count(e, &StoreCounters::put_rejected);
    return s;
  }

  // Counts `n` in the store's counters and, for a known namespace, in its tenant's.
  void Count(const NamespaceEntry* e, std::atomic<uint64_t> StoreCounters::*field, uint64_t n = 1) {
    (all_.*field).fetch_add(n, std::memory_order_relaxed);
    if (e != nullptr) (e->tenant_counters->*field).fetch_add(n, std::memory_order_relaxed);
  }

  const EmbeddedStoreOptions options_;
  // Declared before dram_ so it is destroyed after it: the disk tier drains its queue last.
  std::unique_ptr<DiskTier> disk_;
  std::unique_ptr<DramTier> dram_;
  const Clock* clock_ = nullptr;

  std::shared_mutex ns_mu_;
  std::unordered_map<NamespaceId, NamespaceEntry> namespaces_;
  std::unordered_map<std::string, uint32_t> tenants_;

  std::mutex writes_mu_;
  uint64_t next_write_id_ = 1;
  std::unordered_map<uint64_t, Reservation> writes_;
  std::map<std::pair<NamespaceId, BlockKey>, uint32_t> reserved_keys_;  // open reservations per key

  ShortChainJudge short_chains_{16384};  // min_prefix_tokens; remembers the skipped chains' tails

  StoreCounters all_;
  // One per tenant, indexed by NamespaceEntry::tenant. Grows under ns_mu_; a deque never moves its
  // elements, so the entries' pointers into it stay valid while other threads count through them.
  std::deque<StoreCounters> tenant_counters_;
};

}  // namespace

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const EmbeddedStoreOptions& options) {
  return OpenEmbeddedStore(options, StoreSeams{});
}

Result<std::unique_ptr<EmbeddedStore>> OpenEmbeddedStore(const EmbeddedStoreOptions& options, const StoreSeams& seams) {
  DramTierOptions dram;
  dram.capacity_bytes = options.dram_capacity_bytes;
  dram.page_bytes = options.page_bytes;
  dram.huge_pages = options.huge_pages;
  dram.shareable = options.shareable_arena;
  dram.prefault = options.prefault;
  dram.policy = options.eviction;
  dram.clock = seams.clock;
  std::unique_ptr<DiskTier> disk;
  if (!options.disk_dir.empty()) {
    DiskTierOptions d;
    d.dir = options.disk_dir;
    d.capacity_bytes = options.disk_capacity_bytes;
    d.region_bytes = options.disk_region_bytes;
    d.write_queue_bytes = options.disk_write_queue_bytes;
    // Borrowed (demoted, not yet written) objects keep DRAM pages busy: at most a quarter of DRAM,
    // so eviction never has to run far ahead of the disk to find room.
    d.borrow_limit_bytes = std::min(options.disk_write_queue_bytes, options.dram_capacity_bytes / 4);
    d.enqueue_wait_ms = options.disk_enqueue_wait_ms;
    d.io_bytes = options.disk_io_bytes;
    d.io_depth = options.disk_io_depth;
    d.read_threads = options.disk_read_threads;
    d.owner = options.disk_owner;
    d.shared = options.disk_shared;
    d.discover_interval_ms = options.disk_discover_interval_ms;
    d.sync_interval_ms = options.disk_sync_interval_ms;
    d.renewal_flush_ms = options.disk_renewal_flush_ms;
    d.env = seams.disk_env;
    d.clock = seams.clock;
    d.wall_clock = seams.wall_clock;
    if (options.on_event) {
      d.on_evict = [listener = options.on_event](const NamespaceId& ns, const BlockKey& key) {
        listener(StoreEvent{StoreEvent::Kind::kEvicted, ns, key, Tier::kDisk});
      };
    }
    TW_ASSIGN_OR_RETURN(disk, DiskTier::Open(d));
  }
  auto store = std::make_unique<EmbeddedStoreImpl>(options, std::move(disk));
  TW_RETURN_IF_ERROR(store->Init(dram));
  return std::unique_ptr<EmbeddedStore>(std::move(store));
}

}  // namespace tw
