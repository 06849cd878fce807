// EvictionLog: the most recent evictions the store reported, for the console's "recent evictions"
// table. Fed from the store's listener (EmbeddedStoreOptions::on_event, kEvicted), which runs on
// the evicting thread: Record is one short mutex section and a copy of ~100 bytes, nothing more.
//
// Bounded: a ring of `capacity` records (default 256); `total()` counts every eviction ever
// recorded, so a reader can tell how many the ring no longer shows. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tw/block_key.h"
#include "tw/store.h"

namespace tw::server {

struct EvictionRecord {
  uint64_t unix_ms = 0;
  Tier tier = Tier::kNone;  // the tier that let the object go (DRAM evictions are usually demotions to disk)
  std::string tenant;       // empty when the namespace was not registered since the daemon started
  std::string model_id;
  NamespaceId ns;
  BlockKey key;
};

class EvictionLog {
 public:
  static constexpr size_t kDefaultCapacity = 256;

  // `capacity` >= 1 (TW_CHECK).
  explicit EvictionLog(size_t capacity = kDefaultCapacity);

  void Record(EvictionRecord record);
  // Up to `max` records, newest first.
  std::vector<EvictionRecord> Recent(size_t max) const;
  uint64_t total() const;

  // {"total":N,"capacity":256,"evictions":[{"t_ms":..,"tier":"dram","tenant":"..","model_id":"..",
  //  "namespace":"<32 hex>","key":"<32 hex>"}, ...]}, newest first — GET /stats/evictions.
  std::string RenderJson(size_t max) const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<EvictionRecord> ring_;  // GUARDED_BY(mu_); grows to capacity_, then wraps
  size_t next_ = 0;                   // GUARDED_BY(mu_); the oldest record once full
  uint64_t total_ = 0;                // GUARDED_BY(mu_)
};

}  // namespace tw::server
