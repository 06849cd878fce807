// StatsHistory: the last N samples of the store's counters, one a second, so the console can draw
// "over time" without a time-series database. Samples hold cumulative counters; a reader turns two
// neighbours into a rate (puts/s, hit ratio of that second), so a missed sample loses resolution,
// never counts.
//
// Bounded: a ring of `capacity` samples (the default, 600, is ten minutes at one a second; about
// 200 bytes a sample with two tiers). Thread-safe: Record and Samples may race (one mutex, held
// only to copy a sample in or the ring out).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tw/store.h"

namespace tw::server {

struct StatsSample {
  uint64_t unix_ms = 0;  // wall clock, so a person can read the chart's axis
  StoreStats store;      // the whole daemon's counters at that moment
};

class StatsHistory {
 public:
  static constexpr size_t kDefaultCapacity = 600;
  static constexpr uint64_t kDefaultIntervalMs = 1000;

  // `capacity` >= 1 (TW_CHECK).
  explicit StatsHistory(size_t capacity = kDefaultCapacity, uint64_t interval_ms = kDefaultIntervalMs);

  // Appends `sample`; once full, the oldest is dropped.
  void Record(StatsSample sample);
  // Every sample held, oldest first.
  std::vector<StatsSample> Samples() const;

  size_t capacity() const { return capacity_; }
  uint64_t interval_ms() const { return interval_ms_; }

  // {"interval_ms":1000,"capacity":600,"samples":[{"t_ms":..., "gets":..., "get_misses":...,
  //  "puts":..., "put_rejected":..., "lookups":..., "lookup_keys":..., "lookup_hits":...,
  //  "tiers":{"dram":{"capacity_bytes":..,"used_bytes":..,"objects":..,"hits":..,"admissions":..,
  //  "evictions":..}, ...}}, ...]} — what GET /stats/history serves (docs/operations.md).
  std::string RenderJson() const;

 private:
  const size_t capacity_;
  const uint64_t interval_ms_;
  mutable std::mutex mu_;
  std::vector<StatsSample> ring_;  // GUARDED_BY(mu_); grows to capacity_, then wraps
  size_t next_ = 0;                // GUARDED_BY(mu_); where the next sample goes once full
};

}  // namespace tw::server
