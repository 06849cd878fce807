#include "store/tier/page_allocator.h"

#include "common/check.h"

namespace tw {

PageAllocator::PageAllocator(uint32_t pages) : total_(pages) {
  free_.reserve(pages);
  // Highest index at the bottom, so the first objects land at the start of the arena.
  for (uint32_t i = pages; i > 0; --i) free_.push_back(i - 1);
}

bool PageAllocator::Allocate(uint32_t count, std::vector<PageIndex>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < count) return false;
  out->insert(out->end(), free_.end() - count, free_.end());
  free_.resize(free_.size() - count);
  return true;
}

void PageAllocator::Free(const std::vector<PageIndex>& pages) {
  std::lock_guard<std::mutex> lock(mu_);
  for (PageIndex p : pages) TW_CHECK(p < total_);
  TW_CHECK(free_.size() + pages.size() <= total_);
  free_.insert(free_.end(), pages.begin(), pages.end());
}

uint32_t PageAllocator::free_pages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<uint32_t>(free_.size());
}

}  // namespace tw
