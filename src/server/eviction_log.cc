#include "server/eviction_log.h"

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace tw::server {

EvictionLog::EvictionLog(size_t capacity) : capacity_(capacity) {
  TW_CHECK(capacity_ >= 1);
  ring_.reserve(capacity_);
}

void EvictionLog::Record(EvictionRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  ++total_;
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(record));
    return;
  }
  ring_[next_] = std::move(record);
  next_ = (next_ + 1) % capacity_;
}

std::vector<EvictionRecord> EvictionLog::Recent(size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = std::min(max, ring_.size());
  std::vector<EvictionRecord> out;
  out.reserve(n);
  // The newest is just before next_ (once full) or at the back (before): both are (next_ - 1) mod size.
  for (size_t i = 0; i < n; ++i) out.push_back(ring_[(next_ + ring_.size() - 1 - i) % ring_.size()]);
  return out;
}

uint64_t EvictionLog::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

std::string EvictionLog::RenderJson(size_t max) const {
  nlohmann::json list = nlohmann::json::array();
  for (const EvictionRecord& r : Recent(max)) {
    list.push_back({{"t_ms", r.unix_ms},
                    {"tier", std::string(TierName(r.tier))},
                    {"tenant", r.tenant},
                    {"model_id", r.model_id},
                    {"namespace", r.ns.ToHex()},
                    {"key", r.key.ToHex()}});
  }
  nlohmann::json j = {{"total", total()}, {"capacity", capacity_}, {"evictions", std::move(list)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // model ids are client bytes
}

}  // namespace tw::server
