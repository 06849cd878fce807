// Chain hit density ("chain-hd") and its successor chain reuse ("chain-reuse", the store's default).
//
// Policy: admission always. Every resident entry sits in one ordered set keyed by
// (order class, priority, id); the victim is the first evictable entry. Order classes, first to leave first:
//   0 orphans: the parent left, so no prefix lookup can reach them;
//   1 cold tails: the last block of a request, never read since, *if* the policy has learned that
//     such tails are rarely read again (prompt tails are often partial blocks or private turns);
//   2 chain leaves; 3 blocks with resident children (a parent outlives its children, as in
//     prefix-aware, so a chain is eaten from its tail and never orphaned while a leaf could go).
// Within an order class the priority is GDSF-like: last use plus a bonus that grows with the learned
// reuse probability of the entry's *reuse class*, so chains that tend to come back outlive those that don't.
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
// chain-hd's reuse class is the level bucket alone. chain-reuse adds two features that are also the
// same for every block of a chain just used, so they do not fragment chains either:
//   - depth: log2 of the block's position in its chain (long prompts and short ones return at
//     different rates: a 2-block prompt is often a one-off, a long document a working set);
//   - reuse gap: how long the chain waited before its last use, log2 of the gap in units of
//     (resident entries)/16 ticks, or "never reused" (a chain that came back after a short wait is
//     likely an active conversation; one that came back after a long wait is not).
// and it learns the reuse probability without censoring: chain-hd counts an eviction as "not reused",
// although many evicted blocks come back just after (at 5% capacity the median wait for the next turn
// is about a cache turnover). chain-reuse keeps a ghost of the last 2 x (resident entries) evicted
// blocks (fingerprint -> class at eviction); a block that comes back while in the ghost turns its
// eviction count into a read count for its class. It also gives the bonus one resident count (about a cache
// turnover, in ticks) per unit of relative probability, instead of half: once the probabilities are
// not censored the classes separate more, and the bonus is the natural time unit of the cache.
//
// What is learned (no constant depends on a trace): per class and for tails, reads and evictions are
// counted; the reuse probability of a class is (reads + 1) / (reads + evictions + 2). The bucket
// boundaries are powers of two, of the depth and of the gap over the resident count: scale-free,
// not fitted.
//
// Cost: O(log n) per call (std::set), like prefix-aware; the ghost is a hash map and a FIFO, O(1),
// about 90 bytes per remembered block, 2 x the resident count of them.
#include <bit>
#include <deque>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "store/eviction/chain_links.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

constexpr int kLevelBuckets = 6;  // 0, 1, 2, 3-4, 5-8, 9+
constexpr int kDepthBuckets = 7;  // log2(depth + 1): 0, 1, 2, ... 6+
constexpr int kGapBuckets = 7;    // never reused, then log2(gap * 16 / resident + 1): 0 ... 5+
constexpr uint64_t kGhostPerEntry = 2;

struct ChainPolicyConfig {
  std::string_view name;
  bool rich_classes = false;  // level x depth x gap (chain-reuse), else level only (chain-hd)
  bool ghost = false;         // learn reuse probabilities past eviction
  double bonus_turnovers = 0.5;
};

class ChainHitDensityPolicy final : public EvictionPolicy {
 public:
  ChainHitDensityPolicy(uint32_t max_entries, const ChainPolicyConfig& config)
      : config_(config), nodes_(max_entries),
        classes_(config.rich_classes ? kLevelBuckets * kDepthBuckets * kGapBuckets : kLevelBuckets) {}

  std::string_view name() const override { return config_.name; }

  void OnInsert(EntryId id, EntryId parent) override { OnInsertWithHint(id, parent, PolicyHint{}); }

  void OnInsertWithHint(EntryId id, EntryId parent, const PolicyHint& hint) override {
    TW_CHECK(id < nodes_.size() && !nodes_[id].resident);
    Node& n = nodes_[id];
    n = Node{};
    n.resident = true;
    n.last_use = ++tick_;
    n.fingerprint = config_.ghost ? hint.fingerprint : 0;
    if (n.fingerprint != 0) ComeBackFromGhost(&n);
    if (parent != kNoEntry) {
      TW_CHECK(parent < nodes_.size() && nodes_[parent].resident);
      const Node& p = nodes_[parent];
      n.level = p.level + (p.last_op_was_read ? 1 : 0);
      n.depth = p.depth < UINT16_MAX ? p.depth + 1 : p.depth;
      chain_links::Link(
          nodes_, id, parent, [this](EntryId e, const auto& change) { Reorder(e, change); },
          [](Node& linked) { linked.tail = false; });  // a request went past the parent
    }
    n.reuse_class = ReuseClass(n);
    n.priority = Priority(n);
    n.cls = ClassNow(n);
    order_.insert(KeyOf(id));
  }

  void OnAccess(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    CountRead(n);
    Reorder(id, [&] {
      ++tick_;
      n.gap = tick_ - n.last_use;
      n.last_use = tick_;
      if (n.reads < UINT32_MAX) ++n.reads;
      n.tail = true;
      n.last_op_was_read = true;
      n.orphan = false;  // read again: reached through a re-inserted parent
      n.reuse_class = ReuseClass(n);
      n.priority = Priority(n);
    });
    if (n.parent != kNoEntry) Reorder(n.parent, [&] { nodes_[n.parent].tail = false; });
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    order_.erase(KeyOf(id));
    if (!n.orphan) {
      CountEviction(n);
      if (n.fingerprint != 0) RememberInGhost(n);
    }
    cold_tails_ = TailsAreCold();
    chain_links::Unlink(nodes_, id, [this](EntryId e, const auto& change) { Reorder(e, change); });
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
    uint8_t cls = 0;               // the order class it was filed under; see ClassNow
    uint16_t depth = 0;            // position in its chain (0 for a block without resident parent)
    uint16_t reuse_class = 0;      // the class its reuse is counted under, fixed at its last use
    uint32_t reads = 0;
    uint32_t level = 0;            // turns of the chain when inserted; see the file comment
    double priority = 0;
    uint64_t last_use = 0;
    uint64_t gap = 0;              // ticks between its last two uses; 0: never reused
    uint64_t fingerprint = 0;      // 0 unknown (no ghost)
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

  // An evicted block, remembered so that its return counts as a reuse of its class.
  struct Ghost {
    uint16_t reuse_class = 0;
    bool cold_tail_candidate = false;
    uint64_t last_use = 0;
    uint64_t seq = 0;  // which FIFO slot owns it; an older slot for the same fingerprint is stale
  };

  static int LevelBucket(const Node& n) {
    uint64_t c = uint64_t{n.level} + n.reads;
    if (c <= 2) return static_cast<int>(c);
    return c <= 4 ? 3 : (c <= 8 ? 4 : 5);
  }
  // floor(log2(x + 1)), at most max_bucket.
  static int Log2Bucket(uint64_t x, int max_bucket) {
    int b = std::bit_width(x + 1) - 1;
    return b < max_bucket ? b : max_bucket;
  }
  uint16_t ReuseClass(const Node& n) const {
    int level = LevelBucket(n);
    if (!config_.rich_classes) return static_cast<uint16_t>(level);
    int depth = Log2Bucket(n.depth, kDepthBuckets - 1);
    int gap = n.gap == 0 ? 0 : 1 + Log2Bucket(n.gap * 16 / Resident(), kGapBuckets - 2);
    return static_cast<uint16_t>((level * kDepthBuckets + depth) * kGapBuckets + gap);
  }
  static bool ColdTailCandidate(const Node& n) { return n.tail && n.reads == 0; }
  // The scale of the ghost and of the gap buckets: resident entries, not slots. A store tier has one
  // slot per arena page and an object holds several pages, so max_entries overstates the cache.
  uint64_t Resident() const { return order_.empty() ? 1 : order_.size(); }

  void CountRead(const Node& n) {
    classes_[n.reuse_class].reads += 1;
    all_.reads += 1;
    if (ColdTailCandidate(n)) tails_.reads += 1;
  }
  void CountEviction(const Node& n) {
    classes_[n.reuse_class].evictions += 1;
    all_.evictions += 1;
    if (ColdTailCandidate(n)) tails_.evictions += 1;
  }

  void RememberInGhost(const Node& n) {
    Ghost& g = ghost_[n.fingerprint];
    g = Ghost{n.reuse_class, ColdTailCandidate(n), n.last_use, ++ghost_seq_};
    ghost_fifo_.emplace_back(n.fingerprint, g.seq);
    while (ghost_fifo_.size() > kGhostPerEntry * Resident()) {
      auto [fp, seq] = ghost_fifo_.front();
      ghost_fifo_.pop_front();
      auto it = ghost_.find(fp);
      if (it != ghost_.end() && it->second.seq == seq) ghost_.erase(it);
    }
  }
  // A block evicted not long ago is back: its eviction was a reuse the cache missed. Moves the count
  // of its class from evictions to reads, and records the gap.
  void ComeBackFromGhost(Node* n) {
    auto it = ghost_.find(n->fingerprint);
    if (it == ghost_.end()) return;
    const Ghost& g = it->second;
    Counts& c = classes_[g.reuse_class];
    c.evictions -= 1;
    c.reads += 1;
    all_.evictions -= 1;
    all_.reads += 1;
    if (g.cold_tail_candidate) {
      tails_.evictions -= 1;
      tails_.reads += 1;
    }
    n->gap = n->last_use - g.last_use;
    ghost_.erase(it);
  }

  // Tails are cold when, measured, they come back less than half as often as the average entry.
  bool TailsAreCold() const { return tails_.Probability() < 0.5 * all_.Probability(); }

  double Priority(const Node& n) const {
    double relative = classes_[n.reuse_class].Probability() / all_.Probability();
    return static_cast<double>(n.last_use) +
           config_.bonus_turnovers * static_cast<double>(order_.size()) * relative;
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

  const ChainPolicyConfig config_;
  std::vector<Node> nodes_;
  std::set<Key> order_;
  uint64_t tick_ = 0;
  std::vector<Counts> classes_;
  Counts tails_, all_;
  bool cold_tails_ = false;
  std::unordered_map<uint64_t, Ghost> ghost_;
  std::deque<std::pair<uint64_t, uint64_t>> ghost_fifo_;  // (fingerprint, seq), oldest first
  uint64_t ghost_seq_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewChainHitDensityPolicy(uint32_t max_entries) {
  return std::make_unique<ChainHitDensityPolicy>(max_entries, ChainPolicyConfig{"chain-hd", false, false, 0.5});
}

std::unique_ptr<EvictionPolicy> NewChainReusePolicy(uint32_t max_entries) {
  return std::make_unique<ChainHitDensityPolicy>(max_entries, ChainPolicyConfig{"chain-reuse", true, true, 1.0});
}

}  // namespace tw
