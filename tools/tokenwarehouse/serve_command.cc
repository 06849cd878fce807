// `tokenwarehouse serve`: the warehouse daemon in the foreground.
//
// Reads the YAML config (docs/operations.md), lets flags override the common keys, starts the
// listeners, prints where it listens and how to try it, then waits for SIGTERM / SIGINT and drains.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <fstream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "common/clock.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/server_core.h"
#include "server/server.h"
#include "serve_cluster.h"
#include "stop_signals.h"

namespace tw::cli {
namespace {

struct ServeFlags {
  std::string config_path;
  std::string listen, unix_socket, admin, data_dir, dram, disk_dir, disk_size, log_level, ready_file, hash_token;
  std::string tls_cert, tls_key;
  std::string events_endpoint, events_replay, events_tenant, events_topic;
  std::string retention;                      // config `retention.class`
  int64_t min_prefix_tokens = -1;             // config `retention.min_prefix_tokens`; -1: not given
  uint32_t io_threads = 0;
  ClusterFlags cluster;  // serve_cluster.h
};

std::string HumanBytes(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(b) / (1ull << 20));
  return buf;
}

int Run(const ServeFlags& f) {
  if (!f.hash_token.empty()) {
    std::printf("%s\n", server::HashToken(f.hash_token).c_str());
    return 0;
  }
  server::ServerConfig config;
  if (!f.config_path.empty()) {
    Result<server::ServerConfig> loaded = server::LoadServerConfig(f.config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "serve: %s\n", loaded.status().ToString().c_str());
      return 2;
    }
    config = std::move(*loaded);
  }
  if (!f.listen.empty()) config.listen = f.listen == "none" ? "" : f.listen;
  if (!f.unix_socket.empty()) config.unix_socket = f.unix_socket;
  if (!f.admin.empty()) config.admin_listen = f.admin == "none" ? "" : f.admin;
  if (!f.data_dir.empty()) config.data_dir = f.data_dir;
  if (!f.disk_dir.empty()) config.disk_directory = f.disk_dir;
  if (!f.log_level.empty()) config.log_level = f.log_level;
  if (!f.tls_cert.empty()) config.tls_cert_file = f.tls_cert;
  if (!f.tls_key.empty()) config.tls_key_file = f.tls_key;
  if (f.io_threads) config.io_threads = f.io_threads;
  if (!f.retention.empty()) {
    Result<Retention> r = ParseRetention(f.retention);
    if (!r.ok()) {
      std::fprintf(stderr, "serve: --retention: %s\n", std::string(r.status().message()).c_str());
      return 2;
    }
    config.retention.retention = *r;
  }
  if (f.min_prefix_tokens >= 0) config.retention.min_prefix_tokens = static_cast<uint32_t>(f.min_prefix_tokens);
  if (!f.events_endpoint.empty()) {
    // One publisher from flags; it replaces a config entry for the same tenant.
    server::KvEventsEndpoint e;
    e.tenant = f.events_tenant.empty() ? config.anonymous_tenant : f.events_tenant;
    e.endpoint = f.events_endpoint;
    e.replay_endpoint = f.events_replay;
    e.topic = f.events_topic;
    std::erase_if(config.kv_events, [&](const server::KvEventsEndpoint& x) { return x.tenant == e.tenant; });
    config.kv_events.push_back(std::move(e));
  }
  for (auto [text, out] : {std::pair{&f.dram, &config.dram_capacity_bytes}, std::pair{&f.disk_size, &config.disk_capacity_bytes}}) {
    if (text->empty()) continue;
    Result<uint64_t> v = server::ParseBytes(*text);
    if (!v.ok()) {
      std::fprintf(stderr, "serve: %s\n", v.status().ToString().c_str());
      return 2;
    }
    *out = *v;
  }
  {
    // Checked before logging is set up: an unknown level would silently turn logging off.
    server::ServerConfig check = config;
    if (Status s = server::FinalizeConfig(&check); !s.ok()) {
      std::fprintf(stderr, "serve: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  // Logs go to stderr; stdout carries the banner (where it listens, how to try it).
  spdlog::set_default_logger(spdlog::stderr_color_mt("tokenwarehouse"));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // Before any thread starts: every thread inherits the mask, only sigwait below sees the signals.
  const sigset_t stop = BlockStopSignals();

  const uint64_t t0 = MonotonicNanos();
  Result<std::unique_ptr<server::Server>> created = server::Server::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "serve: %s\n", created.status().ToString().c_str());
    return 1;
  }
  server::Server& srv = **created;
  if (Status s = srv.Start(); !s.ok()) {
    std::fprintf(stderr, "serve: %s\n", s.ToString().c_str());
    return 1;
  }
  server::ServerConfig effective = config;
  (void)server::FinalizeConfig(&effective);
  std::printf("Token Warehouse daemon is up (%.1f s)\n", (MonotonicNanos() - t0) / 1e9);
  const std::string tcp_scheme = effective.tls_enabled() ? "tws://" : "tw://";
  if (!srv.tcp_address().empty()) {
    std::printf("  tcp     %s%s%s\n", tcp_scheme.c_str(), srv.tcp_address().c_str(), effective.tls_enabled() ? "   (TLS)" : "");
  }
  if (!srv.unix_path().empty()) {
    std::printf("  unix    unix://%s   (shared memory %s)\n", srv.unix_path().c_str(), effective.shared_memory ? "on" : "off");
  }
  if (!srv.admin_address().empty()) std::printf("  admin   http://%s/metrics  /healthz  /stats\n", srv.admin_address().c_str());
  std::printf("  dram    %s arena, %s pages, pre-faulted\n", HumanBytes(effective.dram_capacity_bytes).c_str(),
              HumanBytes(effective.page_bytes).c_str());
  if (effective.disk_enabled) {
    uint64_t disk_capacity = 0;  // as the store resolved it (the default fitted to the filesystem)
    for (const TierStats& t : srv.core().store().Stats().value().tiers) {
      if (t.tier == Tier::kDisk) disk_capacity = t.capacity_bytes;
    }
    std::printf("  disk    %s, %s (%s)\n", effective.disk_directory.empty() ? (effective.data_dir + "/disk").c_str() : effective.disk_directory.c_str(),
                HumanBytes(disk_capacity).c_str(), effective.disk_admission.c_str());
  } else {
    std::printf("  disk    off (disk.enabled: false): DRAM only, nothing survives a restart\n");
  }
  std::printf("  auth    %s; %zu tenant(s) with tokens\n",
              effective.allow_anonymous_loopback ? ("anonymous from loopback ON (tenant '" + effective.anonymous_tenant + "')").c_str()
                                                 : "anonymous OFF",
              effective.tenants.size());
  for (const auto& ev : srv.kv_events_addresses()) {
    std::printf("  events  %s  replay %s   (tenant '%s', vLLM KV-events format)\n", ev.endpoint.c_str(),
                ev.replay_endpoint.empty() ? "off" : ev.replay_endpoint.c_str(), ev.tenant.c_str());
  }
  std::printf("Try it, from another terminal:\n");
  const std::string addr = !srv.tcp_address().empty() ? tcp_scheme + srv.tcp_address() : "unix://" + srv.unix_path();
  std::printf("  build/tools/tokenwarehouse/tokenwarehouse stats --addr %s%s\n", addr.c_str(),
              effective.tls_enabled() && !srv.tcp_address().empty() ? " --tls-ca <CA or certificate PEM>" : "");
  if (!srv.admin_address().empty()) std::printf("  curl -s http://%s/metrics | grep -E '^tw_(gets|puts|hit)'\n", srv.admin_address().c_str());
  std::printf("  build/tools/tokenwarehouse/tokenwarehouse bench net   # its own daemon: TCP, shared memory, redis\n");
  std::printf("Ctrl-C (or SIGTERM) drains in-flight requests and stops.\n");
  std::fflush(stdout);
  if (!f.ready_file.empty()) {
    std::ofstream ready(f.ready_file + ".tmp");
    ready << "tcp=" << srv.tcp_address() << "\nunix=" << srv.unix_path() << "\nadmin=" << srv.admin_address() << "\n";
    for (const auto& ev : srv.kv_events_addresses()) {
      ready << "events." << ev.tenant << "=" << ev.endpoint << "\nevents_replay." << ev.tenant << "=" << ev.replay_endpoint << "\n";
    }
    ready.close();
    std::rename((f.ready_file + ".tmp").c_str(), f.ready_file.c_str());
  }

  // Cluster membership and re-replication start once the listener is up, so peers that see this
  // node in etcd can reach it at once.
  Result<std::unique_ptr<ClusterRuntime>> cluster = StartCluster(f.cluster, srv);
  if (!cluster.ok()) {
    std::fprintf(stderr, "serve: %s\n", cluster.status().ToString().c_str());
    srv.Shutdown();
    return 2;
  }

  int sig = 0;
  sigwait(&stop, &sig);
  cluster->reset();  // leave the cluster first: peers stop sending before the listener closes
  spdlog::info("{} received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  srv.Shutdown();
  return 0;
}

}  // namespace

void RegisterServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the warehouse daemon in the foreground (Ctrl-C drains and stops)");
  cmd->add_option("-c,--config", flags->config_path, "YAML config file (docs/operations.md); flags override it");
  cmd->add_option("--listen", flags->listen, "TCP host:port (default 127.0.0.1:7700; port 0 picks one; 'none' disables)");
  cmd->add_option("--unix", flags->unix_socket, "Unix socket path (default <data-dir>/tw.sock; 'none' disables)");
  cmd->add_option("--admin", flags->admin, "admin HTTP host:port for /metrics /healthz /stats (default 127.0.0.1:7701; 'none')");
  cmd->add_option("--data-dir", flags->data_dir, "data directory (default ./tw-data)");
  cmd->add_option("--dram", flags->dram, "DRAM arena size, e.g. 8GiB (default: 1/8 of memory, at most 4 GiB)");
  cmd->add_option("--disk-dir", flags->disk_dir, "disk tier directory (default <data-dir>/disk)");
  cmd->add_option("--disk-size", flags->disk_size, "disk tier capacity, e.g. 100GiB");
  cmd->add_option("--io-threads", flags->io_threads, "network threads (default min(4, cores))");
  cmd->add_option("--retention", flags->retention,
                  "every tenant's default and cap retention class: 5m, 1h, 24h, persistent or a duration (90s, 7d), "
                  "then sliding (a hit renews it; the default) or fixed (default persistent; config retention.class)");
  cmd->add_option("--min-prefix-tokens", flags->min_prefix_tokens,
                  "prompts (store requests from the root) shorter than this are not stored, counted as skipped_short "
                  "(default 1024; 0 stores every prefix; config retention.min_prefix_tokens)")
      ->check(CLI::Range(int64_t{0}, int64_t{UINT32_MAX}));
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error");
  cmd->add_option("--ready-file", flags->ready_file, "write the bound addresses here once listening (for scripts and tests)");
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate (chain) for TLS on TCP; with --tls-key, TCP speaks TLS only");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--hash-token", flags->hash_token, "print the token_sha256 of a token for the config, and exit");
  cmd->add_option("--events-endpoint", flags->events_endpoint,
                  "publish KV events (vLLM's format) on this ZMQ PUB endpoint, e.g. tcp://127.0.0.1:5557 (docs/operations.md)");
  cmd->add_option("--events-replay-endpoint", flags->events_replay, "ZMQ ROUTER endpoint for event replay (default: none)");
  cmd->add_option("--events-tenant", flags->events_tenant, "whose events --events-endpoint publishes (default: the anonymous tenant)");
  cmd->add_option("--events-topic", flags->events_topic, "topic frame of every event message (default \"\")");
  AddClusterFlags(*cmd, &flags->cluster);
  cmd->callback([flags] { ExitCode() = Run(*flags); });
}

}  // namespace tw::cli
