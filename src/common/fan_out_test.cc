#include "common/fan_out.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace tw {
namespace {

TEST(FanOut, RunsEveryItemOnce) {
  FanOut pool(3);
  for (size_t n : {0u, 1u, 2u, 7u, 100u}) {
    std::vector<std::atomic<int>> seen(n);
    pool.For(n, [&](size_t i) { seen[i].fetch_add(1); });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << i << " of " << n;
  }
}

// A For nested inside another's item never waits on the busy pool: the caller works too.
TEST(FanOut, NestedCallsFinish) {
  FanOut pool(2);
  std::atomic<int> total{0};
  pool.For(4, [&](size_t) { pool.For(5, [&](size_t) { total.fetch_add(1); }); });
  EXPECT_EQ(total.load(), 20);
}

TEST(FanOut, WithoutThreadsTheCallerRunsEverything) {
  FanOut pool(0);
  int total = 0;  // no other thread touches it
  pool.For(10, [&](size_t i) { total += static_cast<int>(i); });
  EXPECT_EQ(total, 45);
}

}  // namespace
}  // namespace tw
