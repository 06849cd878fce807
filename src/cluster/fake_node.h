// FakeNode: an in-process EmbeddedStore that a test can take down and bring back, standing in for
// a warehouse node behind a NodeStoreFactory. "Down" answers kUnavailable to every call, like a
// remote store whose daemon is gone; "wiped" replaces the store with an empty one (a restart).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "cluster/peer_set.h"
#include "store/store_seams.h"
#include "tw/embedded_store.h"

namespace tw::cluster::testing {

class FakeNode final : public Store {
 public:
  // `clock` (not owned; nullptr: the steady clock) drives the node's TTLs, as a real node's own.
  explicit FakeNode(Clock* clock = nullptr) : clock_(clock) { Wipe(); }
  void SetDown(bool down) { down_.store(down); }
  void Wipe() {
    EmbeddedStoreOptions o;
    o.dram_capacity_bytes = 16 << 20;
    o.page_bytes = 4096;
    std::lock_guard<std::mutex> lock(mu_);
    inner_ = std::shared_ptr<EmbeddedStore>(OpenEmbeddedStore(o, StoreSeams{.clock = clock_}).value().release());
  }
  std::shared_ptr<EmbeddedStore> inner() {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_;
  }
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> pin_calls{0};

  Result<NamespaceId> RegisterNamespace(const Namespace& n, const NamespaceOptions& o) override {
    if (Down()) return Status::Unavailable("node down");
    return inner()->RegisterNamespace(n, o);
  }
  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    if (Down()) return Status::Unavailable("node down");
    return inner()->Lookup(ns, keys);
  }
  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override {
    if (Down()) return Status::Unavailable("node down");
    return inner()->Put(ns, ref, data);
  }
  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) override {
    if (Down()) return BatchStatus{Status::Unavailable("node down"), {}, {}};
    return inner()->PutBatch(ns, items);
  }
  Result<WriteHandle> Reserve(const NamespaceId&, const BlockRef&) override { return Status::NotSupported("fake"); }
  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override {
    if (Down()) return Status::Unavailable("node down");
    return inner()->Get(ns, key, out, slice);
  }
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override {
    if (Down()) return BatchStatus{Status::Unavailable("node down"), {}, {}};
    return inner()->GetBatch(ns, items);
  }
  Result<ReadHandle> Acquire(const NamespaceId&, const BlockKey&, uint64_t) override { return Status::NotSupported("fake"); }
  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t ms) override {
    pin_calls.fetch_add(1);
    if (Down()) return Status::Unavailable("node down");
    return inner()->Pin(ns, keys, ms);
  }
  Status Unpin(LeaseId lease) override { return inner()->Unpin(lease); }
  Status Remove(const NamespaceId& ns, const BlockKey& key) override {
    if (Down()) return Status::Unavailable("node down");
    return inner()->Remove(ns, key);
  }
  Result<StoreStats> Stats() override { return inner()->Stats(); }
  bool Has(const NamespaceId& ns, const BlockKey& key) {
    auto r = inner()->Lookup(ns, std::span<const BlockKey>(&key, 1));
    return r.ok() && r->matched == 1;
  }

 protected:
  Status CommitWrite(uint64_t) override { return Status::NotSupported("fake"); }
  void AbortWrite(uint64_t) override {}
  void ReleaseRead(uint64_t) override {}

 private:
  bool Down() {
    calls.fetch_add(1);
    return down_.load();
  }
  std::atomic<bool> down_{false};
  Clock* const clock_;
  std::mutex mu_;
  std::shared_ptr<EmbeddedStore> inner_;
};

// A set of named fake nodes and the factory that hands them to a ClusterStore.
struct FakeCluster {
  std::map<std::string, std::shared_ptr<FakeNode>> nodes;
  std::shared_ptr<FakeNode> Add(const std::string& id, Clock* clock = nullptr) {
    return nodes[id] = std::make_shared<FakeNode>(clock);
  }
  NodeStoreFactory Factory() {
    return [this](const Member& m) -> Result<std::shared_ptr<Store>> {
      auto it = nodes.find(m.node_id);
      if (it == nodes.end()) return Status::Unavailable("no such node " + m.node_id);
      return std::shared_ptr<Store>(it->second);
    };
  }
};

}  // namespace tw::cluster::testing
