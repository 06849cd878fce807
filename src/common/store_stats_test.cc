#include <gtest/gtest.h>

#include "tw/store.h"

namespace tw {
namespace {

TierStats Tier1(Tier tier, uint64_t n, bool admitting = true) {
  TierStats t;
  t.tier = tier;
  t.capacity_bytes = 100 * n;
  t.used_bytes = 10 * n;
  t.objects = n;
  t.hits = 2 * n;
  t.admissions = 3 * n;
  t.evictions = 4 * n;
  t.bytes_read = 5 * n;
  t.bytes_written = 6 * n;
  t.errors = 7 * n;
  t.admitting = admitting;
  return t;
}

TEST(StoreStatsSum, EveryCounterAddsAndATierAdmitsOnlyWhileEveryPartDoes) {
  TierStats sum = Tier1(Tier::kDisk, 1);
  sum += Tier1(Tier::kDisk, 2, /*admitting=*/false);
  const TierStats want = Tier1(Tier::kDisk, 3, false);
  EXPECT_EQ(sum.capacity_bytes, want.capacity_bytes);
  EXPECT_EQ(sum.used_bytes, want.used_bytes);
  EXPECT_EQ(sum.objects, want.objects);
  EXPECT_EQ(sum.hits, want.hits);
  EXPECT_EQ(sum.admissions, want.admissions);
  EXPECT_EQ(sum.evictions, want.evictions);
  EXPECT_EQ(sum.bytes_read, want.bytes_read);
  EXPECT_EQ(sum.bytes_written, want.bytes_written);
  EXPECT_EQ(sum.errors, want.errors);
  EXPECT_FALSE(sum.admitting);
}

TEST(StoreStatsSum, TiersMatchByKindAndNewOnesAreAppended) {
  StoreStats a;
  a.lookups = 1;
  a.puts = 2;
  a.active_leases = 3;
  a.tiers = {Tier1(Tier::kDram, 1)};
  StoreStats b;
  b.lookups = 10;
  b.puts = 20;
  b.active_leases = 30;
  b.tiers = {Tier1(Tier::kDisk, 5), Tier1(Tier::kDram, 2)};
  a += b;
  EXPECT_EQ(a.lookups, 11u);
  EXPECT_EQ(a.puts, 22u);
  EXPECT_EQ(a.active_leases, 33u);
  ASSERT_EQ(a.tiers.size(), 2u);
  EXPECT_EQ(a.tiers[0].tier, Tier::kDram);
  EXPECT_EQ(a.tiers[0].objects, 3u);
  EXPECT_EQ(a.tiers[1].tier, Tier::kDisk);
  EXPECT_EQ(a.tiers[1].objects, 5u);
}

TEST(StoreStatsSumDeathTest, AddingDifferentTiersIsABug) {
  TierStats dram = Tier1(Tier::kDram, 1);
  EXPECT_DEATH(dram += Tier1(Tier::kDisk, 1), "TW_CHECK");
}

}  // namespace
}  // namespace tw
