// TierCounters: the counters every tier keeps (TierStats' counting fields), bumped lock-free on its
// hot paths and read as a snapshot. One type, so a tier cannot forget a field that another reports.
//
// Relaxed atomics: each counter is exact, but a snapshot is not a consistent cut across counters
// (a hit may be counted before its bytes). Monitoring reads them; nothing decides on them.
#pragma once

#include <atomic>
#include <cstdint>

#include "tw/store.h"

namespace tw {

struct TierCounters {
  std::atomic<uint64_t> objects{0};        // held now (the one gauge: goes down on eviction)
  std::atomic<uint64_t> hits{0};           // Get / Acquire served from the tier
  std::atomic<uint64_t> admissions{0};     // objects that entered
  std::atomic<uint64_t> evictions{0};      // objects that left to make room (or expired)
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> errors{0};         // I/O errors and corrupt objects found

  // Fills the counting fields of `s`; the tier fills tier, capacity, use and admitting itself.
  void SnapshotInto(TierStats* s) const {
    s->objects = objects.load(std::memory_order_relaxed);
    s->hits = hits.load(std::memory_order_relaxed);
    s->admissions = admissions.load(std::memory_order_relaxed);
    s->evictions = evictions.load(std::memory_order_relaxed);
    s->bytes_read = bytes_read.load(std::memory_order_relaxed);
    s->bytes_written = bytes_written.load(std::memory_order_relaxed);
    s->errors = errors.load(std::memory_order_relaxed);
  }
};

}  // namespace tw
