// Tenant usage: who holds and reads what, for the admin console's "top tenants" and "top
// namespaces" tables and for billing.
//
// Per tenant, from EmbeddedStore::TenantStats (the counters of calls on its namespaces and the
// DRAM bytes it holds; disk use is not split by tenant in the store, so it is not shown) and the
// token usage of its namespaces (usage_ledger.h). Per namespace, what the daemon knows of those
// registered since it started: tenant, model, object size and token usage. Bytes held per
// namespace are not known: the store keeps no per-namespace byte counts.
#pragma once

#include <string>
#include <vector>

#include "server/server_core.h"
#include "tw/embedded_store.h"

namespace tw::server {

// {"tenants":[{"tenant":"..","namespaces":N,"dram_used_bytes":..,"dram_capacity_bytes":..,
//   "gets":..,"get_misses":..,"hit_ratio":..,"puts":..,"lookups":..,"lookup_keys":..,
//   "lookup_hits":.., <usage>}, ...],
//  "namespaces":[{"namespace":"<32 hex>","tenant":"..","model_id":"..","object_bytes":..,
//   "block_tokens":.., <usage>}, ...]}
// where <usage> is "gpu_seconds_saved","money_saved" (economics in config.h; 0 without a rate),
// "write_tokens","hit_tokens","hit_tokens_by_tier":{"dram","disk","peer"},
// "miss_tokens","read_tokens". Tenants: every one configured, the anonymous tenant if anonymous
// access is on, and every tenant owning a registered namespace; sorted by DRAM bytes held, then by
// gets. Namespaces: by GPU-seconds saved, hit tokens, then write tokens. GET /stats/tenants.
std::string RenderTenantUsageJson(EmbeddedStore& store, const ServerConfig& config,
                                  const std::vector<ServerCore::NamespaceInfo>& namespaces);

// `"usage":[{"tenant":"..", <usage>}, ...],"economics":{"prefill_tokens_per_s":..,
// "prefill_tokens_per_s_by_model":{..},"gpu_hour_price":..,"currency":"..","gpu_seconds_saved":..,
// "money_saved":..}`: two members (no braces) that GET /stats adds to its object.
std::string RenderUsageJson(const std::vector<std::pair<std::string, UsageTotals>>& per_tenant, const EconomicsConfig& econ);

}  // namespace tw::server
