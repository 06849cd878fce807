// Arena: one large mapping reserved and pre-faulted at open, the backing memory of the DRAM tier.
//
// Page faults cost ~11 us in these VMs, so the whole arena is faulted in up front (MAP_POPULATE)
// rather than on the hot path. It may sit on 2 MiB huge pages (fewer TLB misses, faster GPU
// registration) and may be backed by a memfd so the daemon can hand it to local clients.
// The arena never moves or resizes: base() is stable for its lifetime, so the GPU path can register
// it as pinned memory once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tw/result.h"

namespace tw {

struct ArenaOptions {
  uint64_t size_bytes = 0;
  bool huge_pages = false;  // try MAP_HUGETLB; fall back to normal pages with a log line
  bool shareable = false;   // back with a memfd (see fd())
  bool prefault = true;     // MAP_POPULATE
};

class Arena {
 public:
  // kInvalidArgument for size 0; kResourceExhausted if the mapping fails.
  static Result<std::unique_ptr<Arena>> Create(const ArenaOptions& options);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  std::byte* base() const { return base_; }
  uint64_t size_bytes() const { return size_bytes_; }
  bool huge_pages() const { return huge_pages_; }
  int fd() const { return fd_; }  // -1 unless shareable

 private:
  Arena(std::byte* base, uint64_t size, bool huge, int fd) : base_(base), size_bytes_(size), huge_pages_(huge), fd_(fd) {}
  std::byte* base_;
  uint64_t size_bytes_;
  bool huge_pages_;
  int fd_;
};

}  // namespace tw
