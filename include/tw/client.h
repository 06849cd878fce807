// Opening a Store by URL: the same tw::Store interface whether the warehouse is in-process or a
// `tokenwarehouse serve` daemon.
//
//   tw://host:port     the daemon over TCP (any machine)
//   tws://host:port    the same over TLS (the daemon runs with tls.cert_file); the certificate is
//                      verified against options.tls_ca_file or the system's trust store
//   unix:///path       the daemon over a Unix socket; with shared memory (the default) objects move
//                      through the daemon's DRAM arena mapped into this process: one memcpy, no socket
//   embedded:          an in-process EmbeddedStore (options.embedded)
//
// The remote store is thread-safe (a pool of connections, one per concurrent caller), retries a call
// once on a fresh connection after a transport failure (every operation is idempotent: objects are
// immutable), and re-registers its namespaces when it reconnects (e.g. after a daemon restart).
// Transport failures are kUnavailable; timeouts kDeadlineExceeded. A payload whose checksum does not
// verify is kCorruption for that item and never returned as data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tw/embedded_store.h"
#include "tw/result.h"
#include "tw/store.h"

namespace tw {

struct ClientOptions {
  std::string token;                    // tenant token; empty: anonymous (loopback only, where allowed)
  std::string client_name = "tw-client";  // shows up in the daemon's logs
  uint64_t connect_timeout_ms = 5000;
  uint64_t io_timeout_ms = 30000;       // for any single wait on the socket
  uint32_t retries = 1;                 // reconnect-and-retry attempts after a transport failure
  bool shared_memory = true;            // unix:// only: map the daemon's arena if it allows
  uint64_t lease_ms = 30000;            // leases behind shared-memory reads
  std::string tls_ca_file;              // tws:// only: PEM certificates to trust (a CA, or the daemon's
                                        // self-signed certificate); empty: the system's trust store
  EmbeddedStoreOptions embedded;        // embedded: only
};

// kInvalidArgument for a malformed URL; kUnavailable if the daemon cannot be reached;
// kUnauthenticated if it refuses the token.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const ClientOptions& options = {});

// A router's view of the warehouse is a stream of StoreEvent (include/tw/store.h): every block
// stored, moved between tiers or removed in the caller's tenant.

class EventStream {
 public:
  virtual ~EventStream() = default;
  // The next event; kDeadlineExceeded if none arrives within `timeout_ms`; kUnavailable once the
  // daemon closed the stream (it drains, or this reader fell too far behind).
  virtual Result<StoreEvent> Next(uint64_t timeout_ms) = 0;
};

// Subscribes to a daemon's events (tw:// or unix:// URLs only).
Result<std::unique_ptr<EventStream>> Subscribe(std::string_view url, const ClientOptions& options = {});

}  // namespace tw
