// DramObject: one object resident in (or reserved in) the DRAM tier.
//
// Shared ownership is the memory-safety rule: the tier's index holds one reference while the object
// is visible; every reader (Get in progress, ReadHandle, lease) holds another. Eviction only drops
// the index's reference, so the pages return to the allocator when the last reader lets go, never
// under a reader's feet.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "store/eviction/policy.h"
#include "store/tier/page_allocator.h"
#include "tw/block_key.h"

namespace tw {

class DramMemory;

struct DramObject {
  DramObject(std::shared_ptr<DramMemory> memory, std::vector<PageIndex> pages);
  ~DramObject();  // returns the pages
  DramObject(const DramObject&) = delete;
  DramObject& operator=(const DramObject&) = delete;

  NamespaceId ns;
  BlockKey key;
  BlockKey parent;
  uint64_t size_bytes = 0;
  // 0: never. Atomic because a sliding retention renews it on a hit (DramTier::Renew) from any
  // reader's thread, with no lock, while others read it; it only ever moves later.
  std::atomic<uint64_t> expires_at_ms{0};
  uint32_t tenant = 0;         // the store's dense tenant number, for quotas
  EntryId slot = kNoEntry;     // policy entry while visible; guarded by the tier's mutex
  std::atomic<uint32_t> pins{0};

  const std::shared_ptr<DramMemory> memory;  // keeps the arena alive as long as any object is held
  const std::vector<PageIndex> pages;
};

}  // namespace tw
