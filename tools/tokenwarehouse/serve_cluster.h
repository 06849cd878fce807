// The cluster part of `tokenwarehouse serve`: its flags and the ClusterNode it runs beside the daemon.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "tw/result.h"

namespace tw::server {
class Server;
class ServerCore;
}
namespace tw::cluster {
class ClusterNode;
}

namespace tw::cli {

struct ClusterFlags {
  std::string etcd;            // --cluster etcd://HOST:PORT[,HOST:PORT]; empty: standalone
  std::string cluster_name = "default";
  std::string node_id;
  std::string advertise;       // default: the TCP listener's address
  uint32_t replicas = 2;
  uint32_t lease_ttl_s = 10;
  double join_ramp_s = 30;
  std::string rereplicate_rate = "64MiB";
  std::string peer_token;      // the token this node presents to its peers (empty: anonymous)
};

void AddClusterFlags(CLI::App& cmd, ClusterFlags* flags);

// What the daemon holds while in a cluster; destroying it leaves the cluster.
struct ClusterRuntime {
  ~ClusterRuntime();  // unhooks the admin endpoints, then leaves the cluster
  server::ServerCore* core = nullptr;
  std::shared_ptr<cluster::ClusterNode> node;
};

// nullptr when no --cluster was given. kInvalidArgument for inconsistent flags (no TCP listener,
// no node id, a wildcard listen address without --advertise).
Result<std::unique_ptr<ClusterRuntime>> StartCluster(const ClusterFlags& flags, server::Server& srv);

}  // namespace tw::cli
