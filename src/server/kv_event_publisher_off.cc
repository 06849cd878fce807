// KvEventPublisher in a build without libzmq or msgpack-cxx (TW_HAVE_KV_EVENTS off, e.g. the GPU
// machine's image, bench/gpu/make_devdeps.sh): the daemon runs, and a config asking for events is
// refused at start with a clear reason rather than silently publishing nothing.
#include "server/kv_event_publisher.h"

namespace tw::server {

Result<std::unique_ptr<KvEventPublisher>> KvEventPublisher::Start(const KvEventsEndpoint& config) {
  return Status::NotSupported("events[" + config.tenant +
                              "]: this build has no KV events (libzmq3-dev and libmsgpack-cxx-dev were not found)");
}

KvEventPublisher::~KvEventPublisher() = default;

bool KvEventPublisher::Publish(KvEvent) { return false; }

}  // namespace tw::server
