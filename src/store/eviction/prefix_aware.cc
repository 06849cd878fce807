// Prefix-aware LRU. Every resident entry is in one ordered set keyed by (class, last use, id), where
// class orders orphans before chain leaves before blocks that still have resident children. The
// victim is the first evictable entry in that order, so a chain is eaten from its tail and a parent
// is never evicted while a child that depends on it could go instead. O(log n) per call.
#include <set>
#include <tuple>
#include <vector>

#include "common/check.h"
#include "store/eviction/chain_links.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

class PrefixAwarePolicy final : public EvictionPolicy {
 public:
  explicit PrefixAwarePolicy(uint32_t max_entries) : nodes_(max_entries) {}

  std::string_view name() const override { return "prefix-aware"; }

  void OnInsert(EntryId id, EntryId parent) override {
    TW_CHECK(id < nodes_.size() && !nodes_[id].resident);
    Node& n = nodes_[id];
    n = Node{};
    n.resident = true;
    n.last_use = ++tick_;
    if (parent != kNoEntry) {
      TW_CHECK(parent < nodes_.size() && nodes_[parent].resident);
      // The parent stops being a leaf.
      chain_links::Link(nodes_, id, parent, [this](EntryId e, const auto& change) { Reorder(e, change); }, [](Node&) {});
    }
    order_.insert(KeyOf(id));
  }

  void OnAccess(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Reorder(id, [&] { nodes_[id].last_use = ++tick_; });
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    order_.erase(KeyOf(id));
    chain_links::Unlink(nodes_, id, [this](EntryId e, const auto& change) { Reorder(e, change); });  // children become orphans, first in line
    n = Node{};
  }

  EntryId Victim(const std::function<bool(EntryId)>& can_evict) override {
    for (const Key& k : order_) {
      if (can_evict(std::get<2>(k))) return std::get<2>(k);
    }
    return kNoEntry;
  }

 private:
  struct Node {
    bool resident = false;
    bool orphan = false;
    uint64_t last_use = 0;
    EntryId parent = kNoEntry;
    EntryId first_child = kNoEntry;
    EntryId prev_sibling = kNoEntry;
    EntryId next_sibling = kNoEntry;
  };
  using Key = std::tuple<int, uint64_t, EntryId>;

  Key KeyOf(EntryId id) const {
    const Node& n = nodes_[id];
    int cls = n.orphan ? 0 : (n.first_child == kNoEntry ? 1 : 2);
    return {cls, n.last_use, id};
  }

  // Applies `change` to entry `id` and moves it to its new place in the order.
  template <typename F>
  void Reorder(EntryId id, F change) {
    order_.erase(KeyOf(id));
    change();
    order_.insert(KeyOf(id));
  }

  std::vector<Node> nodes_;
  std::set<Key> order_;
  uint64_t tick_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewPrefixAwarePolicy(uint32_t max_entries) {
  return std::make_unique<PrefixAwarePolicy>(max_entries);
}

}  // namespace tw
