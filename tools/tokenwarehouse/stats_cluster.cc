// `tokenwarehouse stats --cluster etcd://...`: the members etcd lists and, from each node's admin
// /stats, its objects, hit ratio, re-replication backlog and errors reaching its peers.
#include <httplib.h>

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cluster/etcd_client.h"
#include "cluster/member.h"
#include "commands.h"
#include "tw/cluster.h"

namespace tw::cli {
namespace {

nlohmann::json FetchStats(const std::string& admin) {
  size_t colon = admin.rfind(':');
  if (admin.empty() || colon == std::string::npos) return nullptr;
  httplib::Client cli(admin.substr(0, colon), std::atoi(admin.c_str() + colon + 1));
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(2, 0);
  auto res = cli.Get("/stats");
  if (!res || res->status != 200) return nullptr;
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

uint64_t U(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return 0;
    p = &(*p)[k];
  }
  return p->is_number_unsigned() ? p->get<uint64_t>() : 0;
}

}  // namespace

int RunClusterStats(const std::string& etcd_url, bool json) {
  auto endpoints = cluster::ParseEtcdUrl(etcd_url);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "stats: %s\n", endpoints.status().ToString().c_str());
    return 2;
  }
  auto etcd = cluster::EtcdClient::Create({*endpoints, 2000});
  auto range = etcd.ok() ? (*etcd)->RangePrefix(ClusterMemberPrefix("default")) : Result<cluster::EtcdRange>(etcd.status());
  if (!range.ok()) {
    std::fprintf(stderr, "stats: etcd %s: %s\n", etcd_url.c_str(), range.status().ToString().c_str());
    return 1;
  }
  nlohmann::json all = nlohmann::json::array();
  if (!json) {
    std::printf("Cluster at %s: %zu members (etcd revision %" PRId64 ")\n", etcd_url.c_str(), range->kvs.size(), range->revision);
    std::printf("  %-14s %-22s %10s %8s %9s %9s %9s %s\n", "node", "address", "objects", "hit %", "backlog", "under-R",
                "copies", "peer errors");
  }
  for (const auto& kv : range->kvs) {
    auto m = cluster::DecodeMember(kv.value);
    if (!m.ok()) continue;
    nlohmann::json s = FetchStats(m->admin);
    if (json) {
      all.push_back({{"node_id", m->node_id}, {"addr", m->addr}, {"admin", m->admin}, {"stats", s}});
      continue;
    }
    if (s.is_null()) {
      std::printf("  %-14s %-22s   (admin %s did not answer)\n", m->node_id.c_str(), m->addr.c_str(),
                  m->admin.empty() ? "unknown" : m->admin.c_str());
      continue;
    }
    uint64_t objects = 0;
    if (s.contains("tiers") && s["tiers"].is_array()) {
      for (const auto& t : s["tiers"]) objects += U(t, {"objects"});
    }
    const uint64_t gets = U(s, {"store", "gets"}) ? U(s, {"store", "gets"}) : U(s, {"gets"});
    const uint64_t misses = U(s, {"store", "get_misses"}) ? U(s, {"store", "get_misses"}) : U(s, {"get_misses"});
    std::string peer_errors;
    if (s.contains("cluster") && s["cluster"].contains("peers")) {
      for (const auto& p : s["cluster"]["peers"]) {
        if (U(p, {"errors"}) == 0) continue;
        peer_errors += (peer_errors.empty() ? "" : ", ") + p.value("node_id", std::string("?")) + ":" + std::to_string(U(p, {"errors"}));
      }
    }
    std::printf("  %-14s %-22s %10" PRIu64 " %8.1f %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %s\n", m->node_id.c_str(),
                m->addr.c_str(), objects, gets ? 100.0 * static_cast<double>(gets - misses) / static_cast<double>(gets) : 0.0,
                U(s, {"cluster", "rereplication", "backlog"}), U(s, {"cluster", "rereplication", "under_replicated"}),
                U(s, {"cluster", "rereplication", "copies"}), peer_errors.empty() ? "none" : peer_errors.c_str());
  }
  if (json) std::printf("%s\n", nlohmann::json{{"members", all}}.dump().c_str());
  return 0;
}

}  // namespace tw::cli
