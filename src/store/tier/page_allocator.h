// PageAllocator: hands out fixed-size pages of the arena by index. O(1) per page (a free stack),
// so allocation cost does not depend on how full or how fragmented the tier is; an object is a list
// of pages, so external fragmentation cannot happen.
//
// Thread-safe: one mutex; every call holds it for a bounded, allocation-free time.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

namespace tw {

using PageIndex = uint32_t;

class PageAllocator {
 public:
  explicit PageAllocator(uint32_t pages);

  // Appends `count` pages to *out and returns true, or returns false and changes nothing.
  bool Allocate(uint32_t count, std::vector<PageIndex>* out);
  void Free(const std::vector<PageIndex>& pages);

  uint32_t total_pages() const { return total_; }
  uint32_t free_pages() const;

 private:
  const uint32_t total_;
  mutable std::mutex mu_;
  std::vector<PageIndex> free_;  // a stack; recently freed (cache-warm) pages are reused first
};

}  // namespace tw
