// KvEventFeed: the daemon's KV-events publishers (one per tenant the operator listed under
// `events:`), fed from the same place as SUBSCRIBE (ServerCore's block events). A block of a tenant
// with no publisher is never published: a ZMQ endpoint has no authentication.
//
// Store, remove and evict map to vLLM's events (server/kv_event_batch.h):
//   stored in dram (a PUT or COMMIT)        BlockStored  medium "CPU", parent when the PUT named it
//   stored on disk (demoted from dram)      BlockStored  medium "STORAGE"
//   evicted from dram / from disk           BlockRemoved medium "CPU" / "STORAGE"
//   removed by a client (every tier)        BlockRemoved medium nil
//
// Thread-safety: OnBlockEvent from any thread; the publisher list is fixed at Start.
#pragma once

#include <memory>
#include <vector>

#include "server/kv_event_publisher.h"
#include "server/server_core.h"

namespace tw::server {

class KvEventFeed {
 public:
  // Starts a publisher for each entry and makes `core` feed them. The feed stays alive as long as
  // `core` holds its sink. kNotSupported in a build without libzmq; kUnavailable for an endpoint that
  // cannot be bound.
  static Result<std::shared_ptr<KvEventFeed>> Start(const std::vector<KvEventsEndpoint>& endpoints, ServerCore& core);

  void OnBlockEvent(const ServerCore::BlockEvent& e);
  const std::vector<std::unique_ptr<KvEventPublisher>>& publishers() const { return publishers_; }

 private:
  std::vector<std::unique_ptr<KvEventPublisher>> publishers_;  // few: a linear search by tenant
  ServerMetrics* metrics_ = nullptr;                            // the core's: tw_kv_events_total, ..._dropped_total
};

}  // namespace tw::server
