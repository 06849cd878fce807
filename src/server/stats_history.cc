#include "server/stats_history.h"

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace tw::server {

StatsHistory::StatsHistory(size_t capacity, uint64_t interval_ms) : capacity_(capacity), interval_ms_(interval_ms) {
  TW_CHECK(capacity_ >= 1);
  ring_.reserve(capacity_);
}

void StatsHistory::Record(StatsSample sample) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(sample));
    return;
  }
  ring_[next_] = std::move(sample);
  next_ = (next_ + 1) % capacity_;
}

std::vector<StatsSample> StatsHistory::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StatsSample> out;
  out.reserve(ring_.size());
  // Until the ring is full next_ stays 0, so this is the plain order; after, next_ is the oldest.
  for (size_t i = 0; i < ring_.size(); ++i) out.push_back(ring_[(next_ + i) % ring_.size()]);
  return out;
}

std::string StatsHistory::RenderJson() const {
  nlohmann::json samples = nlohmann::json::array();
  for (const StatsSample& s : Samples()) {
    nlohmann::json tiers = nlohmann::json::object();
    for (const TierStats& t : s.store.tiers) {
      tiers[std::string(TierName(t.tier))] = {{"capacity_bytes", t.capacity_bytes}, {"used_bytes", t.used_bytes},
                                              {"objects", t.objects},               {"hits", t.hits},
                                              {"admissions", t.admissions},         {"evictions", t.evictions}};
    }
    samples.push_back({{"t_ms", s.unix_ms},
                       {"gets", s.store.gets},
                       {"get_misses", s.store.get_misses},
                       {"puts", s.store.puts},
                       {"put_rejected", s.store.put_rejected},
                       {"lookups", s.store.lookups},
                       {"lookup_keys", s.store.lookup_keys},
                       {"lookup_hits", s.store.lookup_hits},
                       {"tiers", std::move(tiers)}});
  }
  nlohmann::json j = {{"interval_ms", interval_ms_}, {"capacity", capacity_}, {"samples", std::move(samples)}};
  return j.dump();
}

}  // namespace tw::server
