// Helpers shared by the disk tier's tests: a directory that supports O_DIRECT, keys and payloads
// derived from a number, so any process can check any object without being told what was written.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/env/env.h"
#include "store/tier/disk_tier.h"
#include "tw/block_key.h"
#include "tw/geometry.h"

namespace tw::testing {

// A fresh directory for one test. /tmp may be tmpfs (no O_DIRECT), so it lives under the build
// directory (the test's working directory) unless TW_TEST_DIR says otherwise.
// Removed when the test process exits normally (a failing run's directories stay for a post-mortem
// only if TW_KEEP_TEST_DIRS is set).
inline std::string FreshDir(const std::string& name) {
  static std::vector<std::string>* made = [] {
    static std::vector<std::string> dirs;
    std::atexit([] {
      if (getenv("TW_KEEP_TEST_DIRS")) return;
      std::error_code ec;
      for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
    });
    return &dirs;
  }();
  const char* base = getenv("TW_TEST_DIR");
  std::filesystem::path dir = std::filesystem::path(base ? base : std::filesystem::current_path().string()) /
                              "disk_test_tmp" / (name + "." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  made->push_back(dir.string());
  return dir.string();
}

inline NamespaceId TestNs(uint8_t tag = 1) {
  NamespaceId ns;
  ns.bytes[0] = 0xA5;
  ns.bytes[15] = tag;
  return ns;
}

inline BlockKey TestKey(uint64_t n) {
  BlockKey k;
  uint64_t x = n * 0x9E3779B97F4A7C15ull + 0x1234567;
  std::memcpy(k.bytes, &x, 8);
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  std::memcpy(k.bytes + 8, &x, 8);
  return k;
}

// The payload of key `k`: xorshift bytes seeded by the key, `size` bytes.
inline std::vector<std::byte> PayloadFor(const BlockKey& k, uint64_t size) {
  std::vector<std::byte> out(size);
  uint64_t x = k.Prefix64() | 1;
  for (uint64_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, std::min<uint64_t>(8, size - i));
  }
  return out;
}

// A geometry whose objects are `layers` x 4 KiB (1 head of 64 f16, 16 tokens: 2 KiB each for K and V).
// A tier small enough to fill in a test: 1 MiB regions, 8 of them, a 4 MiB write queue.
inline DiskTierOptions SmallTierOptions(const std::string& dir) {
  DiskTierOptions o;
  o.dir = dir;
  o.region_bytes = 1ull << 20;
  o.capacity_bytes = 8ull << 20;
  o.write_queue_bytes = 4ull << 20;
  o.io_bytes = 64 << 10;
  o.io_depth = 4;
  o.enqueue_wait_ms = 2000;
  return o;
}

inline KvGeometry TestGeometry(uint32_t layers) { return KvGeometry{layers, 1, 64, KvDtype::kF16, 16}; }

}  // namespace tw::testing
