// The console's history ring: bounded, ordered, and its JSON what the page reads.
#include "server/stats_history.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tw::server {
namespace {

StatsSample At(uint64_t t_ms, uint64_t gets) {
  StatsSample s;
  s.unix_ms = t_ms;
  s.store.gets = gets;
  s.store.get_misses = gets / 4;
  s.store.puts = gets * 2;
  TierStats dram;
  dram.tier = Tier::kDram;
  dram.capacity_bytes = 1 << 20;
  dram.used_bytes = gets * 100;
  dram.evictions = gets / 2;
  s.store.tiers.push_back(dram);
  return s;
}

TEST(StatsHistory, KeepsSamplesOldestFirstUntilFull) {
  StatsHistory h(4);
  EXPECT_TRUE(h.Samples().empty());
  for (uint64_t i = 1; i <= 3; ++i) h.Record(At(i * 1000, i));
  auto s = h.Samples();
  ASSERT_EQ(s.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(s[i].unix_ms, (i + 1) * 1000);
}

TEST(StatsHistory, DropsTheOldestOnceFull) {
  StatsHistory h(4);
  for (uint64_t i = 1; i <= 11; ++i) h.Record(At(i * 1000, i));
  auto s = h.Samples();
  ASSERT_EQ(s.size(), 4u);  // bounded: the last four, in order
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s[i].unix_ms, (i + 8) * 1000);
    EXPECT_EQ(s[i].store.gets, i + 8);
  }
}

TEST(StatsHistory, CapacityOfOneKeepsTheNewest) {
  StatsHistory h(1);
  h.Record(At(1000, 1));
  h.Record(At(2000, 2));
  auto s = h.Samples();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].unix_ms, 2000u);
}

TEST(StatsHistory, JsonCarriesCountersAndTiersPerSample) {
  StatsHistory h(8, 500);
  h.Record(At(1000, 40));
  h.Record(At(1500, 80));
  const auto j = nlohmann::json::parse(h.RenderJson());
  EXPECT_EQ(j["interval_ms"], 500);
  EXPECT_EQ(j["capacity"], 8);
  ASSERT_EQ(j["samples"].size(), 2u);
  const auto& last = j["samples"][1];
  EXPECT_EQ(last["t_ms"], 1500);
  EXPECT_EQ(last["gets"], 80);
  EXPECT_EQ(last["get_misses"], 20);
  EXPECT_EQ(last["puts"], 160);
  EXPECT_EQ(last["tiers"]["dram"]["used_bytes"], 8000);
  EXPECT_EQ(last["tiers"]["dram"]["capacity_bytes"], 1 << 20);
  EXPECT_EQ(last["tiers"]["dram"]["evictions"], 40);
  EXPECT_FALSE(last["tiers"].contains("disk"));
}

TEST(StatsHistory, EmptyHistoryIsAnEmptyList) {
  StatsHistory h;
  const auto j = nlohmann::json::parse(h.RenderJson());
  EXPECT_TRUE(j["samples"].is_array());
  EXPECT_TRUE(j["samples"].empty());
  EXPECT_EQ(j["capacity"], StatsHistory::kDefaultCapacity);
}

}  // namespace
}  // namespace tw::server
