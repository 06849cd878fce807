// StoreCounters: the call counters of a store (StoreStats' counting fields), kept once for the
// whole store and once per tenant, bumped lock-free and read as a snapshot. Relaxed atomics: each
// counter is exact; a snapshot is not a consistent cut across them.
#pragma once

#include <atomic>
#include <cstdint>

#include "tw/store.h"

namespace tw {

struct StoreCounters {
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> lookup_keys{0};
  std::atomic<uint64_t> lookup_hits{0};
  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> get_misses{0};
  std::atomic<uint64_t> puts{0};
  std::atomic<uint64_t> put_duplicates{0};
  std::atomic<uint64_t> put_rejected{0};
  std::atomic<uint64_t> skipped_short{0};

  void SnapshotInto(StoreStats* s) const {
    s->lookups = lookups.load(std::memory_order_relaxed);
    s->lookup_keys = lookup_keys.load(std::memory_order_relaxed);
    s->lookup_hits = lookup_hits.load(std::memory_order_relaxed);
    s->gets = gets.load(std::memory_order_relaxed);
    s->get_misses = get_misses.load(std::memory_order_relaxed);
    s->puts = puts.load(std::memory_order_relaxed);
    s->put_duplicates = put_duplicates.load(std::memory_order_relaxed);
    s->put_rejected = put_rejected.load(std::memory_order_relaxed);
    s->skipped_short = skipped_short.load(std::memory_order_relaxed);
  }
};

}  // namespace tw
