// WarehousePrefix: how much of a request's prefix the warehouse holds, and in which tier, asked of
// the daemon the engines' connector stores into, in the namespace that connector uses.
//
// The vLLM connector (python/tokenwarehouse/vllm/config.py) registers model_id (the served model
// name), model_revision, the model's KV geometry (attention layers, KV heads, head dim, dtype),
// block_tokens and key_hash, and derives each block's key from the prompt's token ids
// (Namespace::BlockKeys). The router registers the same namespace and looks the same keys up, so
// its answer is the prefix the connector's lookup would load. (A request with a LoRA adapter or a
// cache salt lives in another namespace; the router scores the base namespace only.)
//
// Away: a warehouse that cannot be reached, or answers with an error, is "away": Lookup returns
// kUnavailable at once (no wait per request) until a reconnect, tried at most once a second,
// succeeds. The router then scores GPU prefix and load only. A lookup never waits longer than
// io_timeout_ms. The first failure after being up is logged, then at most one line per 10 s.
//
// Thread-safety: Lookup may be called from any thread; calls share one connection (tw::Store is
// thread-safe).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "common/log_rate_limiter.h"
#include "tw/namespace.h"
#include "tw/store.h"

namespace tw::router {

struct WarehouseOptions {
  std::string url;             // unix:///path/tw.sock, tw://host:port, tws://..., etcd://...
  std::string token;           // the tenant's token; empty: anonymous (loopback daemons allow it)
  Namespace nspace;            // as the connector registers it (model_id filled in by the caller)
  uint64_t ttl_ms = 0;         // the connector's ttl_ms: a namespace registers with one TTL only
  uint64_t io_timeout_ms = 250;
};

class WarehousePrefix {
 public:
  explicit WarehousePrefix(WarehouseOptions options);

  // The stored prefix of `tokens`' full blocks: matched blocks of nspace.geometry.block_tokens and
  // the tier of each. kUnavailable while the warehouse is away; an empty prompt matches nothing.
  Result<LookupResult> Lookup(std::span<const uint32_t> tokens);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  uint32_t block_tokens() const { return options_.nspace.geometry.block_tokens; }
  // KV bytes of one token in this namespace: what loading it from a tier moves.
  double bytes_per_token() const;

 private:
  // Opens and registers; sets the next attempt's time. Called with mu_ held and store_ empty.
  Status EnsureOpen();
  void Fail(const Status& s);

  const WarehouseOptions options_;
  std::mutex mu_;
  std::shared_ptr<Store> store_;  // GUARDED_BY(mu_); shared so a lookup runs without mu_ held
  NamespaceId ns_;                // GUARDED_BY(mu_)
  uint64_t retry_after_ns_ = 0;   // GUARDED_BY(mu_)
  std::atomic<bool> up_{false};
  LogRateLimiter away_log_{10'000};
};

}  // namespace tw::router
