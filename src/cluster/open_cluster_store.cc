// OpenClusterStore: Membership (observe only) + ClusterStore + remote clients to the nodes.
#include "cluster/cluster_store.h"
#include "cluster/membership.h"
#include "tw/cluster.h"

namespace tw {

std::string ClusterMemberPrefix(std::string_view cluster) {
  return "/tokenwarehouse/" + std::string(cluster) + "/nodes/";
}

Result<std::unique_ptr<Store>> OpenClusterStore(std::string_view etcd_url, const ClusterClientOptions& options) {
  TW_ASSIGN_OR_RETURN(std::vector<std::string> endpoints, cluster::ParseEtcdUrl(etcd_url));
  cluster::MembershipOptions m;
  m.etcd_endpoints = endpoints;
  m.prefix = ClusterMemberPrefix(options.cluster);
  m.etcd_timeout_ms = options.etcd_timeout_ms;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<cluster::Membership> membership, cluster::Membership::Start(m));
  if (!membership->WaitForFirstList(options.wait_for_members_ms)) {
    return Status::Unavailable("etcd at " + std::string(etcd_url) + " did not answer within " +
                               std::to_string(options.wait_for_members_ms) + " ms");
  }
  cluster::ClusterStoreOptions c;
  c.replicas = options.replicas;
  c.replicas_by_model = options.replicas_by_model;
  c.join_ramp_ms = options.join_ramp_ms;
  c.repair_bytes_per_s = options.repair_bytes_per_s;
  ClientOptions node = options.node;
  auto factory = [node](const cluster::Member& member) -> Result<std::shared_ptr<Store>> {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<Store> s, OpenStore("tw://" + member.addr, node));
    return std::shared_ptr<Store>(std::move(s));
  };
  TW_ASSIGN_OR_RETURN(std::unique_ptr<cluster::ClusterStore> store,
                      cluster::ClusterStore::Create(c, std::shared_ptr<cluster::MemberSource>(std::move(membership)), factory));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tw
