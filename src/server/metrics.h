// ServerMetrics: the daemon's counters and latency histograms, rendered as Prometheus text
// (/metrics) and JSON (/stats). Lock-free: every counter is a relaxed atomic, bumped on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "net/frame.h"
#include "tw/status.h"
#include "tw/store.h"

namespace tw::server {

class ServerMetrics {
 public:
  static constexpr size_t kOps = 17;  // request ops 1..16; slot 0 unused
  static constexpr std::array<double, 16> kLatencyBucketsUs = {10,    25,    50,     100,    250,    500,    1000,   2500,
                                                               5000,  10000, 25000,  50000,  100000, 250000, 500000, 1000000};

  // One request: its op, outcome, payload bytes received and sent, and how long it took.
  void RecordRequest(net::Op op, const Status& status, uint64_t bytes_in, uint64_t bytes_out, uint64_t nanos);

  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_rejected{0};  // over max_connections
  std::atomic<uint64_t> connections_rejected_per_peer{0};  // over max_connections_per_peer
  std::atomic<uint64_t> hello_timeouts{0};
  std::atomic<uint64_t> writes_over_budget{0};  // PUT items / reservations refused by the WriteBudget
  std::atomic<uint64_t> payload_stalls{0};      // PUTs closed for limits.payload_stall_ms
  std::atomic<uint64_t> subscriber_stalls{0};   // subscribers closed: an event send stalled that long  // closed for not authenticating within hello_timeout_ms
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> malformed_frames{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::atomic<uint64_t> checksum_failures{0};      // PUT / COMMIT payloads that did not verify
  std::atomic<uint64_t> events_published{0};
  std::atomic<uint64_t> kv_events_queued{0};   // events handed to the KV-events publishers (`events:`)
  std::atomic<uint64_t> kv_events_dropped{0};  // ... dropped there because its queue was full

  std::string RenderPrometheus(const StoreStats& store, uint64_t uptime_s) const;
  std::string RenderJson(const StoreStats& store, uint64_t uptime_s) const;

 private:
  struct OpCounters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> errors{0};  // any code but OK and NotFound
    std::atomic<uint64_t> bytes_in{0};
    std::atomic<uint64_t> bytes_out{0};
    std::atomic<uint64_t> latency_sum_ns{0};
    std::array<std::atomic<uint64_t>, kLatencyBucketsUs.size() + 1> buckets{};  // last: +Inf
  };
  std::array<OpCounters, kOps> ops_{};
  std::array<std::atomic<uint64_t>, 12> errors_by_code_{};
};

}  // namespace tw::server
