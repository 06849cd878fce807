#include "serve_cluster.h"

#include <spdlog/spdlog.h>

#include "cluster/cluster_node.h"
#include "server/config.h"
#include "server/server.h"
#include "server/server_core.h"
#include "tw/client.h"

namespace tw::cli {

void AddClusterFlags(CLI::App& cmd, ClusterFlags* f) {
  cmd.add_option("--cluster", f->etcd, "join a cluster whose membership lives in etcd: etcd://HOST:PORT[,HOST:PORT]");
  cmd.add_option("--cluster-name", f->cluster_name, "the cluster's name (etcd prefix /tokenwarehouse/<name>/nodes/)");
  cmd.add_option("--node-id", f->node_id, "this node's stable, unique id in the cluster (default: the hostname)");
  cmd.add_option("--advertise", f->advertise, "host:port peers and clients dial (default: the --listen address)");
  cmd.add_option("--replicas", f->replicas, "R: copies of each object (default 2)");
  cmd.add_option("--lease-ttl", f->lease_ttl_s, "seconds after a crash until peers drop this node (default 10)");
  cmd.add_option("--join-ramp", f->join_ramp_s, "seconds over which a joining node takes its full share (default 30)");
  cmd.add_option("--peer-token", f->peer_token, "token this node presents to its peers when copying objects (or TW_PEER_TOKEN)")
      ->envname("TW_PEER_TOKEN");
  cmd.add_option("--rereplicate-rate", f->rereplicate_rate, "bytes/s this node spends restoring replicas (default 64MiB)");
}

ClusterRuntime::~ClusterRuntime() {
  if (core) core->SetAdminExtension(nullptr);
  node.reset();  // an admin request still running holds its own reference
}

Result<std::unique_ptr<ClusterRuntime>> StartCluster(const ClusterFlags& f, server::Server& srv) {
  if (f.etcd.empty()) return std::unique_ptr<ClusterRuntime>();
  cluster::ClusterNodeOptions o;
  o.etcd_url = f.etcd;
  o.cluster = f.cluster_name;
  o.node_id = f.node_id;
  if (o.node_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    o.node_id = host;
  }
  o.advertise = f.advertise.empty() ? srv.tcp_address() : f.advertise;
  if (o.advertise.empty()) return Status::InvalidArgument("--cluster needs a TCP listener (--listen) or --advertise");
  if (o.advertise.rfind("0.0.0.0:", 0) == 0 || o.advertise.rfind("[::]:", 0) == 0) {
    return Status::InvalidArgument("listening on a wildcard address: give --advertise HOST:PORT that peers can dial");
  }
  o.admin = srv.admin_address();
  o.replicas = f.replicas;
  o.lease_ttl_s = f.lease_ttl_s;
  o.join_ramp_ms = static_cast<uint64_t>(f.join_ramp_s * 1000);
  TW_ASSIGN_OR_RETURN(o.rereplicate_bytes_per_s, server::ParseBytes(f.rereplicate_rate));
  ClientOptions peer;
  peer.client_name = "tw-peer " + o.node_id;
  peer.token = f.peer_token;
  peer.connect_timeout_ms = 500;
  peer.io_timeout_ms = 5000;
  peer.retries = 0;
  peer.shared_memory = false;
  auto factory = [peer](const cluster::Member& m) -> Result<std::shared_ptr<Store>> {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<Store> s, OpenStore("tw://" + m.addr, peer));
    return std::shared_ptr<Store>(std::move(s));
  };
  auto rt = std::make_unique<ClusterRuntime>();
  TW_ASSIGN_OR_RETURN(rt->node, cluster::ClusterNode::Start(o, &srv.core().store(), factory));
  rt->core = &srv.core();
  std::shared_ptr<cluster::ClusterNode> node = rt->node;
  auto ext = std::make_shared<server::ServerCore::AdminExtension>();
  ext->prometheus = [node] { return node->RenderPrometheus(); };
  ext->json = [node] { return node->RenderJson(); };
  ext->degraded = [node] { return node->Degraded(); };
  srv.core().SetAdminExtension(std::move(ext));
  std::printf("  cluster %s as node '%s' at %s (R=%u, lease %u s)\n", f.etcd.c_str(), o.node_id.c_str(),
              o.advertise.c_str(), o.replicas, o.lease_ttl_s);
  std::fflush(stdout);
  return rt;
}

}  // namespace tw::cli
