#include "server/tenant_usage.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace tw::server {

namespace {

struct Row {
  std::string tenant;
  uint64_t namespaces = 0;
  StoreStats stats;
  uint64_t dram_used = 0;
  uint64_t dram_capacity = 0;
};

}  // namespace

std::string RenderTenantUsageJson(EmbeddedStore& store, const ServerConfig& config,
                                  const std::vector<ServerCore::NamespaceInfo>& namespaces) {
  std::map<std::string, uint64_t> tenants;  // tenant -> namespaces registered
  for (const TenantConfig& t : config.tenants) tenants[t.name];
  if (config.allow_anonymous_loopback) tenants[config.anonymous_tenant];
  for (const auto& n : namespaces) ++tenants[n.tenant];

  std::vector<Row> rows;
  rows.reserve(tenants.size());
  for (const auto& [name, count] : tenants) {
    Row r{name, count, store.TenantStats(name), 0, 0};
    for (const TierStats& t : r.stats.tiers) {
      if (t.tier == Tier::kDram) {
        r.dram_used = t.used_bytes;
        r.dram_capacity = t.capacity_bytes;
      }
    }
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.dram_used != b.dram_used) return a.dram_used > b.dram_used;
    if (a.stats.gets != b.stats.gets) return a.stats.gets > b.stats.gets;
    return a.tenant < b.tenant;
  });

  nlohmann::json list = nlohmann::json::array();
  for (const Row& r : rows) {
    const StoreStats& s = r.stats;
    const double ratio = s.gets ? static_cast<double>(s.gets - s.get_misses) / static_cast<double>(s.gets) : 0.0;
    list.push_back({{"tenant", r.tenant},
                    {"namespaces", r.namespaces},
                    {"dram_used_bytes", r.dram_used},
                    {"dram_capacity_bytes", r.dram_capacity},
                    {"gets", s.gets},
                    {"get_misses", s.get_misses},
                    {"hit_ratio", ratio},
                    {"puts", s.puts},
                    {"lookups", s.lookups},
                    {"lookup_keys", s.lookup_keys},
                    {"lookup_hits", s.lookup_hits}});
  }
  nlohmann::json ns = nlohmann::json::array();
  for (const auto& n : namespaces) {
    ns.push_back({{"namespace", n.id.ToHex()}, {"tenant", n.tenant}, {"model_id", n.model_id}, {"object_bytes", n.object_bytes}});
  }
  nlohmann::json j = {{"tenants", std::move(list)}, {"namespaces", std::move(ns)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // model ids are client bytes
}

}  // namespace tw::server
