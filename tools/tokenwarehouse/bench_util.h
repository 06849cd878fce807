// Small helpers shared by the `bench` subcommands: timing, medians, percentiles, JSON output.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"

namespace tw::cli {

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Nearest-rank percentile, p in [0, 100].
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()));
  return v[std::min(rank, v.size() - 1)];
}

inline double Gbps(uint64_t bytes, uint64_t nanos) { return nanos ? static_cast<double>(bytes) / static_cast<double>(nanos) : 0; }

// A pre-faulted, page-aligned buffer (page faults would otherwise dominate the first pass).
struct Buffer {
  explicit Buffer(size_t n) : size(n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    data = p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
    if (data) {
      madvise(data, n, MADV_HUGEPAGE);
      for (size_t i = 0; i < n; i += 4096) data[i] = std::byte(i >> 12);
    }
  }
  ~Buffer() {
    if (data) munmap(data, size);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::byte* data = nullptr;
  size_t size = 0;
};

// Progress on a terminal only, so logs and --json output stay clean.
void Progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace tw::cli
