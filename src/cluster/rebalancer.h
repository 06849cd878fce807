// Rebalancer: the node-side half of replication. After the membership changes (a node left, one
// joined) it scans this node's objects and restores R copies of each on its current owners.
//
// Per object: the owners under the current placement are asked (one small LOOKUP each) whether
// they hold it. The best-ranked holder among the owners is responsible for the missing copies;
// this node acts only if that is itself, or if no owner holds the object at all (it is the last
// copy), so with R = 2 one surviving replica, not every node, does the work. Copies go through a
// Copier at `bytes_per_s`: re-replication and the stream of objects to a joining node never crowd
// out client traffic or flood the newcomer (which also ramps up in placement: placement.h).
//
// Nothing is deleted: an object this node no longer owns stays until eviction takes it, and keeps
// serving reads that fall back to it while the new owners fill.
//
// While this node is not in the member list (cut off from etcd, its lease gone) it does nothing:
// it cannot know the owners. Thread-safety: all public methods are thread-safe; one scan thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/copier.h"
#include "cluster/member.h"
#include "cluster/peer_set.h"
#include "cluster/placement.h"
#include "tw/embedded_store.h"

namespace tw::cluster {

struct RebalancerOptions {
  std::string self_id;
  uint32_t replicas = 2;
  std::map<std::string, uint32_t> replicas_by_model;  // as in ClusterStoreOptions
  uint64_t join_ramp_ms = 30000;
  uint64_t bytes_per_s = 64ull << 20;      // copy budget of this node
  uint64_t rescan_ms = 10000;              // scan again this long after a scan that left work undone
  uint64_t settle_ms = 500;                // wait this long after a change before scanning (changes come in bursts)
  uint64_t suspect_ms = 2000;
};

struct RebalancerStats {
  uint64_t scans = 0;
  uint64_t objects_scanned = 0;          // in the last complete scan
  uint64_t under_replicated = 0;         // objects of the last scan with fewer than R copies on their owners
  uint64_t replica_histogram[4] = {};    // last scan: objects with 1, 2, 3, 4+ copies among owners and this node
  uint64_t copies_queued = 0;            // cumulative
  uint64_t copies_done = 0;
  uint64_t copy_bytes = 0;
  uint64_t copy_failures = 0;
  uint64_t backlog = 0;                  // copies queued but not done, plus objects the scan has yet to check
  uint64_t peer_errors = 0;              // lookups to peers that failed during scans
  bool scanning = false;
};

class Rebalancer {
 public:
  // `local` must outlive the Rebalancer.
  static Result<std::unique_ptr<Rebalancer>> Start(const RebalancerOptions& options, EmbeddedStore* local,
                                                   std::shared_ptr<MemberSource> members, NodeStoreFactory factory);
  ~Rebalancer();

  // The membership changed: scan soon.
  void Kick();
  RebalancerStats stats() const;
  std::vector<PeerStats> peer_stats() const { return peers_.Stats(); }
  // Blocks until no scan is pending or running and the copy queue is empty, or timeout_ms passes.
  bool WaitIdle(uint64_t timeout_ms);

 private:
  Rebalancer(const RebalancerOptions& options, EmbeddedStore* local, std::shared_ptr<MemberSource> members,
             NodeStoreFactory factory);
  void Run();
  // One pass over the local objects. Returns false if some work could not be done (peer down).
  bool Scan();
  uint32_t ReplicasFor(const Namespace& nspace) const;

  const RebalancerOptions options_;
  EmbeddedStore* local_;
  std::shared_ptr<MemberSource> members_;
  PeerSet peers_;
  Copier copier_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;          // GUARDED_BY(mu_)
  bool stop_ = false;            // GUARDED_BY(mu_)
  RebalancerStats stats_;        // GUARDED_BY(mu_)
  std::atomic<uint64_t> pending_{0};
  std::atomic<bool> warned_peer_identity_{false};
  std::thread thread_;
};

}  // namespace tw::cluster
