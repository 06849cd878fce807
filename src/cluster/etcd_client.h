// EtcdClient: the slice of etcd's v3 API the cluster needs, spoken through etcd's JSON gateway
// (HTTP/1.1 + JSON, base64 keys and values, int64 as strings), so no gRPC stack is linked.
// Paths are those etcd 3.4 serves: /v3/kv/{range,put,deleterange}, /v3/lease/{grant,keepalive,revoke},
// /v3/watch (a streaming response: one JSON object per event batch).
//
// Endpoints: a list of "host:port". Each call tries the endpoint that last answered, then the others,
// so a multi-member etcd keeps working when one member is down. No call retries beyond that:
// membership.cc owns the retry policy.
//
// Errors: kUnavailable when no endpoint answers (connect or read timeout, or HTTP 5xx);
// kInternal for an answer that does not parse; kNotFound for a lease etcd no longer knows.
//
// Thread-safety: every method may be called concurrently; each call uses its own connection.
// Blocking: every call blocks for at most about `timeout_ms` per endpoint tried, except Watch,
// which blocks until `stop` or a failure.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tw/result.h"
#include "tw/status.h"

namespace httplib {
class Client;
}

namespace tw::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "host:port"
  uint32_t timeout_ms = 1000;          // connect and read timeout of one request to one endpoint
};

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision when the range was read
  std::vector<EtcdKeyValue> kvs;
};

// One watch event: a put (value set) or a delete (value empty, deleted = true) of a key.
struct EtcdEvent {
  bool deleted = false;
  EtcdKeyValue kv;
};

// Parses "etcd://h1:p1,h2:p2" (or "h1:p1,h2:p2") into endpoints. kInvalidArgument when empty or malformed.
Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url);

class EtcdClient {
 public:
  // kInvalidArgument without endpoints. Does not connect: etcd may come up later.
  static Result<std::unique_ptr<EtcdClient>> Create(const EtcdOptions& options);
  ~EtcdClient();

  // Grants a lease of `ttl_s` seconds; returns its id.
  Result<int64_t> LeaseGrant(int64_t ttl_s);
  // Renews a lease once; returns the TTL etcd granted. kNotFound if the lease expired or was revoked.
  Result<int64_t> LeaseKeepAlive(int64_t lease_id);
  // Ends a lease now, deleting every key attached to it. OK if it no longer exists.
  Status LeaseRevoke(int64_t lease_id);

  // Sets `key` to `value`, attached to `lease_id` (0: no lease).
  Status Put(const std::string& key, const std::string& value, int64_t lease_id = 0);
  Status Delete(const std::string& key);
  // Every key that starts with `prefix`.
  Result<EtcdRange> RangePrefix(const std::string& prefix);

  // Streams the changes under `prefix` after `start_revision` to `on_events` until `stop` becomes
  // true (noticed at the next message or at CancelWatches) or the stream fails. Returns
  // kUnavailable when the stream ends for any reason but `stop`; the caller re-ranges and re-watches.
  // `on_events` runs on the calling thread.
  Status Watch(const std::string& prefix, int64_t start_revision,
               const std::function<void(const std::vector<EtcdEvent>&)>& on_events, const std::atomic<bool>& stop);

  // Ends every Watch in progress now (they return OK if their `stop` is set). For shutdown.
  void CancelWatches();

  // The endpoint that answered last ("" before the first answer). For logs and /metrics.
  std::string current_endpoint() const;

 private:
  explicit EtcdClient(const EtcdOptions& options);
  // POSTs `body` (JSON) to `path` on each endpoint in turn until one answers; returns the body.
  Result<std::string> Call(const std::string& path, const std::string& body);

  const EtcdOptions options_;
  mutable std::mutex mu_;
  size_t preferred_ = 0;  // GUARDED_BY(mu_): index into endpoints of the last that answered
  bool answered_ = false;  // GUARDED_BY(mu_)
  std::vector<httplib::Client*> watches_;  // GUARDED_BY(mu_): streams CancelWatches must end
};

// Base64 (RFC 4648, padded), as the gateway encodes bytes. Decode returns false on bad input.
std::string Base64Encode(std::string_view bytes);
bool Base64Decode(std::string_view text, std::string* out);
// The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix).
std::string PrefixRangeEnd(const std::string& prefix);

}  // namespace tw::cluster
