// `tokenwarehouse stats --addr URL`: a readable summary of a running daemon (or --json).
#include <cinttypes>
#include <cstdio>

#include "commands.h"
#include "tw/client.h"

namespace tw::cli {
namespace {

int Run(const std::string& addr, const std::string& token, const std::string& tls_ca, bool json) {
  ClientOptions options;
  options.token = token;
  options.tls_ca_file = tls_ca;
  options.shared_memory = false;
  options.client_name = "tokenwarehouse stats";
  options.connect_timeout_ms = 3000;
  Result<std::unique_ptr<Store>> store = OpenStore(addr, options);
  if (!store.ok()) {
    std::fprintf(stderr, "stats: %s: %s\n", addr.c_str(), store.status().ToString().c_str());
    return 1;
  }
  Result<StoreStats> got = (*store)->Stats();
  if (!got.ok()) {
    std::fprintf(stderr, "stats: %s: %s\n", addr.c_str(), got.status().ToString().c_str());
    return 1;
  }
  const StoreStats& s = *got;
  const double hit = s.gets ? 100.0 * static_cast<double>(s.gets - s.get_misses) / static_cast<double>(s.gets) : 0.0;
  const double lookup_hit = s.lookup_keys ? 100.0 * static_cast<double>(s.lookup_hits) / static_cast<double>(s.lookup_keys) : 0.0;
  if (json) {
    std::printf("{\"lookups\":%" PRIu64 ",\"lookup_keys\":%" PRIu64 ",\"lookup_hits\":%" PRIu64 ",\"gets\":%" PRIu64
                ",\"get_misses\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"put_duplicates\":%" PRIu64 ",\"put_rejected\":%" PRIu64
                ",\"skipped_short\":%" PRIu64 ",\"pinned_objects\":%" PRIu64 ",\"active_leases\":%" PRIu64 ",\"tiers\":[",
                s.lookups, s.lookup_keys, s.lookup_hits, s.gets, s.get_misses, s.puts, s.put_duplicates, s.put_rejected,
                s.skipped_short, s.pinned_objects, s.active_leases);
    for (size_t i = 0; i < s.tiers.size(); ++i) {
      const TierStats& t = s.tiers[i];
      std::printf("%s{\"tier\":\"%s\",\"capacity_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64 ",\"objects\":%" PRIu64
                  ",\"hits\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"errors\":%" PRIu64 "}",
                  i ? "," : "", TierName(t.tier).data(), t.capacity_bytes, t.used_bytes, t.objects, t.hits, t.evictions, t.errors);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("Token Warehouse at %s\n", addr.c_str());
  std::printf("  lookups   %12" PRIu64 "   keys asked %" PRIu64 ", found %" PRIu64 " (%.1f%%)\n", s.lookups, s.lookup_keys,
              s.lookup_hits, lookup_hit);
  std::printf("  gets      %12" PRIu64 "   hit ratio %.1f%% (%" PRIu64 " misses)\n", s.gets, hit, s.get_misses);
  std::printf("  puts      %12" PRIu64 "   %" PRIu64 " duplicates, %" PRIu64 " rejected, %" PRIu64
              " blocks skipped (prompts under min_prefix_tokens)\n",
              s.puts, s.put_duplicates, s.put_rejected, s.skipped_short);
  std::printf("  pins      %12" PRIu64 "   objects under %" PRIu64 " live leases\n", s.pinned_objects, s.active_leases);
  std::printf("  %-6s %12s %12s %10s %10s %10s %8s\n", "tier", "used", "capacity", "objects", "hits", "evictions", "errors");
  for (const TierStats& t : s.tiers) {
    std::printf("  %-6s %9.1f MiB %9.1f MiB %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n", TierName(t.tier).data(),
                t.used_bytes / 1048576.0, t.capacity_bytes / 1048576.0, t.objects, t.hits, t.evictions, t.errors);
  }
  return 0;
}

}  // namespace

void RegisterStatsCommand(CLI::App& app) {
  auto addr = std::make_shared<std::string>("tw://127.0.0.1:7700");
  auto token = std::make_shared<std::string>();
  auto tls_ca = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto cluster = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("stats", "Print a running daemon's counters: hits, misses, tiers, pins");
  cmd->add_option("--addr", *addr, "daemon URL: tw://host:port, tws://host:port (TLS) or unix:///path");
  cmd->add_option("--tls-ca", *tls_ca, "tws:// only: PEM certificate(s) to trust (default: the system's trust store)");
  cmd->add_option("--token", *token, "tenant token (or TW_TOKEN)")->envname("TW_TOKEN");
  cmd->add_flag("--json", *json, "machine-readable output");
  cmd->add_option("--cluster", *cluster, "a whole cluster instead: etcd://HOST:PORT (stats_cluster.cc)");
  cmd->callback([addr, token, tls_ca, json, cluster] {
    ExitCode() = cluster->empty() ? Run(*addr, *token, *tls_ca, *json) : RunClusterStats(*cluster, *json);
  });
}

}  // namespace tw::cli
