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

namespace tw {

using EntryId = uint32_t;
inline constexpr EntryId kNoEntry = UINT32_MAX;

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
};

// LRU: the least recently inserted-or-read entry leaves first.
std::unique_ptr<EvictionPolicy> NewLruPolicy(uint32_t max_entries);

// Prefix-aware: a block is worthless once its parent is gone, and a parent is needed by every child.
// Orphans (parent erased) leave first, then the least recently used chain *leaf*; a block with
// resident children leaves only when no leaf can (e.g. all leaves are pinned).
std::unique_ptr<EvictionPolicy> NewPrefixAwarePolicy(uint32_t max_entries);

}  // namespace tw
