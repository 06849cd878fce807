#include "server/kv_event_publisher.h"

#include <zmq.h>

#include <chrono>
#include <cstring>

#include "common/logging.h"
#include "server/kv_event_replay.h"

namespace tw::server {

namespace {

// Binds and returns the endpoint as bound (ZMQ_LAST_ENDPOINT resolves "tcp://host:*" and port 0).
Result<std::string> Bind(void* sock, const std::string& endpoint) {
  std::string ask = endpoint;
  // vLLM writes "tcp://*:0" for "any port"; libzmq spells it "*" as the port.
  if (ask.size() > 2 && ask.compare(ask.size() - 2, 2, ":0") == 0 && ask.rfind("tcp://", 0) == 0) {
    ask = ask.substr(0, ask.size() - 1) + "*";
  }
  if (zmq_bind(sock, ask.c_str()) != 0) {
    return Status::Unavailable("events: cannot bind " + endpoint + ": " + zmq_strerror(zmq_errno()));
  }
  char buf[512];
  size_t len = sizeof buf;
  if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, buf, &len) != 0 || len == 0) return endpoint;
  return std::string(buf, strnlen(buf, len));
}

// Sends frames as one multipart message. Non-blocking: a PUB socket drops for a slow subscriber at
// its high-water mark instead of waiting (as vLLM's does), a ROUTER for a vanished peer.
bool SendFrames(void* sock, std::initializer_list<std::string_view> frames) {
  size_t i = 0;
  for (std::string_view f : frames) {
    const int more = ++i < frames.size() ? ZMQ_SNDMORE : 0;
    if (zmq_send(sock, f.data(), f.size(), more | ZMQ_DONTWAIT) < 0) return false;
  }
  return true;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<std::unique_ptr<KvEventPublisher>> KvEventPublisher::Start(const KvEventsEndpoint& config) {
  std::unique_ptr<KvEventPublisher> p(new KvEventPublisher(config));
  p->ctx_ = zmq_ctx_new();
  if (!p->ctx_) return Status::Internal("events: zmq_ctx_new failed");
  p->pub_ = zmq_socket(p->ctx_, ZMQ_PUB);
  const int hwm = static_cast<int>(config.hwm);
  zmq_setsockopt(p->pub_, ZMQ_SNDHWM, &hwm, sizeof hwm);
  const int linger_ms = 1000;
  zmq_setsockopt(p->pub_, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
  TW_ASSIGN_OR_RETURN(p->endpoint_, Bind(p->pub_, config.endpoint));
  if (!config.replay_endpoint.empty()) {
    p->replay_ = zmq_socket(p->ctx_, ZMQ_ROUTER);
    const int zero = 0;
    zmq_setsockopt(p->replay_, ZMQ_LINGER, &zero, sizeof zero);
    TW_ASSIGN_OR_RETURN(p->replay_endpoint_, Bind(p->replay_, config.replay_endpoint));
  }
  p->ring_ = std::make_unique<ReplayBuffer>(config.buffer_batches);
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });  // thread start: the sockets' hand-over barrier
  return p;
}

KvEventPublisher::~KvEventPublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (replay_) zmq_close(replay_);
  if (pub_) zmq_close(pub_);
  if (ctx_) zmq_ctx_term(ctx_);
}

bool KvEventPublisher::Publish(KvEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= config_.max_queue_events) {
      overflowed_ = true;
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
  return true;
}

void KvEventPublisher::Run() {
  std::vector<KvEvent> taken;
  for (;;) {
    bool overflowed = false, stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A short wait keeps replay requests answered while no events flow.
      cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stop_ || !queue_.empty(); });
      taken.swap(queue_);
      overflowed = overflowed_;
      overflowed_ = false;
      stopping = stop_;
    }
    if (overflowed) {
      // Whatever was dropped, the router's view is now unreliable: tell it to start over.
      KvEvent clear;
      clear.kind = KvEvent::Kind::kAllBlocksCleared;
      taken.insert(taken.begin(), clear);
    }
    for (size_t i = 0; i < taken.size(); i += kMaxBatchEvents) {
      const size_t n = std::min(kMaxBatchEvents, taken.size() - i);
      SendBatch(std::vector<KvEvent>(taken.begin() + static_cast<ptrdiff_t>(i), taken.begin() + static_cast<ptrdiff_t>(i + n)));
    }
    taken.clear();
    ServeReplay();
    if (stopping) return;
  }
}

void KvEventPublisher::SendBatch(const std::vector<KvEvent>& events) {
  const uint64_t seq = next_seq_++;
  std::string payload = EncodeKvEventBatch(WallSeconds(), events);
  const std::string seq_bytes = EncodeSequence(static_cast<int64_t>(seq));
  // A failed send (no room at the high-water mark) is what PUB does for a slow subscriber; the
  // batch stays in the ring, so the subscriber can still replay it.
  (void)SendFrames(pub_, {config_.topic, seq_bytes, payload});
  batches_.fetch_add(1, std::memory_order_relaxed);
  ring_->Add(seq, std::move(payload));
}

void KvEventPublisher::ServeReplay() {
  if (!replay_) return;
  for (int served = 0; served < 16; ++served) {  // bounded: publishing must not starve behind replays
    // A request is [identity, "", start] or [identity, start]: a few small frames (a ZMQ identity is
    // at most 255 bytes). Anything else is read to its end, to stay in step, and kept none of.
    std::vector<std::string> frames;
    bool malformed = false;
    for (;;) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, replay_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        if (frames.empty() && !malformed) return;  // nothing waiting
        break;  // ZMQ delivers whole messages, so this is not reached mid-message
      }
      if (frames.size() < 3 && zmq_msg_size(&msg) <= 255) {
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
      } else {
        malformed = true;
      }
      const bool more = zmq_msg_more(&msg);
      zmq_msg_close(&msg);
      if (!more) break;
    }
    if (frames.empty()) continue;
    const std::string identity = frames[0];
    std::vector<std::string_view> rest(frames.begin() + 1, frames.end());
    Result<uint64_t> start = malformed ? Status::InvalidArgument("replay request: too many or too large frames")
                                       : ParseReplayRequest(rest);
    if (!start.ok()) {
      // Anyone who reaches the endpoint can send garbage: log it, but not once per message.
      uint64_t n = 0;
      if (bad_request_log_.Allow(&n)) TW_LOG_WARN("events[{}]: {} ({} refused)", config_.tenant, start.status().ToString(), n);
      continue;
    }
    // ROUTER drops (rather than blocks) past the requester's high-water mark, as vLLM's does: a
    // requester that sees a gap in the replayed sequences asks again from there.
    ring_->ForEachFrom(*start, [&](uint64_t seq, const std::string& payload) {
      (void)SendFrames(replay_, {identity, "", config_.topic, EncodeSequence(static_cast<int64_t>(seq)), payload});
    });
    (void)SendFrames(replay_, {identity, "", "", EncodeSequence(-1), ""});
  }
}

}  // namespace tw::server
