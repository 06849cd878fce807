// The console's recent-evictions ring: bounded, newest first, every eviction counted.
#include "server/eviction_log.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace tw::server {
namespace {

EvictionRecord Rec(uint64_t t_ms, Tier tier = Tier::kDram) {
  EvictionRecord r;
  r.unix_ms = t_ms;
  r.tier = tier;
  r.tenant = "alice";
  r.model_id = "llama";
  std::memcpy(r.key.bytes, &t_ms, sizeof t_ms);
  return r;
}

TEST(EvictionLog, RecentIsNewestFirstAndBounded) {
  EvictionLog log(3);
  EXPECT_TRUE(log.Recent(10).empty());
  for (uint64_t i = 1; i <= 5; ++i) log.Record(Rec(i));
  EXPECT_EQ(log.total(), 5u);  // counts what the ring no longer holds
  auto r = log.Recent(10);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].unix_ms, 5u);
  EXPECT_EQ(r[1].unix_ms, 4u);
  EXPECT_EQ(r[2].unix_ms, 3u);
  r = log.Recent(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].unix_ms, 5u);
}

TEST(EvictionLog, NewestFirstBeforeTheRingWraps) {
  EvictionLog log(8);
  log.Record(Rec(1));
  log.Record(Rec(2));
  auto r = log.Recent(8);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].unix_ms, 2u);
  EXPECT_EQ(r[1].unix_ms, 1u);
}

TEST(EvictionLog, JsonNamesTierTenantAndKey) {
  EvictionLog log(4);
  log.Record(Rec(7, Tier::kDisk));
  EvictionRecord odd = Rec(8);
  odd.model_id = std::string("m\xff\"", 3);  // a client's bytes: still valid JSON
  log.Record(odd);
  const auto j = nlohmann::json::parse(log.RenderJson(10));
  EXPECT_EQ(j["total"], 2);
  EXPECT_EQ(j["capacity"], 4);
  ASSERT_EQ(j["evictions"].size(), 2u);
  EXPECT_EQ(j["evictions"][0]["t_ms"], 8);
  EXPECT_EQ(j["evictions"][1]["tier"], "disk");
  EXPECT_EQ(j["evictions"][1]["tenant"], "alice");
  EXPECT_EQ(j["evictions"][1]["key"], Rec(7).key.ToHex());
  EXPECT_EQ(j["evictions"][1]["key"].get<std::string>().size(), 32u);
}

}  // namespace
}  // namespace tw::server
