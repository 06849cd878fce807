#include "server/tenant_usage.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace tw::server {

namespace {

struct Row {
  std::string tenant;
  uint64_t namespaces = 0;
  UsageTotals usage;
  StoreStats stats;
  uint64_t dram_used = 0;
  uint64_t dram_capacity = 0;
};

nlohmann::json UsageJson(const UsageTotals& u, const EconomicsConfig& econ) {
  return {{"gpu_seconds_saved", u.gpu_seconds_saved},
          {"money_saved", u.gpu_seconds_saved / 3600.0 * econ.gpu_hour_price},
          {"write_tokens", u.write_tokens},
          {"hit_tokens", u.hit_tokens},
          {"hit_tokens_by_tier",
           {{"dram", u.hit_tokens_by_tier[static_cast<size_t>(Tier::kDram)]},
            {"disk", u.hit_tokens_by_tier[static_cast<size_t>(Tier::kDisk)]},
            {"peer", u.hit_tokens_by_tier[static_cast<size_t>(Tier::kPeer)]}}},
          {"miss_tokens", u.miss_tokens},
          {"read_tokens", u.read_tokens}};
}

}  // namespace

std::string RenderUsageJson(const std::vector<std::pair<std::string, UsageTotals>>& per_tenant, const EconomicsConfig& econ) {
  nlohmann::json list = nlohmann::json::array();
  UsageTotals all;
  for (const auto& [tenant, u] : per_tenant) {
    nlohmann::json row = UsageJson(u, econ);
    row["tenant"] = tenant;
    list.push_back(std::move(row));
    all += u;
  }
  nlohmann::json j = {{"usage", std::move(list)},
                      {"economics",
                       {{"prefill_tokens_per_s", econ.prefill_tokens_per_s},
                        {"prefill_tokens_per_s_by_model", econ.prefill_tokens_per_s_by_model},
                        {"gpu_hour_price", econ.gpu_hour_price},
                        {"currency", econ.currency},
                        {"gpu_seconds_saved", all.gpu_seconds_saved},
                        {"money_saved", all.gpu_seconds_saved / 3600.0 * econ.gpu_hour_price}}}};
  std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.substr(1, text.size() - 2);  // the members, to splice into /stats' object
}

std::string RenderTenantUsageJson(EmbeddedStore& store, const ServerConfig& config,
                                  const std::vector<ServerCore::NamespaceInfo>& namespaces) {
  std::map<std::string, std::pair<uint64_t, UsageTotals>> tenants;  // tenant -> namespaces registered, usage
  for (const TenantConfig& t : config.tenants) tenants[t.name];
  if (config.allow_anonymous_loopback) tenants[config.anonymous_tenant];
  for (const auto& n : namespaces) {
    ++tenants[n.tenant].first;
    tenants[n.tenant].second += n.usage;
  }

  std::vector<Row> rows;
  rows.reserve(tenants.size());
  for (const auto& [name, t] : tenants) {
    Row r{name, t.first, t.second, store.TenantStats(name), 0, 0};
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
    nlohmann::json row = UsageJson(r.usage, config.economics);
    row.update({{"tenant", r.tenant},
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
    list.push_back(std::move(row));
  }
  // Namespaces by what they saved (GPU time, then hit tokens), then by what they wrote.
  std::vector<const ServerCore::NamespaceInfo*> order;
  for (const auto& n : namespaces) order.push_back(&n);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    if (a->usage.gpu_seconds_saved != b->usage.gpu_seconds_saved) return a->usage.gpu_seconds_saved > b->usage.gpu_seconds_saved;
    if (a->usage.hit_tokens != b->usage.hit_tokens) return a->usage.hit_tokens > b->usage.hit_tokens;
    if (a->usage.write_tokens != b->usage.write_tokens) return a->usage.write_tokens > b->usage.write_tokens;
    return a->id.ToHex() < b->id.ToHex();
  });
  nlohmann::json ns = nlohmann::json::array();
  for (const auto* n : order) {
    nlohmann::json row = UsageJson(n->usage, config.economics);
    row.update({{"namespace", n->id.ToHex()}, {"tenant", n->tenant}, {"model_id", n->model_id},
                {"object_bytes", n->object_bytes}, {"block_tokens", n->block_tokens}});
    ns.push_back(std::move(row));
  }
  nlohmann::json j = {{"tenants", std::move(list)}, {"namespaces", std::move(ns)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // model ids are client bytes
}

}  // namespace tw::server
