// LRU over an intrusive doubly-linked list in dense arrays: O(1) insert, access and erase.
#include <vector>

#include "common/check.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

class LruPolicy final : public EvictionPolicy {
 public:
  explicit LruPolicy(uint32_t max_entries) : prev_(max_entries, kNoEntry), next_(max_entries, kNoEntry),
                                             linked_(max_entries, false) {}

  std::string_view name() const override { return "lru"; }

  void OnInsert(EntryId id, EntryId /*parent*/) override {
    TW_CHECK(id < linked_.size() && !linked_[id]);
    PushFront(id);
  }

  void OnAccess(EntryId id) override {
    TW_CHECK(id < linked_.size() && linked_[id]);
    Unlink(id);
    PushFront(id);
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < linked_.size() && linked_[id]);
    Unlink(id);
  }

  EntryId Victim(const std::function<bool(EntryId)>& can_evict) override {
    for (EntryId id = tail_; id != kNoEntry; id = prev_[id]) {
      if (can_evict(id)) return id;
    }
    return kNoEntry;
  }

 private:
  void PushFront(EntryId id) {
    prev_[id] = kNoEntry;
    next_[id] = head_;
    if (head_ != kNoEntry) prev_[head_] = id;
    head_ = id;
    if (tail_ == kNoEntry) tail_ = id;
    linked_[id] = true;
  }

  void Unlink(EntryId id) {
    if (prev_[id] != kNoEntry) next_[prev_[id]] = next_[id]; else head_ = next_[id];
    if (next_[id] != kNoEntry) prev_[next_[id]] = prev_[id]; else tail_ = prev_[id];
    linked_[id] = false;
  }

  std::vector<EntryId> prev_, next_;  // prev_ points towards the most recent end
  std::vector<bool> linked_;
  EntryId head_ = kNoEntry;  // most recently used
  EntryId tail_ = kNoEntry;  // least recently used
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy(uint32_t max_entries) { return std::make_unique<LruPolicy>(max_entries); }

}  // namespace tw
