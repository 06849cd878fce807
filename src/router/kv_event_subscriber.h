// KvEventSubscriber: one engine's KV events, received as vLLM's own consumers receive them (a ZMQ SUB
// socket connected to the engine's `--kv-events-config` endpoint) and applied to that engine's
// GpuPrefixIndex on a thread of its own.
//
// The SUB socket connects, so the engine may start before or after the router, and restart: ZMQ
// reconnects by itself. A message is [topic, sequence (8 bytes, big-endian), msgpack batch]. A gap
// in the sequence (messages vLLM dropped at its high-water mark, or sent while the router was away)
// is counted and logged, and the index is kept: what it lacks only scores lower (see
// gpu_prefix_index.h). A malformed message is counted and skipped.
//
// Thread-safety: the counters may be read from any thread. Destruction stops and joins the thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "router/gpu_prefix_index.h"
#include "tw/result.h"

namespace tw::router {

class KvEventSubscriber {
 public:
  // Connects to `endpoint` ("tcp://127.0.0.1:5557", ipc://...) and subscribes to messages whose topic
  // starts with `topic` ("" for all). `index` must outlive the subscriber. kInvalidArgument for an
  // endpoint ZMQ rejects; kNotSupported in a build without libzmq (TW_HAVE_KV_EVENTS off).
  static Result<std::unique_ptr<KvEventSubscriber>> Start(const std::string& endpoint, const std::string& topic,
                                                          GpuPrefixIndex* index, std::string engine_name);
  ~KvEventSubscriber();

  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t malformed() const { return malformed_.load(std::memory_order_relaxed); }
  uint64_t gaps() const { return gaps_.load(std::memory_order_relaxed); }

 private:
  KvEventSubscriber(GpuPrefixIndex* index, std::string engine_name) : index_(index), name_(std::move(engine_name)) {}
  void Run();

  GpuPrefixIndex* const index_;
  const std::string name_;
  void* ctx_ = nullptr;   // zmq context, owned
  void* sub_ = nullptr;   // owned by the thread once started
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> batches_{0}, malformed_{0}, gaps_{0};
  std::thread thread_;
};

}  // namespace tw::router
