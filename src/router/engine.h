// Engine: what the router knows of one vLLM server behind it: where it is, whether it is up, how
// loaded it is, and (from its KV events) which prefixes its GPU holds.
//
//   --engine http://127.0.0.1:8001,events=tcp://127.0.0.1:5557,topic=kv,name=a[,warehouse=tw://node1:7700]
//
// warehouse= names the daemon of the engine's node, where engines of several nodes sit behind one
// router: each engine is then scored on its own node's warehouse, as the simulator's nodes are.
//
// Load is the requests this router has in flight to the engine, counted the moment they are sent,
// plus the engine's other requests: its own count of requests running and waiting
// (vllm:num_requests_running + vllm:num_requests_waiting on its /metrics, polled) less this router's
// requests in flight at that poll. So a request that has just ended counts 0 at once, not until the
// next poll, and another client's requests (sent to the engine directly) still count.
//
// Health: a failed poll, or a request that cannot connect, marks the engine down, and its GPU index
// is cleared (an engine that comes back has lost its cache, or may have); the next successful poll
// marks it up. Down engines are not routed to.
//
// Thread-safety: every accessor and mutator may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "router/gpu_prefix_index.h"
#include "router/kv_event_subscriber.h"
#include "tw/result.h"

namespace tw::router {

struct EngineSpec {
  std::string name;         // in logs, metrics and the x-tw-engine header; default host:port
  std::string host;
  uint16_t port = 0;
  std::string events;       // ZMQ endpoint of its KV events; empty: none (GPU prefix scores 0)
  std::string topic;        // KV events topic filter ("" for all)
  std::string warehouse;    // the daemon of this engine's node, if not the router's --warehouse
};

// "http://host:port[,events=ENDPOINT][,topic=T][,name=N][,warehouse=URL]". kInvalidArgument otherwise
// (https is not supported: engines sit beside the router).
Result<EngineSpec> ParseEngineSpec(std::string_view text);

// running + waiting requests summed over every sample of vllm:num_requests_running and
// vllm:num_requests_waiting in a Prometheus text page. kNotFound if the page has neither.
Result<double> ParseVllmLoad(std::string_view metrics_text);

class Engine {
 public:
  explicit Engine(EngineSpec spec) : spec_(std::move(spec)) {}

  // Subscribes to the engine's KV events if it names an endpoint. kNotSupported in a build without
  // KV events; kInvalidArgument for an endpoint ZMQ rejects.
  Status StartEvents();

  const EngineSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  GpuPrefixIndex& index() { return index_; }
  const KvEventSubscriber* events() const { return events_.get(); }

  bool up() const { return up_.load(std::memory_order_relaxed); }
  // A poll answered: `polled_load` running + waiting, while this router had `ours` requests in
  // flight (the larger count seen over the poll). Returns true if this changed the state (the caller
  // logs transitions only).
  bool MarkUp(double polled_load, int64_t ours);
  bool MarkDown();

  double load() const;
  void BeginRequest() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void EndRequest() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  double polled_load() const { return polled_load_.load(std::memory_order_relaxed); }

  std::atomic<uint64_t> routed{0};  // requests sent to it
  std::atomic<uint64_t> failed{0};
  int slow_polls = 0;             // the poller's thread only: polls in a row that failed without a refusal
  bool announced_absent = false;  // the poller's thread only: "not answering yet" was logged  // requests that could not be sent or were cut (retried elsewhere if nothing was answered)

 private:
  const EngineSpec spec_;
  GpuPrefixIndex index_;
  std::unique_ptr<KvEventSubscriber> events_;
  std::atomic<bool> up_{false};  // down until the first poll answers
  std::atomic<double> polled_load_{0};
  std::atomic<double> others_load_{0};  // polled_load_ less this router's requests at the poll
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace tw::router
