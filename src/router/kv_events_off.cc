// A build without libzmq and msgpack-cxx (TW_HAVE_KV_EVENTS off): the router runs, and every engine
// scores 0 GPU prefix tokens (it routes by the warehouse prefix and by load).
#include "router/kv_event_subscriber.h"
#include "router/vllm_kv_event.h"

namespace tw::router {

Result<VllmKvEventBatch> DecodeVllmKvEventBatch(std::string_view) {
  return Status::NotSupported("this build has no KV events (libzmq3-dev, libmsgpack-cxx-dev)");
}

Result<std::unique_ptr<KvEventSubscriber>> KvEventSubscriber::Start(const std::string&, const std::string&,
                                                                    GpuPrefixIndex*, std::string) {
  return Status::NotSupported("this build has no KV events (libzmq3-dev, libmsgpack-cxx-dev)");
}

KvEventSubscriber::~KvEventSubscriber() = default;

void KvEventSubscriber::Run() {}

}  // namespace tw::router
