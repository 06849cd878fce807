#include "store/tier/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/logging.h"

namespace tw {

namespace {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Faults every page in now, writable. MADV_POPULATE_WRITE (Linux 5.14+) does it in one call; older
// kernels get one touch per 4 KiB page.
void Prefault(std::byte* base, uint64_t size) {
  if (madvise(base, size, MADV_POPULATE_WRITE) == 0) return;
  for (uint64_t off = 0; off < size; off += 4096) {
    reinterpret_cast<volatile char*>(base)[off] = 0;
  }
}

}  // namespace

Result<std::unique_ptr<Arena>> Arena::Create(const ArenaOptions& options) {
  if (options.size_bytes == 0) return Status::InvalidArgument("arena size is 0");
  int fd = -1;
  if (options.shareable) {
    fd = memfd_create("tokenwarehouse-dram", MFD_CLOEXEC | (options.huge_pages ? MFD_HUGETLB : 0u));
    if (fd < 0 && options.huge_pages) fd = memfd_create("tokenwarehouse-dram", MFD_CLOEXEC);
    if (fd < 0) return Status::ResourceExhausted(std::string("memfd_create: ") + std::strerror(errno));
    if (ftruncate(fd, static_cast<off_t>(options.size_bytes)) != 0) {
      int err = errno;
      close(fd);
      return Status::ResourceExhausted(std::string("ftruncate of the DRAM arena: ") + std::strerror(err));
    }
  }
  // Pre-faulting happens after the huge-page advice (below), not through MAP_POPULATE, so that
  // transparent huge pages can back the arena: 512x fewer faults and TLB entries than 4 KiB pages.
  const int sharing = options.shareable ? MAP_SHARED : (MAP_PRIVATE | MAP_ANONYMOUS);
  void* p = MAP_FAILED;
  bool huge = false;
  if (options.huge_pages && !options.shareable) {
    p = mmap(nullptr, options.size_bytes, PROT_READ | PROT_WRITE, sharing | MAP_HUGETLB, -1, 0);
    huge = p != MAP_FAILED;
    if (!huge) TW_LOG_INFO("DRAM arena: no huge pages reserved ({}); using normal pages", std::strerror(errno));
  }
  if (p == MAP_FAILED) {
    p = mmap(nullptr, options.size_bytes, PROT_READ | PROT_WRITE, sharing, fd, 0);
  }
  if (p == MAP_FAILED) {
    int err = errno;
    if (fd >= 0) close(fd);
    return Status::ResourceExhausted("cannot map a DRAM arena of " + std::to_string(options.size_bytes) +
                                     " bytes: " + std::strerror(err));
  }
  if (!huge) madvise(p, options.size_bytes, MADV_HUGEPAGE);  // transparent huge pages where allowed
  if (options.prefault) Prefault(static_cast<std::byte*>(p), options.size_bytes);
  return std::unique_ptr<Arena>(new Arena(static_cast<std::byte*>(p), options.size_bytes, huge, fd));
}

Arena::~Arena() {
  munmap(base_, size_bytes_);
  if (fd_ >= 0) close(fd_);
}

}  // namespace tw
