// LogRateLimiter: lets one log line through per interval and counts the events it held back, so a
// hostile or broken peer's flood (bad frames, requests before HELLO, refused connections) costs
// one line per interval, not one per event, while the line still says how many there were.
//
// Thread-safe and lock-free: many sessions share one limiter.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace tw {

class LogRateLimiter {
 public:
  explicit LogRateLimiter(uint64_t interval_ms) : interval_ns_(interval_ms * 1'000'000) {}

  // Counts one event. True if the caller should log it now; then *events is how many events (this
  // one included) happened since the last line let through.
  bool Allow(uint64_t* events) {
    const uint64_t seen = unlogged_.fetch_add(1, std::memory_order_relaxed) + 1;
    const uint64_t now = MonotonicNanos();
    uint64_t last = last_ns_.load(std::memory_order_relaxed);
    if (last != 0 && now - last < interval_ns_) return false;
    if (!last_ns_.compare_exchange_strong(last, now)) return false;  // another thread logs this round
    unlogged_.fetch_sub(seen, std::memory_order_relaxed);
    *events = seen;
    return true;
  }

 private:
  const uint64_t interval_ns_;
  std::atomic<uint64_t> last_ns_{0};
  std::atomic<uint64_t> unlogged_{0};
};

}  // namespace tw
