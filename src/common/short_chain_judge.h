// ShortChainJudge: the min_prefix_tokens rule, shared by every store that applies it (the embedded
// store, and a cluster client, which judges for its nodes because each node sees a block as a chain
// head whose parent lives elsewhere).
//
// A store request is skipped (not stored, answered OK, counted as skipped_short) when it is one chain
// in order from the namespace's root that covers fewer than min_prefix_tokens tokens: a short prompt
// is cheaper to recompute than to store and look up. A request that continues a chain skipped before
// is skipped too: its first blocks were never stored, so these would be unreachable by any Lookup.
// Anything else (a chain that does not start at the root, blocks out of order) is stored as asked.
//
// The skipped chains' last keys are remembered, oldest forgotten first past a bound (a continuation
// of a forgotten one then fails its parent check, as any put under an unknown parent does).
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <span>
#include <utility>

#include "tw/store.h"

namespace tw {

class ShortChainJudge {
 public:
  explicit ShortChainJudge(size_t remembered_tails) : capacity_(remembered_tails) {}

  // True if `chain` (the request's blocks, in order) is to be skipped in namespace `ns`, whose root
  // key is `root` and blocks hold `block_tokens` tokens. min_prefix_tokens == 0 skips nothing.
  bool Skip(const NamespaceId& ns, const BlockKey& root, uint32_t block_tokens, uint32_t min_prefix_tokens,
            std::span<const BlockRef> chain);

  size_t remembered() const;

 private:
  using Tail = std::pair<NamespaceId, BlockKey>;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::set<Tail> tails_;     // GUARDED_BY(mu_)
  std::deque<Tail> order_;   // GUARDED_BY(mu_); oldest first
};

}  // namespace tw
