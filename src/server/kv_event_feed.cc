#include "server/kv_event_feed.h"

#include "common/logging.h"

namespace tw::server {

namespace {

// True for endpoints only this host can reach: ipc/inproc, or TCP on a loopback address.
bool HostOnly(const std::string& endpoint) {
  for (const char* p : {"ipc://", "inproc://", "tcp://127.", "tcp://localhost:", "tcp://[::1]:"}) {
    if (endpoint.rfind(p, 0) == 0) return true;
  }
  return false;
}

}  // namespace

Result<std::shared_ptr<KvEventFeed>> KvEventFeed::Start(const std::vector<KvEventsEndpoint>& endpoints, ServerCore& core) {
  auto feed = std::make_shared<KvEventFeed>();
  feed->metrics_ = &core.metrics();
  for (const KvEventsEndpoint& e : endpoints) {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<KvEventPublisher> p, KvEventPublisher::Start(e));
    for (const std::string* ep : {&p->endpoint(), &p->replay_endpoint()}) {
      if (!ep->empty() && !HostOnly(*ep)) {
        TW_LOG_WARN("events[{}]: {} is reachable beyond this host and has no authentication: whoever connects "
                    "sees this tenant's block hashes (docs/operations.md, \"KV events for routers\")", e.tenant, *ep);
      }
    }
    feed->publishers_.push_back(std::move(p));
  }
  if (!feed->publishers_.empty()) {
    core.SetBlockEventSink([feed](const ServerCore::BlockEvent& e) { feed->OnBlockEvent(e); });
  }
  return feed;
}

void KvEventFeed::OnBlockEvent(const ServerCore::BlockEvent& e) {
  for (const auto& p : publishers_) {
    if (p->tenant() != e.tenant) continue;
    KvEvent ev;
    ev.block_hashes.push_back(e.event.key);
    ev.tier = e.event.tier;
    switch (e.event.kind) {
      case net::EventKind::kStored:
        ev.kind = KvEvent::Kind::kBlockStored;
        if (!e.parent.IsZero()) ev.parent_block_hash = e.parent;
        ev.block_size = e.block_tokens;
        break;
      case net::EventKind::kEvicted:
        ev.kind = KvEvent::Kind::kBlockRemoved;
        break;
      case net::EventKind::kRemoved:
        ev.kind = KvEvent::Kind::kBlockRemoved;
        ev.tier = Tier::kNone;  // a client's REMOVE leaves every tier
        break;
    }
    if (p->Publish(std::move(ev))) metrics_->kv_events_queued.fetch_add(1, std::memory_order_relaxed);
    else metrics_->kv_events_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

}  // namespace tw::server
