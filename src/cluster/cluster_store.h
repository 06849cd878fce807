// ClusterStore: many warehouse nodes seen as one tw::Store.
//
// Each block key is placed by rendezvous hashing (placement.h) on R nodes; objects are immutable and
// content-addressed, so the R copies never disagree and any copy may answer. The store calls
// per-node Stores made by a NodeStoreFactory (RemoteStore by address in production, EmbeddedStores
// in tests), grouping a chain's keys by node and calling the nodes in parallel:
//
//  - Lookup asks every replica of every key in one parallel round (keys are 16 bytes; a round trip
//    is the cost), then only where the answer is still open (a replica's own prefix stopped early),
//    so a lookup is one round trip in the common case and a few at most.
//  - Get tries the key's read order (owners, then stable owners while a node joins); a miss or a
//    node failure moves to the next at once. A hit that came from beyond an owner that missed is
//    copied to that owner in the background at a bounded rate (read repair): that is how hot
//    objects reach a joining or restarted node without flooding it.
//  - Put writes R copies, each to the best-ranked node that is not suspect; a failed node is
//    replaced by the next in rank. It succeeds when R copies exist, or as many as the live nodes allow.
//
// Chain order: nodes hold scattered pieces of a chain, so each node-side object is stored as a
// chain head (its parent is the node's root key) and the cluster does not check that a Put's parent
// exists. Lookup still answers the longest present prefix of the whole chain.
//
// Thread-safety: all methods are thread-safe. Blocking: each call blocks for its node calls; a node
// that does not answer costs the factory store's own timeout once per suspect period.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cluster/member.h"
#include "cluster/peer_set.h"
#include "cluster/placement.h"
#include "tw/store.h"

namespace tw::cluster {

struct ClusterStoreOptions {
  uint32_t replicas = 2;  // R, unless replicas_by_model names the namespace's model
  // Per-namespace replica counts, keyed by Namespace::model_id (e.g. a system-prompt model at R=3).
  std::map<std::string, uint32_t> replicas_by_model;
  uint64_t join_ramp_ms = 30000;   // see PlacementOptions
  uint64_t suspect_ms = 2000;      // see PeerSet
  uint64_t repair_bytes_per_s = 64ull << 20;  // read-repair budget; 0 disables read repair
};

struct ClusterStats {
  size_t members = 0;
  bool membership_stale = false;    // the member source could not reach etcd
  uint64_t read_failovers = 0;      // reads answered by other than the first node asked
  uint64_t read_failures = 0;       // reads that no replica could answer (not misses)
  uint64_t puts_under_replicated = 0;  // puts acknowledged with fewer than R copies
  uint64_t repairs = 0;             // objects copied by read repair
  uint64_t repair_bytes = 0;
  uint64_t repairs_dropped = 0;     // read repairs skipped: over the rate budget
  std::vector<PeerStats> peers;
};

class ClusterStore final : public Store {
 public:
  // kInvalidArgument for replicas == 0 or a null source or factory.
  static Result<std::unique_ptr<ClusterStore>> Create(const ClusterStoreOptions& options,
                                                      std::shared_ptr<MemberSource> members,
                                                      NodeStoreFactory factory);
  ~ClusterStore() override;

  Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) override;
  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override;
  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override;
  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) override;
  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) override;
  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out,
             const KvSlice& slice = KvSlice::All()) override;
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override;
  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) override;
  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) override;
  Status Unpin(LeaseId lease) override;
  Status Remove(const NamespaceId& ns, const BlockKey& key) override;
  // Sums of the nodes' statistics (nodes that do not answer are left out).
  Result<StoreStats> Stats() override;

  ClusterStats cluster_stats() const;
  // The replica count of a registered namespace (0 if unknown).
  uint32_t ReplicasOf(const NamespaceId& ns) const;
  // Waits until queued read repairs are done (tests).
  void DrainRepairs();

 protected:
  Status CommitWrite(uint64_t id) override;
  void AbortWrite(uint64_t id) override;
  void ReleaseRead(uint64_t id) override {}

 private:
  class Impl;
  explicit ClusterStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::cluster
