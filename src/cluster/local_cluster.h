// LocalCluster: an etcd and N `tokenwarehouse serve --cluster` daemons on this machine, on loopback
// ports, each with its own data directory. For the cluster tests and `tokenwarehouse bench cluster`.
//
// Node i is "node-i"; its TCP port is chosen once, so a restarted node comes back at the same
// address (as a restarted host would). Kill sends SIGKILL (a crash: no lease revoke), Pause and
// Resume send SIGSTOP and SIGCONT (a frozen process: it neither answers nor renews its lease,
// then returns with its data), Stop sends SIGTERM (a clean leave).
//
// By default everything listens on 127.0.0.1. A test that cuts a node off the network for real
// puts etcd and the other nodes on an address its NetNamespace can reach (`host`) and the node
// inside that namespace (`node_netns`): net_namespace.h.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/local_etcd.h"
#include "tw/result.h"

namespace tw::cluster {

struct LocalClusterOptions {
  std::string binary;               // the tokenwarehouse executable
  int nodes = 3;
  uint32_t replicas = 2;
  uint32_t lease_ttl_s = 2;
  double join_ramp_s = 0;
  std::string dram = "256MiB";
  uint64_t page_bytes = 64 << 10;   // the DRAM arena's page: objects smaller than 2 MiB need smaller pages
  std::string rereplicate_rate = "256MiB";
  std::string log_level = "warn";
  // Where etcd and the nodes listen (an address of this network namespace).
  std::string host = "127.0.0.1";
  // Per node index: run the node in this network namespace ("" or missing: this one), listening on
  // the given address of that namespace.
  struct InNamespace {
    std::string netns;
    std::string host;
  };
  std::map<int, InNamespace> node_netns;
  // Appended to every node's YAML config (e.g. an `auth:` section with tenants), and the token
  // nodes present to each other (--peer-token; a tenant with cluster_peer: true).
  std::string extra_config;
  std::string peer_token;
};

class LocalCluster {
 public:
  // Starts etcd and every node, and waits until all are members (bounded: 30 s).
  static Result<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  ~LocalCluster();

  std::string url() const { return etcd_->url(); }
  LocalEtcd& etcd() { return *etcd_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  std::string node_id(int i) const { return "node-" + std::to_string(i); }
  std::string addr(int i) const { return nodes_[i].host + ":" + std::to_string(nodes_[i].port); }
  std::string admin(int i) const { return nodes_[i].admin; }
  std::string log_path(int i) const { return dir_ + "/" + node_id(i) + ".log"; }
  bool running(int i) const { return nodes_[i].pid > 0; }

  // Starts node i (again) and waits until it listens.
  Status StartNode(int i);
  // Adds a node; returns its index.
  Result<int> AddNode();
  void Kill(int i);
  void Stop(int i);
  void Pause(int i);
  void Resume(int i);
  // Waits until etcd lists exactly `n` members (ids), or timeout_ms passes.
  bool WaitForMembers(size_t n, uint64_t timeout_ms);
  // GETs http://<admin>/<path> of node i; "" on failure.
  std::string AdminGet(int i, const std::string& path);

 private:
  LocalCluster() = default;
  struct Node {
    int port = 0;
    std::string host;
    std::string netns;  // "" : this network namespace
    pid_t pid = -1;
    bool paused = false;
    std::string admin;
  };
  LocalClusterOptions options_;
  std::string dir_;
  std::unique_ptr<LocalEtcd> etcd_;
  std::vector<Node> nodes_;
};

}  // namespace tw::cluster
