// KvEventPublisher: one tenant's block events, published as vLLM's ZmqEventPublisher does, so that a
// KV-aware router subscribes to the warehouse exactly as it subscribes to a vLLM engine:
//
//   PUB socket:    multipart [topic, sequence (8 bytes, big-endian, from 0), msgpack KVEventBatch]
//   ROUTER socket: replay (server/kv_event_replay.h): [identity, "", start seq] -> the buffered
//                  batches from start on, each [identity, "", topic, seq, payload], then
//                  [identity, "", "", seq -1, ""].
//
// Both sockets are bound (the daemon is the fixed end; vLLM also connects when the endpoint names no
// wildcard). A tcp port of "*" or 0 is resolved, see endpoint().
//
// Publish never blocks the caller (a store call): events go to a bounded queue that one thread
// drains, one batch per wake-up. When the queue is full, events are dropped and the next batch opens
// with AllBlocksCleared, so a router forgets what it may have missed instead of trusting a view with
// holes; a router that missed whole batches sees the gap in the sequence and asks for a replay.
//
// Thread-safety: Publish from any thread. The sockets belong to the publisher thread alone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log_rate_limiter.h"
#include "server/config.h"
#include "server/kv_event_batch.h"
#include "server/kv_event_replay.h"
#include "tw/result.h"

namespace tw::server {

class KvEventPublisher {
 public:
  // The most events one batch holds; a busier wake-up sends several batches.
  static constexpr size_t kMaxBatchEvents = 1024;

  // Binds the sockets and starts the thread. kUnavailable if an endpoint cannot be bound (in use, bad
  // address); kNotSupported if this build has no libzmq (TW_HAVE_KV_EVENTS off).
  static Result<std::unique_ptr<KvEventPublisher>> Start(const KvEventsEndpoint& config);
  // Publishes what is queued, then closes the sockets (unsent messages are dropped after 1 s).
  ~KvEventPublisher();

  // False if the event was dropped (the queue holds max_queue_events).
  bool Publish(KvEvent event);

  const std::string& tenant() const { return config_.tenant; }
  // The bound endpoints, wildcard ports resolved ("tcp://127.0.0.1:41234"); replay "" when off.
  const std::string& endpoint() const { return endpoint_; }
  const std::string& replay_endpoint() const { return replay_endpoint_; }
  uint64_t batches_published() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t events_dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  explicit KvEventPublisher(const KvEventsEndpoint& config) : config_(config) {}
  void Run();
  void SendBatch(const std::vector<KvEvent>& events);
  void ServeReplay();

  const KvEventsEndpoint config_;
  void* ctx_ = nullptr;     // zmq context, owned
  void* pub_ = nullptr;     // owned by the thread once started
  void* replay_ = nullptr;  // nullptr when no replay endpoint
  std::string endpoint_, replay_endpoint_;
  uint64_t next_seq_ = 0;   // thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<KvEvent> queue_;  // GUARDED_BY(mu_)
  bool overflowed_ = false;     // GUARDED_BY(mu_): events were dropped since the last batch
  bool stop_ = false;           // GUARDED_BY(mu_)

  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> dropped_{0};
  std::unique_ptr<ReplayBuffer> ring_;  // thread only
  LogRateLimiter bad_request_log_{10'000};  // malformed replay requests: one line per 10 s
  std::thread thread_;
};

}  // namespace tw::server
