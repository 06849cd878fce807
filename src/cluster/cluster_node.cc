#include "cluster/cluster_node.h"

#include <nlohmann/json.hpp>

#include "tw/cluster.h"

namespace tw::cluster {

Result<std::unique_ptr<ClusterNode>> ClusterNode::Start(const ClusterNodeOptions& options, EmbeddedStore* local,
                                                        NodeStoreFactory peers) {
  TW_ASSIGN_OR_RETURN(std::vector<std::string> endpoints, ParseEtcdUrl(options.etcd_url));
  if (options.node_id.empty() || options.advertise.empty()) {
    return Status::InvalidArgument("a cluster node needs --node-id and an address to advertise");
  }
  std::unique_ptr<ClusterNode> node(new ClusterNode());
  node->options_ = options;
  // Membership's change callback fires on its own thread, possibly before the rebalancer exists:
  // it reaches the rebalancer through a holder that is filled in once both are up.
  auto target = std::make_shared<std::atomic<Rebalancer*>>(nullptr);
  MembershipOptions m;
  m.etcd_endpoints = endpoints;
  m.prefix = ClusterMemberPrefix(options.cluster);
  m.self = Member{options.node_id, options.advertise, WallNowMs(), options.admin};
  m.lease_ttl_s = options.lease_ttl_s;
  m.resync_ms = std::max<uint32_t>(200, options.lease_ttl_s * 1000 / 4);
  m.etcd_timeout_ms = options.etcd_timeout_ms;
  m.on_change = [target](std::shared_ptr<const MemberList>) {
    if (Rebalancer* r = target->load()) r->Kick();
  };
  TW_ASSIGN_OR_RETURN(std::unique_ptr<Membership> membership, Membership::Start(m));
  node->membership_ = std::move(membership);
  RebalancerOptions r;
  r.self_id = options.node_id;
  r.replicas = options.replicas;
  r.replicas_by_model = options.replicas_by_model;
  r.join_ramp_ms = options.join_ramp_ms;
  r.bytes_per_s = options.rereplicate_bytes_per_s;
  TW_ASSIGN_OR_RETURN(node->rebalancer_, Rebalancer::Start(r, local, node->membership_, std::move(peers)));
  target->store(node->rebalancer_.get());
  node->target_ = target;
  node->rebalancer_->Kick();  // a restarted node may hold objects whose copies were lost meanwhile
  return node;
}

ClusterNode::~ClusterNode() {
  if (target_) target_->store(nullptr);
  rebalancer_.reset();
  membership_.reset();
}

std::string ClusterNode::Degraded() const {
  MembershipHealth h = membership_->health();
  if (!h.etcd_ok) return "etcd unreachable (" + h.last_error + "); serving with the last membership seen";
  if (!h.registered) return "not registered in etcd yet";
  return "";
}

std::string ClusterNode::RenderPrometheus() const {
  MembershipHealth h = membership_->health();
  auto list = membership_->Current();
  RebalancerStats r = rebalancer_->stats();
  std::string out;
  auto gauge = [&out](const std::string& name, const std::string& help, const std::string& type, double v,
                      const std::string& labels = "") {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += name + labels + " " + buf + "\n";
  };
  gauge("tw_cluster_members", "Nodes in the membership this node sees", "gauge", list->members.size());
  gauge("tw_cluster_etcd_ok", "1 if the last call to etcd succeeded", "gauge", h.etcd_ok ? 1 : 0);
  gauge("tw_cluster_membership_stale", "1 while serving with the last membership seen (etcd unreachable)", "gauge",
        list->stale ? 1 : 0);
  gauge("tw_cluster_registered", "1 if this node's lease and key are in etcd", "gauge", h.registered ? 1 : 0);
  gauge("tw_cluster_etcd_errors_total", "Failed calls to etcd", "counter", h.etcd_errors);
  gauge("tw_cluster_etcd_outages_total", "Times etcd became unreachable", "counter", h.etcd_outages);
  gauge("tw_cluster_lease_regrants_total", "Leases re-granted after expiring while cut off", "counter", h.lease_regrants);
  gauge("tw_cluster_membership_changes_total", "Member list changes seen", "counter", h.changes);
  gauge("tw_cluster_rereplication_backlog", "Objects waiting to be checked or copied to restore R replicas", "gauge", r.backlog);
  gauge("tw_cluster_under_replicated_objects", "Objects with fewer than R copies at the last scan", "gauge", r.under_replicated);
  gauge("tw_cluster_scanned_objects", "Objects checked by the last scan", "gauge", r.objects_scanned);
  gauge("tw_cluster_scans_total", "Re-replication scans", "counter", r.scans);
  gauge("tw_cluster_copies_total", "Objects copied to peers (re-replication and join)", "counter", r.copies_done);
  gauge("tw_cluster_copy_bytes_total", "Bytes copied to peers", "counter", r.copy_bytes);
  gauge("tw_cluster_copy_failures_total", "Copies to peers that failed", "counter", r.copy_failures);
  out += "# HELP tw_cluster_replicas_objects Objects of the last scan by copies found among owners\n"
         "# TYPE tw_cluster_replicas_objects gauge\n";
  for (int i = 0; i < 4; ++i) {
    out += "tw_cluster_replicas_objects{copies=\"" + std::string(i == 3 ? "4+" : std::to_string(i + 1)) + "\"} " +
           std::to_string(r.replica_histogram[i]) + "\n";
  }
  out += "# HELP tw_cluster_peer_requests_total Calls this node made to a peer\n# TYPE tw_cluster_peer_requests_total counter\n";
  auto peers = rebalancer_->peer_stats();
  for (const PeerStats& p : peers) out += "tw_cluster_peer_requests_total{peer=\"" + p.node_id + "\"} " + std::to_string(p.requests) + "\n";
  out += "# HELP tw_cluster_peer_errors_total Calls to a peer that failed in transport\n# TYPE tw_cluster_peer_errors_total counter\n";
  for (const PeerStats& p : peers) out += "tw_cluster_peer_errors_total{peer=\"" + p.node_id + "\"} " + std::to_string(p.errors) + "\n";
  return out;
}

std::string ClusterNode::RenderJson() const {
  MembershipHealth h = membership_->health();
  auto list = membership_->Current();
  RebalancerStats r = rebalancer_->stats();
  nlohmann::json j;
  j["node_id"] = options_.node_id;
  j["cluster"] = options_.cluster;
  j["etcd_ok"] = h.etcd_ok;
  j["registered"] = h.registered;
  j["membership_stale"] = list->stale;
  j["etcd_errors"] = h.etcd_errors;
  j["degraded"] = Degraded();
  nlohmann::json members = nlohmann::json::array();
  for (const Member& m : list->members) members.push_back({{"node_id", m.node_id}, {"addr", m.addr}, {"joined_ms", m.joined_ms}});
  j["members"] = members;
  j["replicas"] = options_.replicas;
  j["rereplication"] = {{"backlog", r.backlog},
                        {"under_replicated", r.under_replicated},
                        {"scanned", r.objects_scanned},
                        {"scans", r.scans},
                        {"copies", r.copies_done},
                        {"copy_bytes", r.copy_bytes},
                        {"copy_failures", r.copy_failures},
                        {"replica_histogram", {r.replica_histogram[0], r.replica_histogram[1], r.replica_histogram[2], r.replica_histogram[3]}}};
  nlohmann::json peers = nlohmann::json::array();
  for (const PeerStats& p : rebalancer_->peer_stats()) {
    peers.push_back({{"node_id", p.node_id}, {"requests", p.requests}, {"errors", p.errors}, {"suspect", p.suspect}});
  }
  j["peers"] = peers;
  return j.dump();
}

}  // namespace tw::cluster
