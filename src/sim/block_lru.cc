#include "sim/block_lru.h"

namespace tw::sim {

bool BlockLru::Touch(uint32_t block) {
  auto it = where_.find(block);
  if (it == where_.end()) return false;
  order_.splice(order_.begin(), order_, it->second);
  return true;
}

std::optional<uint32_t> BlockLru::Insert(uint32_t block) {
  if (Touch(block)) return std::nullopt;
  if (capacity_ == 0) return block;
  std::optional<uint32_t> evicted;
  if (where_.size() >= capacity_) {
    evicted = order_.back();
    where_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(block);
  where_[block] = order_.begin();
  return evicted;
}

bool BlockLru::Erase(uint32_t block) {
  auto it = where_.find(block);
  if (it == where_.end()) return false;
  order_.erase(it->second);
  where_.erase(it);
  return true;
}

}  // namespace tw::sim
