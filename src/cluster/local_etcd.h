// LocalEtcd: a private etcd for tests and benchmarks, on free ports (of loopback, or of the address
// given: tests with network namespaces need one their nodes can reach) with its data in a temp directory.
// Stop/Start keep the data (an outage), the destructor kills it and removes the directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "tw/result.h"

namespace tw::cluster {

// A TCP port on `host` (an address of this namespace) that was free a moment ago.
int FreePort(const std::string& host = "127.0.0.1");
// Blocks until something accepts TCP connections on host:port, or timeout_ms passes.
bool WaitForPort(int port, int timeout_ms, const std::string& host = "127.0.0.1");

class LocalEtcd {
 public:
  // kNotSupported if no etcd binary is installed (tests skip); kUnavailable if it does not come up in 15 s.
  static Result<std::unique_ptr<LocalEtcd>> Start(const std::string& host = "127.0.0.1");
  ~LocalEtcd();

  std::string endpoint() const { return host_ + ":" + std::to_string(client_port_); }
  std::string url() const { return "etcd://" + endpoint(); }
  // SIGKILLs etcd (its data stays); Restart brings it back on the same ports.
  void Kill();
  Status Restart();

 private:
  LocalEtcd() = default;
  Status Spawn();
  std::string dir_;
  std::string host_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tw::cluster
