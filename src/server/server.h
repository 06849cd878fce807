// Server: the `tokenwarehouse serve` daemon as a library: listeners (TCP, Unix socket), the I/O
// threads, the admin HTTP endpoint and orderly shutdown.
//
//   TW_ASSIGN_OR_RETURN(auto server, Server::Create(config));
//   TW_RETURN_IF_ERROR(server->Start());
//   ... wait for SIGTERM ...
//   server->Shutdown();   // drains in-flight requests, then stops
//
// Thread-safety: Create/Start/Shutdown from one controlling thread. Asio stays inside server.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/config.h"
#include "tw/result.h"

namespace tw::server {

class ServerCore;

class Server {
 public:
  // Opens the store (pre-faults the DRAM arena). kInvalidArgument for a bad config.
  static Result<std::unique_ptr<Server>> Create(const ServerConfig& config);
  virtual ~Server() = default;

  // Binds every listener and starts serving. kUnavailable if an address is in use.
  virtual Status Start() = 0;
  // Stops accepting, lets in-flight requests finish (up to limits.drain_timeout_ms), closes every
  // connection and stops the threads. Idempotent.
  virtual void Shutdown() = 0;

  // Where it listens, after Start (ports resolved when 0 was asked): "127.0.0.1:7700", "" if off.
  virtual std::string tcp_address() const = 0;
  virtual std::string unix_path() const = 0;
  virtual std::string admin_address() const = 0;
  virtual ServerCore& core() = 0;
  // The KV-events publishers (config `events:`), started by Start: tenant, bound PUB endpoint and
  // bound replay endpoint ("" when off), wildcard ports resolved.
  struct KvEventsAddress {
    std::string tenant, endpoint, replay_endpoint;
  };
  virtual std::vector<KvEventsAddress> kv_events_addresses() const = 0;
};

}  // namespace tw::server
