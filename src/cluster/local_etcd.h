// LocalEtcd: a private etcd for tests and benchmarks, on free loopback ports with its data in a temp directory.
// Stop/Start keep the data (an outage), the destructor kills it and removes the directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "tw/result.h"

namespace tw::cluster {

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
// Blocks until something accepts TCP connections on 127.0.0.1:port, or timeout_ms passes.
bool WaitForPort(int port, int timeout_ms);

class LocalEtcd {
 public:
  // kNotSupported if no etcd binary is installed (tests skip); kUnavailable if it does not come up in 15 s.
  static Result<std::unique_ptr<LocalEtcd>> Start();
  ~LocalEtcd();

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  std::string url() const { return "etcd://" + endpoint(); }
  // SIGKILLs etcd (its data stays); Restart brings it back on the same ports.
  void Kill();
  Status Restart();

 private:
  LocalEtcd() = default;
  Status Spawn();
  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tw::cluster
