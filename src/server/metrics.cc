#include "server/metrics.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace tw::server {

namespace {

void Line(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Line(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
  out->push_back('\n');
}

uint64_t Load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

double HitRatio(const StoreStats& s) { return s.gets ? static_cast<double>(s.gets - s.get_misses) / static_cast<double>(s.gets) : 0.0; }

}  // namespace

void ServerMetrics::RecordRequest(net::Op op, const Status& status, uint64_t bytes_in, uint64_t bytes_out, uint64_t nanos) {
  const size_t i = static_cast<size_t>(op);
  if (i == 0 || i >= kOps) return;
  OpCounters& c = ops_[i];
  c.requests.fetch_add(1, std::memory_order_relaxed);
  if (!status.ok() && !status.IsNotFound()) {
    c.errors.fetch_add(1, std::memory_order_relaxed);
    const size_t code = static_cast<size_t>(status.code());
    if (code < errors_by_code_.size()) errors_by_code_[code].fetch_add(1, std::memory_order_relaxed);
  }
  c.bytes_in.fetch_add(bytes_in, std::memory_order_relaxed);
  c.bytes_out.fetch_add(bytes_out, std::memory_order_relaxed);
  c.latency_sum_ns.fetch_add(nanos, std::memory_order_relaxed);
  const double us = static_cast<double>(nanos) / 1000.0;
  size_t b = 0;
  while (b < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[b]) ++b;
  c.buckets[b].fetch_add(1, std::memory_order_relaxed);
}

std::string ServerMetrics::RenderPrometheus(const StoreStats& s, uint64_t uptime_s) const {
  std::string o;
  o.reserve(16 << 10);
  Line(&o, "# HELP tw_uptime_seconds Seconds since the daemon started.");
  Line(&o, "# TYPE tw_uptime_seconds gauge");
  Line(&o, "tw_uptime_seconds %" PRIu64, uptime_s);

  Line(&o, "# HELP tw_connections Open client connections.");
  Line(&o, "# TYPE tw_connections gauge");
  Line(&o, "tw_connections %" PRIu64, Load(connections_open));
  struct {
    const char* name;
    const char* help;
    const std::atomic<uint64_t>* v;
  } counters[] = {
      {"tw_connections_total", "Connections accepted.", &connections_total},
      {"tw_connections_rejected_total", "Connections refused over limits.max_connections.", &connections_rejected},
      {"tw_connections_rejected_per_peer_total", "Connections refused over limits.max_connections_per_peer.",
       &connections_rejected_per_peer},
      {"tw_writes_over_budget_total", "Writes refused because unfinished writes held limits.max_unfinished_write_bytes(_per_tenant).",
       &writes_over_budget},
      {"tw_payload_stalls_total", "PUTs closed because their payload stalled for limits.payload_stall_ms.", &payload_stalls},
      {"tw_subscriber_stalls_total", "Subscribers closed because an event could not be sent for limits.payload_stall_ms.",
       &subscriber_stalls},
      {"tw_hello_timeouts_total", "Connections closed for not completing HELLO within limits.hello_timeout_ms.",
       &hello_timeouts},
      {"tw_auth_failures_total", "HELLOs refused.", &auth_failures},
      {"tw_malformed_frames_total", "Frames that failed to parse (the connection was closed).", &malformed_frames},
      {"tw_timeouts_total", "Connections closed for idleness or a slow request.", &timeouts},
      {"tw_tls_handshake_failures_total", "TCP connections closed because their TLS handshake failed.", &tls_handshake_failures},
      {"tw_checksum_failures_total", "Stored payloads whose checksum did not verify (never made visible).", &checksum_failures},
      {"tw_events_published_total", "SUBSCRIBE events sent.", &events_published},
      {"tw_kv_events_total", "Block events queued for the KV-events (vLLM format) publishers.", &kv_events_queued},
      {"tw_kv_events_dropped_total", "KV events dropped for a full queue (the next batch opens with AllBlocksCleared).",
       &kv_events_dropped},
  };
  for (const auto& c : counters) {
    Line(&o, "# HELP %s %s", c.name, c.help);
    Line(&o, "# TYPE %s counter", c.name);
    Line(&o, "%s %" PRIu64, c.name, Load(*c.v));
  }

  Line(&o, "# HELP tw_requests_total Requests by operation.");
  Line(&o, "# TYPE tw_requests_total counter");
  for (size_t i = 1; i < kOps; ++i) {
    Line(&o, "tw_requests_total{op=\"%s\"} %" PRIu64, net::OpName(static_cast<net::Op>(i)).data(), Load(ops_[i].requests));
  }
  Line(&o, "# HELP tw_request_errors_total Failed requests by operation (misses are not errors).");
  Line(&o, "# TYPE tw_request_errors_total counter");
  for (size_t i = 1; i < kOps; ++i) {
    Line(&o, "tw_request_errors_total{op=\"%s\"} %" PRIu64, net::OpName(static_cast<net::Op>(i)).data(), Load(ops_[i].errors));
  }
  Line(&o, "# HELP tw_errors_total Failed requests by status code.");
  Line(&o, "# TYPE tw_errors_total counter");
  for (size_t c = 2; c < errors_by_code_.size(); ++c) {
    Line(&o, "tw_errors_total{code=\"%s\"} %" PRIu64, StatusCodeName(static_cast<StatusCode>(c)).data(), Load(errors_by_code_[c]));
  }
  Line(&o, "# HELP tw_network_bytes_total Payload bytes by operation and direction.");
  Line(&o, "# TYPE tw_network_bytes_total counter");
  for (size_t i = 1; i < kOps; ++i) {
    const char* op = net::OpName(static_cast<net::Op>(i)).data();
    Line(&o, "tw_network_bytes_total{op=\"%s\",direction=\"in\"} %" PRIu64, op, Load(ops_[i].bytes_in));
    Line(&o, "tw_network_bytes_total{op=\"%s\",direction=\"out\"} %" PRIu64, op, Load(ops_[i].bytes_out));
  }
  Line(&o, "# HELP tw_request_duration_seconds Request latency by operation, from header to last byte sent.");
  Line(&o, "# TYPE tw_request_duration_seconds histogram");
  for (size_t i = 1; i < kOps; ++i) {
    const char* op = net::OpName(static_cast<net::Op>(i)).data();
    uint64_t cum = 0;
    for (size_t b = 0; b < kLatencyBucketsUs.size(); ++b) {
      cum += Load(ops_[i].buckets[b]);
      Line(&o, "tw_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %" PRIu64, op, kLatencyBucketsUs[b] / 1e6, cum);
    }
    cum += Load(ops_[i].buckets[kLatencyBucketsUs.size()]);
    Line(&o, "tw_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %" PRIu64, op, cum);
    Line(&o, "tw_request_duration_seconds_sum{op=\"%s\"} %.9f", op, static_cast<double>(Load(ops_[i].latency_sum_ns)) / 1e9);
    Line(&o, "tw_request_duration_seconds_count{op=\"%s\"} %" PRIu64, op, cum);
  }

  struct {
    const char* name;
    const char* type;
    const char* help;
    uint64_t v;
  } store[] = {
      {"tw_lookups_total", "counter", "LOOKUP calls.", s.lookups},
      {"tw_lookup_keys_total", "counter", "Keys asked for in lookups.", s.lookup_keys},
      {"tw_lookup_hits_total", "counter", "Keys found by lookups (matched prefixes, summed).", s.lookup_hits},
      {"tw_gets_total", "counter", "Object reads.", s.gets},
      {"tw_get_hits_total", "counter", "Object reads that found the object.", s.gets - s.get_misses},
      {"tw_get_misses_total", "counter", "Object reads that missed.", s.get_misses},
      {"tw_puts_total", "counter", "Object stores attempted.", s.puts},
      {"tw_put_duplicates_total", "counter", "Stores of keys already present.", s.put_duplicates},
      {"tw_put_rejected_total", "counter", "Stores refused (full, quota, bad input).", s.put_rejected},
      {"tw_skipped_short_total", "counter", "Blocks not stored: their prompt was under min_prefix_tokens.", s.skipped_short},
      {"tw_pinned_objects", "gauge", "Objects held by a live lease.", s.pinned_objects},
      {"tw_active_leases", "gauge", "Live leases (pins and reads in flight).", s.active_leases},
  };
  for (const auto& m : store) {
    Line(&o, "# HELP %s %s", m.name, m.help);
    Line(&o, "# TYPE %s %s", m.name, m.type);
    Line(&o, "%s %" PRIu64, m.name, m.v);
  }
  Line(&o, "# HELP tw_hit_ratio Object reads served / object reads.");
  Line(&o, "# TYPE tw_hit_ratio gauge");
  Line(&o, "tw_hit_ratio %.6f", HitRatio(s));

  struct TierField {
    const char* name;
    const char* type;
    const char* help;
    uint64_t TierStats::*field;
  };
  static const TierField kTierFields[] = {
      {"tw_tier_capacity_bytes", "gauge", "Capacity by tier.", &TierStats::capacity_bytes},
      {"tw_tier_used_bytes", "gauge", "Bytes in use by tier.", &TierStats::used_bytes},
      {"tw_tier_objects", "gauge", "Objects by tier.", &TierStats::objects},
      {"tw_tier_hits_total", "counter", "Reads served by tier.", &TierStats::hits},
      {"tw_tier_admissions_total", "counter", "Objects admitted by tier.", &TierStats::admissions},
      {"tw_tier_evictions_total", "counter", "Objects evicted by tier.", &TierStats::evictions},
      {"tw_tier_read_bytes_total", "counter", "Bytes read by tier.", &TierStats::bytes_read},
      {"tw_tier_written_bytes_total", "counter", "Bytes written by tier.", &TierStats::bytes_written},
      {"tw_tier_errors_total", "counter", "I/O errors and corrupt objects by tier.", &TierStats::errors},
  };
  for (const TierField& f : kTierFields) {
    Line(&o, "# HELP %s %s", f.name, f.help);
    Line(&o, "# TYPE %s %s", f.name, f.type);
    for (const TierStats& t : s.tiers) Line(&o, "%s{tier=\"%s\"} %" PRIu64, f.name, TierName(t.tier).data(), t.*f.field);
  }
  Line(&o, "# HELP tw_tier_admitting 1 while the tier takes new objects; 0 after a write error stopped it.");
  Line(&o, "# TYPE tw_tier_admitting gauge");
  for (const TierStats& t : s.tiers) Line(&o, "tw_tier_admitting{tier=\"%s\"} %d", TierName(t.tier).data(), t.admitting ? 1 : 0);
  return o;
}

std::string ServerMetrics::RenderJson(const StoreStats& s, uint64_t uptime_s) const {
  std::string o = "{";
  char buf[256];
  auto field = [&](const char* k, uint64_t v) {
    std::snprintf(buf, sizeof buf, "\"%s\":%" PRIu64 ",", k, v);
    o += buf;
  };
  field("uptime_s", uptime_s);
  field("connections", Load(connections_open));
  field("connections_total", Load(connections_total));
  field("auth_failures", Load(auth_failures));
  field("malformed_frames", Load(malformed_frames));
  field("tls_handshake_failures", Load(tls_handshake_failures));
  field("checksum_failures", Load(checksum_failures));
  field("kv_events", Load(kv_events_queued));
  field("kv_events_dropped", Load(kv_events_dropped));
  field("lookups", s.lookups);
  field("lookup_keys", s.lookup_keys);
  field("lookup_hits", s.lookup_hits);
  field("gets", s.gets);
  field("get_misses", s.get_misses);
  field("puts", s.puts);
  field("put_duplicates", s.put_duplicates);
  field("put_rejected", s.put_rejected);
  field("skipped_short", s.skipped_short);
  field("pinned_objects", s.pinned_objects);
  field("active_leases", s.active_leases);
  std::snprintf(buf, sizeof buf, "\"hit_ratio\":%.6f,", HitRatio(s));
  o += buf;
  o += "\"requests\":{";
  for (size_t i = 1; i < kOps; ++i) {
    std::snprintf(buf, sizeof buf, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", net::OpName(static_cast<net::Op>(i)).data(),
                  Load(ops_[i].requests));
    o += buf;
  }
  o += "},\"tiers\":[";
  for (size_t i = 0; i < s.tiers.size(); ++i) {
    const TierStats& t = s.tiers[i];
    std::snprintf(buf, sizeof buf,
                  "%s{\"tier\":\"%s\",\"capacity_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64 ",\"objects\":%" PRIu64
                  ",\"hits\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"admitting\":%s}",
                  i ? "," : "", TierName(t.tier).data(), t.capacity_bytes, t.used_bytes, t.objects, t.hits, t.evictions, t.errors,
                  t.admitting ? "true" : "false");
    o += buf;
  }
  o += "]}";
  return o;
}

}  // namespace tw::server
