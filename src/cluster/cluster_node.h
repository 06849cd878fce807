// ClusterNode: what `tokenwarehouse serve --cluster ...` runs beside the daemon: the node's
// registration in etcd (Membership), its re-replication (Rebalancer), and the cluster's part of
// /metrics, /stats and /healthz.
//
// The daemon stays unaware of clusters: it hands ClusterNode its embedded store and a factory for
// remote stores to peers, and shows the text ClusterNode renders.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "cluster/membership.h"
#include "cluster/peer_set.h"
#include "cluster/rebalancer.h"
#include "tw/embedded_store.h"

namespace tw::cluster {

struct ClusterNodeOptions {
  std::string etcd_url;          // etcd://HOST:PORT[,HOST:PORT]
  std::string cluster = "default";
  std::string node_id;
  std::string advertise;         // host:port peers and clients dial (the daemon's TCP listener)
  std::string admin;             // the node's admin HTTP host:port, published for `tokenwarehouse stats --cluster`
  uint32_t replicas = 2;
  std::map<std::string, uint32_t> replicas_by_model;
  uint32_t lease_ttl_s = 10;
  uint64_t join_ramp_ms = 30000;
  uint64_t rereplicate_bytes_per_s = 64ull << 20;
  uint32_t etcd_timeout_ms = 1000;
};

class ClusterNode {
 public:
  // Registers the node (asynchronously: etcd may be down at start) and starts re-replication.
  static Result<std::unique_ptr<ClusterNode>> Start(const ClusterNodeOptions& options, EmbeddedStore* local,
                                                    NodeStoreFactory peers);
  // Leaves the cluster cleanly (revokes the lease: peers see it go at once).
  ~ClusterNode();

  // Prometheus text: tw_cluster_* gauges and counters.
  std::string RenderPrometheus() const;
  // A JSON object for /stats' "cluster" key.
  std::string RenderJson() const;
  // Empty when healthy; otherwise why the node is degraded (etcd unreachable, not registered).
  std::string Degraded() const;

  const Membership& membership() const { return *membership_; }
  Rebalancer& rebalancer() { return *rebalancer_; }

 private:
  ClusterNode() = default;
  ClusterNodeOptions options_;
  std::shared_ptr<Membership> membership_;
  std::unique_ptr<Rebalancer> rebalancer_;
  std::shared_ptr<std::atomic<Rebalancer*>> target_;
};

}  // namespace tw::cluster
