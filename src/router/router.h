// Router: an OpenAI-compatible HTTP front for several vLLM servers of one model (`tokenwarehouse
// route`, docs/engines/router.md). Each request goes to the engine with the lowest estimated time to
// first token, by the simulator's policy (router/scoring.h): the prefix it would hit in its own GPU
// cache (from its KV events), the prefix the warehouse holds (from the daemon, costed at each tier's
// load rate), and its load (from its /metrics).
//
// A request: parse the JSON body; tokenize it on a live engine (/tokenize: the prompt for
// /v1/completions, the messages through the chat template for /v1/chat/completions); look up the
// warehouse prefix; score every live engine; forward. The response carries x-tw-engine (the engine's
// name), x-tw-reason (gpu-prefix, warehouse-prefix, load, round-robin, only-engine), x-tw-gpu-prefix-tokens and
// x-tw-warehouse-prefix-tokens. A streamed request (`"stream": true`) is passed through as the engine
// writes it (router/stream_relay.h).
//
// Faults: an engine that refuses the connection, or drops it before answering, is marked down and
// the request goes to the next best engine (a completion is not answered twice: nothing reached the
// client). A stream the engine cuts after it started ends there. Tokenization failing routes by load
// alone; the warehouse away routes by GPU prefix and load (router/warehouse_prefix.h). No live engine:
// 503.
//
// Its own endpoints: GET /health (200 while some engine is up), /metrics (Prometheus: decisions by
// reason, requests, retries and state per engine), /router/engines (JSON).
//
// Thread-safety: Start, then Stop once from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "router/engine.h"
#include "router/scoring.h"
#include "router/warehouse_prefix.h"
#include "sim/router_policy.h"
#include "tw/result.h"

namespace tw::router {

struct RouterOptions {
  std::string listen = "127.0.0.1:8000";  // host:port; port 0 picks one (see Router::address)
  std::vector<EngineSpec> engines;
  // The warehouse namespace (geometry, ...) and the default warehouse url, for engines without a
  // warehouse= of their own ("" for none); nullopt: no warehouse lookups at all. Its model_id, when
  // empty, is each request's "model" (the served model name, the connector's default).
  std::optional<WarehouseOptions> warehouse;
  sim::RoutingPolicy policy = sim::RoutingPolicy::kWarehouseAware;
  ScoringCosts costs;                       // route.block_tokens is set to 1 by Start
  uint64_t poll_ms = 250;                   // /metrics of every engine, this often
  uint64_t connect_timeout_ms = 1000;
  uint64_t engine_timeout_ms = 600'000;     // the longest an engine may take between two reads
  uint32_t threads = 64;                    // HTTP worker threads: one per request in flight
};

class Router {
 public:
  // Binds, subscribes to the engines' KV events and starts polling. kInvalidArgument for no engines
  // or a bad endpoint; kUnavailable if `listen` cannot be bound.
  static Result<std::unique_ptr<Router>> Start(RouterOptions options);
  virtual ~Router() = default;
  virtual std::string address() const = 0;  // "host:port", the port resolved
  virtual void Stop() = 0;                  // stops accepting, ends the poller; idempotent
};

}  // namespace tw::router
