// Authenticator: maps a HELLO's token and the peer's address to a tenant.
//
// Tokens are compared by their SHA-256 (the config holds only hashes, so a leaked config file leaks
// no credential). An empty token is the anonymous tenant, allowed only for loopback TCP peers and the
// Unix socket, and only if the config allows it. Thread-safe after construction (immutable).
#pragma once

#include <string>
#include <unordered_map>

#include "server/config.h"
#include "tw/result.h"

namespace tw::server {

struct Identity {
  std::string tenant;
  bool shared_memory = false;  // may receive the arena's memfd
  bool cluster_peer = false;   // another node: keeps the tenant its namespaces name (config.h)
  // STATS over the wire shows the whole daemon (an admin, a cluster peer, or the anonymous tenant
  // of a daemon with no token tenants: then nobody else's counts exist); else only its own tenant's.
  bool sees_all_stats = false;
};

// Lower-case hex SHA-256 of `token`.
std::string HashToken(std::string_view token);

class Authenticator {
 public:
  explicit Authenticator(const ServerConfig& config);

  // kUnauthenticated for an unknown token, or an anonymous peer where anonymous access is off or
  // the peer is not local. `local_peer`: loopback TCP address or Unix socket.
  Result<Identity> Authenticate(std::string_view token, bool local_peer) const;

 private:
  bool allow_anonymous_loopback_;
  Identity anonymous_;
  std::unordered_map<std::string, Identity> by_token_hash_;
};

}  // namespace tw::server
