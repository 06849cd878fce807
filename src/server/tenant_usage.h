// Tenant usage: who holds what, for the admin console's "top tenants" and "namespaces" tables.
//
// Per tenant, from EmbeddedStore::TenantStats (the counters of calls on its namespaces and the
// DRAM bytes it holds; disk use is not split by tenant in the store, so it is not shown). Per
// namespace, what the daemon knows of the namespaces registered since it started: tenant, model
// and object size (the store keeps no per-namespace counters yet).
#pragma once

#include <string>
#include <vector>

#include "server/server_core.h"
#include "tw/embedded_store.h"

namespace tw::server {

// {"tenants":[{"tenant":"..","namespaces":N,"dram_used_bytes":..,"dram_capacity_bytes":..,
//   "gets":..,"get_misses":..,"hit_ratio":..,"puts":..,"lookups":..,"lookup_keys":..,
//   "lookup_hits":..}, ...],
//  "namespaces":[{"namespace":"<32 hex>","tenant":"..","model_id":"..","object_bytes":..}, ...]}
// Tenants: every one configured, the anonymous tenant if anonymous access is on, and every tenant
// owning a registered namespace; sorted by DRAM bytes held, then by gets. GET /stats/tenants.
std::string RenderTenantUsageJson(EmbeddedStore& store, const ServerConfig& config,
                                  const std::vector<ServerCore::NamespaceInfo>& namespaces);

}  // namespace tw::server
