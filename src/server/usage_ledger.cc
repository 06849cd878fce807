#include "server/usage_ledger.h"

#include <cstdio>

namespace tw::server {

UsageTotals& UsageTotals::operator+=(const UsageTotals& o) {
  write_tokens += o.write_tokens;
  hit_tokens += o.hit_tokens;
  for (size_t i = 0; i < hit_tokens_by_tier.size(); ++i) hit_tokens_by_tier[i] += o.hit_tokens_by_tier[i];
  miss_tokens += o.miss_tokens;
  read_tokens += o.read_tokens;
  gpu_seconds_saved += o.gpu_seconds_saved;
  return *this;
}

void NamespaceUsage::Looked(size_t asked, std::span<const Tier> tiers) {
  for (Tier t : tiers) {
    const size_t i = static_cast<size_t>(t);
    if (i < hit_.size()) Add(hit_[i], 1);
  }
  if (asked > tiers.size()) Add(miss_, asked - tiers.size());
}

void NamespaceUsage::Seed(const UsageTotals& saved) {
  write_.fetch_add(saved.write_tokens, std::memory_order_relaxed);
  for (size_t i = 0; i < hit_.size(); ++i) hit_[i].fetch_add(saved.hit_tokens_by_tier[i], std::memory_order_relaxed);
  miss_.fetch_add(saved.miss_tokens, std::memory_order_relaxed);
  read_.fetch_add(saved.read_tokens, std::memory_order_relaxed);
}

UsageTotals NamespaceUsage::Totals() const {
  UsageTotals t;
  t.write_tokens = write_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < hit_.size(); ++i) {
    t.hit_tokens_by_tier[i] = hit_[i].load(std::memory_order_relaxed);
    t.hit_tokens += t.hit_tokens_by_tier[i];
  }
  t.miss_tokens = miss_.load(std::memory_order_relaxed);
  t.read_tokens = read_.load(std::memory_order_relaxed);
  return t;
}

namespace {

// Tenant names come from the config; escape what Prometheus' text format requires in a label.
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string RenderUsagePrometheus(const std::vector<std::pair<std::string, UsageTotals>>& per_tenant) {
  std::string o;
  struct Family {
    const char* name;
    const char* help;
    uint64_t UsageTotals::*field;
  };
  static const Family kFamilies[] = {
      {"tw_tenant_write_tokens_total", "Tokens of blocks newly stored (cache writes), by tenant.", &UsageTotals::write_tokens},
      {"tw_tenant_miss_tokens_total", "Tokens of looked-up blocks past the matched prefix (to prefill), by tenant.",
       &UsageTotals::miss_tokens},
      {"tw_tenant_read_tokens_total", "Tokens of blocks served by GET and ACQUIRE, by tenant.", &UsageTotals::read_tokens},
  };
  for (const Family& f : kFamilies) {
    o += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " counter\n";
    for (const auto& [tenant, u] : per_tenant) o += std::string(f.name) + "{tenant=\"" + Label(tenant) + "\"} " + std::to_string(u.*f.field) + "\n";
  }
  o += "# HELP tw_tenant_hit_tokens_total Tokens of blocks a lookup matched (cache reads), by tenant and the tier holding them.\n"
       "# TYPE tw_tenant_hit_tokens_total counter\n";
  for (const auto& [tenant, u] : per_tenant) {
    for (Tier t : {Tier::kDram, Tier::kDisk, Tier::kPeer}) {
      o += "tw_tenant_hit_tokens_total{tenant=\"" + Label(tenant) + "\",tier=\"" + std::string(TierName(t)) + "\"} " +
           std::to_string(u.hit_tokens_by_tier[static_cast<size_t>(t)]) + "\n";
    }
  }
  o += "# HELP tw_tenant_gpu_seconds_saved_total Prefill GPU-seconds the cache saved (hit tokens over the configured prefill rate), by tenant.\n"
       "# TYPE tw_tenant_gpu_seconds_saved_total counter\n";
  for (const auto& [tenant, u] : per_tenant) {
    char v[64];
    std::snprintf(v, sizeof v, "%.3f", u.gpu_seconds_saved);
    o += "tw_tenant_gpu_seconds_saved_total{tenant=\"" + Label(tenant) + "\"} " + v + "\n";
  }
  return o;
}

}  // namespace tw::server
