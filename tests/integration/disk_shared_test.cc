// Two processes share one disk directory: each writes only its own regions, publishes them by
// sealing, and reads what the other sealed. Then the other owner reuses and deletes its regions:
// for the reader that is a miss, never an error or a wrong byte.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "store/tier/disk_test_util.h"
#include "store/tier/disk_tier.h"

namespace tw {
namespace {

using testing::FreshDir;
using testing::PayloadFor;
using testing::TestGeometry;
using testing::TestKey;
using testing::TestNs;

uint64_t SizeOf(uint64_t n) { return 8192 + n % 5000; }

DiskTierOptions SharedOptions(const std::string& dir, const std::string& owner) {
  DiskTierOptions o;
  o.dir = dir;
  o.owner = owner;
  o.shared = true;
  o.discover_interval_ms = 60'000;  // the test calls Discover itself
  o.region_bytes = 1ull << 20;
  o.capacity_bytes = 4ull << 20;
  o.write_queue_bytes = 2ull << 20;
  return o;
}

bool Write(DiskTier& t, uint64_t from, uint64_t to) {
  for (uint64_t n = from; n < to; ++n) {
    std::vector<std::byte> data = PayloadFor(TestKey(n), SizeOf(n));
    std::span<const std::byte> seg(data);
    if (!t.Enqueue(TestNs(), TestKey(n), TestKey(n + 1), TestGeometry(1), 0, {&seg, 1}, data.size()).ok()) return false;
  }
  return t.Seal().ok();
}

// Counts objects in [from, to) served correctly; a wrong byte fails the test (returns -1).
int CountServed(DiskTier& t, uint64_t from, uint64_t to) {
  int ok = 0;
  for (uint64_t n = from; n < to; ++n) {
    std::vector<std::byte> out(SizeOf(n));
    std::span<std::byte> seg(out);
    Status s = t.Read(TestNs(), TestKey(n), {&seg, 1});
    if (s.IsNotFound()) continue;
    if (!s.ok() || out != PayloadFor(TestKey(n), SizeOf(n))) return -1;
    ++ok;
  }
  return ok;
}

TEST(DiskShared, TwoProcessesReadEachOthersSealedRegions) {
  const std::string dir = FreshDir("shared");
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  pid_t pid = fork();
  if (pid == 0) {
    auto a = DiskTier::Open(SharedOptions(dir, "a"));
    if (!a.ok() || !Write(**a, 0, 50)) _exit(2);
    char c = 1;
    if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1) _exit(3);
    if (!(*a)->Discover().ok()) _exit(4);
    _exit(CountServed(**a, 1000, 1050) == 50 ? 0 : 5);
  }
  auto b = DiskTier::Open(SharedOptions(dir, "b"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(Write(**b, 1000, 1050));
  char c = 1;
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  ASSERT_TRUE((*b)->Discover().ok());
  EXPECT_EQ(CountServed(**b, 0, 50), 50);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child could not read what the parent sealed";

  // Owner "a" comes back (its lock died with the child) and writes enough to reuse its regions.
  {
    auto a = DiskTier::Open(SharedOptions(dir, "a"));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(Write(**a, 5000, 5400));
    EXPECT_GT((*a)->Counters().reclaimed_regions, 0u);
    // Before b rediscovers, its stale entries point into reused files: misses, never wrong bytes.
    EXPECT_GE(CountServed(**b, 0, 50), 0);
    ASSERT_TRUE((*b)->Discover().ok());
    EXPECT_GE(CountServed(**b, 0, 50), 0);
    EXPECT_GT(CountServed(**b, 5000, 5400), 0);
  }
  // Owner "a" deletes its regions: every object in them is now a miss for b.
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("a.", 0) == 0 && e.path().extension() == ".twr") {
      std::filesystem::remove(e.path());
    }
  }
  ASSERT_TRUE((*b)->Discover().ok());
  EXPECT_EQ(CountServed(**b, 5000, 5400), 0);
  EXPECT_EQ(CountServed(**b, 0, 50), 0);
  EXPECT_EQ(CountServed(**b, 1000, 1050), 50);  // its own objects are untouched
}

}  // namespace
}  // namespace tw
