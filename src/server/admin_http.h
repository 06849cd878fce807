// AdminHttp: /metrics (Prometheus text), /healthz and /stats (JSON) on their own small HTTP server
// (cpp-httplib, its own threads), so scraping never competes with the data path's I/O threads.
// The operator's console too: GET /console (and / redirects to it), a page that draws from
// /stats, /healthz, /stats/history, /stats/evictions and /stats/tenants (docs/operations.md).
// A thread of its own samples the store's counters once a second into a ten-minute history.
//
// Access: every endpoint is read-only and shows the whole daemon (every tenant), to whoever can
// reach `address`: keep it on loopback (the default) or behind a proxy that authenticates.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "tw/result.h"

namespace tw::server {

class ServerCore;

class AdminHttp {
 public:
  // Binds `address` ("host:port", port 0 picks one) and starts serving. kUnavailable if it cannot bind.
  static Result<std::unique_ptr<AdminHttp>> Start(const std::string& address, ServerCore& core,
                                                  const std::atomic<bool>& draining);
  virtual ~AdminHttp() = default;
  virtual std::string address() const = 0;
  virtual void Stop() = 0;
};

// Splits "host:port" (IPv6 as "[::1]:7700"). kInvalidArgument if malformed.
Status SplitHostPort(const std::string& address, std::string* host, uint16_t* port);

}  // namespace tw::server
