#include "cluster/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/net_namespace.h"
#include "tw/cluster.h"

namespace tw::cluster {

Result<std::unique_ptr<LocalCluster>> LocalCluster::Start(const LocalClusterOptions& options) {
  if (access(options.binary.c_str(), X_OK) != 0) return Status::InvalidArgument("no executable at " + options.binary);
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->options_ = options;
  char tmpl[] = "/tmp/tw-cluster-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::IOError("mkdtemp failed");
  c->dir_ = tmpl;
  TW_ASSIGN_OR_RETURN(c->etcd_, LocalEtcd::Start(options.host));
  for (int i = 0; i < options.nodes; ++i) TW_RETURN_IF_ERROR(c->AddNode().status());
  if (!c->WaitForMembers(options.nodes, 30000)) return Status::Unavailable("nodes did not all register in 30 s");
  return c;
}

LocalCluster::~LocalCluster() {
  for (Node& n : nodes_) {
    if (n.pid <= 0) continue;
    if (n.paused) kill(n.pid, SIGCONT);
    kill(n.pid, SIGKILL);
    waitpid(n.pid, nullptr, 0);
  }
  etcd_.reset();
  std::error_code ec;
  if (!dir_.empty() && !getenv("TW_KEEP_CLUSTER_DIR")) std::filesystem::remove_all(dir_, ec);
}

Result<int> LocalCluster::AddNode() {
  Node n;
  const int i = static_cast<int>(nodes_.size());
  auto in = options_.node_netns.find(i);
  if (in != options_.node_netns.end() && !in->second.netns.empty()) {
    n.netns = in->second.netns;
    n.host = in->second.host;
    n.port = FreePort();  // a fresh namespace has every port free
  } else {
    n.host = options_.host;
    n.port = FreePort(n.host);
  }
  nodes_.push_back(n);
  TW_RETURN_IF_ERROR(StartNode(i));
  return i;
}

Status LocalCluster::StartNode(int i) {
  Node& n = nodes_[i];
  const std::string data = dir_ + "/" + node_id(i);
  std::filesystem::create_directories(data);
  const std::string ready = data + "/ready";
  std::filesystem::remove(ready);
  const std::string config = data + "/config.yaml";
  {
    std::ofstream y(config);
    y << "dram:\n  page_bytes: " << options_.page_bytes << "\n" << options_.extra_config << "\n";
  }
  std::vector<std::string> args = {options_.binary, "serve", "-c", config, "--listen", addr(i), "--unix", "none",
                                   "--admin", n.host + ":0", "--data-dir", data, "--dram", options_.dram,
                                   "--io-threads", "2", "--log-level", options_.log_level, "--ready-file", ready,
                                   "--cluster", etcd_->url(), "--node-id", node_id(i),
                                   "--replicas", std::to_string(options_.replicas),
                                   "--lease-ttl", std::to_string(options_.lease_ttl_s),
                                   "--join-ramp", std::to_string(options_.join_ramp_s),
                                   "--rereplicate-rate", options_.rereplicate_rate};
  // Nodes keep every block a test or benchmark stores to them directly (a cluster client registers
  // with min_prefix_tokens 1 anyway), unless the extra config speaks of min_prefix_tokens.
  if (options_.extra_config.find("min_prefix_tokens") == std::string::npos) {
    args.insert(args.end(), {"--min-prefix-tokens", "0"});
  }
  if (!options_.peer_token.empty()) {
    args.push_back("--peer-token");
    args.push_back(options_.peer_token);
  }
  const std::string log = log_path(i);
  const std::string netns_path = n.netns.empty() ? "" : NetNamespacePath(n.netns);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (!netns_path.empty() && !EnterNetNamespace(netns_path.c_str())) {
      dprintf(2, "cannot enter network namespace %s: %s\n", netns_path.c_str(), strerror(errno));
      _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) return Status::IOError("fork failed");
  n.pid = pid;
  n.paused = false;
  for (int waited = 0; waited < 20000; waited += 20) {
    std::ifstream f(ready);
    if (f) {
      std::string line;
      while (std::getline(f, line)) {
        if (line.rfind("admin=", 0) == 0) n.admin = line.substr(6);
      }
      return Status::Ok();
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      n.pid = -1;
      return Status::Unavailable(node_id(i) + " exited at start; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Unavailable(node_id(i) + " did not start in 20 s; see " + log);
}

void LocalCluster::Kill(int i) {
  Node& n = nodes_[i];
  if (n.pid <= 0) return;
  if (n.paused) kill(n.pid, SIGCONT);
  kill(n.pid, SIGKILL);
  waitpid(n.pid, nullptr, 0);
  n.pid = -1;
  n.paused = false;
}

void LocalCluster::Stop(int i) {
  Node& n = nodes_[i];
  if (n.pid <= 0) return;
  if (n.paused) kill(n.pid, SIGCONT);
  kill(n.pid, SIGTERM);
  waitpid(n.pid, nullptr, 0);
  n.pid = -1;
  n.paused = false;
}

void LocalCluster::Pause(int i) {
  if (nodes_[i].pid > 0 && !nodes_[i].paused) {
    kill(nodes_[i].pid, SIGSTOP);
    nodes_[i].paused = true;
  }
}

void LocalCluster::Resume(int i) {
  if (nodes_[i].pid > 0 && nodes_[i].paused) {
    kill(nodes_[i].pid, SIGCONT);
    nodes_[i].paused = false;
  }
}

bool LocalCluster::WaitForMembers(size_t n, uint64_t timeout_ms) {
  auto client = EtcdClient::Create({{etcd_->endpoint()}, 1000});
  if (!client.ok()) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    auto r = (*client)->RangePrefix(ClusterMemberPrefix("default"));
    if (r.ok() && r->kvs.size() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

std::string LocalCluster::AdminGet(int i, const std::string& path) {
  const std::string& a = nodes_[i].admin;
  size_t colon = a.rfind(':');
  if (a.empty() || colon == std::string::npos) return "";
  httplib::Client cli(a.substr(0, colon), std::atoi(a.c_str() + colon + 1));
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(2, 0);
  auto res = cli.Get(path.c_str());
  return res && res->status == 200 ? res->body : std::string();
}

}  // namespace tw::cluster
