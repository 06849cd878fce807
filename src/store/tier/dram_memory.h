// DramMemory: the arena and its page allocator, shared by the tier and every object it hands out,
// so that outstanding readers keep the memory mapped even if the store is closed first.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "store/tier/arena.h"
#include "store/tier/page_allocator.h"

namespace tw {

class DramMemory {
 public:
  DramMemory(std::unique_ptr<Arena> arena, uint64_t page_bytes)
      : arena_(std::move(arena)),
        page_bytes_(page_bytes),
        allocator_(static_cast<uint32_t>(arena_->size_bytes() / page_bytes)) {}

  Arena& arena() { return *arena_; }
  PageAllocator& allocator() { return allocator_; }
  uint64_t page_bytes() const { return page_bytes_; }
  std::byte* PageAddress(PageIndex page) const { return arena_->base() + uint64_t{page} * page_bytes_; }

  // The object's bytes as one span per page (the last one partial), in layout order.
  template <typename Byte>
  std::vector<std::span<Byte>> Segments(const std::vector<PageIndex>& pages, uint64_t size_bytes) const {
    std::vector<std::span<Byte>> out;
    out.reserve(pages.size());
    uint64_t left = size_bytes;
    for (PageIndex p : pages) {
      const uint64_t n = left < page_bytes_ ? left : page_bytes_;
      // Consecutive pages are merged: fewer, larger segments mean fewer copies and iovecs.
      if (!out.empty() && out.back().data() + out.back().size() == PageAddress(p)) {
        out.back() = std::span<Byte>(out.back().data(), out.back().size() + n);
      } else {
        out.emplace_back(PageAddress(p), n);
      }
      left -= n;
    }
    return out;
  }

 private:
  std::unique_ptr<Arena> arena_;
  const uint64_t page_bytes_;
  PageAllocator allocator_;
};

}  // namespace tw
