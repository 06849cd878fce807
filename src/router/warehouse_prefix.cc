#include "router/warehouse_prefix.h"

#include "common/clock.h"
#include "common/logging.h"
#include "tw/open.h"

namespace tw::router {

namespace {
constexpr uint64_t kReconnectNs = 1'000'000'000;  // one attempt a second while away
}  // namespace

WarehousePrefix::WarehousePrefix(WarehouseOptions options) : options_(std::move(options)) {}

double WarehousePrefix::bytes_per_token() const {
  const uint32_t t = options_.nspace.geometry.block_tokens;
  return t ? static_cast<double>(options_.nspace.ObjectBytes()) / t : 0;
}

Status WarehousePrefix::EnsureOpen() {
  retry_after_ns_ = MonotonicNanos() + kReconnectNs;
  OpenOptions o;
  o.client.token = options_.token;
  o.client.client_name = "tokenwarehouse-route";
  o.client.connect_timeout_ms = options_.io_timeout_ms;
  o.client.io_timeout_ms = options_.io_timeout_ms;
  o.client.retries = 0;            // away is decided here, with backoff; a retry inside doubles a wait
  o.client.shared_memory = false;  // lookups move no objects
  auto store = Open(options_.url, o);
  if (!store.ok()) return store.status();
  NamespaceOptions no;
  no.ttl_ms = options_.ttl_ms;
  auto id = (*store)->RegisterNamespace(options_.nspace, no);
  if (!id.ok()) return id.status();
  store_ = std::shared_ptr<Store>(std::move(*store));
  ns_ = *id;
  return Status::Ok();
}

void WarehousePrefix::Fail(const Status& s) {
  uint64_t n = 0;
  const bool was_up = up_.exchange(false);
  if (away_log_.Allow(&n) || was_up) {
    TW_LOG_WARN("warehouse {} away ({} failure(s)): {}; routing on GPU prefix and load only", options_.url, n,
                s.ToString());
  }
}

Result<LookupResult> WarehousePrefix::Lookup(std::span<const uint32_t> tokens) {
  std::shared_ptr<Store> store;
  NamespaceId ns;
  {
    std::lock_guard lock(mu_);
    if (!store_) {
      // Away: answer at once until the next reconnect attempt is due.
      if (MonotonicNanos() < retry_after_ns_) return Status::Unavailable("the warehouse is away");
      Status s = EnsureOpen();
      if (!s.ok()) {
        Fail(s);
        return Status::Unavailable(s.message());
      }
    }
    store = store_;
    ns = ns_;
  }
  const std::vector<BlockKey> keys = options_.nspace.BlockKeys(tokens);
  Result<LookupResult> r = store->Lookup(ns, keys);
  if (!r.ok()) {
    Fail(r.status());
    std::lock_guard lock(mu_);
    if (store_ == store) store_.reset();  // reconnect (a restarted daemon forgets registrations)
    return Status::Unavailable(r.status().message());
  }
  if (!up_.exchange(true)) TW_LOG_INFO("warehouse {} up: scoring its prefix", options_.url);
  return r;
}

}  // namespace tw::router
