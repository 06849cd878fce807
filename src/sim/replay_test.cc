// Hand-made traces whose hits, evictions and Belady answers are worked out in the comments.
#include <gtest/gtest.h>

#include "sim/replay.h"

namespace tw::sim {
namespace {

Trace MakeTrace(const std::vector<std::vector<uint64_t>>& requests) {
  std::string text;
  int64_t ts = 0;
  for (const auto& r : requests) {
    text += "{\"timestamp\": " + std::to_string(ts++) + ", \"input_length\": " + std::to_string(r.size() * 16) +
            ", \"output_length\": 1, \"hash_ids\": [";
    for (size_t i = 0; i < r.size(); ++i) text += (i ? ", " : "") + std::to_string(r[i]);
    text += "]}\n";
  }
  return *ParseMooncakeTrace(text);
}

SimResult Replay(const Trace& t, const std::string& policy, uint64_t capacity) {
  SimOptions o;
  o.policy = policy;
  o.block_tokens = 16;
  o.tiers.push_back({"dram", capacity, 0});
  auto r = Simulate(t, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

TEST(Replay, HitsAreTheLeadingResidentBlocks) {
  // Request 2 hits 1 and 2; request 3 hits only 1: block 3 is resident but follows the miss on 9.
  Trace t = MakeTrace({{1, 2, 3}, {1, 2}, {1, 9, 3}});
  for (const std::string& p : SimPolicyNames()) {
    SimResult r = Replay(t, p, 100);
    EXPECT_EQ(r.hit_blocks, 3u) << p;
    EXPECT_EQ(r.block_accesses, 8u);
    EXPECT_DOUBLE_EQ(r.hit_ratio, 3.0 / 8.0);
    EXPECT_EQ(r.tiers[0].evictions, 0u);
    EXPECT_EQ(r.prefill_tokens_avoided, 3u * 16);
  }
}

TEST(Replay, LruEvictsTheOldestAndBeladyTheFurthest) {
  // Capacity 2. [1] [2] [3] [1]: at [3], LRU evicts 1 (oldest) so the last request misses; Belady
  // evicts 2 (never used again) and the last request hits.
  Trace t = MakeTrace({{1}, {2}, {3}, {1}});
  SimResult lru = Replay(t, "lru", 2);
  EXPECT_EQ(lru.hit_blocks, 0u);
  EXPECT_EQ(lru.tiers[0].evictions, 2u);  // 1 at [3], then 2 when 1 comes back
  SimResult belady = Replay(t, "belady", 2);
  EXPECT_EQ(belady.hit_blocks, 1u);
  EXPECT_EQ(belady.tiers[0].evictions, 1u);
}

TEST(Replay, RequestNeverEvictsItsOwnBlocks) {
  // Capacity 2 and a 3-block request: the third block finds only pinned blocks and is not stored.
  Trace t = MakeTrace({{1, 2, 3}, {1, 2, 3}});
  SimResult r = Replay(t, "lru", 2);
  EXPECT_EQ(r.hit_blocks, 2u);
  EXPECT_EQ(r.tiers[0].evictions, 0u);
}

TEST(Replay, PrefixAwareEvictsChainTailsFirst) {
  // Capacity 3: chain 1-2 then 5. Inserting 6 must evict: LRU takes 1 (oldest), orphaning 2, so the
  // last request [1,2] misses; prefix-aware takes the leaf 2 and the last request hits 1.
  Trace t = MakeTrace({{1, 2}, {5}, {6}, {1, 2}});
  EXPECT_EQ(Replay(t, "lru", 3).hit_blocks, 0u);
  EXPECT_EQ(Replay(t, "prefix-aware", 3).hit_blocks, 1u);
}

TEST(Replay, BeladyIsAnUpperBoundOnASmallMixedTrace) {
  std::vector<std::vector<uint64_t>> reqs;
  uint64_t state = 12345;
  for (int i = 0; i < 300; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t conv = (state >> 33) % 20;
    uint64_t len = 1 + (state >> 20) % 4;
    std::vector<uint64_t> r;
    for (uint64_t b = 0; b < len; ++b) r.push_back(conv * 100 + b);
    reqs.push_back(r);
  }
  Trace t = MakeTrace(reqs);
  double belady = Replay(t, "belady", 12).hit_ratio;
  for (const std::string& p : SimPolicyNames()) EXPECT_LE(Replay(t, p, 12).hit_ratio, belady + 1e-12) << p;
  // With room for every block, every policy reaches the same (cold-miss-only) ratio.
  double unlimited = Replay(t, "lru", t.unique_blocks).hit_ratio;
  for (const std::string& p : SimPolicyNames()) EXPECT_DOUBLE_EQ(Replay(t, p, t.unique_blocks).hit_ratio, unlimited) << p;
}

TEST(Replay, TwoTiersDemoteAndPromote) {
  // DRAM 1 + disk 1. [1] [2]: 1 is demoted to disk. [1]: a disk hit, promoted; 2 is demoted.
  Trace t = MakeTrace({{1}, {2}, {1}});
  SimOptions o;
  o.policy = "lru";
  o.block_tokens = 16;
  o.object_bytes = 1000;
  o.tiers = {{"dram", 1, 1e9}, {"disk", 1, 1e6}};
  auto r = Simulate(t, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hit_blocks, 1u);
  EXPECT_EQ(r->tiers[0].hit_blocks, 0u);
  EXPECT_EQ(r->tiers[1].hit_blocks, 1u);
  EXPECT_EQ(r->tiers[1].bytes_read, 1000u);
  EXPECT_EQ(r->tiers[1].bytes_written, 2000u);  // 1 then 2 demoted
  EXPECT_EQ(r->tiers[0].bytes_written, 3000u);  // 1, 2, then 1 promoted
}

TEST(Replay, CostModelChargesLoadAndSuffix) {
  Trace t = MakeTrace({{1, 2}, {1, 2}});  // 32 tokens each; the second loads 32 tokens' KV
  SimOptions o;
  o.policy = "lru";
  o.block_tokens = 16;
  o.object_bytes = 1000;
  o.tiers = {{"dram", 10, 1e6}};
  o.cost.prefill = *PrefillCurve::FromPoints({{32, 1.0}});
  auto r = Simulate(t, o);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->gpu_seconds_without_cache, 2.0);
  EXPECT_DOUBLE_EQ(r->gpu_seconds_saved, 1.0);
  EXPECT_DOUBLE_EQ(r->ttft_mean_s, (1.0 + 0.002) / 2);
}

TEST(Replay, RejectsUnknownPolicyAndEmptyTier) {
  Trace t = MakeTrace({{1}});
  SimOptions o;
  o.policy = "fifo";
  o.tiers = {{"dram", 1, 0}};
  EXPECT_TRUE(Simulate(t, o).status().IsInvalidArgument());
  o.policy = "lru";
  o.tiers = {{"dram", 0, 0}};
  EXPECT_TRUE(Simulate(t, o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace tw::sim
