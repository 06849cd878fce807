// Time sources. Everything that expires (leases, TTLs) reads a Clock, so tests can move time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds on a monotonic clock with an arbitrary epoch.
  virtual uint64_t NowMs() const = 0;
};

class SteadyClock final : public Clock {
 public:
  uint64_t NowMs() const override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
  static SteadyClock* Default() {
    static SteadyClock clock;
    return &clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_ms = 1'000'000) : now_ms_(start_ms) {}
  uint64_t NowMs() const override { return now_ms_.load(std::memory_order_acquire); }
  void AdvanceMs(uint64_t ms) { now_ms_.fetch_add(ms, std::memory_order_acq_rel); }

 private:
  std::atomic<uint64_t> now_ms_;
};

// Milliseconds since the Unix epoch (wall clock: it may jump). What deadlines are written in on disk,
// so they mean the same to the next process; a Clock so that tests can move it with the store's.
class WallClock final : public Clock {
 public:
  uint64_t NowMs() const override;
  static WallClock* Default() {
    static WallClock clock;
    return &clock;
  }
};

// Nanoseconds on the steady clock, for measuring durations.
inline uint64_t MonotonicNanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Milliseconds since the Unix epoch (wall clock: it may jump), for timestamps a person reads.
inline uint64_t UnixMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

inline uint64_t WallClock::NowMs() const { return UnixMillis(); }

}  // namespace tw
