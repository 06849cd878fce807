// EmbeddedStore: namespaces, chain rules, quotas and handles over the tiers.
//
// Lock discipline: `ns_mu_` guards the namespace and tenant tables (read-mostly, so shared);
// `writes_mu_` guards open reservations. Neither is held while calling into a tier.
#include "tw/embedded_store.h"

#include <limits>
#include <shared_mutex>
#include <unordered_map>

#include "common/clock.h"
#include "common/segments.h"
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
};

struct Reservation {
  std::shared_ptr<DramObject> object;  // nullptr: the key was already present, commit is a no-op
};

class EmbeddedStoreImpl final : public EmbeddedStore {
 public:
  EmbeddedStoreImpl(const EmbeddedStoreOptions& options, std::unique_ptr<DramTier> dram)
      : options_(options), clock_(dram->clock()), dram_(std::move(dram)) {}

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
    // Namespace lookups per key would take ns_mu_ once per object; cache the last one instead
    // (keys of one namespace cluster together only by chance, but the table is tiny).
    NamespaceId last_id;
    NamespaceEntry last;
    bool have_last = false;
    dram_->ForEachKey([&](const NamespaceId& ns, const BlockKey& key) {
      if (!have_last || !(ns == last_id)) {
        if (!FindNamespace(ns, &last).ok()) return true;
        last_id = ns;
        have_last = true;
      }
      return fn(last.nspace, last.options, key);
    });
  }

  Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) override {
    TW_RETURN_IF_ERROR(nspace.Validate());
    const NamespaceId id = nspace.Id();
    std::unique_lock<std::shared_mutex> lock(ns_mu_);
    auto it = namespaces_.find(id);
    if (it != namespaces_.end()) {
      if (it->second.options.ttl_ms != options.ttl_ms) {
        return Status::InvalidArgument("namespace already registered with a different ttl_ms");
      }
      return id;
    }
    NamespaceEntry e;
    e.nspace = nspace;
    e.options = options;
    e.root = RootKey(id, nspace.key_hash);
    e.object_bytes = nspace.geometry.ObjectBytes();
    auto [t, inserted] = tenants_.emplace(nspace.tenant, static_cast<uint32_t>(tenants_.size()));
    e.tenant = t->second;
    auto quota = options_.tenant_quota_bytes.find(nspace.tenant);
    if (quota != options_.tenant_quota_bytes.end()) e.quota_bytes = quota->second;
    namespaces_.emplace(id, std::move(e));
    return id;
  }

  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    TW_RETURN_IF_ERROR(FindNamespace(ns, nullptr));
    LookupResult out;
    out.tiers.reserve(keys.size());
    const uint64_t now = clock_.NowMs();
    for (const BlockKey& key : keys) {
      if (!dram_->Contains(ns, key, now)) break;
      out.tiers.push_back(Tier::kDram);
    }
    out.matched = out.tiers.size();
    lookups_.fetch_add(1, std::memory_order_relaxed);
    lookup_keys_.fetch_add(keys.size(), std::memory_order_relaxed);
    lookup_hits_.fetch_add(out.matched, std::memory_order_relaxed);
    return out;
  }

  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override {
    NamespaceEntry e;
    Status s = FindNamespace(ns, &e);
    if (s.ok() && data.size() != e.object_bytes) {
      s = Status::InvalidArgument("object is " + std::to_string(data.size()) + " bytes; geometry " +
                                  e.nspace.geometry.ToString() + " needs " + std::to_string(e.object_bytes));
    }
    std::shared_ptr<DramObject> obj;
    if (s.ok()) s = Prepare(ns, e, ref, &obj);
    if (!s.ok()) return Rejected(std::move(s));
    if (!obj) return Status::Ok();  // already present
    TW_RETURN_IF_ERROR(ScatterAt(dram_->memory().Segments<std::byte>(obj->pages, obj->size_bytes), 0, data));
    dram_->Publish(std::move(obj));
    return Status::Ok();
  }

  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) override {
    NamespaceEntry e;
    Status s = FindNamespace(ns, &e);
    std::shared_ptr<DramObject> obj;
    if (s.ok()) s = Prepare(ns, e, ref, &obj);
    if (!s.ok()) return Rejected(std::move(s));
    std::vector<std::span<std::byte>> segments;
    if (obj) segments = dram_->memory().Segments<std::byte>(obj->pages, obj->size_bytes);
    std::lock_guard<std::mutex> lock(writes_mu_);
    const uint64_t id = next_write_id_++;
    writes_.emplace(id, Reservation{std::move(obj)});
    return WriteHandle(this, id, std::move(segments));
  }

  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override {
    NamespaceEntry e;
    TW_RETURN_IF_ERROR(FindNamespace(ns, &e));
    TW_ASSIGN_OR_RETURN(std::vector<ByteRun> runs, e.nspace.geometry.SliceRuns(slice));
    gets_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<DramObject> obj = dram_->Find(ns, key, /*record_access=*/true);
    if (!obj) {
      get_misses_.fetch_add(1, std::memory_order_relaxed);
      return Status::NotFound();
    }
    TW_RETURN_IF_ERROR(GatherRuns(dram_->memory().Segments<const std::byte>(obj->pages, obj->size_bytes), runs, out));
    dram_->CountRead(out.size());
    return Status::Ok();
  }

  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) override {
    TW_RETURN_IF_ERROR(FindNamespace(ns, nullptr));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    gets_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<DramObject> obj = dram_->Find(ns, key, /*record_access=*/true);
    if (!obj) {
      get_misses_.fetch_add(1, std::memory_order_relaxed);
      return Status::NotFound();
    }
    dram_->CountRead(obj->size_bytes);
    auto segments = dram_->memory().Segments<const std::byte>(obj->pages, obj->size_bytes);
    LeaseId lease = dram_->leases().Grant({obj}, lease_ms);
    return ReadHandle(this, lease, std::move(segments), std::move(obj));
  }

  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) override {
    TW_RETURN_IF_ERROR(FindNamespace(ns, nullptr));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    if (keys.empty()) return Status::InvalidArgument("nothing to pin");
    std::vector<std::shared_ptr<DramObject>> objects;
    objects.reserve(keys.size());
    for (const BlockKey& key : keys) {
      auto obj = dram_->Find(ns, key, /*record_access=*/false);
      if (!obj) return Status::NotFound("key " + key.ToHex() + " is not present; nothing pinned");
      objects.push_back(std::move(obj));
    }
    return dram_->leases().Grant(std::move(objects), lease_ms);
  }

  Status Unpin(LeaseId lease) override { return dram_->leases().Release(lease); }

  Status Remove(const NamespaceId& ns, const BlockKey& key) override {
    TW_RETURN_IF_ERROR(FindNamespace(ns, nullptr));
    return dram_->Erase(ns, key) ? Status::Ok() : Status::NotFound();
  }

  StoreStats Stats() override {
    dram_->leases().Reap();
    StoreStats s;
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.lookup_keys = lookup_keys_.load(std::memory_order_relaxed);
    s.lookup_hits = lookup_hits_.load(std::memory_order_relaxed);
    s.gets = gets_.load(std::memory_order_relaxed);
    s.get_misses = get_misses_.load(std::memory_order_relaxed);
    s.puts = puts_.load(std::memory_order_relaxed);
    s.put_duplicates = put_duplicates_.load(std::memory_order_relaxed);
    s.put_rejected = put_rejected_.load(std::memory_order_relaxed);
    s.pinned_objects = dram_->leases().pinned_objects();
    s.active_leases = dram_->leases().active_leases();
    s.tiers.push_back(dram_->Stats());
    return s;
  }

 protected:
  Status CommitWrite(uint64_t id) override {
    Reservation r;
    {
      std::lock_guard<std::mutex> lock(writes_mu_);
      auto it = writes_.find(id);
      if (it == writes_.end()) return Status::InvalidArgument("unknown reservation");
      r = std::move(it->second);
      writes_.erase(it);
    }
    if (r.object) dram_->Publish(std::move(r.object));
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
    }
    if (r.object) dram_->Abandon(r.object);
  }

  void ReleaseRead(uint64_t id) override { (void)dram_->leases().Release(id); }

 private:
  // Copies the namespace's entry into *out (if given). kInvalidArgument for an unknown id.
  Status FindNamespace(const NamespaceId& ns, NamespaceEntry* out) {
    std::shared_lock<std::shared_mutex> lock(ns_mu_);
    auto it = namespaces_.find(ns);
    if (it == namespaces_.end()) return Status::InvalidArgument("unknown namespace " + ns.ToHex() + ": register it first");
    if (out) *out = it->second;
    return Status::Ok();
  }

  bool Present(const NamespaceId& ns, const BlockKey& key) { return dram_->Contains(ns, key, clock_.NowMs()); }

  // The checks shared by Put and Reserve, then the allocation. *obj stays null if the key is present.
  Status Prepare(const NamespaceId& ns, const NamespaceEntry& e, const BlockRef& ref, std::shared_ptr<DramObject>* obj) {
    puts_.fetch_add(1, std::memory_order_relaxed);
    if (ref.key == ref.parent || ref.key == e.root) return Status::InvalidArgument("a block cannot be its own parent or the root");
    if (Present(ns, ref.key)) {
      put_duplicates_.fetch_add(1, std::memory_order_relaxed);
      return Status::Ok();
    }
    if (ref.parent != e.root && !Present(ns, ref.parent)) {
      return Status::InvalidArgument("parent " + ref.parent.ToHex() +
                                     " is not present: keys out of chain order (store the chain from its first block)");
    }
    TW_ASSIGN_OR_RETURN(*obj, dram_->Allocate({.size_bytes = e.object_bytes,
                                               .tenant = e.tenant,
                                               .tenant_quota_bytes = e.quota_bytes,
                                               .ns = ns,
                                               .parent = ref.parent}));
    (*obj)->key = ref.key;
    (*obj)->expires_at_ms = e.options.ttl_ms ? clock_.NowMs() + e.options.ttl_ms : 0;
    return Status::Ok();
  }

  Status Rejected(Status s) {
    if (!s.ok()) put_rejected_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  const EmbeddedStoreOptions options_;
  const Clock& clock_;
  std::unique_ptr<DramTier> dram_;

  std::shared_mutex ns_mu_;
  std::unordered_map<NamespaceId, NamespaceEntry> namespaces_;
  std::unordered_map<std::string, uint32_t> tenants_;

  std::mutex writes_mu_;
  uint64_t next_write_id_ = 1;
  std::unordered_map<uint64_t, Reservation> writes_;

  std::atomic<uint64_t> lookups_{0}, lookup_keys_{0}, lookup_hits_{0}, gets_{0}, get_misses_{0}, puts_{0},
      put_duplicates_{0}, put_rejected_{0};
};

}  // namespace

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const EmbeddedStoreOptions& options) {
  DramTierOptions dram;
  dram.capacity_bytes = options.dram_capacity_bytes;
  dram.page_bytes = options.page_bytes;
  dram.huge_pages = options.huge_pages;
  dram.shareable = options.shareable_arena;
  dram.prefault = options.prefault;
  dram.policy = options.eviction;
  dram.clock = options.clock;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<DramTier> tier, DramTier::Open(dram));
  return std::unique_ptr<EmbeddedStore>(new EmbeddedStoreImpl(options, std::move(tier)));
}

}  // namespace tw
