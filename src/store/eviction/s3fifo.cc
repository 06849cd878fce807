// S3-FIFO (Yang et al., SOSP'23), written from the paper's description.
//
// Policy: admission into the small FIFO S, or straight into the main FIFO M when the entry's
// fingerprint is in the ghost FIFO G (it was evicted from S recently and came back). A read sets a
// 2-bit frequency. Eviction: while S holds more than 10% of the resident entries, S's oldest entry
// leaves if it was never read (its fingerprint goes to G) or moves to M if it was; otherwise M's
// oldest entry leaves if its frequency is 0, else it loses one and goes round again.
// The 10% and the ghost size (as many fingerprints as M holds entries) are the paper's defaults; they
// are fractions of the resident count, so nothing depends on a trace.
//
// An entry that may not leave now (pinned) is passed over and stays where it is, so a pin never
// changes the order.
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "store/eviction/policy.h"

namespace tw {
namespace {

enum class Queue : uint8_t { kNone, kSmall, kMain };

class S3FifoPolicy final : public EvictionPolicy {
 public:
  explicit S3FifoPolicy(uint32_t max_entries) : nodes_(max_entries) {}

  std::string_view name() const override { return "s3fifo"; }

  void OnInsert(EntryId id, EntryId parent) override { OnInsertWithHint(id, parent, PolicyHint{}); }
  void OnAccess(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].queue != Queue::kNone);
    if (nodes_[id].freq < 3) ++nodes_[id].freq;
  }

  void OnInsertWithHint(EntryId id, EntryId /*parent*/, const PolicyHint& hint) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].queue == Queue::kNone);
    Node& n = nodes_[id];
    n.freq = 0;
    n.fingerprint = hint.fingerprint;
    bool returning = hint.fingerprint != 0 && ghost_count_.count(hint.fingerprint) > 0;
    PushHead(returning ? Queue::kMain : Queue::kSmall, id);
  }

  void OnErase(EntryId id) override {
    TW_CHECK(id < nodes_.size() && nodes_[id].queue != Queue::kNone);
    Node& n = nodes_[id];
    if (n.queue == Queue::kSmall && n.freq == 0) RememberGhost(n.fingerprint);
    Unlink(id);
  }

  EntryId Victim(const std::function<bool(EntryId)>& can_evict) override {
    // Each pass either returns, moves an entry S -> M, or lowers a frequency, so the number of steps
    // is bounded by a few laps of all resident entries.
    uint64_t budget = 8 * (uint64_t{small_.size} + main_.size) + 8;
    EntryId skip_small = kNoEntry, skip_main = kNoEntry;  // first pinned entry seen in each queue
    EntryId small_cursor = small_.tail, main_cursor = main_.tail;
    while (budget-- > 0) {
      uint64_t resident = uint64_t{small_.size} + main_.size;
      bool from_small = small_cursor != kNoEntry && (main_cursor == kNoEntry || small_.size * 10 > resident);
      if (from_small) {
        EntryId id = small_cursor;
        small_cursor = nodes_[id].prev;
        if (!can_evict(id)) { if (skip_small == kNoEntry) skip_small = id; continue; }
        if (nodes_[id].freq == 0) return id;
        Unlink(id);
        nodes_[id].freq = 0;
        PushHead(Queue::kMain, id);
        if (main_cursor == kNoEntry) main_cursor = id;
      } else if (main_cursor != kNoEntry) {
        EntryId id = main_cursor;
        main_cursor = nodes_[id].prev;
        if (!can_evict(id)) { if (skip_main == kNoEntry) skip_main = id; continue; }
        if (nodes_[id].freq == 0) return id;
        --nodes_[id].freq;
        Unlink(id);
        PushHead(Queue::kMain, id);
        if (main_cursor == kNoEntry) main_cursor = id;
      } else {
        return kNoEntry;  // every resident entry is pinned
      }
    }
    return kNoEntry;
  }

 private:
  struct Node {
    Queue queue = Queue::kNone;
    uint8_t freq = 0;
    uint64_t fingerprint = 0;
    EntryId prev = kNoEntry;  // towards the head (newer)
    EntryId next = kNoEntry;  // towards the tail (older)
  };
  struct List {
    EntryId head = kNoEntry;
    EntryId tail = kNoEntry;
    uint32_t size = 0;
  };

  List& ListOf(Queue q) { return q == Queue::kSmall ? small_ : main_; }

  void PushHead(Queue q, EntryId id) {
    List& l = ListOf(q);
    Node& n = nodes_[id];
    n.queue = q;
    n.prev = kNoEntry;
    n.next = l.head;
    if (l.head != kNoEntry) nodes_[l.head].prev = id;
    l.head = id;
    if (l.tail == kNoEntry) l.tail = id;
    ++l.size;
  }

  void Unlink(EntryId id) {
    Node& n = nodes_[id];
    List& l = ListOf(n.queue);
    if (n.prev != kNoEntry) nodes_[n.prev].next = n.next; else l.head = n.next;
    if (n.next != kNoEntry) nodes_[n.next].prev = n.prev; else l.tail = n.prev;
    --l.size;
    n.queue = Queue::kNone;
    n.prev = n.next = kNoEntry;
  }

  void RememberGhost(uint64_t fingerprint) {
    if (fingerprint == 0) return;
    ghost_fifo_.push_back(fingerprint);
    ++ghost_count_[fingerprint];
    // The ghost remembers about as many fingerprints as the main queue holds entries.
    size_t limit = std::max<size_t>(main_.size, 1);
    while (ghost_fifo_.size() > limit) {
      auto it = ghost_count_.find(ghost_fifo_.front());
      if (--it->second == 0) ghost_count_.erase(it);
      ghost_fifo_.pop_front();
    }
  }

  std::vector<Node> nodes_;
  List small_, main_;
  std::deque<uint64_t> ghost_fifo_;
  std::unordered_map<uint64_t, uint32_t> ghost_count_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint32_t max_entries) {
  return std::make_unique<S3FifoPolicy>(max_entries);
}

}  // namespace tw
