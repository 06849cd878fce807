// StagingRing: the write-behind queue's memory. One aligned buffer of a fixed size, carved into
// contiguous records in a circle. Bounded by construction: when it is full the demoting caller
// waits (back-pressure) instead of the queue growing.
//
// Allocations are usually freed in the order they were made (the writer drains in queue order),
// but not always (two demoting threads may finish their copies in either order), so frees are
// flagged and the ring's head advances over every freed allocation at its front.
//
// Not thread-safe: the disk tier guards it with its queue mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "common/env/env.h"

namespace tw {

class StagingRing {
 public:
  // The memory is faulted in later, by the writer thread registering it for I/O, so Open stays fast.
  explicit StagingRing(uint64_t capacity_bytes) : buffer_(capacity_bytes) {}
  std::span<std::byte> memory() const { return buffer_.span(); }

  bool valid() const { return static_cast<bool>(buffer_); }
  uint64_t capacity_bytes() const { return buffer_.size(); }
  uint64_t used_bytes() const { return used_; }
  std::byte* at(uint64_t offset) const { return buffer_.data() + offset; }

  // The offset of `n` contiguous bytes (n a multiple of 4 KiB), or nullopt if there is no room now.
  std::optional<uint64_t> TryAllocate(uint64_t n) {
    if (n > buffer_.size()) return std::nullopt;
    uint64_t off;
    if (allocs_.empty()) {
      off = 0;
    } else {
      const uint64_t head = allocs_.front().offset;
      const uint64_t tail = allocs_.back().offset + allocs_.back().length;
      if (allocs_.back().offset >= head) {  // not wrapped: free space is [tail, end) and [0, head)
        if (buffer_.size() - tail >= n) off = tail;
        else if (head >= n) off = 0;
        else return std::nullopt;
      } else {  // wrapped: free space is [tail, head)
        if (head - tail >= n) off = tail;
        else return std::nullopt;
      }
    }
    allocs_.push_back({off, n, false});
    used_ += n;
    return off;
  }

  void Free(uint64_t offset) {
    for (Alloc& a : allocs_) {
      if (a.offset == offset && !a.freed) {
        a.freed = true;
        used_ -= a.length;
        break;
      }
    }
    while (!allocs_.empty() && allocs_.front().freed) allocs_.pop_front();
  }

 private:
  struct Alloc {
    uint64_t offset, length;
    bool freed;
  };
  AlignedBuffer buffer_;
  std::deque<Alloc> allocs_;
  uint64_t used_ = 0;
};

}  // namespace tw
