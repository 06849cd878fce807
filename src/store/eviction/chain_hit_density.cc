// Chain hit density ("chain-hd"): the default eviction policy.
//
// Policy: admission always (a new block is cheap to drop if it proves worthless). Eviction samples
// kSamples resident entries and evicts the one with the lowest expected hit density: the expected
// number of future reads divided by the expected slot-time it will hold until then (after LHD,
// Beckmann, Chen and Cidon, NSDI'18). Densities are not guessed: for every class of entry and every
// age (events since its last read) the policy counts, online, how many entries of that class were
// read at that age and how many were evicted at it, and turns the counts into densities every
// reconfiguration interval, decaying old counts so that it follows a drifting workload.
//
// What makes it chain-aware:
//  - Classes split entries by read count (0, 1, 2, 3-4, 5+) and by whether the entry is a chain
//    tail (no request went on past it). Prompt tails are often partial or private (a user turn that
//    is never sent again), inner blocks are the prefixes of later turns; the policy learns which
//    from the trace it sees instead of being told.
//  - An orphan (its parent left) can never be part of a prefix hit, so its density is zero: it goes
//    first.
//  - Among the sampled candidates, one without resident children is preferred to one with: evicting
//    a parent would orphan its children, wasting their slots.
// Why sampling: exact ordering by density would need re-sorting every entry at every tick, as ages
// grow; a 64-entry sample finds an entry in the lowest few percent of densities with high
// probability at O(kSamples) per eviction.
//
// No constant depends on a trace: the age scale is set from the resident count once the tier is
// full, the reconfiguration interval is a fraction of the resident count, and the decay is LHD's.
#include <algorithm>
#include <array>
#include <vector>

#include "common/check.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

constexpr int kReadBuckets = 5;
constexpr int kClasses = kReadBuckets * 2;
constexpr int kAgeBins = 1024;
constexpr int kSamples = 64;
constexpr double kDecay = 0.9;          // weight kept by old counts at each reconfiguration (LHD's)
constexpr double kMinEvents = 8;        // below this many observations a class borrows the pooled density

class ChainHitDensityPolicy final : public EvictionPolicy {
 public:
  explicit ChainHitDensityPolicy(uint32_t max_entries) : nodes_(max_entries) {
    for (auto& c : density_) {
      // Before anything is learned, older entries are worth less: LRU.
      for (int a = 0; a < kAgeBins; ++a) c[a] = 1.0 / (a + 1);
    }
  }

  std::string_view name() const override { return "chain-hd"; }

  void OnInsert(EntryId id, EntryId parent) override {
    TW_CHECK(id < nodes_.size() && !nodes_[id].resident);
    Node& n = nodes_[id];
    uint32_t incarnation = n.incarnation + 1;
    n = Node{};
    n.incarnation = incarnation;
    n.resident = true;
    n.last_tick = ++tick_;
    n.slot = static_cast<uint32_t>(resident_ids_.size());
    resident_ids_.push_back(id);
    if (parent != kNoEntry) {
      TW_CHECK(parent < nodes_.size() && nodes_[parent].resident);
      n.parent = parent;
      n.parent_incarnation = nodes_[parent].incarnation;
      ++nodes_[parent].children;
      nodes_[parent].tail = false;
    }
    Tick();
  }

  void OnAccess(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    if (IsOrphan(n)) {
      // A read orphan was reached through a re-inserted parent, so it is part of a prefix again.
      n.parent = kNoEntry;
    } else {
      hits_[ClassOf(n)][AgeOf(n)] += 1;
    }
    if (n.reads < UINT16_MAX) ++n.reads;
    n.tail = true;
    n.last_tick = ++tick_;
    if (n.parent != kNoEntry) nodes_[n.parent].tail = false;
    Tick();
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].resident);
    Node& n = nodes_[id];
    bool orphan = IsOrphan(n);
    if (!orphan) evictions_[ClassOf(n)][AgeOf(n)] += 1;
    // Swap-remove from the sampling array.
    EntryId last = resident_ids_.back();
    resident_ids_[n.slot] = last;
    nodes_[last].slot = n.slot;
    resident_ids_.pop_back();
    if (n.parent != kNoEntry && !orphan) --nodes_[n.parent].children;
    // Children can no longer be reached by a prefix lookup. Finding them would cost a child list;
    // instead each child compares its parent's incarnation lazily (IsOrphan).
    n.resident = false;
    n.children = 0;
    n.parent = kNoEntry;
  }

  EntryId Victim(const std::function<bool(EntryId)>& can_evict) override {
    if (resident_ids_.empty()) return kNoEntry;
    if (age_scale_ == 0) {
      // The tier is full for the first time: ages are measured against its size from now on.
      age_scale_ = std::max<uint64_t>(1, (16 * resident_ids_.size()) / kAgeBins);
      reconfigure_every_ = std::max<uint64_t>(256, resident_ids_.size() / 4);
    }
    EntryId best = kNoEntry;
    bool best_has_children = true;
    double best_density = 0;
    auto consider = [&](EntryId id) {
      if (!can_evict(id)) return;
      const Node& n = nodes_[id];
      bool has_children = n.children > 0;
      double d = IsOrphan(n) ? -1.0 : density_[ClassOf(n)][AgeOf(n)];
      if (best == kNoEntry || (has_children < best_has_children) ||
          (has_children == best_has_children && d < best_density)) {
        best = id;
        best_has_children = has_children;
        best_density = d;
      }
    };
    size_t n = resident_ids_.size();
    if (n <= kSamples) {
      for (EntryId id : resident_ids_) consider(id);
    } else {
      for (int i = 0; i < kSamples; ++i) consider(resident_ids_[NextRandom() % n]);
      if (best == kNoEntry) {
        for (EntryId id : resident_ids_) consider(id);  // the sample was all pinned
      }
    }
    return best;
  }

 private:
  struct Node {
    bool resident = false;
    bool tail = true;
    uint16_t reads = 0;
    uint32_t children = 0;
    uint32_t slot = 0;
    uint32_t incarnation = 0;         // bumped at every insert of this id
    uint32_t parent_incarnation = 0;  // the parent's incarnation when this entry was inserted
    EntryId parent = kNoEntry;
    uint64_t last_tick = 0;
  };

  static int ReadBucket(uint32_t reads) {
    if (reads <= 2) return static_cast<int>(reads);
    return reads <= 4 ? 3 : 4;
  }
  static int ClassOf(const Node& n) { return ReadBucket(n.reads) * 2 + (n.tail ? 1 : 0); }
  int AgeOf(const Node& n) const {
    uint64_t scale = age_scale_ == 0 ? std::max<uint64_t>(1, (16 * nodes_.size()) / kAgeBins) : age_scale_;
    return static_cast<int>(std::min<uint64_t>((tick_ - n.last_tick) / scale, kAgeBins - 1));
  }

  bool IsOrphan(const Node& n) const {
    if (n.parent == kNoEntry) return false;
    const Node& p = nodes_[n.parent];
    return !p.resident || p.incarnation != n.parent_incarnation;
  }

  void Tick() {
    if (reconfigure_every_ == 0 || ++since_reconfigure_ < reconfigure_every_) return;
    since_reconfigure_ = 0;
    Reconfigure();
  }

  // Turns hit and eviction counts into densities. For ages a..end of a class, hits_up entries were
  // read and events_up reached age a; lifetime_up sums the slot-time they still held. The density at
  // age a is hits_up / lifetime_up: expected reads per unit of slot-time from here on.
  void Reconfigure() {
    std::array<double, kAgeBins> pooled{};
    {
      double hits_up = 0, events_up = 0, lifetime_up = 0;
      for (int a = kAgeBins - 1; a >= 0; --a) {
        for (int c = 0; c < kClasses; ++c) {
          hits_up += hits_[c][a];
          events_up += hits_[c][a] + evictions_[c][a];
        }
        lifetime_up += events_up;
        pooled[a] = lifetime_up > 0 ? hits_up / lifetime_up : 0;
      }
    }
    for (int c = 0; c < kClasses; ++c) {
      double hits_up = 0, events_up = 0, lifetime_up = 0;
      for (int a = kAgeBins - 1; a >= 0; --a) {
        hits_up += hits_[c][a];
        events_up += hits_[c][a] + evictions_[c][a];
        lifetime_up += events_up;
        density_[c][a] = events_up >= kMinEvents && lifetime_up > 0 ? hits_up / lifetime_up : pooled[a];
      }
      for (int a = 0; a < kAgeBins; ++a) {
        hits_[c][a] *= kDecay;
        evictions_[c][a] *= kDecay;
      }
    }
  }

  uint64_t NextRandom() {
    // xorshift64*: deterministic, so a replay gives the same answer every time.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }

  std::vector<Node> nodes_;
  std::vector<EntryId> resident_ids_;
  std::array<std::array<double, kAgeBins>, kClasses> hits_{};
  std::array<std::array<double, kAgeBins>, kClasses> evictions_{};
  std::array<std::array<double, kAgeBins>, kClasses> density_{};
  uint64_t tick_ = 0;
  uint64_t age_scale_ = 0;
  uint64_t reconfigure_every_ = 0;
  uint64_t since_reconfigure_ = 0;
  uint64_t rng_ = 0x9E3779B97F4A7C15ULL;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewChainHitDensityPolicy(uint32_t max_entries) {
  return std::make_unique<ChainHitDensityPolicy>(max_entries);
}

}  // namespace tw
