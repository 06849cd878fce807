// Belady's MIN over next-use hints. Policy: admission always; eviction takes the resident entry whose
// next use is furthest in the future (never-used-again entries first, as their next use is kUnknown,
// the largest value). Ties go to the larger id, only so that runs are deterministic.
//
// In the prefix-hit setting of the simulator (a request's hits are its leading resident blocks) MIN
// over the block access sequence is not provably optimal: keeping a block whose parent is evicted
// buys nothing. It is the standard reference and an upper bound in practice; see docs/simulator.md.
#include <set>
#include <utility>
#include <vector>

#include "common/check.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

class BeladyPolicy final : public EvictionPolicy {
 public:
  explicit BeladyPolicy(uint32_t max_entries) : next_use_(max_entries, 0), resident_(max_entries, false) {}

  std::string_view name() const override { return "belady"; }

  void OnInsert(EntryId id, EntryId parent) override { OnInsertWithHint(id, parent, PolicyHint{}); }
  void OnAccess(EntryId id) override { OnAccessWithHint(id, PolicyHint{}); }

  void OnInsertWithHint(EntryId id, EntryId /*parent*/, const PolicyHint& hint) override {
    TW_CHECK(id < resident_.size() && !resident_[id]);
    resident_[id] = true;
    next_use_[id] = hint.next_use;
    order_.insert({next_use_[id], id});
  }

  void OnAccessWithHint(EntryId id, const PolicyHint& hint) override {
    TW_CHECK(id < resident_.size() && resident_[id]);
    order_.erase({next_use_[id], id});
    next_use_[id] = hint.next_use;
    order_.insert({next_use_[id], id});
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < resident_.size() && resident_[id]);
    order_.erase({next_use_[id], id});
    resident_[id] = false;
  }

  EntryId Victim(const std::function<bool(EntryId)>& can_evict) override {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      if (can_evict(it->second)) return it->second;
    }
    return kNoEntry;
  }

 private:
  std::vector<uint64_t> next_use_;
  std::vector<bool> resident_;
  std::set<std::pair<uint64_t, EntryId>> order_;  // ascending next use; victims from the end
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewBeladyPolicy(uint32_t max_entries) {
  return std::make_unique<BeladyPolicy>(max_entries);
}

}  // namespace tw
