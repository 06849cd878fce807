// Chain hit density ("chain-hd"): the default eviction policy.
//
// Policy: admission always. Every resident entry sits in one ordered set keyed by
// (class, priority, id); the victim is the first evictable entry. Classes, first to leave first:
//   0 orphans: the parent left, so no prefix lookup can reach them;
//   1 cold tails: the last block of a request, never read since, *if* the policy has learned that
//     such tails are rarely read again (prompt tails are often partial blocks or private turns);
//   2 chain leaves; 3 blocks with resident children (a parent outlives its children, as in
//     prefix-aware, so a chain is eaten from its tail and never orphaned while a leaf could go).
// Within a class the priority is GDSF-like: last use plus a bonus that grows with the learned reuse
// probability of the entry's *chain level*, so chains that tend to come back outlive those that don't.
//
// Why chain levels and not per-block frequency: a conversation's next turn needs its whole chain,
// but the blocks of its latest turn have never been read while its first blocks were read at every
// turn. Ranking blocks by their own read count fragments chains (old part kept, new part dropped),
// which measured worse than LRU. The level of a block is the number of turns its chain has seen:
// a block inserted after a parent that was read in the same request (a continuation) is one turn
// deeper than that parent was at insert; each read adds one. So every block of a chain that was just
// used shares the chain's level, and a shared system prompt (read by every request, but inserted
// once) does not leak its huge read count into the chains below it.
//
// What is learned (no constant depends on a trace): per level bucket and for tails, reads and
// evictions are counted; the reuse probability of a bucket is reads / (reads + evictions). The bonus
// is half the resident count times that probability over the mean, i.e. a chain twice as likely to
// return as the average stays about one cache turnover longer.
//
// Cost: O(log n) per call (std::set), like prefix-aware.
#include <array>
#include <set>
#include <tuple>
#include <vector>

#include "common/check.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

constexpr int kLevelBuckets = 6;  // 0, 1, 2, 3-4, 5-8, 9+
constexpr double kBonusTurnovers = 0.5;

class ChainHitDensityPolicy final : public EvictionPolicy {
 public:
  explicit ChainHitDensityPolicy(uint32_t max_entries) : nodes_(max_entries) {}

  std::string_view name() const override { return "chain-hd"; }

  void OnInsert(EntryId id, EntryId parent) override {
    TW_CHECK(id < nodes_.size() && !nodes_[id].resident);
    Node& n = nodes_[id];
    n = Node{};
    n.resident = true;
    n.last_use = ++tick_;
    if (parent != kNoEntry) {
      TW_CHECK(parent < nodes_.size() && nodes_[parent].resident);
      Node& p = nodes_[parent];
      n.parent = parent;
      n.level = p.level + (p.last_op_was_read ? 1 : 0);
      n.next_sibling = p.first_child;
      if (p.first_child != kNoEntry) nodes_[p.first_child].prev_sibling = id;
      Reorder(parent, [&] {
        p.first_child = id;
        p.tail = false;
      });
    }
    n.priority = Priority(n);
    n.cls = ClassNow(n);
    order_.insert(KeyOf(id));
  }

  void OnAccess(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    CountRead(n);
    Reorder(id, [&] {
      n.last_use = ++tick_;
      if (n.reads < UINT32_MAX) ++n.reads;
      n.tail = true;
      n.last_op_was_read = true;
      n.orphan = false;  // read again: reached through a re-inserted parent
      n.priority = Priority(n);
    });
    if (n.parent != kNoEntry) Reorder(n.parent, [&] { nodes_[n.parent].tail = false; });
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    order_.erase(KeyOf(id));
    if (!n.orphan) CountEviction(n);
    cold_tails_ = TailsAreCold();
    for (EntryId c = n.first_child; c != kNoEntry;) {
      EntryId next = nodes_[c].next_sibling;
      Reorder(c, [&] {
        nodes_[c].parent = kNoEntry;
        nodes_[c].orphan = true;
        nodes_[c].prev_sibling = nodes_[c].next_sibling = kNoEntry;
      });
      c = next;
    }
    if (n.parent != kNoEntry) {
      Node& p = nodes_[n.parent];
      Reorder(n.parent, [&] {
        if (n.prev_sibling != kNoEntry) nodes_[n.prev_sibling].next_sibling = n.next_sibling;
        else p.first_child = n.next_sibling;
        if (n.next_sibling != kNoEntry) nodes_[n.next_sibling].prev_sibling = n.prev_sibling;
      });
    }
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
    bool tail = true;              // no request went past this block since it was last used
    bool last_op_was_read = false;
    uint8_t cls = 0;               // the class it was filed under; see ClassNow
    uint32_t reads = 0;
    uint32_t level = 0;            // turns of the chain when inserted; see the file comment
    double priority = 0;
    uint64_t last_use = 0;
    EntryId parent = kNoEntry;
    EntryId first_child = kNoEntry;
    EntryId prev_sibling = kNoEntry;
    EntryId next_sibling = kNoEntry;
  };
  using Key = std::tuple<uint8_t, double, EntryId>;

  struct Counts {
    double reads = 0;
    double evictions = 0;
    double Probability() const { return (reads + 1) / (reads + evictions + 2); }  // Laplace prior
  };

  static int LevelBucket(const Node& n) {
    uint64_t c = uint64_t{n.level} + n.reads;
    if (c <= 2) return static_cast<int>(c);
    return c <= 4 ? 3 : (c <= 8 ? 4 : 5);
  }
  static bool ColdTailCandidate(const Node& n) { return n.tail && n.reads == 0; }

  void CountRead(const Node& n) {
    levels_[LevelBucket(n)].reads += 1;
    all_.reads += 1;
    if (ColdTailCandidate(n)) tails_.reads += 1;
  }
  void CountEviction(const Node& n) {
    levels_[LevelBucket(n)].evictions += 1;
    all_.evictions += 1;
    if (ColdTailCandidate(n)) tails_.evictions += 1;
  }

  // Tails are cold when, measured, they come back less than half as often as the average entry.
  bool TailsAreCold() const { return tails_.Probability() < 0.5 * all_.Probability(); }

  double Priority(const Node& n) const {
    double relative = levels_[LevelBucket(n)].Probability() / all_.Probability();
    return static_cast<double>(n.last_use) + kBonusTurnovers * static_cast<double>(order_.size()) * relative;
  }

  uint8_t ClassNow(const Node& n) const {
    if (n.orphan) return 0;
    if (cold_tails_ && ColdTailCandidate(n)) return 1;
    return n.first_child == kNoEntry ? 2 : 3;
  }

  // The key an entry is filed under. The class is stored, not recomputed, because whether tails are
  // cold may change while the entry sits in the set.
  Key KeyOf(EntryId id) const { return {nodes_[id].cls, nodes_[id].priority, id}; }

  // Applies `change` to entry `id` and files it again under its new class and priority.
  template <typename F>
  void Reorder(EntryId id, F change) {
    order_.erase(KeyOf(id));
    change();
    nodes_[id].cls = ClassNow(nodes_[id]);
    order_.insert(KeyOf(id));
  }

  std::vector<Node> nodes_;
  std::set<Key> order_;
  uint64_t tick_ = 0;
  std::array<Counts, kLevelBuckets> levels_{};
  Counts tails_, all_;
  bool cold_tails_ = false;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewChainHitDensityPolicy(uint32_t max_entries) {
  return std::make_unique<ChainHitDensityPolicy>(max_entries);
}

}  // namespace tw
