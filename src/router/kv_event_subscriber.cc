#include "router/kv_event_subscriber.h"

#include <zmq.h>

#include <optional>
#include <string_view>
#include <vector>

#include "common/log_rate_limiter.h"
#include "common/logging.h"

namespace tw::router {

namespace {

// How long a receive waits before the thread looks at stop_: the bound on destruction time.
constexpr int kReceiveTimeoutMs = 200;

// One multipart message, every frame; empty if the receive timed out.
std::vector<std::string> ReceiveMultipart(void* socket) {
  std::vector<std::string> frames;
  for (;;) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, 0) < 0) {
      zmq_msg_close(&msg);
      return {};  // timed out (or the context is closing); a partial message is dropped whole
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    const bool more = zmq_msg_more(&msg);
    zmq_msg_close(&msg);
    if (!more) return frames;
  }
}

uint64_t BigEndian64(std::string_view bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

}  // namespace

Result<std::unique_ptr<KvEventSubscriber>> KvEventSubscriber::Start(const std::string& endpoint, const std::string& topic,
                                                                    GpuPrefixIndex* index, std::string engine_name) {
  std::unique_ptr<KvEventSubscriber> s(new KvEventSubscriber(index, std::move(engine_name)));
  s->ctx_ = zmq_ctx_new();
  s->sub_ = zmq_socket(s->ctx_, ZMQ_SUB);
  const int timeout = kReceiveTimeoutMs, linger = 0;
  zmq_setsockopt(s->sub_, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s->sub_, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s->sub_, ZMQ_SUBSCRIBE, topic.data(), topic.size());
  if (zmq_connect(s->sub_, endpoint.c_str()) != 0) {
    const std::string why = zmq_strerror(zmq_errno());
    zmq_close(s->sub_);
    zmq_ctx_term(s->ctx_);
    s->sub_ = s->ctx_ = nullptr;
    return Status::InvalidArgument("KV events endpoint '" + endpoint + "': " + why);
  }
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

KvEventSubscriber::~KvEventSubscriber() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (sub_) zmq_close(sub_);
  if (ctx_) zmq_ctx_term(ctx_);
}

void KvEventSubscriber::Run() {
  std::optional<uint64_t> last_seq;
  LogRateLimiter gap_log(10'000), malformed_log(10'000);
  uint64_t n = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    std::vector<std::string> frames = ReceiveMultipart(sub_);
    if (frames.empty()) continue;
    if (frames.size() != 3 || frames[1].size() != 8) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      if (malformed_log.Allow(&n)) TW_LOG_WARN("engine {}: {} KV event message(s) not [topic, seq, batch]", name_, n);
      continue;
    }
    const uint64_t seq = BigEndian64(frames[1]);
    // A sequence that goes back means the engine restarted (it counts from 0 again): not a gap.
    if (last_seq && seq > *last_seq + 1) {
      gaps_.fetch_add(1, std::memory_order_relaxed);
      if (gap_log.Allow(&n)) {
        TW_LOG_WARN("engine {}: KV events {}..{} missed ({} gap(s)); its GPU prefix may be under- or over-counted",
                    name_, *last_seq + 1, seq - 1, n);
      }
    }
    last_seq = seq;
    Result<VllmKvEventBatch> batch = DecodeVllmKvEventBatch(frames[2]);
    if (!batch.ok()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      if (malformed_log.Allow(&n)) TW_LOG_WARN("engine {}: {} malformed KV event batch(es): {}", name_, n, batch.status().ToString());
      continue;
    }
    for (const VllmKvEvent& e : batch->events) index_->Apply(e);
    batches_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace tw::router
