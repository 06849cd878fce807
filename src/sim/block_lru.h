// BlockLru: a least-recently-used set of trace block ids with a fixed capacity, for the caches of
// the routing simulation (an engine's GPU prefix cache, a node's warehouse DRAM and disk). The
// single-warehouse `simulate` replays the real eviction policies; routing compares where requests
// go, so every cache here is the same plain LRU and only the routing differs.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>

namespace tw::sim {

class BlockLru {
 public:
  explicit BlockLru(uint64_t capacity) : capacity_(capacity) {}

  bool Contains(uint32_t block) const { return where_.count(block) != 0; }
  // Marks `block` most recently used; false if absent.
  bool Touch(uint32_t block);
  // Adds (or touches) `block`; returns the block evicted to make room, if any. A cache of capacity 0
  // holds nothing: the block itself comes back.
  std::optional<uint32_t> Insert(uint32_t block);
  bool Erase(uint32_t block);
  uint64_t size() const { return where_.size(); }
  uint64_t capacity() const { return capacity_; }

 private:
  const uint64_t capacity_;
  std::list<uint32_t> order_;  // most recent first
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> where_;
};

}  // namespace tw::sim
