// EvictionPolicy: decides which resident object leaves a tier next.
//
// A policy sees only small dense entry ids (assigned by the tier, < the capacity given at
// construction), the chain parent of each entry, inserts, hits and erasures. It never sees bytes,
// keys or pins: the tier passes a predicate saying which entries may leave now (not pinned, not being
// read). The same policy objects drive the DRAM tier and `tokenwarehouse simulate`, so what the
// simulator predicts is what the store does.
//
// Thread-safety: none. The owning tier serialises every call under its policy mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "tw/policy.h"
#include "tw/result.h"

namespace tw {

using EntryId = uint32_t;
inline constexpr EntryId kNoEntry = UINT32_MAX;

// Optional facts a caller may know about an entry. Policies that do not use them ignore them, and a
// caller that does not know them leaves the defaults, so every policy works without hints.
struct PolicyHint {
  static constexpr uint64_t kUnknown = UINT64_MAX;
  // A stable identity of the object (e.g. a fold of its block key). Lets a policy recognise an object
  // that comes back after it was evicted (S3-FIFO's ghost queue); 0 means unknown.
  uint64_t fingerprint = 0;
  // When the object will next be read, in the caller's clock; kUnknown in a live store. Only the
  // simulator knows it, from the trace; Belady's offline optimum needs it.
  uint64_t next_use = kUnknown;
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  virtual std::string_view name() const = 0;

  // `id` became resident. `parent` is the resident entry of the block before it in its chain, or
  // kNoEntry (a chain head, or a parent that lives in no tier this policy orders).
  virtual void OnInsert(EntryId id, EntryId parent) = 0;
  // `id` was read (a hit).
  virtual void OnAccess(EntryId id) = 0;
  // `id` left (evicted, removed or expired). Its id may be reused by a later OnInsert. Children that
  // named it as parent stay resident and are now orphans.
  virtual void OnErase(EntryId id) = 0;
  // The entry that should leave next among those for which `can_evict(id)` is true, or kNoEntry if
  // none may. Does not erase it: the tier calls OnErase once it has.
  virtual EntryId Victim(const std::function<bool(EntryId)>& can_evict) = 0;

  // OnInsert / OnAccess with hints. The defaults drop the hint, so existing policies need nothing.
  virtual void OnInsertWithHint(EntryId id, EntryId parent, const PolicyHint& /*hint*/) { OnInsert(id, parent); }
  virtual void OnAccessWithHint(EntryId id, const PolicyHint& /*hint*/) { OnAccess(id); }
};

// LRU: the least recently inserted-or-read entry leaves first.
std::unique_ptr<EvictionPolicy> NewLruPolicy(uint32_t max_entries);

// Prefix-aware: a block is worthless once its parent is gone, and a parent is needed by every child.
// Orphans (parent erased) leave first, then the least recently used chain *leaf*; a block with
// resident children leaves only when no leaf can (e.g. all leaves are pinned).
std::unique_ptr<EvictionPolicy> NewPrefixAwarePolicy(uint32_t max_entries);

// S3-FIFO (Yang et al., SOSP'23): a small FIFO (10% of entries) filters one-hit wonders; an entry
// read while in it moves to the main FIFO, others leave (remembered in a ghost FIFO by fingerprint,
// so that a quick return goes straight to main); main entries read since their last pass get another
// lap. Without fingerprint hints the ghost is empty and S3-FIFO still filters one-hit wonders.
std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint32_t max_entries);

// Chain hit density ("chain-hd"): learns online, per class of entry, how likely an entry of a given
// age is to be read again and how long it will hold its slot before that; evicts the entry with the
// fewest expected hits per slot-time (after LHD, Beckmann et al., NSDI'18), adapted to prefix chains:
// classes separate chain tails from inner blocks and by read count, orphans are worth nothing, and
// a block with resident children leaves only after its children. See chain_hit_density.cc.
std::unique_ptr<EvictionPolicy> NewChainHitDensityPolicy(uint32_t max_entries);

// Chain reuse ("chain-reuse"): our default. chain-hd's order and priority, with reuse classes that
// add the chain's depth and its last reuse gap to its turn level, and reuse probabilities learned past
// eviction through a ghost of recently evicted fingerprints (PolicyHint::fingerprint; without
// fingerprints it learns as chain-hd does). See chain_hit_density.cc.
std::unique_ptr<EvictionPolicy> NewChainReusePolicy(uint32_t max_entries);

// Belady's MIN: evicts the entry whose next use (PolicyHint::next_use) is furthest away; entries
// without a next use go first. The offline optimum for block hits, given hints on every insert and
// access; for reference in `tokenwarehouse simulate`, never in a store.
std::unique_ptr<EvictionPolicy> NewBeladyPolicy(uint32_t max_entries);

// The policy a store tier uses for `kind`; nullptr for a value outside the enum.
std::unique_ptr<EvictionPolicy> NewEvictionPolicy(EvictionPolicyKind kind, uint32_t max_entries);

}  // namespace tw
